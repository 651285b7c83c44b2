package transform

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

var (
	pgSource = connect.NewStruct().Name("io.debezium.connector.postgresql.Source").
			Field("version", connect.StringSchema).
			Field("connector", connect.StringSchema).
			Field("name", connect.StringSchema).
			Field("ts_ms", connect.Int64Schema).
			Field("db", connect.StringSchema).
			Field("schema", connect.StringSchema).
			Field("table", connect.StringSchema).
			Field("lsn", connect.OptionalInt64Schema).
			Build()
	optRow   = connect.NewStruct().Optional().Name("db.public.users.Value").Field("id", connect.Int64Schema).Field("name", connect.OptionalStringSchema).Build()
	envelope = connect.NewStruct().Name("db.public.users.Envelope").Version(2).
			Field("before", optRow).
			Field("after", optRow).
			Field("source", pgSource).
			Field("op", connect.StringSchema).
			Field("ts_ms", connect.OptionalInt64Schema).
			Build()
)

func changeEvent(op string, before, after *connect.Struct) *connect.Record {
	src := connect.NewStructValue(pgSource).Set("version", "3.0").Set("connector", "postgresql").Set("name", "db").
		Set("ts_ms", int64(1000)).Set("db", "app").Set("schema", "public").Set("table", "users").Set("lsn", int64(777))
	env := connect.NewStructValue(envelope).Set("source", src).Set("op", op).Set("ts_ms", int64(2000))
	if before != nil {
		env.Set("before", before)
	}
	if after != nil {
		env.Set("after", after)
	}
	return &connect.Record{Topic: "db.public.users", Partition: -1, ValueSchema: envelope, Value: env,
		SourcePartition: map[string]any{"server": "db"}, SourceOffset: map[string]any{"lsn": int64(777)}}
}

func user(id int64, name string) *connect.Struct {
	return connect.NewStructValue(optRow).Set("id", id).Set("name", name)
}

