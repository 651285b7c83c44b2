package postgres

import (
	"reflect"
	"runtime"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

// TestFastValuesMatchConverters checks that every streaming fast path
// yields what the column's converter yields (same dynamic type and value,
// or defers to it), over ordinary and edge-case inputs, and that the boxed
// values stay intact after garbage collections while later values are
// boxed into the same slabs.
func TestFastValuesMatchConverters(t *testing.T) {
	s := benchStreamer(t)
	o := s.t.o
	cols := []catColumn{
		{name: "i2", typeOID: oidInt2, typmod: -1},
		{name: "i4", typeOID: oidInt4, typmod: -1},
		{name: "i8", typeOID: oidInt8, typmod: -1},
		{name: "t", typeOID: oidText, typmod: -1},
		{name: "vc", typeOID: oidVarchar, typmod: 14},
		{name: "j", typeOID: oidJSONB, typmod: -1},
		{name: "u", typeOID: oidUUID, typmod: -1},
		{name: "bo", typeOID: oidBool, typmod: -1},
		{name: "tz", typeOID: oidTimestamptz, typmod: -1},
		{name: "tz0", typeOID: oidTimestamptz, typmod: 0},
		{name: "tz3", typeOID: oidTimestamptz, typmod: 3},
		{name: "n", typeOID: oidNumeric, typmod: (12<<16 | 2) + 4},
		{name: "n0", typeOID: oidNumeric, typmod: 18<<16 + 4},
		{name: "n5", typeOID: oidNumeric, typmod: (20<<16 | 5) + 4},
		{name: "nv", typeOID: oidNumeric, typmod: -1}, // variable scale: no fast path
	}
	meta := &tableMeta{oid: 1, schema: "public", name: "fast", replident: 'd', cols: cols}
	tb, err := s.t.buildTable(meta, cols)
	if err != nil {
		t.Fatal(err)
	}
	fast := fastCols(o, tb, cols)
	if fast[len(fast)-1].kind != kindGeneric {
		t.Fatalf("numeric without scale has fast path %v", fast[len(fast)-1])
	}
	ints := []string{"0", "1", "-1", "255", "256", "-256", "32767", "-32768", "2147483647", "-2147483648",
		"999999999999999999", "-999999999999999999", "9223372036854775807", "-9223372036854775808", "18446744073709551615",
		"", "-", "1x", "+5", " 1"}
	texts := []string{"", "a", "héllo", strconv.Itoa(1 << 40), `{"a": [1, 2]}`, "c4ca4238-a0b9-2382-0dcc-509a6f75849b"}
	zoned := []string{"2026-12-02 03:25:03.123456+00", "2026-12-02 03:25:03+00", "2026-12-02 03:25:03.1+00",
		"1999-01-08 04:05:06.000001+00", "2026-12-02 03:25:03.123456+02", "2026-12-02 03:25:03.123456-07:30",
		"infinity", "-infinity", "0044-03-15 12:00:00+00 BC", "bad"}
	decimals := []string{"0", "0.00", "-0.00", "1.5", "-1.25", "12345.67", "1234567890.12", "-9999999999.99",
		"999999999999999999", "9999999999999999.99", "0.001", "-0.009", "1234567890123456789", "12345678901234567890.12345",
		"NaN", "Infinity", "-Infinity", "1e5", ".5", "-.5", "5.", "", "-", "1.2.3"}
	inputs := map[valKind][]string{
		kindInt16: ints, kindInt32: ints, kindInt64: ints, kindText: texts,
		kindBool: {"t", "f", "x", "", "true"}, kindZoned: zoned, kindDecimal: decimals,
	}
	type kept struct {
		got, want any
		what      string
	}
	var all []kept
	for round := 0; round < 3; round++ { // fill several slabs
		for idx, col := range tb.cols {
			f := fast[idx]
			for _, in := range inputs[f.kind] {
				// A fresh copy: text values alias the bytes they came from.
				data := []byte(in)
				got, ok := s.fastValue(f, data)
				want, err := col.conv(data)
				what := col.name + " " + strconv.Quote(in)
				if !ok {
					continue // the converter decodes it
				}
				if err != nil {
					t.Fatalf("%s: fast path took a value the converter rejects (%v)", what, err)
				}
				if !sameValue(got, want) {
					t.Fatalf("%s: fast %#v (%T), converter %#v (%T)", what, got, got, want, want)
				}
				all = append(all, kept{got, want, what})
			}
		}
		runtime.GC()
	}
	for _, k := range all {
		if !sameValue(k.got, k.want) {
			t.Fatalf("%s after GC: %#v, want %#v", k.what, k.got, k.want)
		}
	}
	// The fast paths must have taken the ordinary forms.
	for _, c := range []struct {
		col int
		in  string
	}{{0, "-32768"}, {2, "999999999999999999"}, {3, "héllo"}, {8, "2026-12-02 03:25:03.1+00"}, {9, "2026-12-02 03:25:03.5+00"}, {11, "-1.25"}, {12, "42"}, {13, "1.5"}} {
		if _, ok := s.fastValue(fast[c.col], []byte(c.in)); !ok {
			t.Errorf("column %s: fast path did not take %q", tb.cols[c.col].name, c.in)
		}
	}
}

// sameValue compares converted values, decimals by value and scale.
func sameValue(a, b any) bool {
	if reflect.TypeOf(a) != reflect.TypeOf(b) {
		return false
	}
	if da, ok := a.(connect.Decimal); ok {
		db := b.(connect.Decimal)
		return da.Scale == db.Scale && da.Unscaled.Cmp(db.Unscaled) == 0 && da.Unscaled.Sign() == db.Unscaled.Sign()
	}
	return a == b
}

// TestBoxerValues checks boxed values behave as ordinary interface values:
// equality, type switches and map keys.
func TestBoxerValues(t *testing.T) {
	var b boxer
	vals := []any{b.str("abc"), b.int64(1 << 40), b.int64(-5), b.int32(70000), b.int16(-300), b.decimal(-12345, 2), b.decimal(0, 3)}
	if vals[0] != any("abc") || vals[1] != any(int64(1<<40)) || vals[2] != any(int64(-5)) || vals[3] != any(int32(70000)) || vals[4] != any(int16(-300)) {
		t.Fatalf("boxed values differ: %#v", vals)
	}
	m := map[any]int{vals[0]: 1, vals[1]: 2}
	if m["abc"] != 1 || m[int64(1<<40)] != 2 {
		t.Fatalf("boxed values as map keys: %v", m)
	}
	if d := vals[5].(connect.Decimal); d.Scale != 2 || d.Unscaled.Int64() != -12345 {
		t.Fatalf("decimal %v", d)
	}
	if d := vals[6].(connect.Decimal); d.Scale != 3 || d.Unscaled.Sign() != 0 {
		t.Fatalf("zero decimal %v", d)
	}
	if s, ok := vals[0].(string); !ok || s != "abc" {
		t.Fatalf("type assertion: %q %v", s, ok)
	}
}
