package s3

import (
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/runtime/connect"
)

// readMaps reads every row of a Parquet object as a map, using the file's
// own schema.
func readMaps(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	f := parquetFile(t, b)
	r := parquet.NewReader(f)
	defer r.Close()
	var out []map[string]any
	for {
		m := map[string]any{}
		if err := r.Read(&m); err != nil {
			break
		}
		out = append(out, m)
	}
	if int64(len(out)) != f.NumRows() {
		t.Fatalf("read %d rows, file says %d", len(out), f.NumRows())
	}
	return out
}

// leafTypes renders each leaf column as "path: physical logical".
func leafTypes(t *testing.T, b []byte) map[string]string {
	t.Helper()
	f := parquetFile(t, b)
	out := map[string]string{}
	for _, path := range f.Schema().Columns() {
		leaf, _ := f.Schema().Lookup(path...)
		typ := leaf.Node.Type()
		s := typ.Kind().String()
		if lt := typ.LogicalType(); lt != nil {
			s += " " + lt.String()
		}
		if leaf.Node.Optional() {
			s += " optional"
		}
		out[strings.Join(path, ".")] = s
	}
	return out
}

func TestParquetFlatRecordsTypesAndValues(t *testing.T) {
	cfg, store := fakeS3(t)
	cfg = withCfg(cfg, KeyFlushSize, "4", KeyFormatClass, ParquetFormatClass)
	tp := connect.TopicPartition{Topic: "shop.public.items", Partition: 0}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{tp})
	defer tk.Close()
	for i := 0; i < 4; i++ {
		mustPut(t, tk, flatRecord(tp.Topic, 0, int64(i), i))
	}
	keys := dataKeys(store.list(t))
	want := []string{"topics/shop.public.items/partition=0/shop.public.items+0+0000000000.snappy.parquet"}
	if !reflect.DeepEqual(keys, want) {
		t.Fatalf("keys = %v, want %v", keys, want)
	}
	b := store.read(t, keys[0])
	types := leafTypes(t, b)
	wantTypes := map[string]string{
		"id":    "INT32",
		"tiny":  "INT32 INT(8,true)",
		"small": "INT32 INT(16,true) optional",
		"big":   "INT64",
		"f32":   "FLOAT",
		"f64":   "DOUBLE optional",
		"ok":    "BOOLEAN",
		"name":  "BYTE_ARRAY STRING optional",
		"raw":   "BYTE_ARRAY optional",
		"price": "BYTE_ARRAY DECIMAL(10,2)",
		"day":   "INT32 DATE optional",
		"at":    "INT32 TIME(isAdjustedToUTC=true,unit=MILLIS)",
		"ts":    "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MILLIS)",
		"mts":   "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS) optional",
	}
	for k, w := range wantTypes {
		if got := types[k]; !strings.HasPrefix(got, strings.Fields(w)[0]) || !strings.Contains(got+" ", strings.TrimPrefix(w, strings.Fields(w)[0])+" ") {
			t.Errorf("column %s: type %q, want %q", k, got, w)
		}
	}
	if f := parquetFile(t, b); f.Schema().Columns()[0][0] != "id" || f.Schema().Columns()[13][0] != "mts" {
		t.Errorf("column order not preserved: %v", f.Schema().Columns())
	}
	f := parquetFile(t, b)
	for k, want := range map[string]string{"kafka.topic": tp.Topic, "kafka.partition": "0", "kafka.offset.start": "0", "kafka.offset.end": "3"} {
		if got, _ := f.Lookup(k); got != want {
			t.Errorf("footer %s = %q, want %q", k, got, want)
		}
	}
	rows := readMaps(t, b)
	if len(rows) != 4 {
		t.Fatalf("rows = %d", len(rows))
	}
	for i, r := range rows {
		if r["id"] != int32(i) || r["big"] != int64(i)*1_000_000_007 || r["ok"] != (i%2 == 0) {
			t.Errorf("row %d: %v", i, r)
		}
		if r["ts"] != baseTime.Add(timeSec(i)).UnixMilli() || r["at"] != int32(i*1000) {
			t.Errorf("row %d temporal: %v", i, r)
		}
		if i%3 == 0 {
			if r["name"] != nil || r["day"] != nil || r["small"] != nil {
				t.Errorf("row %d: want nulls, got %v", i, r)
			}
		} else {
			if r["name"] != fmt.Sprintf("item-%d", i) || r["day"] != int32(19000+i) || r["mts"] != baseTime.UnixMicro()+int64(i) {
				t.Errorf("row %d: %v", i, r)
			}
		}
	}
	// Decimal bytes are the two's-complement unscaled value.
	raw := parquet.NewReader(parquetFile(t, b))
	prow := make([]parquet.Row, 4)
	n, _ := raw.ReadRows(prow)
	for i := 0; i < n; i++ {
		var got *big.Int
		prow[i].Range(func(col int, vals []parquet.Value) bool {
			if col == 9 {
				got = connect.FromTwosComplement(vals[0].ByteArray())
			}
			return true
		})
		if got == nil || got.Int64() != int64(i)*100+99 {
			t.Errorf("row %d price unscaled = %v", i, got)
		}
	}
}

