package s3

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/sluicehq/sluice/runtime/transform"
)

// A Debezium Postgres change event as JsonConverter (schemas.enable=true)
// produces it: Decimal as base64 bytes with scale/precision parameters,
// MicroTimestamp as int64, Date as int32 days.
const debeziumJSON = `{"schema":{"type":"struct","name":"pg.public.orders.Envelope","optional":false,"version":1,"fields":[
 {"field":"before","type":"struct","optional":true,"name":"pg.public.orders.Value","fields":[
  {"field":"id","type":"int32","optional":false},
  {"field":"amount","type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"12"}},
  {"field":"placed","type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1},
  {"field":"day","type":"int32","optional":true,"name":"io.debezium.time.Date","version":1}]},
 {"field":"after","type":"struct","optional":true,"name":"pg.public.orders.Value","fields":[
  {"field":"id","type":"int32","optional":false},
  {"field":"amount","type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"12"}},
  {"field":"placed","type":"int64","optional":true,"name":"io.debezium.time.MicroTimestamp","version":1},
  {"field":"day","type":"int32","optional":true,"name":"io.debezium.time.Date","version":1}]},
 {"field":"source","type":"struct","optional":false,"name":"io.debezium.connector.postgresql.Source","fields":[
  {"field":"version","type":"string","optional":false},
  {"field":"connector","type":"string","optional":false},
  {"field":"ts_ms","type":"int64","optional":false},
  {"field":"snapshot","type":"string","optional":true,"name":"io.debezium.data.Enum","version":1,"parameters":{"allowed":"true,last,false,incremental"},"default":"false"},
  {"field":"lsn","type":"int64","optional":true}]},
 {"field":"op","type":"string","optional":false},
 {"field":"ts_ms","type":"int64","optional":true}]},
"payload":{"before":null,"after":{"id":7,"amount":"MDk=","placed":1700000000123456,"day":19700},
 "source":{"version":"2.7.0.Final","connector":"postgresql","ts_ms":1700000000000,"snapshot":"false","lsn":123},
 "op":"c","ts_ms":1700000000500}}`

func TestDebeziumJSONThroughConverter(t *testing.T) {
	conv, err := convert.New("org.apache.kafka.connect.json.JsonConverter", map[string]string{"schemas.enable": "true"}, false)
	if err != nil {
		t.Fatal(err)
	}
	schema, value, err := conv.ToConnect("pg.public.orders", []byte(strings.ReplaceAll(debeziumJSON, "\n", "")))
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "1", KeyFormatClass, ParquetFormatClass)
	tk, _ := openTask(t, cfg, nil)
	defer tk.Close()
	mustPut(t, tk, &connect.Record{Topic: "pg.public.orders", Offset: 0, ValueSchema: schema, Value: value})
	keys := dataKeys(store.list(t))
	if len(keys) != 1 {
		t.Fatalf("keys = %v", keys)
	}
	b := store.read(t, keys[0])
	types := leafTypes(t, b)
	for col, want := range map[string]string{
		"after.amount":    "BYTE_ARRAY DECIMAL(12,2) optional",
		"after.placed":    "INT64 TIMESTAMP(isAdjustedToUTC=true,unit=MICROS) optional",
		"after.day":       "INT32 DATE optional",
		"source.snapshot": "BYTE_ARRAY STRING optional",
	} {
		if types[col] != want {
			t.Errorf("column %s = %q, want %q", col, types[col], want)
		}
	}
	rows := readMaps(t, b)
	after, _ := rows[0]["after"].(map[string]any)
	if rows[0]["op"] != "c" || rows[0]["before"] != nil || after["placed"] != int64(1700000000123456) || after["day"] != int32(19700) {
		t.Fatalf("row = %v", rows[0])
	}
	if amt := after["amount"]; fmt.Sprint(amt) != "123.45" {
		t.Errorf("amount = %#v, want 123.45", amt)
	}
}

func TestUnwrappedDebeziumThroughTransform(t *testing.T) {
	conv, err := convert.New("org.apache.kafka.connect.json.JsonConverter", map[string]string{"schemas.enable": "true"}, false)
	if err != nil {
		t.Fatal(err)
	}
	schema, value, err := conv.ToConnect("pg.public.orders", []byte(strings.ReplaceAll(debeziumJSON, "\n", "")))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := transform.NewChain(map[string]string{
		"transforms": "unwrap", "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
	})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := chain.Apply(&connect.Record{Topic: "pg.public.orders", Offset: 0, ValueSchema: schema, Value: value})
	if err != nil || rec == nil {
		t.Fatalf("unwrap: %v, %v", rec, err)
	}
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "1", KeyFormatClass, ParquetFormatClass)
	tk, _ := openTask(t, cfg, nil)
	defer tk.Close()
	mustPut(t, tk, rec)
	b := store.read(t, dataKeys(store.list(t))[0])
	if f := parquetFile(t, b); fmt.Sprint(f.Schema().Columns()) != "[[id] [amount] [placed] [day]]" {
		t.Fatalf("columns = %v", f.Schema().Columns())
	}
	rows := readMaps(t, b)
	if rows[0]["id"] != int32(7) || fmt.Sprint(rows[0]["amount"]) != "123.45" || rows[0]["placed"] != int64(1700000000123456) {
		t.Fatalf("row = %v", rows[0])
	}
}
