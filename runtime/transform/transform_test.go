package transform

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

var (
	rowSchema = connect.NewStruct().Name("db.public.users.Value").Version(1).
			Field("id", connect.Int64Schema).
			Field("name", connect.OptionalStringSchema).
			Field("email", connect.OptionalStringSchema).
			Field("age", connect.OptionalInt32Schema).
			Build()
	ts0 = time.Date(2024, 3, 5, 7, 8, 9, 123_000_000, time.UTC)
)

func row(id int64, name, email string, age int32) *connect.Struct {
	return connect.NewStructValue(rowSchema).Set("id", id).Set("name", name).Set("email", email).Set("age", age)
}

func sinkRecord(v any, s *connect.Schema) *connect.Record {
	return &connect.Record{Topic: "users", Partition: 3, Offset: 42, Timestamp: ts0, ValueSchema: s, Value: v,
		KeySchema: connect.StringSchema, Key: "k1"}
}

func mapRow() map[string]any {
	return map[string]any{"id": int64(1), "name": "ann", "email": "a@x", "age": int64(30)}
}

func mustNew(t *testing.T, class string, cfg map[string]string) Transformation {
	t.Helper()
	tr, err := New(class, cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", class, err)
	}
	return tr
}

func fieldNames(s *connect.Schema) []string {
	var out []string
	for _, f := range s.Fields {
		out = append(out, f.Name)
	}
	return out
}

func TestInsertField(t *testing.T) {
	cfg := map[string]string{"topic.field": "t!", "partition.field": "p", "offset.field": "o?",
		"timestamp.field": "ts", "static.field": "src", "static.value": "pg"}
	tr := mustNew(t, InsertFieldValue, cfg)

	t.Run("schema", func(t *testing.T) {
		in := sinkRecord(row(1, "ann", "a@x", 30), rowSchema)
		out, err := tr.Apply(in)
		if err != nil {
			t.Fatal(err)
		}
		s := out.ValueSchema
		if got := fieldNames(s); !reflect.DeepEqual(got, []string{"id", "name", "email", "age", "t", "p", "o", "ts", "src"}) {
			t.Fatalf("fields %v", got)
		}
		if s.Field("t").Schema.Optional || !s.Field("p").Schema.Optional || s.Field("ts").Schema.Name != connect.TimestampName {
			t.Fatalf("field schemas wrong: %+v", s.Fields)
		}
		if s.Name != rowSchema.Name || s.Version != 1 {
			t.Fatalf("basics not copied: %v", s)
		}
		st := out.Value.(*connect.Struct)
		if err := st.Validate(); err != nil {
			t.Fatal(err)
		}
		if st.Get("t") != "users" || st.Get("p") != int32(3) || st.Get("o") != int64(42) ||
			!st.Get("ts").(time.Time).Equal(ts0) || st.Get("src") != "pg" || st.Get("name") != "ann" {
			t.Fatalf("values %v", st)
		}
		if in.Value.(*connect.Struct).Schema() != rowSchema {
			t.Fatal("input modified")
		}
		// Schema is cached per input schema.
		out2, _ := tr.Apply(sinkRecord(row(2, "bob", "b@x", 1), rowSchema))
		if out2.ValueSchema != s {
			t.Fatal("schema not cached")
		}
	})
	t.Run("schemaless", func(t *testing.T) {
		in := sinkRecord(mapRow(), nil)
		out, err := tr.Apply(in)
		if err != nil {
			t.Fatal(err)
		}
		m := out.Value.(map[string]any)
		if m["t"] != "users" || m["p"] != int32(3) || m["o"] != int64(42) || m["ts"] != ts0.UnixMilli() || m["src"] != "pg" || m["id"] != int64(1) {
			t.Fatalf("got %v", m)
		}
		if _, ok := in.Value.(map[string]any)["t"]; ok {
			t.Fatal("input modified")
		}
	})
	t.Run("tombstone passes", func(t *testing.T) {
		in := sinkRecord(nil, nil)
		if out, err := tr.Apply(in); err != nil || out != in {
			t.Fatalf("%v %v", out, err)
		}
	})
	t.Run("offset on source record", func(t *testing.T) {
		in := sinkRecord(mapRow(), nil)
		in.SourceOffset = map[string]any{"lsn": 1}
		if _, err := tr.Apply(in); err == nil || !strings.Contains(err.Error(), "offset") {
			t.Fatalf("want error, got %v", err)
		}
	})
	t.Run("key", func(t *testing.T) {
		kt := mustNew(t, InsertFieldKey, map[string]string{"static.field": "k", "static.value": "v"})
		in := sinkRecord(nil, nil)
		in.KeySchema, in.Key = nil, map[string]any{"id": int64(1)}
		out, err := kt.Apply(in)
		if err != nil || out.Key.(map[string]any)["k"] != "v" {
			t.Fatalf("%v %v", out, err)
		}
	})
	t.Run("not a struct", func(t *testing.T) {
		if _, err := tr.Apply(sinkRecord("x", connect.StringSchema)); err == nil {
			t.Fatal("string value accepted")
		}
	})
}

