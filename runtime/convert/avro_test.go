package convert

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/schemaregistry"
)

// startRegistry runs a schema registry on a test broker and returns its
// URL and a counter of the requests it served.
func startRegistry(t testing.TB) (string, *atomic.Int64) {
	t.Helper()
	brokers := testenv.StartBroker(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := schemaregistry.New(ctx, schemaregistry.WithBrokers(brokers), schemaregistry.WithAdvertisedURL(url),
		schemaregistry.WithElectionSessionTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	h := r.Handler()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, req)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); r.Close() })
	deadline := time.Now().Add(60 * time.Second)
	for !r.IsPrimary() {
		if time.Now().After(deadline) {
			t.Fatal("registry never became primary")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return url, &n
}

// cdcSchema is shaped like a Debezium Postgres change event.
func cdcSchema() (*connect.Schema, *connect.Schema) {
	row := connect.NewStruct().Name("shop.public.orders.Value").
		Field("id", connect.Int32Schema).
		Field("small", connect.NewSchema(connect.Int16).Optional().Build()).
		Field("tiny", connect.Int8Schema).
		Field("amount", connect.DecimalSchema(2).Param("connect.decimal.precision", "10").Build()).
		Field("note", connect.OptionalStringSchema).
		Field("status", connect.NewSchema(connect.String).Name("io.debezium.data.Enum").Version(1).Param("allowed", "new,paid").Default("new").Build()).
		Field("born", connect.DateSchema().Optional().Build()).
		Field("at", connect.TimeSchema().Build()).
		Field("ts", connect.TimestampSchema().Build()).
		Field("micros", connect.NewSchema(connect.Int64).Name("io.debezium.time.MicroTimestamp").Version(1).Optional().Build()).
		Field("ratio", connect.Float64Schema).
		Field("f32", connect.OptionalFloat32Schema).
		Field("ok", connect.BooleanSchema).
		Field("blob", connect.OptionalBytesSchema).
		Field("tags", connect.NewArray(connect.StringSchema).Optional().Build()).
		Field("attrs", connect.NewMap(connect.StringSchema, connect.OptionalInt64Schema).Optional().Build()).
		Field("bykey", connect.NewMap(connect.Int32Schema, connect.StringSchema).Optional().Build()).
		Build()
	env := connect.NewStruct().Name("shop.public.orders.Envelope").Version(1).
		Field("before", func() *connect.Schema { s := *row; s.Optional = true; return &s }()).
		Field("after", func() *connect.Schema { s := *row; s.Optional = true; return &s }()).
		Field("source", connect.NewStruct().Field("lsn", connect.OptionalInt64Schema).Field("db", connect.StringSchema).Build()).
		Field("op", connect.StringSchema).
		Field("ts_ms", connect.OptionalInt64Schema).
		Build()
	return env, env.Fields[1].Schema
}

func cdcValue(env, row *connect.Schema) *connect.Struct {
	after := connect.NewStructValue(row).
		Set("id", int32(7)).Set("small", int16(-3)).Set("tiny", int8(9)).
		Set("amount", connect.Decimal{Unscaled: big.NewInt(-12345), Scale: 2}).
		Set("note", "héllo").Set("status", "paid").
		Set("born", connect.DateFromDays(19000)).
		Set("at", connect.TimeFromMillis(3_600_123)).
		Set("ts", time.UnixMilli(1_700_000_000_123).UTC()).
		Set("micros", int64(1_700_000_000_123_456)).
		Set("ratio", 0.25).Set("f32", float32(1.5)).Set("ok", true).
		Set("blob", []byte{0, 1, 255}).
		Set("tags", []any{"a", "b"}).
		Set("attrs", map[any]any{"x": int64(1), "y": nil}).
		Set("bykey", map[any]any{int32(1): "one"})
	src := connect.NewStructValue(env.Field("source").Schema).Set("lsn", int64(99)).Set("db", "shop")
	return connect.NewStructValue(env).Set("after", after).Set("source", src).Set("op", "c").Set("ts_ms", int64(1))
}

func TestAvroRoundTripAndCaching(t *testing.T) {
	url, calls := startRegistry(t)
	conv, err := New(AvroClass, map[string]string{SchemaRegistryURLConfig: url}, false)
	if err != nil {
		t.Fatal(err)
	}
	env, row := cdcSchema()
	v := cdcValue(env, row)
	data, err := conv.FromConnect("shop.public.orders", env, v)
	if err != nil {
		t.Fatal(err)
	}
	if data[0] != 0 || binary.BigEndian.Uint32(data[1:5]) != 1 {
		t.Fatalf("wire header % x", data[:5])
	}
	s, got, err := conv.ToConnect("shop.public.orders", data)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != env.Name || s.Version != 1 || s.Field("after").Schema.Field("amount").Schema.Name != connect.DecimalName {
		t.Fatalf("schema %+v", s)
	}
	if g, w := got.(*connect.Struct).String(), v.String(); g != w {
		t.Fatalf("round trip:\n got %s\nwant %s", g, w)
	}
	if err := connect.Validate(s, got); err != nil {
		t.Fatalf("decoded value does not validate: %v", err)
	}
	// Null for a required field without default names the field.
	bad := cdcValue(env, row)
	bad.Get("after").(*connect.Struct).Set("amount", nil)
	if _, err := conv.FromConnect("shop.public.orders", env, bad); err == nil || !strings.Contains(err.Error(), `"after.amount"`) {
		t.Fatalf("want error naming after.amount, got %v", err)
	}
	// The decoded schema maps back to the same Avro schema (same id).
	again, err := conv.FromConnect("shop.public.orders", s, got)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(again[1:5]) != 1 || len(again) != len(data) {
		t.Fatalf("re-encoding the decoded record differs:\n% x\n% x", again, data)
	}
	if _, got2, err := conv.ToConnect("shop.public.orders", again); err != nil || got2.(*connect.Struct).String() != v.String() {
		t.Fatalf("second round trip: %v %v", got2, err) // (map entry order may differ in the bytes)
	}
	// A steady stream does not call the registry, in either direction.
	before := calls.Load()
	fresh, _ := New(AvroClass, map[string]string{SchemaRegistryURLConfig: url}, false)
	for range 100 {
		if _, err := conv.FromConnect("shop.public.orders", env, v); err != nil {
			t.Fatal(err)
		}
		if _, _, err := fresh.ToConnect("shop.public.orders", data); err != nil {
			t.Fatal(err)
		}
	}
	if n := calls.Load() - before; n != 1 { // fresh's one fetch by id
		t.Fatalf("%d registry calls for 200 conversions, want 1", n)
	}
}

func TestAvroSchemaMapping(t *testing.T) {
	a, err := NewAvro(map[string]string{SchemaRegistryURLConfig: "http://127.0.0.1:1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	s := connect.NewStruct().
		Field("id", connect.Int64Schema).
		Field("price", connect.DecimalSchema(3).Build()).
		Field("d", connect.DateSchema().Optional().Build()).
		Field("n", connect.NewSchema(connect.Int32).Default(int32(5)).Build()).
		Field("o", connect.NewSchema(connect.String).Optional().Default("x").Build()).
		Field("t", connect.Int16Schema).
		Build()
	text, err := a.AvroSchema(s)
	if err != nil {
		t.Fatal(err)
	}
	// Confluent's AvroData: unnamed structs are io.confluent.connect.avro.ConnectDefault,
	// decimals bytes+decimal with connect.* properties (precision defaults to 64),
	// optional fields ["null",T] with default null, a non-null default puts T first.
	want := `{"type":"record","name":"ConnectDefault","namespace":"io.confluent.connect.avro","fields":[` +
		`{"name":"id","type":"long"},` +
		`{"name":"price","type":{"type":"bytes","scale":3,"precision":64,"connect.version":1,"connect.parameters":{"scale":"3"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}},` +
		`{"name":"d","type":["null",{"type":"int","connect.version":1,"connect.name":"org.apache.kafka.connect.data.Date","logicalType":"date"}],"default":null},` +
		`{"name":"n","type":{"type":"int","connect.default":5},"default":5},` +
		`{"name":"o","type":[{"type":"string","connect.default":"x"},"null"],"default":"x"},` +
		`{"name":"t","type":{"type":"int","connect.type":"int16"}}]}`
	if text != want {
		t.Fatalf("avro schema\n got %s\nwant %s", text, want)
	}
	var js any
	if err := json.Unmarshal([]byte(text), &js); err != nil {
		t.Fatal(err)
	}
	// Debezium's precision parameter: Avro precision, parameters in Kafka's order.
	dec, err := a.AvroSchema(connect.DecimalSchema(2).Param("connect.decimal.precision", "10").Build())
	if err != nil {
		t.Fatal(err)
	}
	if w := `{"type":"bytes","scale":2,"precision":10,"connect.version":1,"connect.parameters":{"scale":"2","connect.decimal.precision":"10"},"connect.name":"org.apache.kafka.connect.data.Decimal","logicalType":"decimal"}`; dec != w {
		t.Fatalf("decimal\n got %s\nwant %s", dec, w)
	}
}

func TestAvroWireErrors(t *testing.T) {
	a, _ := NewAvro(map[string]string{SchemaRegistryURLConfig: "http://127.0.0.1:1"}, false)
	if _, _, err := a.ToConnect("t", []byte{1, 0, 0, 0, 1}); err == nil || !strings.Contains(err.Error(), "magic byte 1") {
		t.Fatalf("got %v", err)
	}
	if _, _, err := a.ToConnect("t", []byte{0, 0}); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("got %v", err)
	}
	if s, v, err := a.ToConnect("t", nil); s != nil || v != nil || err != nil {
		t.Fatalf("nil: %v %v %v", s, v, err)
	}
	if _, err := New("avro", map[string]string{}, false); err == nil {
		t.Fatal("missing schema.registry.url must fail")
	}
}

func TestAvroSubjectStrategies(t *testing.T) {
	url, _ := startRegistry(t)
	s := connect.NewStruct().Name("com.acme.Order").Field("id", connect.Int32Schema).Build()
	v := connect.NewStructValue(s).Set("id", int32(1))
	for _, c := range []struct {
		strategy string
		isKey    bool
		subject  string
	}{
		{"", false, "orders-value"},
		{"", true, "orders-key"},
		{RecordNameStrategy, false, "com.acme.Order"},
		{"TopicRecordNameStrategy", true, "orders-com.acme.Order"},
	} {
		cfg := map[string]string{SchemaRegistryURLConfig: url}
		if c.strategy != "" {
			cfg[KeySubjectNameStrategyConfig] = c.strategy
			cfg[ValSubjectNameStrategyConfig] = c.strategy
		}
		a, err := NewAvro(cfg, c.isKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.FromConnect("orders", s, v); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get(url + "/subjects/" + c.subject + "/versions/latest")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: subject %s not registered: %v %v", c.strategy, c.subject, resp.StatusCode, err)
		}
		resp.Body.Close()
	}
	// auto.register.schemas=false: an unregistered schema is an error; with
	// use.latest.version the latest registered schema is used.
	other := connect.NewStruct().Name("com.acme.Other").Field("id", connect.Int32Schema).Build()
	a, _ := NewAvro(map[string]string{SchemaRegistryURLConfig: url, AutoRegisterSchemasConfig: "false"}, false)
	if _, err := a.FromConnect("orders", other, connect.NewStructValue(other).Set("id", int32(1))); err == nil {
		t.Fatal("unregistered schema with auto.register.schemas=false must fail")
	}
	a, _ = NewAvro(map[string]string{SchemaRegistryURLConfig: url, AutoRegisterSchemasConfig: "false", UseLatestVersionConfig: "true"}, false)
	data, err := a.FromConnect("orders", s, v)
	if err != nil {
		t.Fatal(err)
	}
	if binary.BigEndian.Uint32(data[1:5]) != 1 {
		t.Fatalf("use.latest.version id %d", binary.BigEndian.Uint32(data[1:5]))
	}
}

func BenchmarkAvroFromConnect(b *testing.B) {
	url, _ := startRegistry(b)
	conv, _ := NewAvro(map[string]string{SchemaRegistryURLConfig: url}, false)
	env, row := cdcSchema()
	v := cdcValue(env, row)
	if _, err := conv.FromConnect("t", env, v); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := conv.FromConnect("t", env, v); err != nil {
			b.Fatal(err)
		}
	}
}

// TestAvroReadsForeignSchemas: Avro written by other producers (general
// unions, enums, fixed, micros timestamps) maps as Confluent's AvroData.
func TestAvroReadsForeignSchemas(t *testing.T) {
	url, _ := startRegistry(t)
	schema := `{"type":"record","name":"Ev","namespace":"x","fields":[` +
		`{"name":"u","type":["int","string",{"type":"record","name":"P","fields":[{"name":"q","type":"long"}]}]},` +
		`{"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},` +
		`{"name":"f","type":{"type":"fixed","name":"Two","size":2}},` +
		`{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}}]}`
	reg := newRegistryClient(url, "")
	id, err := reg.register(context.Background(), "foreign-value", schema)
	if err != nil {
		t.Fatal(err)
	}
	conv, _ := NewAvro(map[string]string{SchemaRegistryURLConfig: url}, false)
	parsed := avro.MustParse(schema)
	for _, c := range []struct {
		u     any
		field string
		want  string
	}{
		{map[string]any{"string": "hi"}, "string", "hi"},
		{map[string]any{"int": 5}, "int", "5"},
		{map[string]any{"x.P": map[string]any{"q": int64(9)}}, "P", "Struct{q=9}"},
	} {
		body, err := avro.Marshal(parsed, map[string]any{"u": c.u, "e": "GREEN", "f": [2]byte{1, 2}, "ts": time.UnixMicro(1_700_000_000_000_001).UTC()})
		if err != nil {
			t.Fatal(err)
		}
		data := append([]byte{0, 0, 0, 0, byte(id)}, body...)
		s, v, err := conv.ToConnect("foreign", data)
		if err != nil {
			t.Fatal(err)
		}
		st := v.(*connect.Struct)
		u := st.Get("u").(*connect.Struct)
		if s.Field("u").Schema.Name != "io.confluent.connect.avro.Union" || fmt.Sprint(u.Get(c.field)) != c.want {
			t.Errorf("union %v: got %v (schema %v)", c.u, u, s.Field("u").Schema.Fields)
		}
		if st.Get("e") != "GREEN" || s.Field("e").Schema.Parameters["io.confluent.connect.avro.Enum"] != "x.Color" {
			t.Errorf("enum: %v %v", st.Get("e"), s.Field("e").Schema.Parameters)
		}
		if fmt.Sprint(st.Get("f")) != "[1 2]" || st.Get("ts") != int64(1_700_000_000_000_001) {
			t.Errorf("fixed %v ts %v", st.Get("f"), st.Get("ts"))
		}
	}
}
