package convert

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

func mustJSON(t testing.TB, cfg map[string]string) *JSON {
	t.Helper()
	j, err := NewJSON(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func compact(t testing.TB, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatalf("bad expected JSON: %v", err)
	}
	return b.String()
}

// debeziumJobOffer builds the schemas of a Debezium 3.0 PostgreSQL change
// event for table public.job_offer, as documented in Debezium's PostgreSQL
// connector data change event description.
func debeziumJobOffer() (key, row, source, txn, env *connect.Schema) {
	key = connect.NewStruct().Name("dbserver1.public.job_offer.Key").
		Field("id", connect.NewSchema(connect.Int64).Default(int64(0)).Build()).Build()
	row = connect.NewStruct().Optional().Name("dbserver1.public.job_offer.Value").
		Field("id", connect.NewSchema(connect.Int64).Default(int64(0)).Build()).
		Field("description", connect.OptionalStringSchema).
		Field("duration", connect.Int64Schema).
		Field("status", connect.OptionalStringSchema).
		Field("customer_id", connect.OptionalInt64Schema).
		Field("professional_id", connect.OptionalInt64Schema).
		Build()
	source = connect.NewStruct().Name("io.debezium.connector.postgresql.Source").
		Field("version", connect.StringSchema).
		Field("connector", connect.StringSchema).
		Field("name", connect.StringSchema).
		Field("ts_ms", connect.Int64Schema).
		Field("snapshot", connect.NewSchema(connect.String).Optional().Name("io.debezium.data.Enum").Version(1).
			Param("allowed", "true,last,false,incremental").Default("false").Build()).
		Field("db", connect.StringSchema).
		Field("sequence", connect.OptionalStringSchema).
		Field("ts_us", connect.OptionalInt64Schema).
		Field("ts_ns", connect.OptionalInt64Schema).
		Field("schema", connect.StringSchema).
		Field("table", connect.StringSchema).
		Field("txId", connect.OptionalInt64Schema).
		Field("lsn", connect.OptionalInt64Schema).
		Field("xmin", connect.OptionalInt64Schema).
		Build()
	txn = connect.NewStruct().Optional().Name("event.block").Version(1).
		Field("id", connect.StringSchema).
		Field("total_order", connect.Int64Schema).
		Field("data_collection_order", connect.Int64Schema).
		Build()
	env = connect.NewStruct().Name("dbserver1.public.job_offer.Envelope").Version(2).
		Field("before", row).
		Field("after", row).
		Field("source", source).
		Field("transaction", txn).
		Field("op", connect.StringSchema).
		Field("ts_ms", connect.OptionalInt64Schema).
		Field("ts_us", connect.OptionalInt64Schema).
		Field("ts_ns", connect.OptionalInt64Schema).
		Build()
	return
}

// Debezium 3.0.1 output for an insert into public.job_offer through
// JsonConverter with schemas.enable=true (pretty-printed here; the
// converter writes it compact).
const debeziumInsertJSON = `{
 "schema": {"type": "struct", "fields": [
   {"type": "struct", "fields": [
     {"type": "int64", "optional": false, "default": 0, "field": "id"},
     {"type": "string", "optional": true, "field": "description"},
     {"type": "int64", "optional": false, "field": "duration"},
     {"type": "string", "optional": true, "field": "status"},
     {"type": "int64", "optional": true, "field": "customer_id"},
     {"type": "int64", "optional": true, "field": "professional_id"}],
    "optional": true, "name": "dbserver1.public.job_offer.Value", "field": "before"},
   {"type": "struct", "fields": [
     {"type": "int64", "optional": false, "default": 0, "field": "id"},
     {"type": "string", "optional": true, "field": "description"},
     {"type": "int64", "optional": false, "field": "duration"},
     {"type": "string", "optional": true, "field": "status"},
     {"type": "int64", "optional": true, "field": "customer_id"},
     {"type": "int64", "optional": true, "field": "professional_id"}],
    "optional": true, "name": "dbserver1.public.job_offer.Value", "field": "after"},
   {"type": "struct", "fields": [
     {"type": "string", "optional": false, "field": "version"},
     {"type": "string", "optional": false, "field": "connector"},
     {"type": "string", "optional": false, "field": "name"},
     {"type": "int64", "optional": false, "field": "ts_ms"},
     {"type": "string", "optional": true, "name": "io.debezium.data.Enum", "version": 1,
      "parameters": {"allowed": "true,last,false,incremental"}, "default": "false", "field": "snapshot"},
     {"type": "string", "optional": false, "field": "db"},
     {"type": "string", "optional": true, "field": "sequence"},
     {"type": "int64", "optional": true, "field": "ts_us"},
     {"type": "int64", "optional": true, "field": "ts_ns"},
     {"type": "string", "optional": false, "field": "schema"},
     {"type": "string", "optional": false, "field": "table"},
     {"type": "int64", "optional": true, "field": "txId"},
     {"type": "int64", "optional": true, "field": "lsn"},
     {"type": "int64", "optional": true, "field": "xmin"}],
    "optional": false, "name": "io.debezium.connector.postgresql.Source", "field": "source"},
   {"type": "struct", "fields": [
     {"type": "string", "optional": false, "field": "id"},
     {"type": "int64", "optional": false, "field": "total_order"},
     {"type": "int64", "optional": false, "field": "data_collection_order"}],
    "optional": true, "name": "event.block", "version": 1, "field": "transaction"},
   {"type": "string", "optional": false, "field": "op"},
   {"type": "int64", "optional": true, "field": "ts_ms"},
   {"type": "int64", "optional": true, "field": "ts_us"},
   {"type": "int64", "optional": true, "field": "ts_ns"}],
  "optional": false, "name": "dbserver1.public.job_offer.Envelope", "version": 2},
 "payload": {
  "before": null,
  "after": {"id": 8, "description": "Peppino", "duration": 123, "status": "Created", "customer_id": 10, "professional_id": null},
  "source": {"version": "3.0.1.Final", "connector": "postgresql", "name": "dbserver1", "ts_ms": 1732743221947,
   "snapshot": "false", "db": "crm", "sequence": "[null,\"36432176\"]", "ts_us": 1732743221947789,
   "ts_ns": 1732743221947789000, "schema": "public", "table": "job_offer", "txId": 933, "lsn": 36432176, "xmin": null},
  "transaction": null,
  "op": "c",
  "ts_ms": 1732743222108,
  "ts_us": 1732743222108815,
  "ts_ns": 1732743222108815622
 }
}`

func debeziumInsertValue(row, source, env *connect.Schema) *connect.Struct {
	after := connect.NewStructValue(row).
		Set("id", int64(8)).Set("description", "Peppino").Set("duration", int64(123)).
		Set("status", "Created").Set("customer_id", int64(10))
	src := connect.NewStructValue(source).
		Set("version", "3.0.1.Final").Set("connector", "postgresql").Set("name", "dbserver1").
		Set("ts_ms", int64(1732743221947)).Set("snapshot", "false").Set("db", "crm").
		Set("sequence", `[null,"36432176"]`).Set("ts_us", int64(1732743221947789)).
		Set("ts_ns", int64(1732743221947789000)).Set("schema", "public").Set("table", "job_offer").
		Set("txId", int64(933)).Set("lsn", int64(36432176))
	return connect.NewStructValue(env).
		Set("after", after).Set("source", src).Set("op", "c").
		Set("ts_ms", int64(1732743222108)).Set("ts_us", int64(1732743222108815)).
		Set("ts_ns", int64(1732743222108815622))
}

func TestJSONGoldenDebeziumPostgresInsert(t *testing.T) {
	key, row, source, _, env := debeziumJobOffer()
	j := mustJSON(t, nil)
	v := debeziumInsertValue(row, source, env)
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	got, err := j.FromConnect("dbserver1.public.job_offer", env, v)
	if err != nil {
		t.Fatal(err)
	}
	if want := compact(t, debeziumInsertJSON); string(got) != want {
		t.Fatalf("value JSON differs\n got: %s\nwant: %s", got, want)
	}

	kj, _ := NewJSON(nil, true)
	gotKey, err := kj.FromConnect("dbserver1.public.job_offer", key, connect.NewStructValue(key).Set("id", int64(8)))
	if err != nil {
		t.Fatal(err)
	}
	wantKey := `{"schema":{"type":"struct","fields":[{"type":"int64","optional":false,"default":0,"field":"id"}],"optional":false,"name":"dbserver1.public.job_offer.Key"},"payload":{"id":8}}`
	if string(gotKey) != wantKey {
		t.Fatalf("key JSON differs\n got: %s\nwant: %s", gotKey, wantKey)
	}

	// Reading Debezium's bytes back gives the same schema and values.
	s, back, err := j.ToConnect("t", []byte(debeziumInsertJSON))
	if err != nil {
		t.Fatal(err)
	}
	if !s.Equal(env) {
		t.Fatalf("schema round trip mismatch: %v", s)
	}
	again, err := j.FromConnect("t", s, back)
	if err != nil {
		t.Fatal(err)
	}
	if string(again) != string(got) {
		t.Fatalf("re-encoded differs:\n%s\n%s", again, got)
	}
	after := back.(*connect.Struct).Get("after").(*connect.Struct)
	if after.Get("id") != int64(8) || after.Get("professional_id") != nil || after.Get("description") != "Peppino" {
		t.Fatalf("after = %v", after)
	}

	// Schemaless (schemas.enable=false) writes only the payload.
	plain := mustJSON(t, map[string]string{"schemas.enable": "false"})
	gotPlain, err := plain.FromConnect("t", env, v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(compact(t, debeziumInsertJSON)), &m)
	if string(gotPlain) != string(m["payload"]) {
		t.Fatalf("payload differs\n got: %s\nwant: %s", gotPlain, m["payload"])
	}
}

// A Debezium-style row with logical types: Decimal (scale + precision),
// io.debezium.time.MicroTimestamp, Kafka Date/Time/Timestamp, bytes,
// floats, arrays and maps.
func logicalSchema() *connect.Schema {
	return connect.NewStruct().Name("srv.public.t.Value").
		Field("amount", connect.DecimalSchema(2).Param("connect.decimal.precision", "10").Optional().Build()).
		Field("created", connect.NewSchema(connect.Int64).Name("io.debezium.time.MicroTimestamp").Version(1).Optional().Build()).
		Field("day", connect.DateSchema().Build()).
		Field("at", connect.TimeSchema().Build()).
		Field("ts", connect.TimestampSchema().Build()).
		Field("raw", connect.OptionalBytesSchema).
		Field("f32", connect.Float32Schema).
		Field("f64", connect.Float64Schema).
		Field("big", connect.Float64Schema).
		Field("nan", connect.Float64Schema).
		Field("tags", connect.NewArray(connect.StringSchema).Build()).
		Field("attrs", connect.NewMap(connect.StringSchema, connect.Int32Schema).Build()).
		Field("codes", connect.NewMap(connect.Int16Schema, connect.BooleanSchema).Build()).
		Field("note", connect.NewSchema(connect.String).Optional().Default("n/a").Doc("a \"note\"").Build()).
		Build()
}

func logicalValue(s *connect.Schema) *connect.Struct {
	d, _ := connect.ParseDecimal("-12.34")
	return connect.NewStructValue(s).
		Set("amount", d).
		Set("created", int64(1732743221947789)).
		Set("day", time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)).
		Set("at", time.UnixMilli(45_296_789).UTC()).
		Set("ts", time.UnixMilli(1732743221947).UTC()).
		Set("raw", []byte{0, 1, 2, 0xff}).
		Set("f32", float32(0.1)).
		Set("f64", 1e7).
		Set("big", 1.0e-4).
		Set("nan", math.NaN()).
		Set("tags", []any{"a", "b\n\u00e9"}).
		Set("attrs", map[any]any{"y": int32(2), "x": int32(1)}).
		Set("codes", map[any]any{int16(7): true, int16(-1): false})
}

