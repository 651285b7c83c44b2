package convert

import (
	"math/big"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// pgBenchEvent is shaped like the change events of scripts/bench-pg: a
// Debezium Postgres envelope for table bench (id bigint, a int, b text,
// c timestamptz, d numeric(12,2), e boolean), with its key.
func pgBenchEvent() (keySchema *connect.Schema, key *connect.Struct, env *connect.Schema, v *connect.Struct) {
	keySchema = connect.NewStruct().Name("bench.public.bench.Key").Field("id", connect.Int64Schema).Build()
	row := connect.NewStruct().Optional().Name("bench.public.bench.Value").
		Field("id", connect.Int64Schema).
		Field("a", connect.Int32Schema).
		Field("b", connect.OptionalStringSchema).
		Field("c", connect.NewSchema(connect.String).Optional().Name("io.debezium.time.ZonedTimestamp").Version(1).Build()).
		Field("d", connect.DecimalSchema(2).Optional().Param("connect.decimal.precision", "12").Build()).
		Field("e", connect.OptionalBooleanSchema).
		Build()
	source := connect.NewStruct().Name("io.debezium.connector.postgresql.Source").
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
	env = connect.NewStruct().Name("bench.public.bench.Envelope").Version(2).
		Field("before", row).
		Field("after", row).
		Field("source", source).
		Field("op", connect.StringSchema).
		Field("ts_ms", connect.OptionalInt64Schema).
		Field("ts_us", connect.OptionalInt64Schema).
		Field("ts_ns", connect.OptionalInt64Schema).
		Build()
	key = connect.NewStructValue(keySchema).Set("id", int64(123456))
	after := connect.NewStructValue(row).
		Set("id", int64(123456)).Set("a", int32(456)).Set("b", "e10adc3949ba59abbe56e057f20f883e").
		Set("c", "2026-12-02T00:48:12.345678Z").
		Set("d", connect.Decimal{Unscaled: big.NewInt(1763657), Scale: 2}).Set("e", true)
	src := connect.NewStructValue(source).
		Set("version", "3.0.1.Final").Set("connector", "postgresql").Set("name", "bench").
		Set("ts_ms", int64(1732743221947)).Set("snapshot", "false").Set("db", "bench").
		Set("sequence", `["36432100","36432176"]`).Set("ts_us", int64(1732743221947789)).
		Set("ts_ns", int64(1732743221947789000)).Set("schema", "public").Set("table", "bench").
		Set("txId", int64(933)).Set("lsn", int64(36432176))
	now := time.UnixMilli(1732743222108)
	v = connect.NewStructValue(env).
		Set("after", after).Set("source", src).Set("op", "c").
		Set("ts_ms", now.UnixMilli()).Set("ts_us", now.UnixMicro()).Set("ts_ns", now.UnixNano())
	return keySchema, key, env, v
}

// BenchmarkConvertCDC converts the same Debezium-shaped change events (key
// and value) with the AvroConverter and the JsonConverter, so their costs
// per event compare in one run.
func BenchmarkConvertCDC(b *testing.B) {
	url, _ := startRegistry(b)
	pgKS, pgK, pgEnv, pgV := pgBenchEvent()
	allEnv, allRow := cdcSchema()
	allV := cdcValue(allEnv, allRow)
	allKS := connect.NewStruct().Field("id", connect.Int32Schema).Build()
	allK := connect.NewStructValue(allKS).Set("id", int32(7))
	events := []struct {
		name     string
		ks, vs   *connect.Schema
		key, val any
	}{
		{"pg", pgKS, pgEnv, pgK, pgV},
		{"alltypes", allKS, allEnv, allK, allV},
	}
	type pair struct{ k, v Converter }
	mk := func(class string, cfg map[string]string) pair {
		k, err := New(class, cfg, true)
		if err != nil {
			b.Fatal(err)
		}
		v, err := New(class, cfg, false)
		if err != nil {
			b.Fatal(err)
		}
		return pair{k, v}
	}
	convs := []struct {
		name string
		p    pair
	}{
		{"avro", mk(AvroClass, map[string]string{SchemaRegistryURLConfig: url})},
		{"json-schemas", mk(JSONClass, map[string]string{"schemas.enable": "true"})},
		{"json-noschemas", mk(JSONClass, map[string]string{"schemas.enable": "false"})},
	}
	for _, ev := range events {
		for _, c := range convs {
			kb, err := c.p.k.FromConnect(ev.name, ev.ks, ev.key)
			if err != nil {
				b.Fatal(err)
			}
			vb, err := c.p.v.FromConnect(ev.name, ev.vs, ev.val)
			if err != nil {
				b.Fatal(err)
			}
			b.Run(ev.name+"/"+c.name+"/FromConnect", func(b *testing.B) {
				b.SetBytes(int64(len(kb) + len(vb)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := c.p.k.FromConnect(ev.name, ev.ks, ev.key); err != nil {
						b.Fatal(err)
					}
					if _, err := c.p.v.FromConnect(ev.name, ev.vs, ev.val); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(ev.name+"/"+c.name+"/ToConnect", func(b *testing.B) {
				b.SetBytes(int64(len(kb) + len(vb)))
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := c.p.k.ToConnect(ev.name, kb); err != nil {
						b.Fatal(err)
					}
					if _, _, err := c.p.v.ToConnect(ev.name, vb); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