func TestReplaceField(t *testing.T) {
	tests := []struct {
		name   string
		cfg    map[string]string
		fields []string
		check  map[string]any
	}{
		{"exclude+rename", map[string]string{"exclude": "email", "renames": "name:full_name,age:years"},
			[]string{"id", "full_name", "years"}, map[string]any{"full_name": "ann", "years": int32(30)}},
		{"include", map[string]string{"include": "id,email"}, []string{"id", "email"}, map[string]any{"email": "a@x"}},
		{"legacy whitelist/blacklist", map[string]string{"whitelist": "id,name,age", "blacklist": "age"},
			[]string{"id", "name"}, map[string]any{"name": "ann"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := mustNew(t, ReplaceFieldValue, tt.cfg)
			out, err := tr.Apply(sinkRecord(row(1, "ann", "a@x", 30), rowSchema))
			if err != nil {
				t.Fatal(err)
			}
			if got := fieldNames(out.ValueSchema); !reflect.DeepEqual(got, tt.fields) {
				t.Fatalf("fields %v want %v", got, tt.fields)
			}
			st := out.Value.(*connect.Struct)
			for k, v := range tt.check {
				if st.Get(k) != v {
					t.Fatalf("%s = %v want %v", k, st.Get(k), v)
				}
			}
			// schemaless
			out, err = tr.Apply(sinkRecord(mapRow(), nil))
			if err != nil {
				t.Fatal(err)
			}
			m := out.Value.(map[string]any)
			if len(m) != len(tt.fields) {
				t.Fatalf("schemaless %v", m)
			}
			for _, f := range tt.fields {
				if _, ok := m[f]; !ok {
					t.Fatalf("schemaless missing %s: %v", f, m)
				}
			}
		})
	}
	if _, err := New(ReplaceFieldValue, map[string]string{"renames": "a"}); err == nil || !strings.Contains(err.Error(), "renames") {
		t.Fatalf("bad renames: %v", err)
	}
}

func TestMaskField(t *testing.T) {
	s := connect.NewStruct().
		Field("n", connect.Int32Schema).Field("s", connect.StringSchema).Field("b", connect.BooleanSchema).
		Field("d", connect.DecimalSchema(2).Build()).Field("arr", connect.NewArray(connect.StringSchema).Build()).
		Field("keep", connect.StringSchema).Build()
	dec, _ := connect.ParseDecimal("9.99")
	val := connect.NewStructValue(s).Set("n", int32(5)).Set("s", "secret").Set("b", true).Set("d", dec).
		Set("arr", []any{"x"}).Set("keep", "k")
	tr := mustNew(t, MaskFieldValue, map[string]string{"fields": "n,s,b,d,arr,absent"})
	out, err := tr.Apply(sinkRecord(val, s))
	if err != nil {
		t.Fatal(err)
	}
	st := out.Value.(*connect.Struct)
	if st.Get("n") != int32(0) || st.Get("s") != "" || st.Get("b") != false || st.Get("d").(connect.Decimal).String() != "0.00" ||
		len(st.Get("arr").([]any)) != 0 || st.Get("keep") != "k" {
		t.Fatalf("masked %v", st)
	}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	if val.Get("s") != "secret" {
		t.Fatal("input modified")
	}

	rep := mustNew(t, MaskFieldValue, map[string]string{"fields": "s,n", "replacement": "42"})
	out, err = rep.Apply(sinkRecord(map[string]any{"s": "secret", "n": int64(7), "x": 1}, nil))
	if err != nil {
		t.Fatal(err)
	}
	if m := out.Value.(map[string]any); m["s"] != "42" || m["n"] != int64(42) || m["x"] != 1 {
		t.Fatalf("got %v", m)
	}
	bad := mustNew(t, MaskFieldValue, map[string]string{"fields": "n", "replacement": "abc"})
	if _, err := bad.Apply(sinkRecord(map[string]any{"n": int64(7)}, nil)); err == nil || !strings.Contains(err.Error(), `"n"`) {
		t.Fatalf("want replacement error, got %v", err)
	}
	if _, err := New(MaskFieldValue, nil); err == nil || !strings.Contains(err.Error(), "fields") {
		t.Fatalf("missing fields: %v", err)
	}
}