func TestJSONGoldenLogicalTypes(t *testing.T) {
	s := logicalSchema()
	v := logicalValue(s)
	tests := []struct {
		name string
		cfg  map[string]string
		want string
	}{
		{"base64", nil, `{"schema":{"type":"struct","fields":[` +
			`{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"},"field":"amount"},` +
			`{"type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1,"field":"created"},` +
			`{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1,"field":"day"},` +
			`{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Time","version":1,"field":"at"},` +
			`{"type":"int64","optional":false,"name":"org.apache.kafka.connect.data.Timestamp","version":1,"field":"ts"},` +
			`{"type":"bytes","optional":true,"field":"raw"},` +
			`{"type":"float","optional":false,"field":"f32"},` +
			`{"type":"double","optional":false,"field":"f64"},` +
			`{"type":"double","optional":false,"field":"big"},` +
			`{"type":"double","optional":false,"field":"nan"},` +
			`{"type":"array","items":{"type":"string","optional":false},"optional":false,"field":"tags"},` +
			`{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false,"field":"attrs"},` +
			`{"type":"map","keys":{"type":"int16","optional":false},"values":{"type":"boolean","optional":false},"optional":false,"field":"codes"},` +
			`{"type":"string","optional":true,"doc":"a \"note\"","default":"n/a","field":"note"}` +
			`],"optional":false,"name":"srv.public.t.Value"},"payload":{` +
			`"amount":"+y4=","created":1732743221947789,"day":19782,"at":45296789,"ts":1732743221947,"raw":"AAEC/w==",` +
			`"f32":0.1,"f64":1.0E7,"big":1.0E-4,"nan":"NaN","tags":["a","b\n` + "\u00e9" + `"],"attrs":{"x":1,"y":2},` +
			`"codes":[[-1,false],[7,true]],"note":"n/a"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := mustJSON(t, tt.cfg)
			got, err := j.FromConnect("t", s, v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Fatalf("\n got: %s\nwant: %s", got, tt.want)
			}
			// Round trip: same schema, same bytes again.
			s2, v2, err := j.ToConnect("t", got)
			if err != nil {
				t.Fatal(err)
			}
			if !s2.Equal(s) {
				t.Fatalf("schema mismatch: %v", s2)
			}
			st := v2.(*connect.Struct)
			if d := st.Get("amount").(connect.Decimal); d.String() != "-12.34" {
				t.Fatalf("amount %v", d)
			}
			if day := st.Get("day").(time.Time); !day.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("day %v", day)
			}
			if !math.IsNaN(st.Get("nan").(float64)) || st.Get("f32").(float32) != 0.1 {
				t.Fatalf("floats %v %v", st.Get("nan"), st.Get("f32"))
			}
			if st.Get("note") != "n/a" {
				t.Fatalf("note default not applied: %v", st.Get("note"))
			}
			again, err := j.FromConnect("t", s2, v2)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(got) {
				t.Fatalf("re-encoded differs:\n%s\n%s", again, got)
			}
		})
	}
}

func TestJSONDecimalNumeric(t *testing.T) {
	j := mustJSON(t, map[string]string{"decimal.format": "NUMERIC", "schemas.enable": "false"})
	tests := []struct {
		in    string
		scale int32
		want  string
	}{
		{"-12.34", 2, "-12.34"},
		{"0.00", 2, "0.00"},
		{"0.0000001", 7, "1E-7"},
		{"0.000001", 6, "0.000001"},
		{"12345678901234567890.5", 1, "12345678901234567890.5"},
	}
	for _, tt := range tests {
		d, _ := connect.ParseDecimal(tt.in)
		s := connect.DecimalSchema(tt.scale).Build()
		got, err := j.FromConnect("t", s, d)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tt.want {
			t.Errorf("%s: got %s want %s", tt.in, got, tt.want)
		}
	}
	if got := javaBigDecimal(connect.Decimal{Unscaled: big.NewInt(123), Scale: -2}); got != "1.23E+4" {
		t.Errorf("negative scale: %s", got)
	}
	// NUMERIC reads back at the schema scale.
	sj := mustJSON(t, map[string]string{"decimal.format": "NUMERIC"})
	_, v, err := sj.ToConnect("t", []byte(`{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"3"}},"payload":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := v.(connect.Decimal); d.Scale != 3 || d.String() != "1.500" {
		t.Fatalf("got %v scale %d", d, d.Scale)
	}
}

func TestJavaFloatFormat(t *testing.T) {
	tests := []struct {
		f    float64
		bits int
		want string
	}{
		{1, 64, "1.0"}, {math.Copysign(0, -1), 64, "-0.0"}, {0.001, 64, "0.001"}, {0.0001, 64, "1.0E-4"},
		{1234567.5, 64, "1234567.5"}, {12345678, 64, "1.2345678E7"}, {1e21, 64, "1.0E21"},
		{math.Inf(1), 64, `"Infinity"`}, {math.Inf(-1), 64, `"-Infinity"`},
		{float64(float32(3.14)), 32, "3.14"}, {float64(float32(1e10)), 32, "1.0E10"},
		{123.456, 64, "123.456"}, {-2.5e-7, 64, "-2.5E-7"},
	}
	for _, tt := range tests {
		if got := string(appendJavaFloat(nil, tt.f, tt.bits)); got != tt.want {
			t.Errorf("%v/%d: got %s want %s", tt.f, tt.bits, got, tt.want)
		}
	}
}

func TestJSONStringEscaping(t *testing.T) {
	j := mustJSON(t, map[string]string{"schemas.enable": "false"})
	got, err := j.FromConnect("t", connect.StringSchema, "q\"b\\s/\t\x01<>&\u2028é\xff")
	if err != nil {
		t.Fatal(err)
	}
	want := `"q\"b\\s/\t\u0001<>&` + "\u2028é\uFFFD" + `"`
	if string(got) != want {
		t.Fatalf("got %s want %s", got, want)
	}
	_, v, err := j.ToConnect("t", []byte(`"a\u00e9\ud83d\ude00\n"`))
	if err != nil || v != "aé😀\n" {
		t.Fatalf("got %q %v", v, err)
	}
}

func TestJSONSchemaless(t *testing.T) {
	j := mustJSON(t, map[string]string{"schemas.enable": "false"})
	_, v, err := j.ToConnect("t", []byte(` {"a":1,"b":1.5,"c":1e3,"d":[true,null,"x"],"e":{"f":-9223372036854775808},"g":99999999999999999999} `))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"a": int64(1), "b": 1.5, "c": 1000.0, "d": []any{true, nil, "x"},
		"e": map[string]any{"f": int64(math.MinInt64)}, "g": 1e20}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("got %#v", v)
	}
	out, err := j.FromConnect("t", nil, v)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != `{"a":1,"b":1.5,"c":1000.0,"d":[true,null,"x"],"e":{"f":-9223372036854775808},"g":1.0E20}` {
		t.Fatalf("got %s", out)
	}
	// Envelope with a null schema is schemaless too.
	sj := mustJSON(t, nil)
	s, v, err := sj.ToConnect("t", []byte(`{"schema":null,"payload":{"k":[1]}}`))
	if err != nil || s != nil || !reflect.DeepEqual(v, map[string]any{"k": []any{int64(1)}}) {
		t.Fatalf("got %v %#v %v", s, v, err)
	}
	b, err := sj.FromConnect("t", nil, map[string]any{"k": int32(1)})
	if err != nil || string(b) != `{"schema":null,"payload":{"k":1}}` {
		t.Fatalf("got %s %v", b, err)
	}
	// Non-string map keys become [k,v] pairs.
	b, err = j.FromConnect("t", nil, map[any]any{int64(2): "b", int64(1): "a"})
	if err != nil || string(b) != `[[1,"a"],[2,"b"]]` {
		t.Fatalf("got %s %v", b, err)
	}
}

