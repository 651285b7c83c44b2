package convert

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

// referenceFromConnect is FromConnect without any cache or plan: the
// schema and the value written by the general encoder on every call, as
// FromConnect did before jsonencode.go.
func referenceFromConnect(j *JSON, s *connect.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	e := encoder{decimalFormat: j.decimalFormat, replaceNull: j.replaceNull}
	var buf []byte
	var err error
	if j.schemasEnabled {
		buf = append(buf, `{"schema":`...)
		if s == nil {
			buf = append(buf, "null"...)
		} else if buf, err = e.schema(buf, s, "", false, ""); err != nil {
			return nil, err
		}
		buf = append(buf, `,"payload":`...)
	}
	if buf, err = e.value(buf, s, v); err != nil {
		return nil, err
	}
	if j.schemasEnabled {
		buf = append(buf, '}')
	}
	return buf, nil
}

// TestJSONFromConnectMatchesReference checks that FromConnect (schema
// entries, field-name plans, sized buffers) writes exactly the bytes, and
// returns exactly the errors, of the general encoder, on first use and on
// cache hits, with every converter configuration.
func TestJSONFromConnectMatchesReference(t *testing.T) {
	_, row, source, _, env := debeziumJobOffer()
	logical := logicalSchema()
	inner := connect.NewStruct().Field("n", connect.Int32Schema).Build()
	nested := connect.NewStruct().Name("nested").
		Field("after", connect.NewStruct().Optional().Field("amount", connect.Float64Schema).Build()).
		Field("list", connect.NewArray(inner).Build()).
		Field("m", connect.NewMap(connect.StringSchema, inner).Optional().Build()).
		Field("withDefault", connect.NewStruct().Field("n", connect.Int32Schema).
			Default(connect.NewStructValue(inner).Set("n", int32(42))).Build()).
		Field("empty", connect.NewStruct().Optional().Build()).
		Field("quo\"ted \u00e9\n", connect.OptionalStringSchema).
		Build()
	nestedValue := func() *connect.Struct {
		return connect.NewStructValue(nested).
			Set("after", connect.NewStructValue(nested.Field("after").Schema).Set("amount", 1.5)).
			Set("list", []any{connect.NewStructValue(inner).Set("n", int32(1)), connect.NewStructValue(inner).Set("n", int32(-2))}).
			Set("m", map[any]any{"b": connect.NewStructValue(inner).Set("n", int32(3))}).
			Set("empty", connect.NewStructValue(nested.Field("empty").Schema)).
			Set("quo\"ted \u00e9\n", "x\u2028y")
	}
	type input struct {
		name string
		s    *connect.Schema
		v    any
	}
	inputs := []input{
		{"debezium insert", env, debeziumInsertValue(row, source, env)},
		{"debezium, long string", env, debeziumInsertValue(row, source, env).
			Set("after", connect.NewStructValue(row).Set("id", int64(1)).Set("duration", int64(2)).Set("description", strings.Repeat("long ", 2000)))},
		{"debezium again, short", env, debeziumInsertValue(row, source, env)},
		{"logical types", logical, logicalValue(logical)},
		{"nested", nested, nestedValue()},
		{"nested, struct default for nil", nested, nestedValue().Set("withDefault", nil)},
		{"nested, equal schema built twice", nested, connect.NewStructValue(connect.NewStruct().Optional().Field("amount", connect.Float64Schema).Build()).Set("amount", 2.5)},
		{"row schema", row, connect.NewStructValue(row).Set("duration", int64(7))},
		{"primitive", connect.Int64Schema, int64(-5)},
		{"string", connect.StringSchema, "a\"b"},
		{"schemaless map", nil, map[string]any{"a": []any{int64(1), "x", nil}}},
		{"error: wrong type deep", nested, nestedValue().Set("after", connect.NewStructValue(nested.Field("after").Schema).Set("amount", "x"))},
		{"error: wrong struct schema", nested, nestedValue().Set("after", connect.NewStructValue(inner).Set("n", int32(1)))},
		{"error: required nil", env, connect.NewStructValue(env)},
		{"error: list element", nested, nestedValue().Set("list", []any{connect.NewStructValue(inner)})},
		{"error: not a struct", nested, "text"},
		{"error: invalid schema", connect.NewStruct().Field("x", &connect.Schema{Type: "bogus"}).Build(), connect.NewStructValue(connect.NewStruct().Field("x", &connect.Schema{Type: "bogus"}).Build())},
	}
	for _, cfg := range []map[string]string{
		nil,
		{"schemas.enable": "false"},
		{"schemas.cache.size": "0"},
		{"schemas.cache.size": "2"},
		{"decimal.format": "NUMERIC", "replace.null.with.default": "false"},
	} {
		t.Run(fmt.Sprint(cfg), func(t *testing.T) {
			j := mustJSON(t, cfg)
			// reused is a buffer AppendFromConnect writes into again and
			// again, left dirty by the previous (possibly longer) output.
			var reused []byte
			for round := range 3 { // first use, then cache hits
				for _, in := range inputs {
					want, werr := referenceFromConnect(j, in.s, in.v)
					got, gerr := j.FromConnect("t", in.s, in.v)
					if fmt.Sprint(gerr) != fmt.Sprint(werr) {
						t.Fatalf("round %d, %s: error %v, want %v", round, in.name, gerr, werr)
					}
					if string(got) != string(want) {
						t.Fatalf("round %d, %s:\n got %s\nwant %s", round, in.name, got, want)
					}
					app, aerr := j.AppendFromConnect(reused, "t", in.s, in.v)
					if fmt.Sprint(aerr) != fmt.Sprint(werr) || string(app) != string(want) {
						t.Fatalf("round %d, %s: AppendFromConnect into a reused buffer:\n got %s, %v\nwant %s, %v", round, in.name, app, aerr, want, werr)
					}
					if cap(app) > 0 {
						reused = app[:0]
					}
					if in.s != nil && j.schemasEnabled && werr == nil {
						sj, err := j.SchemaJSON(in.s)
						if err != nil || !strings.HasPrefix(string(want), `{"schema":`+string(sj)+`,"payload":`) {
							t.Fatalf("%s: SchemaJSON %s, %v", in.name, sj, err)
						}
					}
				}
			}
		})
	}
}

// TestJSONEncCacheBounded checks that the schema entries stay within
// schemas.cache.size.
func TestJSONEncCacheBounded(t *testing.T) {
	j := mustJSON(t, map[string]string{"schemas.cache.size": "3"})
	for i := range 20 {
		s := connect.NewStruct().Field(fmt.Sprintf("f%d", i), connect.Int32Schema).Build()
		if _, err := j.FromConnect("t", s, connect.NewStructValue(s).Set(fmt.Sprintf("f%d", i), int32(i))); err != nil {
			t.Fatal(err)
		}
		n := 0
		j.enc.m.Range(func(any, any) bool { n++; return true })
		if n > 3 {
			t.Fatalf("after %d schemas the cache holds %d entries, bound 3", i+1, n)
		}
	}
}

// BenchmarkJSONAppendFromConnect is the source task's path: the Debezium
// insert serialized into a reused buffer.
func BenchmarkJSONAppendFromConnect(b *testing.B) {
	_, row, source, _, env := debeziumJobOffer()
	j := mustJSON(b, nil)
	v := debeziumInsertValue(row, source, env)
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		out, err := j.AppendFromConnect(buf, "t", env, v)
		if err != nil {
			b.Fatal(err)
		}
		buf = out
	}
}