func TestValueToKey(t *testing.T) {
	tr := mustNew(t, ValueToKeyClass, map[string]string{"fields": "id,name"})
	out, err := tr.Apply(sinkRecord(row(7, "ann", "a@x", 30), rowSchema))
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldNames(out.KeySchema); !reflect.DeepEqual(got, []string{"id", "name"}) {
		t.Fatalf("key fields %v", got)
	}
	k := out.Key.(*connect.Struct)
	if k.Get("id") != int64(7) || k.Get("name") != "ann" {
		t.Fatalf("key %v", k)
	}
	out, err = tr.Apply(sinkRecord(mapRow(), nil))
	if err != nil || !reflect.DeepEqual(out.Key, map[string]any{"id": int64(1), "name": "ann"}) || out.KeySchema != nil {
		t.Fatalf("%v %v", out, err)
	}
	bad := mustNew(t, ValueToKeyClass, map[string]string{"fields": "nope"})
	if _, err := bad.Apply(sinkRecord(row(1, "a", "b", 1), rowSchema)); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("got %v", err)
	}
}

func TestExtractField(t *testing.T) {
	tr := mustNew(t, ExtractFieldValue, map[string]string{"field": "name"})
	out, err := tr.Apply(sinkRecord(row(1, "ann", "a@x", 30), rowSchema))
	if err != nil || out.Value != "ann" || out.ValueSchema != connect.OptionalStringSchema {
		t.Fatalf("%v %v", out, err)
	}
	out, err = tr.Apply(sinkRecord(mapRow(), nil))
	if err != nil || out.Value != "ann" || out.ValueSchema != nil {
		t.Fatalf("%v %v", out, err)
	}
	// Null value keeps the field schema.
	out, err = tr.Apply(sinkRecord(nil, rowSchema))
	if err != nil || out.Value != nil || out.ValueSchema != connect.OptionalStringSchema {
		t.Fatalf("%v %v", out, err)
	}
	if _, err := mustNew(t, ExtractFieldValue, map[string]string{"field": "zzz"}).Apply(sinkRecord(row(1, "a", "b", 1), rowSchema)); err == nil {
		t.Fatal("unknown field accepted")
	}
	// Key variant and V2 nested path.
	nested := connect.NewStruct().Field("inner", rowSchema).Build()
	kt := mustNew(t, ExtractFieldKey, map[string]string{"field": "inner.id", "field.syntax.version": "V2"})
	in := sinkRecord(nil, nil)
	in.KeySchema, in.Key = nested, connect.NewStructValue(nested).Set("inner", row(9, "a", "b", 1))
	out, err = kt.Apply(in)
	if err != nil || out.Key != int64(9) || out.KeySchema != connect.Int64Schema {
		t.Fatalf("%v %v", out, err)
	}
	if _, err := New(ExtractFieldValue, map[string]string{"field": "a", "field.syntax.version": "V3"}); err == nil {
		t.Fatal("bad syntax version accepted")
	}
}

func TestRegexRouter(t *testing.T) {
	tests := []struct {
		regex, replacement, topic, want string
	}{
		{`(.*)users`, `$1people`, "db.users", "db.people"},
		{`dbserver1\.public\.(.*)`, `cdc_$1`, "dbserver1.public.orders", "cdc_orders"},
		{`(a)(b)`, `$12`, "ab", "a2"},
		{`(?P<x>.+)-raw`, `${x}-clean`, "t-raw", "t-clean"},
		{`(.*)`, `\$$1`, "t", "$t"},
		{`foo`, `bar`, "xfoo", "xfoo"}, // whole-topic match only
	}
	for _, tt := range tests {
		tr := mustNew(t, RegexRouterClass, map[string]string{"regex": tt.regex, "replacement": tt.replacement})
		in := sinkRecord(nil, nil)
		in.Topic = tt.topic
		out, err := tr.Apply(in)
		if err != nil {
			t.Fatal(err)
		}
		if out.Topic != tt.want {
			t.Errorf("%s/%s on %s: got %s want %s", tt.regex, tt.replacement, tt.topic, out.Topic, tt.want)
		}
		if in.Topic != tt.topic {
			t.Fatal("input modified")
		}
	}
	for _, cfg := range []map[string]string{
		{"replacement": "x"}, {"regex": "(", "replacement": "x"}, {"regex": "a"}, {"regex": "(a)", "replacement": "$2"},
	} {
		if _, err := New(RegexRouterClass, cfg); err == nil {
			t.Errorf("%v accepted", cfg)
		}
	}
}