func TestJSONTombstoneAndNulls(t *testing.T) {
	j := mustJSON(t, nil)
	if b, err := j.FromConnect("t", connect.OptionalStringSchema, nil); err != nil || b != nil {
		t.Fatalf("nil value: %q %v", b, err)
	}
	if s, v, err := j.ToConnect("t", nil); s != nil || v != nil || err != nil {
		t.Fatalf("nil data: %v %v %v", s, v, err)
	}
	// replace.null.with.default
	s := connect.NewStruct().Field("x", connect.NewSchema(connect.Int32).Optional().Default(int32(5)).Build()).Build()
	v := connect.NewStructValue(s)
	b, _ := j.FromConnect("t", s, v)
	if !strings.HasSuffix(string(b), `"payload":{"x":5}}`) {
		t.Fatalf("default not applied: %s", b)
	}
	nj := mustJSON(t, map[string]string{"replace.null.with.default": "false"})
	b, _ = nj.FromConnect("t", s, v)
	if !strings.HasSuffix(string(b), `"payload":{"x":null}}`) {
		t.Fatalf("null not kept: %s", b)
	}
	_, back, err := nj.ToConnect("t", b)
	if err != nil || back.(*connect.Struct).Get("x") != nil {
		t.Fatalf("got %v %v", back, err)
	}
	// Required field without default.
	rs := connect.NewStruct().Field("id", connect.Int32Schema).Build()
	if _, err := j.FromConnect("t", rs, connect.NewStructValue(rs)); err == nil || !strings.Contains(err.Error(), `field "id"`) {
		t.Fatalf("want error naming id, got %v", err)
	}
}

