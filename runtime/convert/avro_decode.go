package convert

import (
	"fmt"
	"math/big"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Reading goes through a decoding plan compiled once per writer schema: a
// tree of decOps that reads Avro binary with hamba/avro's Reader
// primitives straight into Connect values, without hamba's generic maps
// in between. The values are those of the generic path (hamba's generic
// Unmarshal, then fromAvro), as TestAvroDecodePlanMatchesGeneric checks.

// maxEmptyItems bounds the item count of an array or map block whose
// items take no bytes (records without fields), which the data's length
// cannot bound.
const maxEmptyItems = 1 << 16

// decOp reads the Connect value of one node.
type decOp struct {
	kind     kind
	conn     *connect.Schema
	optional bool  // a union of null and the value
	nullIdx  int64 // union index of null
	scale    int32
	empty    bool // the value takes no bytes
	fields   []decField
	elem     *decOp
	key      *decOp
	branches []decBranch // kUnion, by union index
	symbols  []string    // kEnum
	size     int         // kFixed
}

type decField struct {
	name string
	op   *decOp
}

type decBranch struct {
	field int // index of the Connect union struct's field; -1: null
	op    *decOp
}

// compileDec builds the plan reading Avro schema s into node n.
func compileDec(n *avroNode, s avro.Schema) (*decOp, error) {
	return (&decCompiler{onStack: map[*avroNode]bool{}}).compile(n, s)
}

type decCompiler struct {
	onStack map[*avroNode]bool
}

func (c *decCompiler) compile(n *avroNode, s avro.Schema) (*decOp, error) {
	if c.onStack[n] {
		return nil, errNoPlan // a recursive schema
	}
	c.onStack[n] = true
	defer delete(c.onStack, n)
	s = derefSchema(s)
	op := &decOp{kind: n.kind, conn: n.connect, scale: n.scale}
	if n.optional && n.kind != kUnion {
		u, ok := s.(*avro.UnionSchema)
		if !ok || len(u.Types()) != 2 {
			return nil, errNoPlan
		}
		op.optional = true
		switch {
		case u.Types()[0].Type() == avro.Null:
			op.nullIdx, s = 0, derefSchema(u.Types()[1])
		case u.Types()[1].Type() == avro.Null:
			op.nullIdx, s = 1, derefSchema(u.Types()[0])
		default:
			return nil, errNoPlan
		}
	}
	var err error
	switch n.kind {
	case kInt, kDate, kTimeMillis:
		err = c.want(s, avro.Int)
	case kLong, kTimestampMillis, kMicros:
		err = c.want(s, avro.Long)
	case kFloat:
		err = c.want(s, avro.Float)
	case kDouble:
		err = c.want(s, avro.Double)
	case kBool:
		err = c.want(s, avro.Boolean)
	case kString:
		err = c.want(s, avro.String)
	case kBytes, kDecimal:
		err = c.want(s, avro.Bytes)
	case kEnum:
		es, ok := s.(*avro.EnumSchema)
		if !ok {
			return nil, errNoPlan
		}
		op.symbols = es.Symbols()
	case kFixed:
		fs, ok := s.(*avro.FixedSchema)
		if !ok {
			return nil, errNoPlan
		}
		op.size = fs.Size()
	case kRecord:
		rs, ok := s.(*avro.RecordSchema)
		if !ok || len(rs.Fields()) != len(n.fields) || len(n.connect.Fields) != len(n.fields) {
			return nil, errNoPlan
		}
		op.empty = true
		op.fields = make([]decField, len(n.fields))
		for i, f := range n.fields {
			if rs.Fields()[i].Name() != f.name {
				return nil, errNoPlan
			}
			fop, err := c.compile(f.node, rs.Fields()[i].Type())
			if err != nil {
				return nil, err
			}
			op.empty = op.empty && fop.empty
			op.fields[i] = decField{name: f.name, op: fop}
		}
	case kArray:
		as, ok := s.(*avro.ArraySchema)
		if !ok {
			return nil, errNoPlan
		}
		op.elem, err = c.compile(n.elem, as.Items())
	case kMap:
		ms, ok := s.(*avro.MapSchema)
		if !ok {
			return nil, errNoPlan
		}
		op.elem, err = c.compile(n.elem, ms.Values())
	case kMapEntries:
		as, ok := s.(*avro.ArraySchema)
		if !ok {
			return nil, errNoPlan
		}
		rs, ok := derefSchema(as.Items()).(*avro.RecordSchema)
		if !ok || len(rs.Fields()) != 2 {
			return nil, errNoPlan
		}
		if op.key, err = c.compile(n.key, rs.Fields()[0].Type()); err != nil {
			return nil, err
		}
		op.elem, err = c.compile(n.elem, rs.Fields()[1].Type())
	case kUnion:
		u, ok := s.(*avro.UnionSchema)
		if !ok {
			return nil, errNoPlan
		}
		bi := 0
		for _, t := range u.Types() {
			if t.Type() == avro.Null {
				op.branches = append(op.branches, decBranch{field: -1})
				continue
			}
			if bi >= len(n.branches) {
				return nil, errNoPlan
			}
			inner := *n.branches[bi].node
			inner.optional = false
			bop, err := c.compile(&inner, t)
			if err != nil {
				return nil, err
			}
			op.branches = append(op.branches, decBranch{field: bi, op: bop})
			bi++
		}
		if bi != len(n.branches) {
			return nil, errNoPlan
		}
	default:
		return nil, errNoPlan
	}
	if err != nil {
		return nil, err
	}
	return op, nil
}

func (c *decCompiler) want(s avro.Schema, t avro.Type) error {
	if _, ok := s.(*avro.PrimitiveSchema); !ok || s.Type() != t {
		return errNoPlan
	}
	return nil
}

// readErr reports the Reader's error as a *DataError.
func readErr(r *avro.Reader) error {
	return dataErr("", "%v", r.Error)
}

// decode reads one value. Errors are *DataError naming the path below
// this node.
func (op *decOp) decode(r *avro.Reader) (any, error) {
	if op.optional {
		idx := r.ReadLong()
		if r.Error != nil {
			return nil, readErr(r)
		}
		if idx == op.nullIdx {
			return nil, nil
		}
		if idx != 1-op.nullIdx {
			return nil, dataErr("", "union index %d out of range for a union of 2 types", idx)
		}
	}
	var v any
	switch op.kind {
	case kInt:
		i := r.ReadInt()
		switch op.conn.Type {
		case connect.Int8:
			v = int8(i)
		case connect.Int16:
			v = int16(i)
		default:
			v = i
		}
	case kLong:
		i := r.ReadLong()
		switch op.conn.Type {
		case connect.Int8:
			v = int8(i)
		case connect.Int16:
			v = int16(i)
		case connect.Int32:
			v = int32(i)
		default:
			v = i
		}
	case kFloat:
		v = r.ReadFloat()
	case kDouble:
		v = r.ReadDouble()
	case kBool:
		v = r.ReadBool()
	case kString:
		v = r.ReadString()
	case kBytes:
		b := r.ReadBytes()
		v = b[:len(b):len(b)] // hamba's slab is shared: no appending into the next value
	case kDecimal:
		b := r.ReadBytes()
		if len(b) <= 8 && len(b) > 0 {
			// Sign-extend a small unscaled value without big.Int's
			// byte parsing.
			x := int64(int8(b[0]))
			for _, c := range b[1:] {
				x = x<<8 | int64(c)
			}
			v = connect.Decimal{Unscaled: big.NewInt(x), Scale: op.scale}
		} else {
			v = connect.DecimalFromBytes(b, op.scale)
		}
	case kDate:
		v = connect.DateFromDays(r.ReadInt())
	case kTimeMillis:
		v = connect.TimeFromMillis(r.ReadInt())
	case kTimestampMillis:
		v = time.UnixMilli(r.ReadLong()).UTC()
	case kMicros:
		v = r.ReadLong()
	case kEnum:
		i := r.ReadInt()
		if r.Error == nil && (i < 0 || int(i) >= len(op.symbols)) {
			return nil, dataErr("", "enum symbol index %d out of range (%d symbols)", i, len(op.symbols))
		}
		if r.Error == nil {
			v = op.symbols[i]
		}
	case kFixed:
		b := make([]byte, op.size)
		r.Read(b)
		v = b
	case kRecord:
		st := connect.NewStructValue(op.conn)
		for i := range op.fields {
			f := &op.fields[i]
			fv, err := f.op.decode(r)
			if err != nil {
				return nil, underPath(err, f.name)
			}
			st.SetAt(i, fv)
		}
		return st, nil
	case kArray:
		out := []any{}
		err := op.blocks(r, func(i int) error {
			e, err := op.elem.decode(r)
			if err != nil {
				return underPath(err, fmt.Sprintf("[%d]", i))
			}
			out = append(out, e)
			return nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	case kMap, kMapEntries:
		out := map[any]any{}
		err := op.blocks(r, func(int) error {
			var k any
			if op.kind == kMap {
				k = r.ReadString()
				if r.Error != nil {
					return dataErr("<key>", "%v", r.Error)
				}
			} else {
				var err error
				if k, err = op.key.decode(r); err != nil {
					return underPath(err, "<key>")
				}
			}
			e, err := op.elem.decode(r)
			if err != nil {
				return underPath(err, fmt.Sprintf("[%v]", k))
			}
			out[k] = e
			return nil
		})
		if err != nil {
			return nil, err
		}
		return out, nil
	case kUnion:
		idx := r.ReadLong()
		if r.Error != nil {
			return nil, readErr(r)
		}
		if idx < 0 || idx >= int64(len(op.branches)) {
			return nil, dataErr("", "union index %d out of range for a union of %d types", idx, len(op.branches))
		}
		b := op.branches[idx]
		if b.op == nil {
			return nil, nil
		}
		bv, err := b.op.decode(r)
		if err != nil {
			return nil, underPath(err, op.conn.Fields[b.field].Name)
		}
		st := connect.NewStructValue(op.conn)
		st.SetAt(b.field, bv)
		return st, nil
	}
	if r.Error != nil {
		return nil, readErr(r)
	}
	return v, nil
}

// blocks reads the blocks of an array or map, calling item for each item.
func (op *decOp) blocks(r *avro.Reader, item func(i int) error) error {
	emptyItems := op.elem.empty && (op.kind != kMapEntries || op.key.empty)
	total := int64(0)
	for {
		n, _ := r.ReadBlockHeader()
		if r.Error != nil {
			return readErr(r)
		}
		if n == 0 {
			return nil
		}
		if n < 0 || (emptyItems && total+n > maxEmptyItems) {
			return dataErr("", "block of %d items", n)
		}
		for range n {
			if err := item(int(total)); err != nil {
				return err
			}
			total++
		}
	}
}