func TestTimestampRouter(t *testing.T) {
	tests := []struct {
		cfg  map[string]string
		want string
	}{
		{nil, "users-20240305"},
		{map[string]string{"timestamp.format": "yyyy-MM-dd'T'HH:mm:ss.SSS"}, "users-2024-03-05T07:08:09.123"},
		{map[string]string{"topic.format": "${timestamp}_${topic}", "timestamp.format": "yy/M/d h a EEE MMM"}, "24/3/5 7 AM Tue Mar_users"},
		{map[string]string{"timestamp.format": "'week' w, D 'o''clock'"}, "users-week 10, 65 o'clock"},
	}
	for _, tt := range tests {
		tr := mustNew(t, TimestampRouterClass, tt.cfg)
		out, err := tr.Apply(sinkRecord(nil, nil))
		if err != nil {
			t.Fatal(err)
		}
		if out.Topic != tt.want {
			t.Errorf("%v: got %q want %q", tt.cfg, out.Topic, tt.want)
		}
	}
	tr := mustNew(t, TimestampRouterClass, nil)
	in := sinkRecord(nil, nil)
	in.Timestamp = time.Time{}
	if _, err := tr.Apply(in); err == nil {
		t.Fatal("missing timestamp accepted")
	}
	if _, err := New(TimestampRouterClass, map[string]string{"timestamp.format": "yyyy-qq"}); err == nil || !strings.Contains(err.Error(), "timestamp.format") {
		t.Fatalf("bad pattern: %v", err)
	}
}

func TestChainPredicatesNegate(t *testing.T) {
	cfg := map[string]string{
		"transforms":                   "dropTmp,route,mark",
		"transforms.dropTmp.type":      "org.apache.kafka.connect.transforms.Filter",
		"transforms.dropTmp.predicate": "isTmp",
		"transforms.route.type":        "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex":       "db\\.(.*)",
		"transforms.route.replacement": "lake.$1",
		"transforms.mark.type":         "org.apache.kafka.connect.transforms.InsertField$Value",
		"transforms.mark.static.field": "marked",
		"transforms.mark.static.value": "yes",
		"transforms.mark.predicate":    "hasTrace",
		"transforms.mark.negate":       "true",
		"predicates":                   "isTmp,hasTrace",
		"predicates.isTmp.type":        "org.apache.kafka.connect.transforms.predicates.TopicNameMatches",
		"predicates.isTmp.pattern":     ".*\\.tmp_.*",
		"predicates.hasTrace.type":     "org.apache.kafka.connect.transforms.predicates.HasHeaderKey",
		"predicates.hasTrace.name":     "trace",
	}
	c, err := NewChain(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c.Aliases(), []string{"dropTmp", "route", "mark"}) {
		t.Fatalf("aliases %v", c.Aliases())
	}
	rec := func(topic string, headers ...string) *connect.Record {
		r := sinkRecord(map[string]any{"a": 1}, nil)
		r.Topic = topic
		for _, h := range headers {
			r.Headers = append(r.Headers, connect.Header{Key: h, Value: "1"})
		}
		return r
	}
	if out, err := c.Apply(rec("db.tmp_x")); err != nil || out != nil {
		t.Fatalf("tmp topic not dropped: %v %v", out, err)
	}
	out, err := c.Apply(rec("db.orders"))
	if err != nil || out.Topic != "lake.orders" || out.Value.(map[string]any)["marked"] != "yes" {
		t.Fatalf("got %+v %v", out, err)
	}
	out, err = c.Apply(rec("db.orders", "trace"))
	if err != nil || out.Topic != "lake.orders" || out.Value.(map[string]any)["marked"] != nil {
		t.Fatalf("negated predicate applied: %+v %v", out, err)
	}
	// RecordIsTombstone + Filter drops tombstones only.
	c2, err := NewChain(map[string]string{
		"transforms": "f", "transforms.f.type": "Filter", "transforms.f.predicate": "tomb",
		"predicates": "tomb", "predicates.tomb.type": "RecordIsTombstone",
	})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := c2.Apply(sinkRecord(nil, nil)); out != nil {
		t.Fatal("tombstone kept")
	}
	if out, _ := c2.Apply(sinkRecord("v", nil)); out == nil {
		t.Fatal("value dropped")
	}
	// Empty config: identity.
	c3, err := NewChain(map[string]string{"name": "x"})
	if err != nil || c3.Len() != 0 {
		t.Fatal(err)
	}
	in := sinkRecord("v", nil)
	if out, _ := c3.Apply(in); out != in {
		t.Fatal("empty chain changed record")
	}
}