func TestJSONToConnectErrors(t *testing.T) {
	_, row, source, _, env := debeziumJobOffer()
	j := mustJSON(t, nil)
	good, _ := j.FromConnect("t", env, debeziumInsertValue(row, source, env))
	schemaPart := string(good[len(`{"schema":`):bytes.Index(good, []byte(`,"payload":`))])
	dec := `{"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"},"field":"amount"}],"optional":true,"field":"after"}],"optional":false},"payload":`
	tests := []struct {
		name, data, wantErr string
	}{
		{"not json", `{"schema":`, "invalid JSON at byte 10"},
		{"trailing", `{"schema":null,"payload":1} x`, "after top-level value"},
		{"no envelope", `{"a":1}`, `requires "schema" and "payload"`},
		{"extra member", `{"schema":null,"payload":1,"x":2}`, `requires "schema" and "payload"`},
		{"bad type", `{"schema":{"type":"int128"},"payload":1}`, `unknown schema type "int128"`},
		{"missing type", `{"schema":{"optional":true},"payload":1}`, "'type'"},
		{"wrong kind", `{"schema":` + schemaPart + `,"payload":{"after":{"id":"x","duration":1},"source":null,"op":"c"}}`, `field "after.id": expected integer, got string`},
		{"required null", `{"schema":` + schemaPart + `,"payload":{"after":{"id":1},"op":"c"}}`, `field "after.duration": invalid null value for required int64 field`},
		{"int32 range", `{"schema":{"type":"int32","optional":false},"payload":3000000000}`, "out of range for int32"},
		{"fraction", `{"schema":{"type":"int64","optional":false},"payload":1.5}`, "expected integer, got 1.5"},
		{"decimal kind", dec + `{"after":{"amount":true}}}`, `field "after.amount": expected number or base64 string for Decimal, got boolean`},
		{"bad base64", dec + `{"after":{"amount":"!!"}}}`, `field "after.amount": invalid base64`},
		{"param type", `{"schema":{"type":"string","parameters":{"a":1}},"payload":"x"}`, "parameters must have string values"},
		{"map pairs", `{"schema":{"type":"map","keys":{"type":"int32"},"values":{"type":"string"}},"payload":[[1]]}`, "[key, value] array"},
		{"depth", strings.Repeat("[", 2000), "nesting deeper"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := j.ToConnect("t", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want error containing %q", err, tt.wantErr)
			}
		})
	}
	var de *DataError
	_, _, err := j.ToConnect("t", []byte(dec+`{"after":{"amount":[]}}}`))
	if !errors.As(err, &de) || de.Path != "after.amount" {
		t.Fatalf("want *DataError with path, got %v", err)
	}
}

