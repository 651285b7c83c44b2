package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestConverters(t *testing.T) {
	cases := []struct {
		name string
		conv converter
		in   string
		want any
	}{
		{"tz fast", convTimestamptz, "2024-01-02 03:04:05.12+00", "2024-01-02T03:04:05.120000Z"},
		{"tz whole", convTimestamptz, "2024-01-02 03:04:05+00", "2024-01-02T03:04:05.000000Z"},
		{"tz offset", convTimestamptz, "2024-01-02 03:04:05.5+05:30", "2024-01-01T21:34:05.500000Z"},
		{"tz infinity", convTimestamptz, "infinity", "infinity"},
		{"ts micros", convTimestampMicros, "1969-12-31 23:59:59.999999", int64(-1)},
		{"ts millis floor", convTimestampMillis, "1969-12-31 23:59:59.9995", int64(-1)},
		{"date", convDate, "1970-01-02", int32(1)},
		{"date bc", convDate, "0001-01-01 BC", int32(-719528)},
		{"timetz", convTimetz, "23:30:00-02", "01:30:00Z"},
		{"time 24h", convTimeMicros, "24:00:00", int64(86400000000)},
		{"interval neg", convIntervalMicros, "-1 days +02:00:00", int64(-86400e6 + 2*3600e6)},
		{"interval time only", convIntervalMicros, "-00:00:01.5", int64(-1500000)},
		{"interval string", convIntervalString, "1 year 2 mons 3 days 04:05:06.5", "P1Y2M3DT4H5M6.5S"},
		{"int16", convInt16, "-32768", int16(-32768)},
		{"int64 max", convInt64, "9223372036854775807", int64(9223372036854775807)},
		{"bool", convBool, "f", false},
		{"bytea escape", func(b []byte) (any, error) { return decodeBytea(b) }, `a\\b\001`, []byte{'a', '\\', 'b', 1}},
		{"array text", arrayConverter(convString), `{"x \"y\"",NULL,z,""}`, []any{`x "y"`, nil, "z", ""}},
		{"array empty", arrayConverter(convInt32), `{}`, []any{}},
		{"array bounds", arrayConverter(convInt32), `[0:1]={1,2}`, []any{int32(1), int32(2)}},
		{"hstore", convHstore, `"a"=>"1", "b c"=>NULL, "q"=>"x\"y"`, `{"a":"1","b c":null,"q":"x\"y"}`},
		{"hstore empty", convHstore, ``, `{}`},
		{"tz p3", zonedTimestamp(3), "2024-01-02 03:04:05.1+00", "2024-01-02T03:04:05.100Z"},
		{"tz p0", zonedTimestamp(0), "2024-01-02 03:04:05+00", "2024-01-02T03:04:05Z"},
		{"ts infinity", convTimestampMicros, "infinity", int64(9223372036825200000)},
		{"ts -infinity", convTimestampMicros, "-infinity", int64(-9223372036832400000)},
		{"ts ms infinity", convTimestampMillis, "infinity", int64(9223372036825200)},
		{"date infinity", convDate, "infinity", int32(2146033979)},
		{"date -infinity", convDate, "-infinity", int32(-2147472691)},
		{"bit1", convBit1, "1", true},
		{"bits", convBits, "101", []byte{5}},
		{"bits 10", convBits, "1000000001", []byte{1, 2}},
		{"bits content-sized", convBits, "0000000101", []byte{5}},
		{"bits zero", convBits, "0000000000", []byte{}},
		{"point", convPoint, "(1.5,-2)", point{1.5, -2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.conv([]byte(c.in))
			if err != nil {
				t.Fatalf("%q: %v", c.in, err)
			}
			if fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", c.want) {
				t.Errorf("%q: got %#v, want %#v", c.in, got, c.want)
			}
		})
	}
	bad := []struct {
		name string
		conv converter
		in   string
	}{
		{"int", convInt32, "12x"},
		{"bool", convBool, "yes"},
		{"date", convDate, "2024/01/02"},
		{"interval", convIntervalMicros, "3 fortnights"},
		{"array", arrayConverter(convInt32), "{{1},{2}}"},
		{"array syntax", arrayConverter(convInt32), "1,2"},
	}
	for _, c := range bad {
		if _, err := c.conv([]byte(c.in)); err == nil {
			t.Errorf("%s: %q accepted", c.name, c.in)
		}
	}
	for _, c := range []struct {
		in    string
		scale int32
		uns   string
	}{{"3.14159000", 5, "314159"}, {"100", 0, "100"}, {"1.000", 0, "1"}, {"0.000", 0, "0"}, {"-2.50", 1, "-25"}} {
		d := stripZeros(mustDecimal(t, c.in))
		if d.Scale != c.scale || d.Unscaled.String() != c.uns {
			t.Errorf("stripZeros(%s) = %s scale %d, want %s scale %d", c.in, d.Unscaled, d.Scale, c.uns, c.scale)
		}
	}
	for _, c := range []struct {
		typmod      int32
		prec, scale int32
	}{{(10<<16 | 2) + 4, 10, 2}, {(2<<16 | (-3 & 0x7ff)) + 4, 2, -3}} {
		if p, s := numericTypmod(c.typmod); p != c.prec || s != c.scale {
			t.Errorf("numericTypmod(%d) = (%d,%d), want (%d,%d)", c.typmod, p, s, c.prec, c.scale)
		}
	}
	for _, s := range []string{"0", "-1.50", "12345678901234567.8", "123456789012345678901234.5", "-0.001"} {
		a, err1 := parseDecimal([]byte(s))
		b, err2 := connect.ParseDecimal(s)
		if err1 != nil || err2 != nil || a.Scale != b.Scale || a.Unscaled.Cmp(b.Unscaled) != 0 {
			t.Errorf("parseDecimal(%q) = %v, want %v (%v %v)", s, a, b, err1, err2)
		}
	}
}

