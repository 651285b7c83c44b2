package postgres

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// benchTable builds the TestBenchCDC table (id bigint PRIMARY KEY, a int
// NOT NULL, b text, c timestamptz, d numeric(12,2), e boolean) without a
// server.
func benchTable(tb testing.TB) (*Task, *table) {
	tb.Helper()
	o, err := parseOptions(map[string]string{KeyHostname: "h", KeyUser: "u", KeyDBName: "d", KeyTopicPrefix: "srv"})
	if err != nil {
		tb.Fatal(err)
	}
	t := &Task{o: o, log: slog.New(slog.NewTextHandler(io.Discard, nil)), now: time.Now, partition: map[string]any{"server": "srv"},
		cat: &catalog{types: map[uint32]*typeInfo{}}}
	m := &tableMeta{oid: 1, schema: "public", name: "bench", replident: 'd', cols: []catColumn{
		{name: "id", typeOID: oidInt8, typmod: -1, notNull: true, pk: true},
		{name: "a", typeOID: oidInt4, typmod: -1, notNull: true},
		{name: "b", typeOID: oidText, typmod: -1},
		{name: "c", typeOID: oidTimestamptz, typmod: -1},
		{name: "d", typeOID: oidNumeric, typmod: (12<<16 | 2) + 4},
		{name: "e", typeOID: oidBool, typmod: -1},
	}}
	t.textCopy = true
	tbl, err := t.buildTable(m, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return t, tbl
}

// benchCopyData is COPY text of n rows of the bench table, as the server
// sends it: one CopyData message per row.
func benchCopyData(n int) [][]byte {
	out := make([][]byte, n)
	for g := 1; g <= n; g++ {
		out[g-1] = []byte(fmt.Sprintf("%d\t%d\t%032x\t2026-12-02 01:02:03.%06d+00\t%.2f\t%s\n", g, g%1000, g*7919, g%1000000, float64(g)/7, map[bool]string{true: "t", false: "f"}[g%2 == 0]))
	}
	return out
}

// benchCopyBinary is binary COPY of n rows of the bench table, one message
// per row, the header in the first and the trailer in its own.
func benchCopyBinary(n int) [][]byte {
	out := make([][]byte, 0, n+1)
	be := binary.BigEndian
	for g := 1; g <= n; g++ {
		var m []byte
		if g == 1 {
			m = append(m, binarySignature...)
			m = be.AppendUint32(m, 0)
			m = be.AppendUint32(m, 0)
		}
		m = be.AppendUint16(m, 6)
		m = be.AppendUint32(m, 8)
		m = be.AppendUint64(m, uint64(g))
		m = be.AppendUint32(m, 4)
		m = be.AppendUint32(m, uint32(g%1000))
		b := fmt.Sprintf("%032x", g*7919)
		m = be.AppendUint32(m, uint32(len(b)))
		m = append(m, b...)
		m = be.AppendUint32(m, 8)
		m = be.AppendUint64(m, uint64(int64(848970123000000+g%1000000)))
		// numeric(12,2) g/7 with 2 digits: weight 0 or more, dscale 2.
		cents := int64(g) * 100 / 7
		var digits []uint16
		intPart, frac := cents/100, cents%100
		for v := intPart; v > 0; v /= 10000 {
			digits = append([]uint16{uint16(v % 10000)}, digits...)
		}
		weight := len(digits) - 1
		digits = append(digits, uint16(frac*100))
		m = be.AppendUint32(m, uint32(8+2*len(digits)))
		m = be.AppendUint16(m, uint16(len(digits)))
		m = be.AppendUint16(m, uint16(int16(weight)))
		m = be.AppendUint16(m, 0)
		m = be.AppendUint16(m, 2)
		for _, d := range digits {
			m = be.AppendUint16(m, d)
		}
		m = be.AppendUint32(m, 1)
		m = append(m, byte(g%2))
		out = append(out, m)
	}
	return append(out, []byte{0xff, 0xff})
}

// BenchmarkCopyRows measures turning COPY rows into snapshot records
// (parse, convert, build), the per-row CPU of the snapshot path, for text
// and binary COPY.
func BenchmarkCopyRows(b *testing.B) {
	b.Run("text", func(b *testing.B) { benchCopyRows(b, false) })
	b.Run("binary", func(b *testing.B) { benchCopyRows(b, true) })
}

func benchCopyRows(b *testing.B, bin bool) {
	t, tb := benchTable(b)
	t.textCopy = !bin
	data := benchCopyData(4096)
	if bin {
		data = benchCopyBinary(4096)
	}
	results := make(chan snapMsg, 16)
	go func() {
		for range results {
		}
	}()
	defer close(results)
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	defer func() { b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op") }()
	var w io.Writer
	for i := 0; i < b.N; {
		// A chunk of 16 times the rows, in batches of 1024.
		cr := newCopyReader(context.Background(), t, tb, chunk{}, results, 1024)
		if cr.binary != bin {
			b.Fatalf("binary COPY %v, want %v", cr.binary, bin)
		}
		w = cr
		for rep := 0; rep < 16 && i < b.N; rep++ {
			rows := data
			if bin && rep > 0 {
				rows = data[1:] // the header once
			}
			if bin && rep < 15 {
				rows = rows[:len(rows)-1] // the trailer once
			}
			for _, d := range rows {
				if i == b.N {
					break
				}
				if _, err := w.Write(d); err != nil {
					b.Fatal(err)
				}
				i++
			}
		}
		if err := cr.finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCopyRowsValues checks the records the COPY path builds for the bench
// table's rows: values, key and envelope.
func TestCopyRowsValues(t *testing.T) {
	task, tb := benchTable(t)
	results := make(chan snapMsg, 16)
	cr := newCopyReader(context.Background(), task, tb, chunk{}, results, 1024)
	for _, line := range []string{"7\t7\t\\N\t2026-12-02 01:02:03.5+00\t1.00\tt\n", "8\t-1\ta\\tb\t\\N\t-12.50\t\\N\n"} {
		// Split across writes, as the server may.
		if _, err := cr.Write([]byte(line[:3])); err != nil {
			t.Fatal(err)
		}
		if _, err := cr.Write([]byte(line[3:])); err != nil {
			t.Fatal(err)
		}
	}
	if err := cr.finish(); err != nil {
		t.Fatal(err)
	}
	var recs []*connect.Record
	for m := range results {
		recs = append(recs, m.recs...)
		if m.done {
			break
		}
	}
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	var got []string
	for _, r := range recs {
		a := after(r)
		got = append(got, fmt.Sprintf("key=%v op=%s id=%v a=%v b=%v c=%v d=%v e=%v", r.Key, op(r), a.Get("id"), a.Get("a"), a.Get("b"), a.Get("c"), a.Get("d"), a.Get("e")))
		// The source block is set by the snapshot merge.
		if err := connect.Validate(r.ValueSchema.Field("after").Schema, a); err != nil {
			t.Error(err)
		}
	}
	want := []string{
		"key=Struct{id=7} op=r id=7 a=7 b=<nil> c=2026-12-02T01:02:03.500000Z d=1.00 e=true",
		"key=Struct{id=8} op=r id=8 a=-1 b=a\tb c=<nil> d=-12.50 e=<nil>",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