func TestJSONFromConnectErrors(t *testing.T) {
	j := mustJSON(t, nil)
	s := connect.NewStruct().Field("amount", connect.DecimalSchema(2).Build()).Field("d", connect.DateSchema().Optional().Build()).Build()
	d, _ := connect.ParseDecimal("1.5")
	if _, err := j.FromConnect("t", s, connect.NewStructValue(s).Set("amount", d)); err == nil || !strings.Contains(err.Error(), `field "amount"`) {
		t.Fatalf("scale mismatch: %v", err)
	}
	d2, _ := connect.ParseDecimal("1.50")
	if _, err := j.FromConnect("t", s, connect.NewStructValue(s).Set("amount", d2).Set("d", time.Unix(5, 0))); err == nil || !strings.Contains(err.Error(), `field "d"`) {
		t.Fatalf("date with time: %v", err)
	}
	if _, err := j.FromConnect("t", connect.Int32Schema, int64(1)); err == nil {
		t.Fatal("type mismatch accepted")
	}
	if _, err := j.FromConnect("t", nil, struct{}{}); err == nil {
		t.Fatal("unsupported Go type accepted")
	}
}

func TestNewConverters(t *testing.T) {
	for _, class := range []string{JSONClass, "json", StringClass, "string", ByteArrayClass, "bytes"} {
		if _, err := New(class, nil, false); err != nil {
			t.Errorf("%s: %v", class, err)
		}
	}
	_, err := New("com.example.Nope", nil, false)
	if !errors.Is(err, ErrUnknownClass) || !strings.Contains(err.Error(), "com.example.Nope") {
		t.Fatalf("got %v", err)
	}
	if _, err := New("json", map[string]string{"decimal.format": "HEX"}, false); err == nil || !strings.Contains(err.Error(), "decimal.format") {
		t.Fatalf("bad decimal.format: %v", err)
	}
	if _, err := New("json", map[string]string{"schemas.enable": "maybe"}, false); err == nil || !strings.Contains(err.Error(), "schemas.enable") {
		t.Fatalf("bad schemas.enable: %v", err)
	}
	if _, err := New("string", map[string]string{"converter.encoding": "EBCDIC"}, false); err == nil || !strings.Contains(err.Error(), "converter.encoding") {
		t.Fatalf("bad encoding: %v", err)
	}
}