func TestStandbyStatusEncoding(t *testing.T) {
	b := standbyStatus(0x0102030405060708, true, time.Date(2000, 1, 1, 0, 0, 1, 0, time.UTC))
	// 'd', length 38 (itself + 34 bytes of payload... as the protocol counts), 'r', 3 LSNs, time, reply
	if len(b) != 39 || b[0] != 'd' || b[4] != 38 || b[5] != 'r' || b[6] != 1 || b[13] != 8 || b[38] != 1 {
		t.Fatalf("encoding %x", b)
	}
	if got := b[30:38]; got[5] != 0x0f || got[6] != 0x42 || got[7] != 0x40 { // 1,000,000 µs
		t.Fatalf("client time %x", got)
	}
}

func mustDecimal(t *testing.T, s string) connect.Decimal {
	d, err := connect.ParseDecimal(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCopyUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`a\tb`: "a\tb", `x\\y`: `x\y`, `\n\r\b\f\v`: "\n\r\b\f\v", `\101\x42`: "AB", `\q`: "q", `{"a \\"b\\""}`: `{"a \"b\""}`,
	} {
		if got := string(copyUnescape([]byte(in))); got != want {
			t.Errorf("copyUnescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChunkSet(t *testing.T) {
	set := map[int]bool{0: true, 1: true, 2: true, 5: true, 7: true, 8: true}
	s := encodeChunkSet(set)
	if s != "0-2,5,7-8" {
		t.Errorf("encodeChunkSet = %q", s)
	}
	back := decodeChunkSet(s)
	if fmt.Sprint(back) != fmt.Sprint(set) {
		t.Errorf("decodeChunkSet(%q) = %v, want %v", s, back, set)
	}
	if len(decodeChunkSet("")) != 0 || len(decodeChunkSet("x,3-1")) != 0 {
		t.Error("bad chunk sets decoded to something")
	}
}
