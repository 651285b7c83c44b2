package s3

import (
	"fmt"
	"io"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

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

	leaf  byte  // leaf conversion (lk*)
	unit  byte  // lkInt64: unit of time.Time values
	scale int32 // lkDecimal: the column's scale

	dflt any // the schema's default value
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
	p := &plan{path: path, schema: s, optional: s.Optional && !root, firstCol: *col, dflt: s.Default}
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
		node, err := leafOf(p, s, path)
		if err != nil {
			return nil, err
		}
		p.node = node
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

func typeErr(s *connect.Schema, v any) error {
	return fmt.Errorf("value of Go type %T does not match schema %v", v, s)
}

// Leaf conversions: how a Connect value becomes a Parquet value. The
// shredder switches on these instead of calling a converter per value.
const (
	lkInt8 byte = iota + 1
	lkInt16
	lkInt32
	lkInt64 // int64, or time.Time converted by the plan's unit
	lkFloat32
	lkFloat64
	lkBool
	lkString
	lkBytes
	lkDecimal
	lkDate // int32 days, or time.Time
	lkTime // int32 millis of day, or time.Time
)

// Units converting a time.Time into an INT64 leaf.
const (
	unitNone byte = iota // int64 only
	unitMilli
	unitMicro
	unitNano
)

// leafOf returns the Parquet leaf node for a primitive Connect schema,
// honouring Connect and Debezium logical types, and sets the plan's leaf
// conversion.
func leafOf(p *plan, s *connect.Schema, path string) (parquet.Node, error) {
	switch s.Name {
	case connect.DecimalName:
		scale, err := connect.DecimalScale(s)
		if err != nil {
			return nil, fmt.Errorf("field %s: %v", displayPath(path), err)
		}
		prec := defaultDecimalPrec
		if ps, ok := s.Parameters[decimalPrecParam]; ok {
			if prec, err = strconv.Atoi(ps); err != nil || prec < 1 {
				return nil, fmt.Errorf("field %s: bad %s parameter %q", displayPath(path), decimalPrecParam, ps)
			}
		}
		prec = max(prec, int(scale))
		p.leaf, p.scale = lkDecimal, scale
		return parquet.Decimal(int(scale), prec, parquet.ByteArrayType), nil
	case connect.DateName, dbzDate:
		p.leaf = lkDate
		return parquet.Date(), nil
	case connect.TimeName, dbzTime:
		p.leaf = lkTime
		return parquet.Time(parquet.Millisecond), nil
	case connect.TimestampName, dbzTimestamp:
		p.leaf, p.unit = lkInt64, unitMilli
		return parquet.Timestamp(parquet.Millisecond), nil
	case dbzMicroTimestamp:
		if s.Type == connect.Int64 {
			p.leaf, p.unit = lkInt64, unitMicro
			return parquet.Timestamp(parquet.Microsecond), nil
		}
	case dbzNanoTimestamp:
		if s.Type == connect.Int64 {
			p.leaf, p.unit = lkInt64, unitNano
			return parquet.Timestamp(parquet.Nanosecond), nil
		}
	case dbzMicroTime:
		if s.Type == connect.Int64 {
			p.leaf = lkInt64
			return parquet.Time(parquet.Microsecond), nil
		}
	case dbzNanoTime:
		if s.Type == connect.Int64 {
			p.leaf = lkInt64
			return parquet.Time(parquet.Nanosecond), nil
		}
	}
	switch s.Type {
	case connect.Int8:
		p.leaf = lkInt8
		return parquet.Int(8), nil
	case connect.Int16:
		p.leaf = lkInt16
		return parquet.Int(16), nil
	case connect.Int32:
		p.leaf = lkInt32
		return parquet.Leaf(parquet.Int32Type), nil
	case connect.Int64:
		p.leaf = lkInt64
		return parquet.Leaf(parquet.Int64Type), nil
	case connect.Float32:
		p.leaf = lkFloat32
		return parquet.Leaf(parquet.FloatType), nil
	case connect.Float64:
		p.leaf = lkFloat64
		return parquet.Leaf(parquet.DoubleType), nil
	case connect.Boolean:
		p.leaf = lkBool
		return parquet.Leaf(parquet.BooleanType), nil
	case connect.String:
		p.leaf = lkString
		return parquet.String(), nil
	case connect.Bytes:
		p.leaf = lkBytes
		return parquet.Leaf(parquet.ByteArrayType), nil
	}
	return nil, fmt.Errorf("field %s: unsupported schema type %q", displayPath(path), s.Type)
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
//
// Schemas without arrays or maps have exactly one value per column and
// row: shredFixed writes each value to a fixed slot (column*parquetBatch +
// row) of one buffer, with nothing to append or roll back. Other schemas
// go through shred, which appends to a slice per column.
type shredder struct {
	root  *plan
	fixed bool
	// raw is set when rawValue has parquet.Value's memory layout, so values
	// are stored without building a parquet.Value (see rawLayoutOK).
	raw  bool
	flat []parquet.Value // fixed: the batch, column-major
	rows int             // fixed: rows in the batch
	cols [][]parquet.Value
	mark []int // per column, length before the row being shredded
	// arena holds the two's-complement bytes of decimals in the batch;
	// the column writers copy them, so it is reused after each batch.
	arena []byte
}

func newShredder(root *plan) *shredder {
	sh := &shredder{root: root, fixed: !root.repeated(), raw: rawLayoutOK()}
	if sh.fixed {
		sh.flat = make([]parquet.Value, root.numCols*parquetBatch)
		return sh
	}
	sh.cols, sh.mark = make([][]parquet.Value, root.numCols), make([]int, root.numCols)
	for c := range sh.cols {
		sh.cols[c] = make([]parquet.Value, 0, parquetBatch)
	}
	return sh
}

// repeated reports whether the plan contains an array or a map.
func (p *plan) repeated() bool {
	if p.kind == 'a' || p.kind == 'm' {
		return true
	}
	for _, c := range p.children {
		if c.repeated() {
			return true
		}
	}
	return false
}

// add shreds one struct value onto the batch and returns an estimate of
// its encoded size. On error the batch is left as it was.
func (sh *shredder) add(v *connect.Struct) (int, error) {
	if sh.fixed {
		size, err := sh.shredFixed(sh.root, v, 0)
		if err != nil {
			return 0, err // the row's slots are overwritten by the next row
		}
		sh.rows++
		return size, nil
	}
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

// column returns the batched values of column c.
func (sh *shredder) column(c int) []parquet.Value {
	if sh.fixed {
		return sh.flat[c*parquetBatch : c*parquetBatch+sh.rows]
	}
	return sh.cols[c]
}

// reset empties the batch. Slots keep their old values (and the record
// memory they point to) until overwritten: at most one batch.
func (sh *shredder) reset() {
	sh.rows = 0
	for c := range sh.cols {
		sh.cols[c] = sh.cols[c][:0]
	}
	sh.arena = sh.arena[:0]
}

// rawValue mirrors parquet.Value's memory layout in three words (which the
// compiler keeps in registers, unlike the six-field parquet.Value): the
// data pointer, the data bits, and kind (bitwise not), definition level,
// repetition level and column index (bitwise not) packed in the last word.
type rawValue struct {
	ptr  *byte
	u64  uint64
	meta uint64
}

func rawMeta(kind byte, rep, def, col int) uint64 {
	return uint64(kind) | uint64(def)<<8 | uint64(rep)<<16 | uint64(^uint16(col))<<32
}

// rawKind is the kind byte of a non-null value, as parquet-go stores it.
func rawKind(k parquet.Kind) byte { return byte(^int8(k)) }

// rawLayoutOK reports whether rawValue stores exactly what parquet-go's
// own constructors produce (padding aside), checked on a value of every
// kind the shredder writes. When it does not (another parquet-go
// version), the shredder builds parquet.Values the ordinary way.
func rawLayoutOK() bool {
	if unsafe.Sizeof(parquet.Value{}) != unsafe.Sizeof(rawValue{}) {
		return false
	}
	const fields = 0x0000_ffff_00ff_ffff // meta bits that are not padding
	b := []byte("probe")
	i32, i64 := int32(-123456789), int64(-1234567890123)
	for _, probe := range []struct {
		k   parquet.Kind
		ptr *byte
		u64 uint64
	}{
		{parquet.Boolean, nil, 1},
		{parquet.Int32, nil, uint64(int64(i32))},
		{parquet.Int64, nil, uint64(i64)},
		{parquet.Float, nil, uint64(math.Float32bits(-1.5))},
		{parquet.Double, nil, math.Float64bits(-2.25)},
		{parquet.ByteArray, &b[0], uint64(len(b))},
	} {
		want := makeValue(probe.k, probe.ptr, probe.u64).Level(1, 2, 3)
		w := *(*rawValue)(unsafe.Pointer(&want))
		raw := rawValue{ptr: probe.ptr, u64: probe.u64, meta: rawMeta(rawKind(probe.k), 1, 2, 3)}
		got := *(*parquet.Value)(unsafe.Pointer(&raw))
		if w.ptr != raw.ptr || w.u64 != raw.u64 || w.meta&fields != raw.meta || !parquet.Equal(got, want) ||
			got.Kind() != probe.k || got.RepetitionLevel() != 1 || got.DefinitionLevel() != 2 || got.Column() != 3 {
			return false
		}
	}
	null := parquet.NullValue().Level(1, 2, 3)
	n := *(*rawValue)(unsafe.Pointer(&null))
	return n.ptr == nil && n.u64 == 0 && n.meta&fields == rawMeta(0, 1, 2, 3)
}

// makeValue builds a parquet.Value from what convert returns.
func makeValue(k parquet.Kind, ptr *byte, u64 uint64) parquet.Value {
	switch k {
	case parquet.Boolean:
		return parquet.BooleanValue(u64 != 0)
	case parquet.Int32:
		return parquet.Int32Value(int32(u64))
	case parquet.Int64:
		return parquet.Int64Value(int64(u64))
	case parquet.Float:
		return parquet.FloatValue(math.Float32frombits(uint32(u64)))
	case parquet.Double:
		return parquet.DoubleValue(math.Float64frombits(u64))
	}
	return parquet.ByteArrayValue(unsafe.Slice(ptr, int(u64)))
}

// store writes a non-null value to dst.
func (sh *shredder) store(dst *parquet.Value, k parquet.Kind, ptr *byte, u64 uint64, rep, def, col int) {
	if sh.raw {
		*(*rawValue)(unsafe.Pointer(dst)) = rawValue{ptr: ptr, u64: u64, meta: rawMeta(rawKind(k), rep, def, col)}
		return
	}
	*dst = makeValue(k, ptr, u64).Level(rep, def, col)
}

// storeNull writes a null value to dst.
func (sh *shredder) storeNull(dst *parquet.Value, rep, def, col int) {
	if sh.raw {
		*(*rawValue)(unsafe.Pointer(dst)) = rawValue{meta: rawMeta(0, rep, def, col)}
		return
	}
	*dst = parquet.NullValue().Level(rep, def, col)
}

// daysSinceEpoch is connect.DaysSinceEpoch without the calendar
// arithmetic: UTC days are 86400 seconds.
func daysSinceEpoch(t time.Time) int32 { return int32(floorDiv(t.Unix(), 86400)) }

// millisOfDay is connect.MillisOfDay without the calendar arithmetic.
func millisOfDay(t time.Time) int32 {
	return int32(floorMod(t.Unix(), 86400)*1000 + int64(t.Nanosecond()/1_000_000))
}

// twosLen is the length of the minimal two's complement of x.
func twosLen(x int64) int {
	n := 1
	for n < 8 && (x < -(1<<(8*n-1)) || x >= 1<<(8*n-1)) {
		n++
	}
	return n
}

// decimalBytes returns the minimal big-endian two's complement of x (what
// connect.TwosComplement returns), stored in the arena.
func (sh *shredder) decimalBytes(x int64) []byte {
	n := twosLen(x)
	if cap(sh.arena)-len(sh.arena) < n {
		// Bytes already handed out stay valid: a new chunk, not a copy.
		sh.arena = make([]byte, 0, 4096)
	}
	off := len(sh.arena)
	for i := n - 1; i >= 0; i-- {
		sh.arena = append(sh.arena, byte(x>>(8*i)))
	}
	return sh.arena[off:len(sh.arena):len(sh.arena)]
}

// convert converts a non-null leaf value to its Parquet kind and bits (as
// parquet-go's constructors store them) and returns its size estimate.
func (sh *shredder) convert(p *plan, v any) (k parquet.Kind, ptr *byte, u64 uint64, n int, err error) {
	ok := false
	switch p.leaf {
	case lkInt8:
		var x int8
		x, ok = v.(int8)
		k, u64, n = parquet.Int32, uint64(int64(x)), 4
	case lkInt16:
		var x int16
		x, ok = v.(int16)
		k, u64, n = parquet.Int32, uint64(int64(x)), 4
	case lkInt32:
		var x int32
		x, ok = v.(int32)
		k, u64, n = parquet.Int32, uint64(int64(x)), 4
	case lkInt64:
		k, n = parquet.Int64, 8
		switch x := v.(type) {
		case int64:
			u64, ok = uint64(x), true
		case time.Time:
			switch p.unit {
			case unitMilli:
				u64, ok = uint64(x.UnixMilli()), true
			case unitMicro:
				u64, ok = uint64(x.UnixMicro()), true
			case unitNano:
				u64, ok = uint64(x.UnixNano()), true
			}
		}
	case lkFloat32:
		var x float32
		x, ok = v.(float32)
		k, u64, n = parquet.Float, uint64(math.Float32bits(x)), 4
	case lkFloat64:
		var x float64
		x, ok = v.(float64)
		k, u64, n = parquet.Double, math.Float64bits(x), 8
	case lkBool:
		var x bool
		x, ok = v.(bool)
		k, n = parquet.Boolean, 1
		if x {
			u64 = 1
		}
	case lkString:
		// The column writer copies the bytes before the record can be
		// released, and never writes to them: no copy here.
		var x string
		x, ok = v.(string)
		k, ptr, u64, n = parquet.ByteArray, unsafe.StringData(x), uint64(len(x)), len(x)+4
	case lkBytes:
		var x []byte
		x, ok = v.([]byte)
		k, ptr, u64, n = parquet.ByteArray, unsafe.SliceData(x), uint64(len(x)), len(x)+4
	case lkDecimal:
		var d connect.Decimal
		if d, ok = v.(connect.Decimal); ok {
			var b []byte
			if d.Scale == p.scale && d.Unscaled != nil && d.Unscaled.IsInt64() {
				b = sh.decimalBytes(d.Unscaled.Int64())
			} else {
				u, err := rescale(d, p.scale)
				if err != nil {
					return 0, nil, 0, 0, fmt.Errorf("field %s: %w", p.path, err)
				}
				b = connect.TwosComplement(u)
			}
			k, ptr, u64, n = parquet.ByteArray, unsafe.SliceData(b), uint64(len(b)), len(b)+4
		}
	case lkDate:
		k, n = parquet.Int32, 4
		switch x := v.(type) {
		case time.Time:
			u64, ok = uint64(int64(daysSinceEpoch(x))), true
		case int32:
			u64, ok = uint64(int64(x)), true
		}
	case lkTime:
		k, n = parquet.Int32, 4
		switch x := v.(type) {
		case time.Time:
			u64, ok = uint64(int64(millisOfDay(x))), true
		case int32:
			u64, ok = uint64(int64(x)), true
		}
	}
	if !ok {
		return 0, nil, 0, 0, fmt.Errorf("field %s: %w", p.path, typeErr(p.schema, v))
	}
	return k, ptr, u64, n, nil
}

// shredFixed shreds a struct of a schema without arrays or maps into the
// batch's fixed slots; def is the definition level of st.
func (sh *shredder) shredFixed(p *plan, st *connect.Struct, def int) (int, error) {
	if len(st.Schema().Fields) != len(p.children) {
		return 0, fmt.Errorf("field %s: struct has %d fields, schema %d", displayPath(p.path), len(st.Schema().Fields), len(p.children))
	}
	total := 0
	for i, c := range p.children {
		v := st.At(i)
		if v == nil && c.dflt != nil {
			v = c.dflt
		}
		if v == nil {
			if !c.optional {
				return 0, fmt.Errorf("field %s: null value for required %v", c.path, c.schema)
			}
			for col := c.firstCol; col < c.firstCol+c.numCols; col++ {
				sh.storeNull(&sh.flat[col*parquetBatch+sh.rows], 0, def, col)
			}
			total += c.numCols
			continue
		}
		d := def
		if c.optional {
			d++
		}
		if c.kind == 'l' {
			k, ptr, u64, n, err := sh.convert(c, v)
			if err != nil {
				return 0, err
			}
			sh.store(&sh.flat[c.firstCol*parquetBatch+sh.rows], k, ptr, u64, 0, d, c.firstCol)
			total += n
			continue
		}
		cs, ok := v.(*connect.Struct)
		if !ok {
			return 0, fmt.Errorf("field %s: %v", displayPath(c.path), typeErr(c.schema, v))
		}
		n, err := sh.shredFixed(c, cs, d)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

func (sh *shredder) nulls(p *plan, rep, def int) {
	for c := p.firstCol; c < p.firstCol+p.numCols; c++ {
		sh.cols[c] = append(sh.cols[c], parquet.Value{})
		sh.storeNull(&sh.cols[c][len(sh.cols[c])-1], rep, def, c)
	}
}

// shred shreds a value of a schema with arrays or maps, appending to the
// per-column slices.
func (sh *shredder) shred(p *plan, v any, rep, def int) (int, error) {
	if v == nil && p.dflt != nil {
		v = p.dflt
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
		k, ptr, u64, n, err := sh.convert(p, v)
		if err != nil {
			return 0, err
		}
		c := p.firstCol
		sh.cols[c] = append(sh.cols[c], parquet.Value{})
		sh.store(&sh.cols[c][len(sh.cols[c])-1], k, ptr, u64, rep, def, c)
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
	//lint:ignore SA1019 the untyped Writer is the API that takes a run-time schema and hands out column writers
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
		if _, err := cw.WriteRowValues(e.sh.column(c)); err != nil {
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