func TestStringAndByteArray(t *testing.T) {
	sc, _ := NewString(nil, false)
	b, err := sc.FromConnect("t", nil, "héllo")
	if err != nil || string(b) != "héllo" {
		t.Fatalf("%q %v", b, err)
	}
	b, _ = sc.FromConnect("t", nil, int64(42))
	if string(b) != "42" {
		t.Fatalf("%q", b)
	}
	if b, _ := sc.FromConnect("t", nil, nil); b != nil {
		t.Fatal("nil not tombstone")
	}
	s, v, _ := sc.ToConnect("t", []byte("abc"))
	if s != connect.OptionalStringSchema || v != "abc" {
		t.Fatalf("%v %v", s, v)
	}
	lc, _ := NewString(map[string]string{"converter.encoding": "ISO-8859-1"}, false)
	b, _ = lc.FromConnect("t", nil, "é€")
	if !bytes.Equal(b, []byte{0xe9, '?'}) {
		t.Fatalf("latin1 %x", b)
	}
	_, v, _ = lc.ToConnect("t", []byte{0xe9})
	if v != "é" {
		t.Fatalf("latin1 read %q", v)
	}

	bc, _ := NewByteArray(nil, false)
	b, err = bc.FromConnect("t", connect.BytesSchema, []byte{1, 2})
	if err != nil || !bytes.Equal(b, []byte{1, 2}) {
		t.Fatal(b, err)
	}
	if _, err := bc.FromConnect("t", connect.StringSchema, []byte{1}); err == nil {
		t.Fatal("string schema accepted")
	}
	if _, err := bc.FromConnect("t", nil, "x"); err == nil {
		t.Fatal("string value accepted")
	}
	s, v, _ = bc.ToConnect("t", []byte{9})
	if s != connect.OptionalBytesSchema || !bytes.Equal(v.([]byte), []byte{9}) {
		t.Fatal(s, v)
	}
}