func TestExtractNewRecordState(t *testing.T) {
	insert := changeEvent("c", nil, user(1, "ann"))
	update := changeEvent("u", user(1, "ann"), user(1, "anne"))
	del := changeEvent("d", user(1, "anne"), nil)
	tomb := &connect.Record{Topic: "db.public.users", Partition: -1}
	trunc := changeEvent("t", nil, nil)
	plain := &connect.Record{Topic: "x", ValueSchema: connect.StringSchema, Value: "hb"}

	type want struct {
		dropped bool
		fields  map[string]any // nil: value must be nil (tombstone)
	}
	tests := []struct {
		name string
		cfg  map[string]string
		in   *connect.Record
		want want
	}{
		{"insert default", nil, insert, want{fields: map[string]any{"id": int64(1), "name": "ann"}}},
		{"update default", nil, update, want{fields: map[string]any{"id": int64(1), "name": "anne"}}},
		{"delete default becomes tombstone", nil, del, want{}},
		{"tombstone default dropped", nil, tomb, want{dropped: true}},
		{"truncate dropped", nil, trunc, want{dropped: true}},
		{"drop mode delete", map[string]string{"delete.tombstone.handling.mode": "drop"}, del, want{dropped: true}},
		{"rewrite delete", map[string]string{"delete.tombstone.handling.mode": "rewrite"}, del,
			want{fields: map[string]any{"id": int64(1), "name": "anne", "__deleted": "true"}}},
		{"rewrite insert", map[string]string{"delete.tombstone.handling.mode": "rewrite"}, insert,
			want{fields: map[string]any{"id": int64(1), "name": "ann", "__deleted": "false"}}},
		{"rewrite drops tombstone", map[string]string{"delete.tombstone.handling.mode": "rewrite"}, tomb, want{dropped: true}},
		{"rewrite-with-tombstone keeps tombstone", map[string]string{"delete.tombstone.handling.mode": "rewrite-with-tombstone"}, tomb, want{}},
		{"legacy drop.tombstones=false", map[string]string{"drop.tombstones": "false"}, tomb, want{}},
		{"legacy delete drop", map[string]string{"delete.handling.mode": "drop"}, del, want{dropped: true}},
		{"legacy rewrite", map[string]string{"delete.handling.mode": "rewrite"}, del,
			want{fields: map[string]any{"id": int64(1), "__deleted": "true"}}},
		{"legacy none", map[string]string{"delete.handling.mode": "none"}, del, want{}},
		{"add.fields", map[string]string{"add.fields": "op,table,lsn,source.ts_ms,ts_ms:event_ts"}, update,
			want{fields: map[string]any{"name": "anne", "__op": "u", "__table": "users", "__lsn": int64(777),
				"__source_ts_ms": int64(1000), "__event_ts": int64(2000)}}},
		{"add.fields prefix", map[string]string{"add.fields": "op", "add.fields.prefix": "cdc_"}, insert,
			want{fields: map[string]any{"cdc_op": "c"}}},
		{"non-envelope passes", nil, plain, want{fields: nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustNew(t, ExtractNewRecordStateClass, tt.cfg)
			out, err := tr.Apply(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.dropped {
				if out != nil {
					t.Fatalf("want dropped, got %+v", out)
				}
				return
			}
			if out == nil {
				t.Fatal("dropped")
			}
			if tt.in == plain {
				if out != plain {
					t.Fatal("non-envelope changed")
				}
				return
			}
			if tt.want.fields == nil {
				if out.Value != nil {
					t.Fatalf("want tombstone, got %v", out.Value)
				}
				return
			}
			st, ok := out.Value.(*connect.Struct)
			if !ok {
				t.Fatalf("value %T", out.Value)
			}
			if err := st.Validate(); err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want.fields {
				if got := st.Get(k); got != v {
					t.Fatalf("%s = %v (%T), want %v; schema %v", k, got, got, v, fieldNames(out.ValueSchema))
				}
			}
			if out.ValueSchema.Name != "db.public.users.Value" {
				t.Fatalf("schema name %q", out.ValueSchema.Name)
			}
			if out.SourceOffset["lsn"] != int64(777) {
				t.Fatal("source offset lost")
			}
		})
	}
}

func TestExtractNewRecordStateSchemaDetails(t *testing.T) {
	tr := mustNew(t, ExtractNewRecordStateClass, map[string]string{
		"delete.tombstone.handling.mode": "rewrite", "add.fields": "op,source.ts_ms",
		"add.headers": "db,op", "route.by.field": "name",
	})
	out, err := tr.Apply(changeEvent("c", nil, user(1, "people")))
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldNames(out.ValueSchema); !reflect.DeepEqual(got, []string{"id", "name", "__op", "__source_ts_ms", "__deleted"}) {
		t.Fatalf("fields %v", got)
	}
	for _, name := range []string{"__op", "__source_ts_ms", "__deleted"} {
		if !out.ValueSchema.Field(name).Schema.Optional {
			t.Fatalf("%s not optional", name)
		}
	}
	if out.Topic != "people" {
		t.Fatalf("route.by.field: topic %q", out.Topic)
	}
	if h := out.Header("__db"); h == nil || h.Value != "app" || h.Schema.Type != connect.String {
		t.Fatalf("header __db %+v", h)
	}
	if h := out.Header("__op"); h == nil || h.Value != "c" {
		t.Fatalf("header __op %+v", h)
	}
	// Delete rewritten from "before" reuses the cached schema shape.
	out2, err := tr.Apply(changeEvent("d", user(1, "people"), nil))
	if err != nil {
		t.Fatal(err)
	}
	if !out2.ValueSchema.Equal(out.ValueSchema) || out2.Value.(*connect.Struct).Get("__deleted") != "true" {
		t.Fatalf("delete %v", out2.Value)
	}
}

func TestExtractNewRecordStateSchemaless(t *testing.T) {
	tr := mustNew(t, ExtractNewRecordStateClass, map[string]string{"delete.tombstone.handling.mode": "rewrite", "add.fields": "op,table"})
	env := map[string]any{
		"before": nil, "after": map[string]any{"id": int64(1)}, "op": "c",
		"source": map[string]any{"table": "users"},
	}
	out, err := tr.Apply(&connect.Record{Topic: "t", Value: env})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"id": int64(1), "__op": "c", "__table": "users", "__deleted": "false"}
	if !reflect.DeepEqual(out.Value, want) {
		t.Fatalf("got %v", out.Value)
	}
	del := map[string]any{"before": map[string]any{"id": int64(1)}, "after": nil, "op": "d", "source": map[string]any{"table": "users"}}
	out, err = tr.Apply(&connect.Record{Topic: "t", Value: del})
	if err != nil || out.Value.(map[string]any)["__deleted"] != "true" {
		t.Fatalf("%v %v", out, err)
	}
	// A map without "op" is not an envelope.
	in := &connect.Record{Topic: "t", Value: map[string]any{"a": 1}}
	if out, _ := tr.Apply(in); out != in {
		t.Fatal("non-envelope changed")
	}
}