func TestChainConfigErrors(t *testing.T) {
	tests := []struct {
		name    string
		cfg     map[string]string
		wantKey string
		wantMsg string
	}{
		{"missing type", map[string]string{"transforms": "a"}, "transforms.a.type", "missing required configuration"},
		{"unknown class", map[string]string{"transforms": "a", "transforms.a.type": "com.acme.Nope"}, "transforms.a.type", "com.acme.Nope"},
		{"missing regex", map[string]string{"transforms": "route", "transforms.route.type": RegexRouterClass, "transforms.route.replacement": "x"},
			"transforms.route.regex", "missing required configuration"},
		{"bad regex", map[string]string{"transforms": "route", "transforms.route.type": RegexRouterClass, "transforms.route.regex": "(", "transforms.route.replacement": "x"},
			"transforms.route.regex", "invalid regex"},
		{"undeclared predicate", map[string]string{"transforms": "a", "transforms.a.type": FilterClass, "transforms.a.predicate": "p"},
			"transforms.a.predicate", `"p" is not declared`},
		{"bad negate", map[string]string{"transforms": "a", "transforms.a.type": FilterClass, "transforms.a.negate": "yes"},
			"transforms.a.negate", "true or false"},
		{"predicate type", map[string]string{"predicates": "p"}, "predicates.p.type", "missing required configuration"},
		{"predicate param", map[string]string{"predicates": "p", "predicates.p.type": TopicNameMatches}, "predicates.p.pattern", "missing required configuration"},
		{"duplicate alias", map[string]string{"transforms": "a,a", "transforms.a.type": FilterClass}, "transforms", "duplicate alias"},
		{"unwrap mode", map[string]string{"transforms": "u", "transforms.u.type": ExtractNewRecordStateClass, "transforms.u.delete.tombstone.handling.mode": "keep"},
			"transforms.u.delete.tombstone.handling.mode", "must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewChain(tt.cfg)
			var ce *connect.ConfigError
			if !errors.As(err, &ce) || ce.Key != tt.wantKey || !strings.Contains(ce.Msg, tt.wantMsg) {
				t.Fatalf("got %v, want key %s msg %q", err, tt.wantKey, tt.wantMsg)
			}
			if !strings.Contains(err.Error(), tt.wantKey) {
				t.Fatalf("error %q does not name %s", err, tt.wantKey)
			}
			v := Validate(tt.cfg)
			if len(v[tt.wantKey]) == 0 {
				t.Fatalf("Validate: %v", v)
			}
		})
	}
	// Validate reports every bad key at once.
	v := Validate(map[string]string{"transforms": "a,b", "transforms.b.type": "x"})
	if len(v["transforms.a.type"]) != 1 || len(v["transforms.b.type"]) != 1 {
		t.Fatalf("got %v", v)
	}
	if v := Validate(map[string]string{"transforms": "a", "transforms.a.type": FilterClass}); len(v) != 0 {
		t.Fatalf("valid config reported %v", v)
	}
}

