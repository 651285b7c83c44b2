package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"
)

type testRow struct {
	ID      int64  `parquet:"id"`
	Amount  int64  `parquet:"amount,decimal(2:10)"`
	Day     int32  `parquet:"day,date"`
	At      int64  `parquet:"at,timestamp(microsecond)"`
	Op      string `parquet:"__op"`
	Deleted string `parquet:"__deleted"`
}

func writeFile(t *testing.T, path string, rows []testRow) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := parquet.NewGenericWriter[testRow](f)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadParquetRendersRowsAndSummary(t *testing.T) {
	lake := t.TempDir()
	at := time.Date(2024, 1, 2, 3, 4, 5, 6000, time.UTC)
	dir := filepath.Join(lake, "topics", "shop.public.orders", "partition=0")
	writeFile(t, filepath.Join(dir, "shop.public.orders+0+0000000000.snappy.parquet"), []testRow{
		{ID: 1, Amount: 1234, Day: 19724, At: at.UnixMicro(), Op: "r", Deleted: "false"},
		{ID: 2, Amount: -5, Day: 0, At: 0, Op: "r", Deleted: "false"},
	})
	writeFile(t, filepath.Join(dir, "shop.public.orders+0+0000000002.snappy.parquet"), []testRow{
		{ID: 1, Amount: 1300, Day: 19724, At: at.UnixMicro(), Op: "u", Deleted: "false"},
		{ID: 2, Amount: -5, Day: 0, At: 0, Op: "d", Deleted: "true"},
	})
	// Marker objects and hidden files are not data.
	writeFile(t, filepath.Join(lake, "topics", "_sluice", "x.parquet"), []testRow{{ID: 99}})

	var out bytes.Buffer
	if err := run(&out, []string{lake}, 1, false); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"shop.public.orders+0+0000000000.snappy.parquet (2 rows)",
		"id=1 amount=12.34 day=2024-01-02 at=2024-01-02T03:04:05.000006Z __op=r __deleted=false",
		"id=1 amount=13.00 day=2024-01-02",
		"... 1 more",
		"shop.public.orders             2 files       4 rows  d=1 r=2 u=1",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "_sluice") || strings.Contains(s, "id=99") {
		t.Errorf("output includes the _sluice directory:\n%s", s)
	}

	out.Reset()
	if err := run(&out, []string{lake}, 0, true); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("-json printed %d lines, want 4:\n%s", len(lines), out.String())
	}
	var last map[string]any
	if err := json.Unmarshal([]byte(lines[3]), &last); err != nil {
		t.Fatal(err)
	}
	if last["amount"] != "-0.05" || last["__op"] != "d" || last["day"] != "1970-01-01" {
		t.Errorf("last JSON row = %v", last)
	}

	out.Reset()
	if err := countRows(&out, []string{lake}); err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(out.String()); got != "4" {
		t.Errorf("-count = %s, want 4", got)
	}
}

func TestReadParquetErrors(t *testing.T) {
	empty := t.TempDir()
	if err := run(&bytes.Buffer{}, []string{empty}, 5, false); err == nil || !strings.Contains(err.Error(), "no .parquet files") {
		t.Errorf("empty dir: err = %v", err)
	}
	var out bytes.Buffer
	if err := countRows(&out, []string{empty}); err != nil || strings.TrimSpace(out.String()) != "0" {
		t.Errorf("count of empty dir = %q, %v", out.String(), err)
	}
	bad := filepath.Join(empty, "bad.parquet")
	if err := os.WriteFile(bad, []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(&bytes.Buffer{}, []string{bad}, 5, false); err == nil || !strings.Contains(err.Error(), "bad.parquet") {
		t.Errorf("corrupt file: err = %v", err)
	}
	if err := run(&bytes.Buffer{}, []string{filepath.Join(empty, "missing")}, 5, false); err == nil {
		t.Error("missing path: no error")
	}
}

func TestDecimalString(t *testing.T) {
	for _, tc := range []struct {
		bytes []byte
		scale int
		want  string
	}{
		{[]byte{0x04, 0xd2}, 2, "12.34"},
		{[]byte{0xff, 0xfb}, 2, "-0.05"},
		{[]byte{0x00}, 2, "0.00"},
		{[]byte{0x7b}, 0, "123"},
		{[]byte{0x80}, 1, "-12.8"},
	} {
		if got := decimalString(twosComplement(tc.bytes), tc.scale); got != tc.want {
			t.Errorf("decimalString(%x, %d) = %s, want %s", tc.bytes, tc.scale, got, tc.want)
		}
	}
}
