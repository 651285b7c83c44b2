package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// TestBinaryCopyMatchesText snapshots a table of every type binary COPY
// decodes, with edge values, once with binary COPY and once with text
// COPY, and requires identical records.
func TestBinaryCopyMatchesText(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE bt (id serial PRIMARY KEY, bo boolean, i2 int2, i4 int4, i8 int8, f4 float4, f8 float8,
		tx text, vc varchar(5), bp char(5), nm name, js json, jb jsonb, u uuid, by bytea,
		n numeric, n12 numeric(12,2), nneg numeric(2,-3), n55 numeric(5,5),
		d date, ts timestamp, ts3 timestamp(3), tz timestamptz, tz0 timestamptz(0), tz3 timestamptz(3))`)
	vals := map[string][]string{
		"bo": {"true", "false"},
		"i2": {"-32768", "32767", "0"},
		"i4": {"-2147483648", "2147483647", "255", "256"},
		"i8": {"-9223372036854775808", "9223372036854775807", "1"},
		"f4": {"1.5", "'-0'", "'NaN'", "'Infinity'", "'-Infinity'", "3.4028235e38", "1e-45", "0.1"},
		"f8": {"0.1", "'-0'", "'NaN'", "'Infinity'", "'-Infinity'", "1.7976931348623157e308", "5e-324", "1e21"},
		"tx": {`E'a\tb\nc\\d\r'`, "'héllo ✓'", "''", `'\N'`, `E'\\N'`},
		"vc": {"'ab'", "''"},
		"bp": {"'ab'", "'abcde'"},
		"nm": {"'pg_class'"},
		"js": {`'{"a":  [1, 2]}'`, "'null'"},
		"jb": {`'{"b": 1, "a": [1, 2.50]}'`, `'"s"'`, "'[]'"},
		"u":  {"'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "'00000000-0000-0000-0000-000000000000'"},
		"by": {`'\x00ff10'`, "''"},
		"n": {"3.14159000", "0", "0.000", "-0.000100", "123456789012345678901234567890.123456789", "0.00000000000000000001",
			"'NaN'", "100", "1.5e30", "-99999999999999999999", "12345678901234567.8", "9999999999999999", "10000", "0.0001", "1e-4000"},
		"n12":  {"1234567890.12", "-0.50", "0", "0.01", "-9999999999.99"},
		"nneg": {"12000", "-99000"},
		"n55":  {"0.12345", "-0.00001"},
		"d":    {"'2024-01-02'", "'infinity'", "'-infinity'", "'0001-01-01 BC'", "'4713-01-01 BC'", "'1970-01-01'", "'1969-12-31'", "'5874897-12-31'", "'2000-01-01'"},
		"ts": {"'2024-01-02 13:45:30.123456'", "'infinity'", "'-infinity'", "'1969-12-31 23:59:59.999999'", "'0001-01-01 00:00:00 BC'",
			"'294276-12-31 23:59:59'", "'2000-01-01'", "'1900-02-28 01:00:00.5'"},
		"ts3": {"'2024-01-02 13:45:30.123'", "'1969-12-31 23:59:59.999'", "'infinity'"},
		"tz": {"'2024-01-02 13:45:30.5+00'", "'infinity'", "'-infinity'", "'1900-01-01 00:00:00+00'", "'0044-03-15 12:00:00+00 BC'",
			"'10000-01-01 00:00:00+00'", "'2024-06-01 01:02:03.000001+02'", "'1969-12-31 23:59:59.999999+00'"},
		"tz0": {"'2024-01-02 13:45:30+00'"},
		"tz3": {"'2024-01-02 13:45:30.5+00'", "'2024-01-02 13:45:30.001+00'"},
	}
	var ins []string
	for col, vs := range vals {
		for _, v := range vs {
			ins = append(ins, fmt.Sprintf("INSERT INTO bt (%s) VALUES (%s);", col, v))
		}
	}
	ins = append(ins, "INSERT INTO bt DEFAULT VALUES;") // all null
	e.exec(t, strings.Join(ins, "\n"))
	var n int
	e.query(t, "SELECT count(*) FROM bt", &n)

	read := func(text bool) map[int32]string {
		task := NewTask()
		task.textCopy = text
		cfg := e.config(KeySlotName, fmt.Sprintf("bt_%v", text), KeySnapshotMode, "initial_only", KeySlotDropOnStop, "true",
			KeyFailureHandling, "warn")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := task.Open(ctx, cfg, &fakeCtx{offs: &memOffsets{}, log: testLogger()}); err != nil {
			t.Fatal(err)
		}
		defer task.Close()
		recs := changes(collect(t, task, 60*time.Second, countTopic("srv.public.bt", n)), "srv.public.bt")
		if b, tx := task.binChunks.Load(), task.textChunks.Load(); text && (b != 0 || tx == 0) || !text && (b == 0 || tx != 0) {
			t.Fatalf("text=%v: %d binary and %d text COPY chunks", text, b, tx)
		}
		out := map[int32]string{}
		for _, r := range recs {
			a := after(r)
			var b strings.Builder
			for _, f := range a.Schema().Fields {
				fmt.Fprintf(&b, "%s=%s ", f.Name, valueString(a.At(f.Index)))
			}
			out[a.Get("id").(int32)] = b.String()
			if err := connect.Validate(r.ValueSchema, r.Value); err != nil {
				t.Errorf("id %v: %v", a.Get("id"), err)
			}
		}
		return out
	}
	bin, txt := read(false), read(true)
	if len(bin) != n || len(txt) != n {
		t.Fatalf("%d binary rows, %d text rows, want %d", len(bin), len(txt), n)
	}
	for id, want := range txt {
		if got := bin[id]; got != want {
			t.Errorf("row %d:\nbinary %s\ntext   %s", id, got, want)
		}
	}
	// numeric without a scale: trailing zeros stripped (3.14159000 ->
	// 314159 at scale 5), as Debezium does.
	stripped := false
	for _, v := range bin {
		if strings.Contains(v, "n={scale:int32(5),value:[]uint8([]byte{0x4, 0xcb, 0x2f}),}") {
			stripped = true
		}
	}
	if !stripped {
		t.Errorf("no row holds n = 3.14159 as scale 5, value 314159")
	}
}

// valueString renders a value with its Go type, recursing into structs.
func valueString(v any) string {
	switch x := v.(type) {
	case *connect.Struct:
		var b strings.Builder
		b.WriteString("{")
		for _, f := range x.Schema().Fields {
			fmt.Fprintf(&b, "%s:%s,", f.Name, valueString(x.At(f.Index)))
		}
		return b.String() + "}"
	case connect.Decimal:
		return fmt.Sprintf("Decimal(%s,%d)", x.Unscaled, x.Scale)
	}
	return fmt.Sprintf("%T(%#v)", v, v)
}

// TestFormatZonedIn checks the arena's ZonedTimestamp formatting (with its
// cached date) against formatZoned, over consecutive values of one day,
// day boundaries, dates before 1970 and years outside 1..9999, for every
// precision.
func TestFormatZonedIn(t *testing.T) {
	var ar decimalArena
	const day = int64(86400_000_000)
	var uss []int64
	for _, base := range []int64{0, 1764633723_123456, -1, -day, -62135596800_000_000, 253402300799_999999, 253402300800_000000, -62135596800_000_001} {
		for _, d := range []int64{0, 1, 999_999, 1_000_000, 59_999_999, 3_599_999_999, day - 1, day, day + 1, -1, -day - 1} {
			uss = append(uss, base+d)
		}
	}
	for p := 0; p <= 6; p++ {
		for _, us := range uss {
			got, want := ar.formatZonedIn(us, p), formatZoned(us, p)
			if got != want {
				t.Errorf("formatZonedIn(%d, %d) = %q, want %q", us, p, got, want)
			}
		}
	}
	// Strings from the arena stay intact when later ones are formatted.
	a := ar.formatZonedIn(1764633723_123456, 6)
	for i := 0; i < 10000; i++ {
		ar.formatZonedIn(int64(i)*7919_000_000, 6)
	}
	if a != "2025-12-02T00:02:03.123456Z" {
		t.Errorf("arena string changed to %q", a)
	}
}