func TestJSONConcurrent(t *testing.T) {
	_, row, source, _, env := debeziumJobOffer()
	j := mustJSON(t, map[string]string{"schemas.cache.size": "2"})
	v := debeziumInsertValue(row, source, env)
	done := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; i < 50; i++ {
				b, err := j.FromConnect("t", env, v)
				if err != nil {
					done <- err
					return
				}
				if _, _, err := j.ToConnect("t", b); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 4; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

func BenchmarkJSONFromConnect(b *testing.B) {
	_, row, source, _, env := debeziumJobOffer()
	j := mustJSON(b, nil)
	v := debeziumInsertValue(row, source, env)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := j.FromConnect("t", env, v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONToConnect(b *testing.B) {
	j := mustJSON(b, nil)
	data := []byte(compact(b, debeziumInsertJSON))
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := j.ToConnect("t", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONToConnectSchemaless(b *testing.B) {
	j := mustJSON(b, map[string]string{"schemas.enable": "false"})
	var m map[string]json.RawMessage
	_ = json.Unmarshal([]byte(compact(b, debeziumInsertJSON)), &m)
	data := []byte(m["payload"])
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := j.ToConnect("t", data); err != nil {
			b.Fatal(err)
		}
	}
}

func TestJSONHugeExponent(t *testing.T) {
	j := mustJSON(t, nil)
	start := time.Now()
	for _, payload := range []string{"1e999999999", "-1E+999999999", "1.5e-3"} {
		_, _, err := j.ToConnect("t", []byte(`{"schema":{"type":"int64"},"payload":`+payload+`}`))
		if err == nil {
			t.Errorf("%s accepted as int64", payload)
		}
	}
	if _, v, err := j.ToConnect("t", []byte(`{"schema":{"type":"int32"},"payload":1.0e3}`)); err != nil || v != int32(1000) {
		t.Fatalf("1.0e3: %v %v", v, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("huge exponents took %v", d)
	}
}

func TestConverterConfigDef(t *testing.T) {
	for _, c := range append(Classes(), SimpleHeaderClass) {
		if _, err := ConfigDef(c); err != nil {
			t.Errorf("%s: %v", c, err)
		}
	}
	def, _ := ConfigDef("json")
	if k := def.Key("schemas.enable"); k == nil || k.Default != "true" {
		t.Fatalf("schemas.enable %+v", k)
	}
	if _, err := ConfigDef("x"); !errors.Is(err, ErrUnknownClass) {
		t.Fatal(err)
	}
}

func TestJSONFromConnectErrorPaths(t *testing.T) {
	inner := connect.NewStruct().Field("n", connect.Int32Schema).Build()
	s := connect.NewStruct().
		Field("after", connect.NewStruct().Optional().Field("amount", connect.Float64Schema).Build()).
		Field("list", connect.NewArray(inner).Build()).
		Field("m", connect.NewMap(connect.StringSchema, connect.Int32Schema).Build()).
		Build()
	good := func() *connect.Struct {
		return connect.NewStructValue(s).
			Set("after", connect.NewStructValue(s.Field("after").Schema).Set("amount", 1.5)).
			Set("list", []any{connect.NewStructValue(inner).Set("n", int32(1))}).
			Set("m", map[any]any{"a": int32(1)})
	}
	j := mustJSON(t, nil)
	if _, err := j.FromConnect("t", s, good()); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		mutate func(*connect.Struct)
		path   string
	}{
		{func(v *connect.Struct) { v.Get("after").(*connect.Struct).Set("amount", "x") }, "after.amount"},
		{func(v *connect.Struct) { v.Set("list", []any{nil, connect.NewStructValue(inner).Set("n", int64(1))}) }, "list[0]"},
		{func(v *connect.Struct) { v.Set("list", []any{connect.NewStructValue(inner).Set("n", int64(1))}) }, "list[0].n"},
		{func(v *connect.Struct) { v.Set("m", map[any]any{"k": "v"}) }, "m[k]"},
		{func(v *connect.Struct) { v.Set("m", map[any]any{7: int32(1)}) }, "m<key>"},
	}
	for _, tt := range tests {
		v := good()
		tt.mutate(v)
		_, err := j.FromConnect("t", s, v)
		var de *DataError
		if !errors.As(err, &de) || de.Path != tt.path {
			t.Errorf("want path %q, got %v", tt.path, err)
		}
	}
}
