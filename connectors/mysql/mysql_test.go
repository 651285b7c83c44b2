package mysql

import (
	"bytes"
	"fmt"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

const typesDDL = `CREATE TABLE types (
  id INT PRIMARY KEY,
  ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
  i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
  f FLOAT, d DOUBLE, dec1 DECIMAL(10,3), b1 BIT(1), b12 BIT(12),
  vc VARCHAR(20), tx TEXT, ch CHAR(3), bin BINARY(3), vb VARBINARY(10), bl BLOB,
  dt DATE, tm TIME(3), tm6 TIME(6), dtm DATETIME, dtm6 DATETIME(6), ts TIMESTAMP(3) NULL, yr YEAR,
  en ENUM('a','b''q','c'), st SET('x','y','z'), js JSON, g GEOMETRY, pt POINT,
  zd DATETIME NOT NULL DEFAULT '2000-01-01 00:00:00'
)`

const typesRow = `(%d, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
  1.5, 2.25, -1234567.891, b'1', b'101000000001',
  'héllo', 'text', 'ab', X'010203', X'ff00', X'deadbeef',
  '2024-02-29', '-12:34:56.789', '838:59:59.000001', '2018-06-20 06:37:03', '2018-06-20 06:37:03.123456', '2018-06-20 06:37:03.250', 2024,
  'b''q', 'x,z', '{"a": [1, 2]}', ST_GeomFromText('LINESTRING(0 0,1 1)', 4326), ST_GeomFromText('POINT(1.5 -2)'),
  '0000-00-00 00:00:00')`

func TestTypesSnapshotAndStream(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	e.exec(t, "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'; "+typesDDL)
	e.exec(t, "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'; INSERT INTO types VALUES "+fmt.Sprintf(typesRow, 1))
	task := e.open(t, e.config(KeyBigintUnsigned, "precise"))
	defer task.Close()
	topic := "srv." + e.db + ".types"
	recs := collect(t, task, time.Minute, countTopic(topic, 1))
	e.exec(t, "SET SESSION sql_mode = 'ALLOW_INVALID_DATES'; INSERT INTO types VALUES "+fmt.Sprintf(typesRow, 2))
	recs = append(recs, collect(t, task, time.Minute, countTopic(topic, 1))...)
	cs := changes(recs, topic)
	if len(cs) != 2 {
		t.Fatalf("got %d records: %s", len(cs), summary(recs))
	}
	snap, str := cs[0], cs[1]
	if op(snap) != "r" || op(str) != "c" {
		t.Fatalf("ops %s %s", op(snap), op(str))
	}
	if !snap.ValueSchema.Equal(str.ValueSchema) {
		t.Fatalf("snapshot and stream schemas differ:\n%v\n%v", snap.ValueSchema, str.ValueSchema)
	}
	ls := []byte{0x01, 0x02, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00}
	_ = ls
	bigU, _ := new(big.Int).SetString("18446744073709551615", 10)
	wantDec, _ := connect.ParseDecimal("-1234567.891")
	for _, r := range []*connect.Record{snap, str} {
		a := after(r)
		checks := []struct {
			col  string
			want any
		}{
			{"ti", int8(-128)}, {"tiu", int16(255)}, {"si", int16(-32768)}, {"siu", int32(65535)},
			{"mi", int32(-8388608)}, {"miu", int32(16777215)}, {"i", int32(-2147483648)}, {"iu", int64(4294967295)},
			{"bi", int64(-9223372036854775808)}, {"biu", connect.Decimal{Unscaled: bigU, Scale: 0}},
			{"f", float32(1.5)}, {"d", 2.25}, {"dec1", wantDec}, {"b1", true}, {"b12", []byte{0x01, 0x0a}},
			{"vc", "héllo"}, {"tx", "text"}, {"ch", "ab"}, {"bin", []byte{1, 2, 3}}, {"vb", []byte{0xff, 0}}, {"bl", []byte{0xde, 0xad, 0xbe, 0xef}},
			{"dt", int32(19782)}, {"tm", int64(-(12*3600+34*60+56)*1_000_000 - 789_000)}, {"tm6", int64((838*3600+59*60+59)*1_000_000 + 1)},
			{"dtm", int64(1529476623000)}, {"dtm6", int64(1529476623123456)}, {"ts", "2018-06-20T06:37:03.250Z"}, {"yr", int32(2024)},
			{"en", "b'q"}, {"st", "x,z"}, {"zd", int64(0)},
		}
		for _, c := range checks {
			got := a.Get(c.col)
			if d, ok := c.want.(connect.Decimal); ok {
				gd, ok := got.(connect.Decimal)
				if !ok || gd.Unscaled.Cmp(d.Unscaled) != 0 || gd.Scale != d.Scale {
					t.Errorf("%s %s = %v (%T), want %v", op(r), c.col, got, got, d)
				}
				continue
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("%s %s = %#v, want %#v", op(r), c.col, got, c.want)
			}
		}
		if js, _ := a.Get("js").(string); !strings.Contains(strings.ReplaceAll(js, " ", ""), `{"a":[1,2]}`) {
			t.Errorf("%s js = %q", op(r), js)
		}
		g := a.Get("g").(*connect.Struct)
		if g.Get("srid") != int32(4326) || !bytes.HasPrefix(g.Get("wkb").([]byte), []byte{1, 2, 0, 0, 0, 2, 0, 0, 0}) {
			t.Errorf("%s g = %v", op(r), g)
		}
		p := a.Get("pt").(*connect.Struct)
		if p.Get("x") != 1.5 || p.Get("y") != -2.0 {
			t.Errorf("%s pt = %v", op(r), p)
		}
	}
	sch := str.ValueSchema.Field("after").Schema
	for col, want := range map[string]string{"en": "io.debezium.data.Enum", "st": "io.debezium.data.EnumSet", "b12": "io.debezium.data.Bits",
		"dt": "io.debezium.time.Date", "tm": "io.debezium.time.MicroTime", "dtm": "io.debezium.time.Timestamp", "dtm6": "io.debezium.time.MicroTimestamp",
		"ts": "io.debezium.time.ZonedTimestamp", "yr": "io.debezium.time.Year", "g": "io.debezium.data.geometry.Geometry", "pt": "io.debezium.data.geometry.Point",
		"dec1": connect.DecimalName, "biu": connect.DecimalName} {
		if n := sch.Field(col).Schema.Name; n != want {
			t.Errorf("schema of %s is %q, want %q", col, n, want)
		}
	}
	if p := sch.Field("en").Schema.Parameters["allowed"]; p != "a,b'q,c" {
		t.Errorf("enum allowed = %q", p)
	}
	if p := sch.Field("b12").Schema.Parameters["length"]; p != "12" {
		t.Errorf("bits length = %q", p)
	}
	// Source block of the streamed event.
	src := source(str)
	if src.Get("connector") != "mariadb" || src.Get("db") != e.db || src.Get("table") != "types" || src.Get("snapshot") != "false" ||
		src.Get("server_id") != int64(1) || !strings.HasPrefix(src.Get("gtid").(string), "0-1-") || !strings.HasPrefix(src.Get("file").(string), "binlog.") {
		t.Errorf("source block: %v", src)
	}
	if s := source(snap).Get("snapshot"); s != "last" {
		t.Errorf("single snapshot record marker = %v, want last", s)
	}
}