// Debezium envelope schemas.
var (
	dbzValue = connect.NewStruct().Name("dbserver1.inventory.customers.Value").Optional().
			Field("id", connect.Int32Schema).
			Field("email", connect.OptionalStringSchema).
			Field("balance", connect.DecimalSchema(2).Optional().Build()).
			Field("created", connect.NewSchema(connect.Int64).Name(dbzMicroTimestamp).Build()).
			Field("tags", connect.NewArray(connect.StringSchema).Optional().Build()).
			Field("attrs", connect.NewMap(connect.StringSchema, connect.OptionalStringSchema).Optional().Build()).
			Build()
	dbzSource = connect.NewStruct().Name("io.debezium.connector.postgresql.Source").
			Field("version", connect.StringSchema).
			Field("connector", connect.StringSchema).
			Field("name", connect.StringSchema).
			Field("ts_ms", connect.Int64Schema).
			Field("db", connect.StringSchema).
			Field("table", connect.StringSchema).
			Field("lsn", connect.OptionalInt64Schema).
			Build()
	dbzEnvelope = connect.NewStruct().Name("dbserver1.inventory.customers.Envelope").Version(1).
			Field("before", dbzValue).
			Field("after", dbzValue).
			Field("source", dbzSource).
			Field("op", connect.StringSchema).
			Field("ts_ms", connect.OptionalInt64Schema).
			Build()
)

func dbzRow(id int, email string, tags []any, attrs map[any]any) *connect.Struct {
	v := connect.NewStructValue(dbzValue)
	v.Set("id", int32(id)).Set("email", email).Set("created", int64(1_700_000_000_000_000+id)).
		Set("balance", connect.Decimal{Unscaled: big.NewInt(int64(id) * 1000), Scale: 2})
	if tags != nil {
		v.Set("tags", tags)
	}
	if attrs != nil {
		v.Set("attrs", attrs)
	}
	return v
}

func dbzRecord(off int64, op string, before, after *connect.Struct) *connect.Record {
	src := connect.NewStructValue(dbzSource).Set("version", "2.7.0").Set("connector", "postgresql").
		Set("name", "dbserver1").Set("ts_ms", int64(1_700_000_000_000)).Set("db", "inventory").
		Set("table", "customers").Set("lsn", int64(1000+off))
	env := connect.NewStructValue(dbzEnvelope).Set("source", src).Set("op", op).Set("ts_ms", int64(1_700_000_000_123))
	if before != nil {
		env.Set("before", before)
	}
	if after != nil {
		env.Set("after", after)
	}
	return &connect.Record{Topic: "dbserver1.inventory.customers", Partition: 0, Offset: off,
		ValueSchema: dbzEnvelope, Value: env, Timestamp: baseTime}
}