func TestChainErrorNamesAlias(t *testing.T) {
	c, err := NewChain(map[string]string{"transforms": "vk", "transforms.vk.type": ValueToKeyClass, "transforms.vk.fields": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Apply(sinkRecord("not a map", nil)); err == nil || !strings.Contains(err.Error(), `"vk"`) {
		t.Fatalf("got %v", err)
	}
}

func TestFlatten(t *testing.T) {
	addr := connect.NewStruct().Optional().Name("Address").
		Field("city", connect.StringSchema).
		Field("geo", connect.NewStruct().Field("lat", connect.Float64Schema).Build()).Build()
	s := connect.NewStruct().Name("Person").Field("id", connect.Int64Schema).Field("addr", addr).
		Field("tags", connect.NewArray(connect.StringSchema).Build()).Build()
	geo := connect.NewStructValue(addr.Field("geo").Schema).Set("lat", 1.5)
	v := connect.NewStructValue(s).Set("id", int64(1)).Set("addr", connect.NewStructValue(addr).Set("city", "Oslo").Set("geo", geo)).Set("tags", []any{"a"})
	tr := mustNew(t, FlattenValue, map[string]string{"delimiter": "_"})
	out, err := tr.Apply(sinkRecord(v, s))
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldNames(out.ValueSchema); !reflect.DeepEqual(got, []string{"id", "addr_city", "addr_geo_lat", "tags"}) {
		t.Fatalf("fields %v", got)
	}
	if !out.ValueSchema.Field("addr_city").Schema.Optional || out.ValueSchema.Field("id").Schema.Optional {
		t.Fatal("optionality not propagated")
	}
	st := out.Value.(*connect.Struct)
	if st.Get("addr_city") != "Oslo" || st.Get("addr_geo_lat") != 1.5 || st.Validate() != nil {
		t.Fatalf("got %v", st)
	}
	// A null nested struct leaves its fields null.
	out, err = tr.Apply(sinkRecord(connect.NewStructValue(s).Set("id", int64(2)).Set("tags", []any{}), s))
	if err != nil || out.Value.(*connect.Struct).Get("addr_city") != nil {
		t.Fatalf("%v %v", out, err)
	}
	out, err = mustNew(t, FlattenValue, nil).Apply(sinkRecord(map[string]any{"a": map[string]any{"b": 1, "c": map[string]any{"d": 2}}, "e": []any{1}}, nil))
	if err != nil || !reflect.DeepEqual(out.Value, map[string]any{"a.b": 1, "a.c.d": 2, "e": []any{1}}) {
		t.Fatalf("%v %v", out.Value, err)
	}
}

func TestHoistHeadersMetadata(t *testing.T) {
	out, err := mustNew(t, HoistFieldValue, map[string]string{"field": "line"}).Apply(sinkRecord("hello", connect.StringSchema))
	if err != nil || out.Value.(*connect.Struct).Get("line") != "hello" || out.ValueSchema.Field("line").Schema != connect.StringSchema {
		t.Fatalf("%v %v", out, err)
	}
	hin := sinkRecord("v", nil)
	hin.KeySchema = nil
	out, _ = mustNew(t, HoistFieldKey, map[string]string{"field": "k"}).Apply(hin)
	if !reflect.DeepEqual(out.Key, map[string]any{"k": "k1"}) || out.KeySchema != nil {
		t.Fatalf("hoist key %v", out.Key)
	}
	in := sinkRecord("v", nil)
	in.Headers = []connect.Header{{Key: "a", Value: "1"}, {Key: "b", Value: "2"}, {Key: "a", Value: "3"}}
	out, _ = mustNew(t, DropHeadersClass, map[string]string{"headers": "a"}).Apply(in)
	if len(out.Headers) != 1 || out.Headers[0].Key != "b" || len(in.Headers) != 3 {
		t.Fatalf("drop headers %v / %v", out.Headers, in.Headers)
	}
	out, _ = mustNew(t, InsertHeaderClass, map[string]string{"header": "n", "value.literal": "42"}).Apply(in)
	if h := out.Header("n"); h == nil || h.Value != int8(42) || h.Schema.Type != connect.Int8 {
		t.Fatalf("insert header %+v", h)
	}
	out, err = mustNew(t, SetSchemaMetadataValue, map[string]string{"schema.name": "com.acme.User", "schema.version": "3"}).Apply(sinkRecord(row(1, "a", "b", 2), rowSchema))
	if err != nil || out.ValueSchema.Name != "com.acme.User" || out.ValueSchema.Version != 3 || rowSchema.Name != "db.public.users.Value" {
		t.Fatalf("%v %v", out, err)
	}
	if st := out.Value.(*connect.Struct); st.Schema() != out.ValueSchema || st.Get("name") != "a" {
		t.Fatalf("struct not rebuilt: %v", st)
	}
	if _, err := mustNew(t, SetSchemaMetadataValue, map[string]string{"schema.name": "x"}).Apply(sinkRecord("v", nil)); err == nil {
		t.Fatal("schemaless accepted")
	}
}

func TestTimestampConverter(t *testing.T) {
	ms := ts0.UnixMilli()
	tsSchema := connect.NewStruct().Field("id", connect.Int64Schema).Field("at", connect.OptionalInt64Schema).Build()
	tests := []struct {
		name   string
		cfg    map[string]string
		s      *connect.Schema
		v      any
		want   any
		schema *connect.Schema
	}{
		{"unix ms to string", map[string]string{"target.type": "string", "format": "yyyy-MM-dd HH:mm:ss.SSS"}, connect.Int64Schema, ms,
			"2024-03-05 07:08:09.123", connect.StringSchema},
		{"unix s to Timestamp", map[string]string{"target.type": "Timestamp", "unix.precision": "seconds"}, connect.Int64Schema, int64(1709622489),
			time.Unix(1709622489, 0).UTC(), connect.TimestampSchema().Build()},
		{"Timestamp to unix us", map[string]string{"target.type": "unix", "unix.precision": "microseconds"}, connect.TimestampSchema().Build(), ts0,
			ts0.UnixMicro(), connect.Int64Schema},
		{"Timestamp to Date", map[string]string{"target.type": "Date"}, connect.TimestampSchema().Optional().Build(), ts0,
			time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC), connect.DateSchema().Optional().Build()},
		{"Timestamp to Time", map[string]string{"target.type": "Time"}, connect.TimestampSchema().Build(), ts0,
			time.Date(1970, 1, 1, 7, 8, 9, 123e6, time.UTC), connect.TimeSchema().Build()},
		{"string to Timestamp", map[string]string{"target.type": "Timestamp", "format": "yyyy-MM-dd'T'HH:mm:ss.SSSXXX"}, connect.StringSchema,
			"2024-03-05T09:08:09.123+02:00", ts0, connect.TimestampSchema().Build()},
		{"compact string to unix", map[string]string{"target.type": "unix", "format": "yyyyMMddHHmmss"}, connect.StringSchema,
			"20240305070809", ts0.Unix() * 1000, connect.Int64Schema},
		{"schemaless", map[string]string{"target.type": "string", "format": "dd MMM yyyy h:mm a"}, nil, ms, "05 Mar 2024 7:08 AM", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := mustNew(t, TimestampConverterValue, tt.cfg).Apply(sinkRecord(tt.v, tt.s))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(out.Value, tt.want) {
				t.Fatalf("got %#v want %#v", out.Value, tt.want)
			}
			if !out.ValueSchema.Equal(tt.schema) {
				t.Fatalf("schema %v want %v", out.ValueSchema, tt.schema)
			}
		})
	}
	// One field of a struct.
	tr := mustNew(t, TimestampConverterValue, map[string]string{"field": "at", "target.type": "Timestamp"})
	out, err := tr.Apply(sinkRecord(connect.NewStructValue(tsSchema).Set("id", int64(1)).Set("at", ms), tsSchema))
	if err != nil {
		t.Fatal(err)
	}
	if st := out.Value.(*connect.Struct); !st.Get("at").(time.Time).Equal(ts0) || st.Validate() != nil ||
		out.ValueSchema.Field("at").Schema.Name != connect.TimestampName || !out.ValueSchema.Field("at").Schema.Optional {
		t.Fatalf("got %v %v", st, out.ValueSchema.Fields)
	}
	out, err = tr.Apply(sinkRecord(map[string]any{"at": ms, "x": 1}, nil))
	if err != nil || !out.Value.(map[string]any)["at"].(time.Time).Equal(ts0) {
		t.Fatalf("%v %v", out, err)
	}
	if _, err := mustNew(t, TimestampConverterValue, map[string]string{"target.type": "unix", "format": "yyyy"}).Apply(sinkRecord("20x4", connect.StringSchema)); err == nil {
		t.Fatal("bad text parsed")
	}
	for _, cfg := range []map[string]string{{}, {"target.type": "epoch"}, {"target.type": "string"}, {"target.type": "unix", "unix.precision": "days"}} {
		if _, err := New(TimestampConverterValue, cfg); err == nil {
			t.Errorf("%v accepted", cfg)
		}
	}
}