func TestExtractNewRecordStateRoutingAndHeaders(t *testing.T) {
	tr := mustNew(t, ExtractNewRecordStateClass, map[string]string{"route.by.field": "name", "add.headers": "op"})
	// Deletes become tombstones routed by the "before" row.
	out, err := tr.Apply(changeEvent("d", user(1, "gone"), nil))
	if err != nil || out.Value != nil || out.Topic != "gone" {
		t.Fatalf("%+v %v", out, err)
	}
	if h := out.Header("__op"); h == nil || h.Value != "d" {
		t.Fatalf("op header %+v", h)
	}
	// A kept tombstone gets __op=d.
	keep := mustNew(t, ExtractNewRecordStateClass, map[string]string{"delete.tombstone.handling.mode": "rewrite-with-tombstone", "add.headers": "op"})
	tomb := &connect.Record{Topic: "x", Partition: -1}
	out, err = keep.Apply(tomb)
	if err != nil || out == nil || out.Header("__op") == nil || out.Header("__op").Value != "d" || len(tomb.Headers) != 0 {
		t.Fatalf("%+v %v", out, err)
	}
	// An envelope with neither before nor after (truncate-like) is dropped.
	if out, err := tr.Apply(changeEvent("d", nil, nil)); err != nil || out != nil {
		t.Fatalf("%+v %v", out, err)
	}
}

func unwrapChain(tb testing.TB) *Chain {
	c, err := NewChain(map[string]string{
		"transforms":                                       "unwrap,drop,route",
		"transforms.unwrap.type":                           ExtractNewRecordStateClass,
		"transforms.unwrap.add.fields":                     "op,table,lsn,source.ts_ms",
		"transforms.unwrap.delete.tombstone.handling.mode": "rewrite",
		"transforms.drop.type":                             ReplaceFieldValue,
		"transforms.drop.exclude":                          "__lsn",
		"transforms.route.type":                            RegexRouterClass,
		"transforms.route.regex":                           `db\.public\.(.*)`,
		"transforms.route.replacement":                     "lake.$1",
	})
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func TestChainConcurrent(t *testing.T) {
	c := unwrapChain(t)
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 200; i++ {
				ev := changeEvent("u", user(int64(i), "a"), user(int64(i), "b"))
				if i%3 == 0 {
					ev = changeEvent("d", user(int64(i), "a"), nil)
				}
				out, err := c.Apply(ev)
				if err != nil {
					errs <- err
					return
				}
				st := out.Value.(*connect.Struct)
				if out.Topic != "lake.users" || st.Get("id") != int64(i) || st.Get("__table") != "users" || st.Schema().Field("__lsn") != nil {
					errs <- fmt.Errorf("bad output %v on %s", st, out.Topic)
					return
				}
				if err := st.Validate(); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkChainUnwrap(b *testing.B) {
	c := unwrapChain(b)
	ev := changeEvent("u", user(1, "a"), user(1, "b"))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Apply(ev); err != nil {
			b.Fatal(err)
		}
	}
}
