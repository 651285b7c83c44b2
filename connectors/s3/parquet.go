package s3

import (
	"fmt"
	"io"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/encoding"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Debezium logical type names mapped to Parquet temporal types.
const (
	dbzDate            = "io.debezium.time.Date"
	dbzTime            = "io.debezium.time.Time"
	dbzMicroTime       = "io.debezium.time.MicroTime"
	dbzNanoTime        = "io.debezium.time.NanoTime"
	dbzTimestamp       = "io.debezium.time.Timestamp"
	dbzMicroTimestamp  = "io.debezium.time.MicroTimestamp"
	dbzNanoTimestamp   = "io.debezium.time.NanoTimestamp"
	decimalPrecParam   = "connect.decimal.precision"
	defaultDecimalPrec = 38
)

// orderedGroup is a Parquet group node that keeps the Connect field order
// (parquet.Group sorts fields by name).
type orderedGroup struct{ fields []parquet.Field }

func (g *orderedGroup) ID() int                     { return 0 }
func (g *orderedGroup) String() string              { return "group" }
func (g *orderedGroup) Type() parquet.Type          { return parquet.Group{}.Type() }
func (g *orderedGroup) Optional() bool              { return false }
func (g *orderedGroup) Repeated() bool              { return false }
func (g *orderedGroup) Required() bool              { return true }
func (g *orderedGroup) Leaf() bool                  { return false }
func (g *orderedGroup) Fields() []parquet.Field     { return g.fields }
func (g *orderedGroup) Encoding() encoding.Encoding { return nil }
func (g *orderedGroup) Compression() compress.Codec { return nil }
func (g *orderedGroup) GoType() reflect.Type        { return reflect.TypeOf(map[string]any{}) }

type namedField struct {
	parquet.Node
	name string
}

func (f namedField) Name() string                      { return f.name }
func (f namedField) Value(reflect.Value) reflect.Value { return reflect.Value{} }

// plan is the compiled shape of one Connect schema node: its Parquet node,
// leaf column range, definition/repetition levels and value converter.
type plan struct {
	path     string
	schema   *connect.Schema
	optional bool
	node     parquet.Node

	firstCol, numCols int
	repLevel          int // repetition level of elements (arrays/maps)

	kind     byte // 'l' leaf, 's' struct, 'a' array, 'm' map
	children []*plan
	conv     func(v any) (parquet.Value, int, error)
}

// parquetSchema compiles a Connect value schema into a Parquet schema and
// shredding plan.
func parquetSchema(s *connect.Schema) (*parquet.Schema, *plan, error) {
	if s == nil {
		return nil, nil, fmt.Errorf("Parquet requires records with schemas; use JsonFormat or enable schemas")
	}
	if s.Type != connect.StructT {
		return nil, nil, fmt.Errorf("Parquet requires a struct value schema, got %v", s)
	}
	col := 0
	p, err := compile(s, "", &col, 0, true)
	if err != nil {
		return nil, nil, err
	}
	name := s.Name
	if name == "" {
		name = "record"
	}
	return parquet.NewSchema(name, p.node), p, nil
}

func compile(s *connect.Schema, path string, col *int, rep int, root bool) (*plan, error) {
	p := &plan{path: path, schema: s, optional: s.Optional && !root, firstCol: *col}
	switch s.Type {
	case connect.StructT:
		p.kind = 's'
		if len(s.Fields) == 0 {
			return nil, fmt.Errorf("field %s: Parquet cannot store an empty struct", displayPath(path))
		}
		g := &orderedGroup{}
		for _, f := range s.Fields {
			c, err := compile(f.Schema, joinPath(path, f.Name), col, rep, false)
			if err != nil {
				return nil, err
			}
			p.children = append(p.children, c)
			g.fields = append(g.fields, namedField{Node: c.node, name: f.Name})
		}
		p.node = g
	case connect.Array:
		p.kind = 'a'
		if s.Value == nil {
			return nil, fmt.Errorf("field %s: array schema without element schema", displayPath(path))
		}
		p.repLevel = rep + 1
		e, err := compile(s.Value, joinPath(path, "element"), col, rep+1, false)
		if err != nil {
			return nil, err
		}
		p.children = []*plan{e}
		p.node = parquet.List(e.node)
	case connect.Map:
		p.kind = 'm'
		if s.Key == nil || s.Value == nil {
			return nil, fmt.Errorf("field %s: map schema without key or value schema", displayPath(path))
		}
		p.repLevel = rep + 1
		k, err := compile(s.Key, joinPath(path, "key"), col, rep+1, false)
		if err != nil {
			return nil, err
		}
		k.optional = false // Parquet map keys are required
		v, err := compile(s.Value, joinPath(path, "value"), col, rep+1, false)
		if err != nil {
			return nil, err
		}
		p.children = []*plan{k, v}
		p.node = parquet.Map(k.node, v.node)
	default:
		p.kind = 'l'
		node, conv, err := leafOf(s, path)
		if err != nil {
			return nil, err
		}
		p.node, p.conv = node, conv
		*col++
	}
	p.numCols = *col - p.firstCol
	if p.optional {
		p.node = parquet.Optional(p.node)
	} else if !root {
		p.node = parquet.Required(p.node)
	}
	return p, nil
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

func displayPath(p string) string {
	if p == "" {
		return "<root>"
	}
	return p
}

type convFunc = func(v any) (parquet.Value, int, error)

func typeErr(s *connect.Schema, v any) error {
	return fmt.Errorf("value of Go type %T does not match schema %v", v, s)
}

// leafOf returns the Parquet leaf node and converter for a primitive
// Connect schema, honouring Connect and Debezium logical types.
func leafOf(s *connect.Schema, path string) (parquet.Node, convFunc, error) {
	switch s.Name {
	case connect.DecimalName:
		scale, err := connect.DecimalScale(s)
		if err != nil {
			return nil, nil, fmt.Errorf("field %s: %v", displayPath(path), err)
		}
		prec := defaultDecimalPrec
		if ps, ok := s.Parameters[decimalPrecParam]; ok {
			if prec, err = strconv.Atoi(ps); err != nil || prec < 1 {
				return nil, nil, fmt.Errorf("field %s: bad %s parameter %q", displayPath(path), decimalPrecParam, ps)
			}
		}
		prec = max(prec, int(scale))
		return parquet.Decimal(int(scale), prec, parquet.ByteArrayType), func(v any) (parquet.Value, int, error) {
			d, ok := v.(connect.Decimal)
			if !ok {
				return parquet.Value{}, 0, typeErr(s, v)
			}
			u, err := rescale(d, scale)
			if err != nil {
				return parquet.Value{}, 0, err
			}
			b := connect.TwosComplement(u)
			return parquet.ByteArrayValue(b), len(b) + 4, nil
		}, nil
	case connect.DateName, dbzDate:
		return parquet.Date(), func(v any) (parquet.Value, int, error) {
			switch x := v.(type) {
			case time.Time:
				return parquet.Int32Value(connect.DaysSinceEpoch(x)), 4, nil
			case int32:
				return parquet.Int32Value(x), 4, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.TimeName, dbzTime:
		return parquet.Time(parquet.Millisecond), func(v any) (parquet.Value, int, error) {
			switch x := v.(type) {
			case time.Time:
				return parquet.Int32Value(connect.MillisOfDay(x)), 4, nil
			case int32:
				return parquet.Int32Value(x), 4, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.TimestampName, dbzTimestamp:
		return parquet.Timestamp(parquet.Millisecond), int64Conv(s, func(t time.Time) int64 { return t.UnixMilli() }), nil
	case dbzMicroTimestamp:
		if s.Type == connect.Int64 {
			return parquet.Timestamp(parquet.Microsecond), int64Conv(s, func(t time.Time) int64 { return t.UnixMicro() }), nil
		}
	case dbzNanoTimestamp:
		if s.Type == connect.Int64 {
			return parquet.Timestamp(parquet.Nanosecond), int64Conv(s, func(t time.Time) int64 { return t.UnixNano() }), nil
		}
	case dbzMicroTime:
		if s.Type == connect.Int64 {
			return parquet.Time(parquet.Microsecond), int64Conv(s, nil), nil
		}
	case dbzNanoTime:
		if s.Type == connect.Int64 {
			return parquet.Time(parquet.Nanosecond), int64Conv(s, nil), nil
		}
	}
	switch s.Type {
	case connect.Int8:
		return parquet.Int(8), func(v any) (parquet.Value, int, error) {
			if x, ok := v.(int8); ok {
				return parquet.Int32Value(int32(x)), 4, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.Int16:
		return parquet.Int(16), func(v any) (parquet.Value, int, error) {
			if x, ok := v.(int16); ok {
				return parquet.Int32Value(int32(x)), 4, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.Int32:
		return parquet.Leaf(parquet.Int32Type), func(v any) (parquet.Value, int, error) {
			if x, ok := v.(int32); ok {
				return parquet.Int32Value(x), 4, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.Int64:
		return parquet.Leaf(parquet.Int64Type), int64Conv(s, nil), nil
	case connect.Float32:
		return parquet.Leaf(parquet.FloatType), func(v any) (parquet.Value, int, error) {
			if x, ok := v.(float32); ok {
				return parquet.FloatValue(x), 4, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.Float64:
		return parquet.Leaf(parquet.DoubleType), func(v any) (parquet.Value, int, error) {
			if x, ok := v.(float64); ok {
				return parquet.DoubleValue(x), 8, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.Boolean:
		return parquet.Leaf(parquet.BooleanType), func(v any) (parquet.Value, int, error) {
			if x, ok := v.(bool); ok {
				return parquet.BooleanValue(x), 1, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.String:
		return parquet.String(), func(v any) (parquet.Value, int, error) {
			if x, ok := v.(string); ok {
				return parquet.ByteArrayValue([]byte(x)), len(x) + 4, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	case connect.Bytes:
		return parquet.Leaf(parquet.ByteArrayType), func(v any) (parquet.Value, int, error) {
			if x, ok := v.([]byte); ok {
				return parquet.ByteArrayValue(x), len(x) + 4, nil
			}
			return parquet.Value{}, 0, typeErr(s, v)
		}, nil
	}
	return nil, nil, fmt.Errorf("field %s: unsupported schema type %q", displayPath(path), s.Type)
}

func int64Conv(s *connect.Schema, fromTime func(time.Time) int64) convFunc {
	return func(v any) (parquet.Value, int, error) {
		switch x := v.(type) {
		case int64:
			return parquet.Int64Value(x), 8, nil
		case time.Time:
			if fromTime != nil {
				return parquet.Int64Value(fromTime(x)), 8, nil
			}
		}
		return parquet.Value{}, 0, typeErr(s, v)
	}
}

func rescale(d connect.Decimal, scale int32) (*big.Int, error) {
	u := d.Unscaled
	if u == nil {
		u = new(big.Int)
	}
	switch {
	case d.Scale == scale:
		return u, nil
	case d.Scale < scale:
		return new(big.Int).Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-d.Scale)), nil)), nil
	}
	div := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale-scale)), nil)
	q, r := new(big.Int).QuoRem(u, div, new(big.Int))
	if r.Sign() != 0 {
		return nil, fmt.Errorf("decimal %s has more than %d fractional digits", d, scale)
	}
	return q, nil
}

// shredder turns Connect values into Parquet column values (Dremel
// shredding), accumulating a batch of rows per column so each column is
// handed to the Parquet writer in one call.
type shredder struct {
	root *plan
	cols [][]parquet.Value
	mark []int // per column, length before the row being shredded
}

func newShredder(root *plan) *shredder {
	return &shredder{root: root, cols: make([][]parquet.Value, root.numCols), mark: make([]int, root.numCols)}
}

// add shreds one struct value onto the batch and returns an estimate of
// its encoded size. On error the batch is left as it was.
func (sh *shredder) add(v *connect.Struct) (int, error) {
	for c := range sh.cols {
		sh.mark[c] = len(sh.cols[c])
	}
	size, err := sh.shred(sh.root, v, 0, 0)
	if err != nil {
		for c := range sh.cols {
			sh.cols[c] = sh.cols[c][:sh.mark[c]]
		}
		return 0, err
	}
	return size, nil
}

func (sh *shredder) reset() {
	for c := range sh.cols {
		sh.cols[c] = sh.cols[c][:0]
	}
}

func (sh *shredder) emit(c int, v parquet.Value) { sh.cols[c] = append(sh.cols[c], v) }

func (sh *shredder) nulls(p *plan, rep, def int) {
	for c := p.firstCol; c < p.firstCol+p.numCols; c++ {
		sh.emit(c, parquet.NullValue().Level(rep, def, c))
	}
}

func (sh *shredder) shred(p *plan, v any, rep, def int) (int, error) {
	if v == nil && p.schema.Default != nil {
		v = p.schema.Default
	}
	if v == nil {
		if !p.optional && p.path != "" {
			return 0, fmt.Errorf("field %s: null value for required %v", p.path, p.schema)
		}
		sh.nulls(p, rep, def)
		return p.numCols, nil
	}
	if p.optional {
		def++
	}
	switch p.kind {
	case 'l':
		val, n, err := p.conv(v)
		if err != nil {
			return 0, fmt.Errorf("field %s: %w", p.path, err)
		}
		sh.emit(p.firstCol, val.Level(rep, def, p.firstCol))
		return n, nil
	case 's':
		st, ok := v.(*connect.Struct)
		if !ok {
			return 0, fmt.Errorf("field %s: %v", displayPath(p.path), typeErr(p.schema, v))
		}
		if len(st.Schema().Fields) != len(p.children) {
			return 0, fmt.Errorf("field %s: struct has %d fields, schema %d", displayPath(p.path), len(st.Schema().Fields), len(p.children))
		}
		total := 0
		for i, c := range p.children {
			n, err := sh.shred(c, st.At(i), rep, def)
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	case 'a':
		arr, ok := v.([]any)
		if !ok {
			return 0, fmt.Errorf("field %s: %v", p.path, typeErr(p.schema, v))
		}
		if len(arr) == 0 {
			sh.nulls(p, rep, def)
			return p.numCols, nil
		}
		total := 0
		for i, e := range arr {
			r := rep
			if i > 0 {
				r = p.repLevel
			}
			n, err := sh.shred(p.children[0], e, r, def+1)
			if err != nil {
				return 0, err
			}
			total += n
		}
		return total, nil
	case 'm':
		m, ok := v.(map[any]any)
		if !ok {
			return 0, fmt.Errorf("field %s: %v", p.path, typeErr(p.schema, v))
		}
		if len(m) == 0 {
			sh.nulls(p, rep, def)
			return p.numCols, nil
		}
		keys := make([]any, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.SortFunc(keys, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		total := 0
		for i, k := range keys {
			r := rep
			if i > 0 {
				r = p.repLevel
			}
			if k == nil {
				return 0, fmt.Errorf("field %s: null map key", p.path)
			}
			n1, err := sh.shred(p.children[0], k, r, def+1)
			if err != nil {
				return 0, err
			}
			n2, err := sh.shred(p.children[1], m[k], r, def+1)
			if err != nil {
				return 0, err
			}
			total += n1 + n2
		}
		return total, nil
	}
	return 0, fmt.Errorf("field %s: internal: unknown plan kind", p.path)
}

// parquetEncoder writes records of one schema to a Parquet file. Rows are
// shredded into per-column batches that are written column by column.
type parquetEncoder struct {
	w       *parquet.Writer
	sh      *shredder
	n       int // rows in the current batch
	pending int64
	err     error
}

const parquetBatch = 256

func codecOf(name string) compress.Codec {
	switch name {
	case "gzip":
		return &parquet.Gzip
	case "zstd":
		return &parquet.Zstd
	case "lz4", "lz4_raw":
		return &parquet.Lz4Raw
	case "none", "uncompressed":
		return &parquet.Uncompressed
	}
	return &parquet.Snappy
}

// parquetExt is the file extension Confluent uses for a codec.
func parquetExt(codec string) string {
	switch codec {
	case "gzip":
		return ".gz.parquet"
	case "zstd":
		return ".zstd.parquet"
	case "lz4", "lz4_raw":
		return ".lz4raw.parquet"
	case "none", "uncompressed":
		return ".parquet"
	}
	return ".snappy.parquet"
}

func newParquetEncoder(w io.Writer, s *connect.Schema, codec string) (*parquetEncoder, error) {
	schema, root, err := parquetSchema(s)
	if err != nil {
		return nil, err
	}
	pw := parquet.NewWriter(w, schema, parquet.Compression(codecOf(codec)),
		parquet.CreatedBy("sluice", "", ""), parquet.PageBufferSize(256<<10),
		// Page-level min/max stay available through the (truncated) page
		// index; full values in every page header bloat files with large
		// strings or blobs.
		parquet.DataPageStatistics(false))
	return &parquetEncoder{w: pw, sh: newShredder(root)}, nil
}

func (e *parquetEncoder) write(v any) error {
	if e.err != nil {
		return e.err
	}
	st, ok := v.(*connect.Struct)
	if !ok {
		return fmt.Errorf("Parquet requires struct values, got %T", v)
	}
	n, err := e.sh.add(st)
	if err != nil {
		return err
	}
	e.n++
	e.pending += int64(n)
	if e.n == parquetBatch {
		return e.writeBatch()
	}
	return nil
}

// writeBatch hands the batched rows to the Parquet column writers. Errors
// are sticky: a file that lost rows must never be committed.
func (e *parquetEncoder) writeBatch() error {
	if e.err != nil || e.n == 0 {
		return e.err
	}
	e.n = 0
	defer e.sh.reset()
	for c, cw := range e.w.ColumnWriters() {
		if _, err := cw.WriteRowValues(e.sh.cols[c]); err != nil {
			e.err = fmt.Errorf("parquet write column %d: %w", c, err)
			return e.err
		}
	}
	return nil
}

func (e *parquetEncoder) buffered() int64 { return e.pending }

func (e *parquetEncoder) flushBuffered() error {
	if e.pending == 0 {
		return nil
	}
	e.pending = 0
	if err := e.writeBatch(); err != nil {
		return err
	}
	if err := e.w.Flush(); err != nil {
		e.err = fmt.Errorf("parquet flush: %w", err)
	}
	return e.err
}

func (e *parquetEncoder) close() error {
	e.pending = 0
	if err := e.writeBatch(); err != nil {
		return err
	}
	if err := e.w.Close(); err != nil {
		e.err = fmt.Errorf("parquet close: %w", err)
	}
	return e.err
}
