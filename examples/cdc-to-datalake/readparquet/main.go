// Command readparquet prints the rows of the Parquet files the quick start's
// S3 sink wrote, so you can see what landed in the lake without Spark or
// DuckDB:
//
//	go run ./examples/cdc-to-datalake/readparquet [-n 5] [-json|-count] DIR|FILE...
//
// A directory is searched recursively for *.parquet files (paths with a
// component starting with "_" or "." are skipped, as Hive and Spark do).
// Files are listed per topic directory in Kafka offset order. For each file
// it prints the first -n rows; at the end a summary per table counts rows by
// change type (__op: r snapshot, c insert, u update, d delete).
// Decimals, dates and timestamps are rendered from their Parquet logical
// types. -json prints every row of every file as one JSON object per line
// instead (with "_file"); -count prints only the total number of rows.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

func main() {
	n := flag.Int("n", 5, "rows to print per file (0: none, -1: all)")
	asJSON := flag.Bool("json", false, "print every row as a JSON object per line")
	count := flag.Bool("count", false, "print only the total number of rows (0 when there are no files yet)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: readparquet [-n rows] [-json|-count] DIR|FILE...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	var err error
	if *count {
		err = countRows(os.Stdout, flag.Args())
	} else {
		err = run(os.Stdout, flag.Args(), *n, *asJSON)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "readparquet:", err)
		os.Exit(1)
	}
}

// summary counts one table's rows by __op.
type summary struct {
	files, rows int
	ops         map[string]int
}

func run(w io.Writer, args []string, n int, asJSON bool) error {
	files, err := findFiles(args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no .parquet files under %s", strings.Join(args, " "))
	}
	sums := map[string]*summary{}
	var tables []string
	enc := json.NewEncoder(w)
	for _, path := range files {
		cols, rows, err := readFile(path)
		if err != nil {
			return err
		}
		table := filepath.Base(filepath.Dir(filepath.Dir(path)))
		s := sums[table]
		if s == nil {
			s = &summary{ops: map[string]int{}}
			sums[table] = s
			tables = append(tables, table)
		}
		s.files++
		s.rows += len(rows)
		for _, r := range rows {
			if op, ok := r["__op"].(string); ok {
				s.ops[op]++
			}
		}
		if asJSON {
			for _, r := range rows {
				r["_file"] = path
				if err := enc.Encode(r); err != nil {
					return err
				}
			}
			continue
		}
		fmt.Fprintf(w, "== %s (%d rows)\n", path, len(rows))
		for i, r := range rows {
			if n >= 0 && i >= n {
				fmt.Fprintf(w, "   ... %d more\n", len(rows)-n)
				break
			}
			parts := make([]string, 0, len(cols))
			for _, c := range cols {
				parts = append(parts, fmt.Sprintf("%s=%v", c, show(r[c])))
			}
			fmt.Fprintf(w, "   %s\n", strings.Join(parts, " "))
		}
	}
	if asJSON {
		return nil
	}
	fmt.Fprintln(w, "\nsummary (__op: r=snapshot c=insert u=update d=delete):")
	for _, t := range tables {
		s := sums[t]
		var ops []string
		for op, c := range s.ops {
			ops = append(ops, fmt.Sprintf("%s=%d", op, c))
		}
		sort.Strings(ops)
		fmt.Fprintf(w, "  %-28s %3d files %7d rows  %s\n", t, s.files, s.rows, strings.Join(ops, " "))
	}
	return nil
}

// countRows prints the total number of rows of all files (from the files'
// footers).
func countRows(w io.Writer, args []string) error {
	files, err := findFiles(args)
	if err != nil {
		return err
	}
	var total int64
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		st, err := f.Stat()
		if err == nil {
			var pf *parquet.File
			if pf, err = parquet.OpenFile(f, st.Size()); err == nil {
				total += pf.NumRows()
			}
		}
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
	}
	_, err = fmt.Fprintln(w, total)
	return err
}

// findFiles expands directories into their .parquet files, ordered by
// directory and then by the start offset in the file name
// (<topic>+<partition>+<zero-padded offset>.<ext>), which sorts as text.
func findFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if p != a && (strings.HasPrefix(name, "_") || strings.HasPrefix(name, ".")) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && strings.HasSuffix(name, ".parquet") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(out)
	return out, nil
}

// readFile returns the top-level column names and every row of one file,
// with logical types rendered as readable values.
func readFile(path string) ([]string, []map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	fields := pf.Schema().Fields()
	cols := make([]string, len(fields))
	for i, fl := range fields {
		cols[i] = fl.Name()
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	var rows []map[string]any
	for {
		m := map[string]any{}
		if err := r.Read(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, fmt.Errorf("%s: row %d: %w", path, len(rows), err)
		}
		for _, fl := range fields {
			if fl.Leaf() {
				m[fl.Name()] = render(fl.Type(), m[fl.Name()])
			}
		}
		rows = append(rows, m)
	}
	return cols, rows, nil
}

// render converts a leaf value by its Parquet logical type.
func render(t parquet.Type, v any) any {
	if v == nil {
		return nil
	}
	lt := t.LogicalType()
	if lt == nil {
		return v
	}
	switch l := lt.Value.(type) {
	case *format.DecimalType:
		var unscaled *big.Int
		switch x := v.(type) {
		case *big.Float:
			return x.Text('f', int(l.Scale))
		case float64: // parquet-go's map reader decodes INT32/INT64 decimals as float64
			return strconv.FormatFloat(x, 'f', int(l.Scale), 64)
		case []byte:
			unscaled = twosComplement(x)
		case int32:
			unscaled = big.NewInt(int64(x))
		case int64:
			unscaled = big.NewInt(x)
		default:
			return v
		}
		return decimalString(unscaled, int(l.Scale))
	case *format.DateType:
		if d, ok := v.(int32); ok {
			return time.Unix(int64(d)*86400, 0).UTC().Format(time.DateOnly)
		}
	case *format.TimestampType:
		if n, ok := v.(int64); ok && l.Unit.Value != nil {
			unit := l.Unit.Value.Duration()
			return time.Unix(0, 0).Add(time.Duration(n) * unit).UTC().Format(time.RFC3339Nano)
		}
	}
	return v
}

// twosComplement decodes a big-endian two's-complement integer.
func twosComplement(b []byte) *big.Int {
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)))
	}
	return n
}

// decimalString formats unscaled × 10^-scale.
func decimalString(unscaled *big.Int, scale int) string {
	if scale <= 0 {
		return unscaled.String()
	}
	neg := unscaled.Sign() < 0
	digits := new(big.Int).Abs(unscaled).String()
	for len(digits) <= scale {
		digits = "0" + digits
	}
	s := digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	if neg {
		s = "-" + s
	}
	return s
}

// show prints strings as they are and everything else with %v.
func show(v any) any {
	if b, ok := v.([]byte); ok {
		return fmt.Sprintf("0x%x", b)
	}
	return v
}