func TestCast(t *testing.T) {
	s := connect.NewStruct().Field("id", connect.Int64Schema).Field("price", connect.DecimalSchema(2).Optional().Build()).
		Field("flag", connect.NewSchema(connect.String).Default("true").Build()).Field("ratio", connect.Float64Schema).Build()
	price, _ := connect.ParseDecimal("19.99")
	v := connect.NewStructValue(s).Set("id", int64(300)).Set("price", price).Set("flag", "false").Set("ratio", 2.0)
	tr := mustNew(t, CastValue, map[string]string{"spec": "id:int8,price:float64,flag:boolean,ratio:string"})
	out, err := tr.Apply(sinkRecord(v, s))
	if err != nil {
		t.Fatal(err)
	}
	st := out.Value.(*connect.Struct)
	if st.Get("id") != int8(44) || st.Get("price") != 19.99 || st.Get("flag") != false || st.Get("ratio") != "2.0" {
		t.Fatalf("got %v", st)
	}
	if err := st.Validate(); err != nil {
		t.Fatal(err)
	}
	if fs := out.ValueSchema.Field("flag").Schema; fs.Type != connect.Boolean || fs.Default != true {
		t.Fatalf("flag schema %+v", fs)
	}
	if !out.ValueSchema.Field("price").Schema.Optional || out.ValueSchema.Field("price").Schema.Name != "" {
		t.Fatal("price schema")
	}
	out, err = mustNew(t, CastValue, map[string]string{"spec": "int32"}).Apply(sinkRecord("123", connect.OptionalStringSchema))
	if err != nil || out.Value != int32(123) || out.ValueSchema.Type != connect.Int32 || !out.ValueSchema.Optional {
		t.Fatalf("%v %v", out, err)
	}
	out, err = mustNew(t, CastValue, map[string]string{"spec": "n:string"}).Apply(sinkRecord(map[string]any{"n": int64(5)}, nil))
	if err != nil || out.Value.(map[string]any)["n"] != "5" {
		t.Fatalf("%v %v", out, err)
	}
	if _, err := mustNew(t, CastValue, map[string]string{"spec": "int32"}).Apply(sinkRecord("abc", connect.StringSchema)); err == nil {
		t.Fatal("bad string cast accepted")
	}
	for _, spec := range []string{"", "a:uuid", "int8,a:int16"} {
		if _, err := New(CastValue, map[string]string{"spec": spec}); err == nil {
			t.Errorf("spec %q accepted", spec)
		}
	}
}