func TestParquetDebeziumEnvelope(t *testing.T) {
	cfg, store := fakeS3(t)
	cfg = withCfg(cfg, KeyFlushSize, "4", KeyFormatClass, ParquetFormatClass, KeyParquetCodec, "zstd")
	tp := connect.TopicPartition{Topic: "dbserver1.inventory.customers", Partition: 0}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{tp})
	defer tk.Close()
	r1 := dbzRow(1, "a@x", []any{"vip", "new"}, map[any]any{"k": "v", "z": nil})
	r1b := dbzRow(1, "b@x", []any{}, nil)
	r2 := dbzRow(2, "c@x", nil, map[any]any{})
	mustPut(t, tk,
		dbzRecord(0, "c", nil, r1),
		dbzRecord(1, "u", r1, r1b),
		dbzRecord(2, "r", nil, r2),
		dbzRecord(3, "d", r1b, nil))
	keys := dataKeys(store.list(t))
	if len(keys) != 1 || !strings.HasSuffix(keys[0], "/partition=0/dbserver1.inventory.customers+0+0000000000.zstd.parquet") {
		t.Fatalf("keys = %v", keys)
	}
	b := store.read(t, keys[0])
	types := leafTypes(t, b)
	for col, want := range map[string]string{
		"after.id":                    "INT32",
		"after.email":                 "BYTE_ARRAY STRING optional",
		"after.balance":               "BYTE_ARRAY DECIMAL(38,2) optional",
		"after.created":               "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"after.tags.list.element":     "BYTE_ARRAY STRING",
		"after.attrs.key_value.key":   "BYTE_ARRAY STRING",
		"after.attrs.key_value.value": "BYTE_ARRAY STRING optional",
		"before.id":                   "INT32",
		"source.lsn":                  "INT64 INT(64,true) optional",
		"source.table":                "BYTE_ARRAY STRING",
		"op":                          "BYTE_ARRAY STRING",
		"ts_ms":                       "INT64 INT(64,true) optional",
	} {
		if got := types[col]; !strings.HasPrefix(got, want) {
			t.Errorf("column %s: %q, want %q (all: %v)", col, got, want, types)
		}
	}
	f := parquetFile(t, b)
	if s := f.Schema().String(); !strings.Contains(s, "optional group before") || !strings.Contains(s, "(LIST)") || !strings.Contains(s, "(MAP)") {
		t.Errorf("schema:\n%s", s)
	}
	rows := readMaps(t, b)
	if len(rows) != 4 {
		t.Fatalf("rows = %d", len(rows))
	}
	ops := []string{"c", "u", "r", "d"}
	for i, r := range rows {
		if r["op"] != ops[i] {
			t.Errorf("row %d op = %v", i, r["op"])
		}
		src, _ := r["source"].(map[string]any)
		if src["lsn"] != int64(1000+i) || src["table"] != "customers" {
			t.Errorf("row %d source = %v", i, r["source"])
		}
	}
	after0, _ := rows[0]["after"].(map[string]any)
	if after0["id"] != int32(1) || after0["email"] != "a@x" || fmt.Sprint(after0["tags"]) != "[vip new]" {
		t.Errorf("row 0 after = %#v", after0)
	}
	attrs, _ := after0["attrs"].(map[string]any)
	if v, _ := attrs["k"].(*[]byte); len(attrs) != 2 || v == nil || string(*v) != "v" || attrs["z"] != (*[]byte)(nil) {
		t.Errorf("row 0 attrs = %#v", after0["attrs"])
	}
	if rows[0]["before"] != nil || rows[3]["after"] != nil {
		t.Errorf("null before/after not preserved: %v / %v", rows[0]["before"], rows[3]["after"])
	}
	before1, _ := rows[1]["before"].(map[string]any)
	after1, _ := rows[1]["after"].(map[string]any)
	if before1["email"] != "a@x" || after1["email"] != "b@x" {
		t.Errorf("row 1 before/after = %v / %v", before1, after1)
	}
	if tags := after1["tags"]; tags != nil && fmt.Sprint(tags) != "[]" {
		t.Errorf("row 1 empty tags = %#v", tags)
	}
}