func TestConfigDefs(t *testing.T) {
	all := append(Classes(), PredicateClasses()...)
	if len(all) < 25 {
		t.Fatalf("only %d classes", len(all))
	}
	for _, class := range all {
		def, err := ConfigDef(class)
		if err != nil {
			t.Fatalf("%s: %v", class, err)
		}
		hasRequired := false
		for _, k := range def {
			if !k.HasDefault {
				hasRequired = true
			}
		}
		if class == SetSchemaMetadataValue || class == SetSchemaMetadataKey {
			continue
		}
		if strings.Contains(class, ".predicates.") {
			_, err = NewPredicate(class, nil)
		} else {
			_, err = New(class, nil)
		}
		if hasRequired != (err != nil) {
			t.Errorf("%s: ConfigDef required keys %v but New with no config gave %v", class, hasRequired, err)
		}
	}
	if _, err := ConfigDef("InsertField$Value"); err != nil {
		t.Fatal("simple name not resolved")
	}
	if _, err := ConfigDef("com.acme.X"); !errors.Is(err, ErrUnknownClass) {
		t.Fatalf("unknown class: %v", err)
	}
}

func TestHeaderFrom(t *testing.T) {
	mv := mustNew(t, HeaderFromValue, map[string]string{"fields": "id,email", "headers": "h_id,h_email", "operation": "move"})
	in := sinkRecord(row(5, "ann", "a@x", 3), rowSchema)
	out, err := mv.Apply(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := fieldNames(out.ValueSchema); !reflect.DeepEqual(got, []string{"name", "age"}) {
		t.Fatalf("fields %v", got)
	}
	if h := out.Header("h_id"); h == nil || h.Value != int64(5) || h.Schema != connect.Int64Schema {
		t.Fatalf("h_id %+v", h)
	}
	if out.Value.(*connect.Struct).Get("name") != "ann" || len(in.Headers) != 0 {
		t.Fatal("value or input wrong")
	}
	cp := mustNew(t, HeaderFromValue, map[string]string{"fields": "id", "headers": "h", "operation": "copy"})
	out, err = cp.Apply(sinkRecord(mapRow(), nil))
	if err != nil || out.Header("h").Value != int64(1) || out.Value.(map[string]any)["id"] != int64(1) {
		t.Fatalf("%v %v", out, err)
	}
	if _, err := New(HeaderFromValue, map[string]string{"fields": "a,b", "headers": "x", "operation": "copy"}); err == nil || !strings.Contains(err.Error(), "headers") {
		t.Fatalf("got %v", err)
	}
}
