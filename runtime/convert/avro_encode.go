package convert

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Writing goes through an encoding plan compiled once per schema: a tree
// of encOps that walks the Connect value and writes it with hamba/avro's
// Writer primitives, so a record costs no reflection and no allocation
// beyond the output slice. The bytes are those hamba's own encoders write
// for the same datum (TestAvroPlanMatchesHamba).

// avroBlockLength is the number of items per array or map block, as
// hamba/avro's encoders write them (its default BlockLength).
const avroBlockLength = 100

// errNoPlan reports an Avro schema the plan compiler does not cover (a
// registered schema that differs from the one the Connect schema maps
// to, with use.latest.version): such schemas use the reflection path.
var errNoPlan = errors.New("avro: schema not covered by the encoding plan")

// encOp writes the Connect value of one node.
type encOp struct {
	kind     kind
	conn     *connect.Schema // for the default and for errors
	optional bool            // a union of null and the value
	nullIdx  int64           // union index of null
	valIdx   int64           // union index of the value
	scale    int32
	fields   []encField
	elem     *encOp // array elements, map values, MapEntry value
	key      *encOp // MapEntry key
}

type encField struct {
	name string
	op   *encOp
}

// compileEnc builds the plan for node n writing Avro schema s, checking
// that s is the schema n maps to.
func compileEnc(n *avroNode, s avro.Schema) (*encOp, error) {
	s = derefSchema(s)
	op := &encOp{kind: n.kind, conn: n.connect, scale: n.scale}
	if n.optional {
		u, ok := s.(*avro.UnionSchema)
		if !ok || len(u.Types()) != 2 {
			return nil, errNoPlan
		}
		op.optional = true
		switch {
		case u.Types()[0].Type() == avro.Null && u.Types()[1].Type() != avro.Null:
			op.nullIdx, op.valIdx, s = 0, 1, derefSchema(u.Types()[1])
		case u.Types()[1].Type() == avro.Null && u.Types()[0].Type() != avro.Null:
			op.nullIdx, op.valIdx, s = 1, 0, derefSchema(u.Types()[0])
		default:
			return nil, errNoPlan
		}
	}
	prim := func(t avro.Type, lt avro.LogicalType) error {
		p, ok := s.(*avro.PrimitiveSchema)
		if !ok || p.Type() != t {
			return errNoPlan
		}
		var got avro.LogicalType
		if p.Logical() != nil {
			got = p.Logical().Type()
		}
		if got != lt {
			return errNoPlan
		}
		return nil
	}
	var err error
	switch n.kind {
	case kInt:
		err = prim(avro.Int, "")
	case kLong:
		err = prim(avro.Long, "")
	case kFloat:
		err = prim(avro.Float, "")
	case kDouble:
		err = prim(avro.Double, "")
	case kBool:
		err = prim(avro.Boolean, "")
	case kString:
		err = prim(avro.String, "")
	case kBytes:
		err = prim(avro.Bytes, "")
	case kDecimal:
		// hamba/avro parses a decimal whose scale exceeds its precision as
		// plain bytes; the unscaled bytes are written the same way.
		if err = prim(avro.Bytes, avro.Decimal); err != nil {
			err = prim(avro.Bytes, "")
		}
	case kDate:
		err = prim(avro.Int, avro.Date)
	case kTimeMillis:
		err = prim(avro.Int, avro.TimeMillis)
	case kTimestampMillis:
		err = prim(avro.Long, avro.TimestampMillis)
	case kRecord:
		rs, ok := s.(*avro.RecordSchema)
		if !ok || len(rs.Fields()) != len(n.fields) {
			return nil, errNoPlan
		}
		op.fields = make([]encField, len(n.fields))
		for i, f := range n.fields {
			af := rs.Fields()[i]
			if af.Name() != f.name {
				return nil, errNoPlan
			}
			fop, err := compileEnc(f.node, af.Type())
			if err != nil {
				return nil, err
			}
			op.fields[i] = encField{name: f.name, op: fop}
		}
	case kArray:
		as, ok := s.(*avro.ArraySchema)
		if !ok {
			return nil, errNoPlan
		}
		op.elem, err = compileEnc(n.elem, as.Items())
	case kMap:
		ms, ok := s.(*avro.MapSchema)
		if !ok {
			return nil, errNoPlan
		}
		op.elem, err = compileEnc(n.elem, ms.Values())
	case kMapEntries:
		as, ok := s.(*avro.ArraySchema)
		if !ok {
			return nil, errNoPlan
		}
		rs, ok := derefSchema(as.Items()).(*avro.RecordSchema)
		if !ok || len(rs.Fields()) != 2 || rs.Fields()[0].Name() != "key" || rs.Fields()[1].Name() != "value" {
			return nil, errNoPlan
		}
		if op.key, err = compileEnc(n.key, rs.Fields()[0].Type()); err != nil {
			return nil, err
		}
		op.elem, err = compileEnc(n.elem, rs.Fields()[1].Type())
	default:
		return nil, errNoPlan
	}
	if err != nil {
		return nil, err
	}
	return op, nil
}

// encode writes Connect value v. Errors are *DataError naming the path
// below this node.
func (op *encOp) encode(w *avro.Writer, v any) error {
	if v == nil {
		switch {
		case op.conn != nil && op.conn.Default != nil:
			v = op.conn.Default
		case op.optional:
			w.WriteLong(op.nullIdx)
			return nil
		default:
			return dataErr("", "null value for required %v", op.conn)
		}
	}
	if op.optional {
		w.WriteLong(op.valIdx)
	}
	switch op.kind {
	case kInt:
		switch x := v.(type) {
		case int32:
			w.WriteInt(x)
			return nil
		case int16:
			w.WriteInt(int32(x))
			return nil
		case int8:
			w.WriteInt(int32(x))
			return nil
		}
	case kLong:
		if x, ok := v.(int64); ok {
			w.WriteLong(x)
			return nil
		}
	case kFloat:
		if x, ok := v.(float32); ok {
			w.WriteFloat(x)
			return nil
		}
	case kDouble:
		if x, ok := v.(float64); ok {
			w.WriteDouble(x)
			return nil
		}
	case kBool:
		if x, ok := v.(bool); ok {
			w.WriteBool(x)
			return nil
		}
	case kString:
		if x, ok := v.(string); ok {
			w.WriteString(x)
			return nil
		}
	case kBytes:
		if x, ok := v.([]byte); ok {
			w.WriteBytes(x)
			return nil
		}
	case kDecimal:
		if d, ok := v.(connect.Decimal); ok {
			if d.Unscaled == nil {
				return dataErr("", "decimal without unscaled value")
			}
			if d.Scale != op.scale {
				return dataErr("", "decimal scale %d does not match schema scale %d", d.Scale, op.scale)
			}
			if d.Unscaled.IsInt64() {
				var b [8]byte
				w.WriteBytes(twosComplement64(&b, d.Unscaled.Int64()))
			} else {
				w.WriteBytes(d.UnscaledBytes())
			}
			return nil
		}
	case kDate:
		if t, ok := v.(time.Time); ok {
			// As hamba/avro writes a time.Time as date.
			w.WriteInt(int32(t.Unix() / 86400))
			return nil
		}
	case kTimestampMillis:
		if t, ok := v.(time.Time); ok {
			// As hamba/avro writes a time.Time as timestamp-millis.
			w.WriteLong(t.Unix()*1e3 + int64(t.Nanosecond()/1e6))
			return nil
		}
	case kTimeMillis:
		if t, ok := v.(time.Time); ok {
			w.WriteInt(connect.MillisOfDay(t))
			return nil
		}
	case kRecord:
		if st, ok := v.(*connect.Struct); ok {
			if len(st.Schema().Fields) != len(op.fields) {
				return dataErr("", "struct value of %v has %d fields, schema %v has %d", st.Schema(), len(st.Schema().Fields), op.conn, len(op.fields))
			}
			for i := range op.fields {
				f := &op.fields[i]
				if err := f.op.encode(w, st.At(i)); err != nil {
					return underPath(err, f.name)
				}
			}
			return nil
		}
	case kArray:
		if arr, ok := v.([]any); ok {
			return op.encodeArray(w, arr)
		}
	case kMap, kMapEntries:
		if m, ok := v.(map[any]any); ok {
			return op.encodeMap(w, m)
		}
	}
	return dataErr("", "value of Go type %T does not match schema %v", v, op.conn)
}

// encodeArray writes arr in blocks of avroBlockLength items, each with
// its byte size, then the end block, as hamba/avro writes slices.
func (op *encOp) encodeArray(w *avro.Writer, arr []any) error {
	var err error
	for i := 0; i < len(arr) && err == nil; i += avroBlockLength {
		w.WriteBlockCB(func(w *avro.Writer) int64 {
			end := min(i+avroBlockLength, len(arr))
			for j := i; j < end; j++ {
				if err = op.elem.encode(w, arr[j]); err != nil {
					err = underPath(err, fmt.Sprintf("[%d]", j))
					return int64(j - i)
				}
			}
			return int64(end - i)
		})
	}
	if err != nil {
		return err
	}
	w.WriteBlockHeader(0, 0)
	return nil
}

// encodeMap writes m as an Avro map (string keys) or as an array of
// MapEntry records, in blocks as hamba/avro writes maps.
func (op *encOp) encodeMap(w *avro.Writer, m map[any]any) error {
	if len(m) == 0 {
		w.WriteBlockHeader(0, 0)
		return nil
	}
	var err error
	entry := func(w *avro.Writer, k, e any) {
		if op.kind == kMap {
			ks, isStr := k.(string)
			if !isStr {
				err = dataErr("", "map key of Go type %T, want string", k)
				return
			}
			w.WriteString(ks)
			if err = op.elem.encode(w, e); err != nil {
				err = underPath(err, "["+ks+"]")
			}
			return
		}
		if err = op.key.encode(w, k); err != nil {
			err = underPath(err, "<key>")
			return
		}
		if err = op.elem.encode(w, e); err != nil {
			err = underPath(err, fmt.Sprintf("[%v]", k))
		}
	}
	if len(m) <= avroBlockLength {
		w.WriteBlockCB(func(w *avro.Writer) int64 {
			n := int64(0)
			for k, e := range m {
				if entry(w, k, e); err != nil {
					return n
				}
				n++
			}
			return n
		})
	} else {
		keys := make([]any, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		for i := 0; i < len(keys) && err == nil; i += avroBlockLength {
			w.WriteBlockCB(func(w *avro.Writer) int64 {
				end := min(i+avroBlockLength, len(keys))
				for j := i; j < end; j++ {
					if entry(w, keys[j], m[keys[j]]); err != nil {
						return int64(j - i)
					}
				}
				return int64(end - i)
			})
		}
	}
	if err != nil {
		return err
	}
	w.WriteBlockHeader(0, 0)
	return nil
}

// twosComplement64 is connect.TwosComplement for a value that fits in an
// int64, written into b: the big-endian bytes without the leading bytes
// that only repeat the sign.
func twosComplement64(b *[8]byte, x int64) []byte {
	binary.BigEndian.PutUint64(b[:], uint64(x))
	i := 0
	for i < 7 && ((b[i] == 0 && b[i+1]&0x80 == 0) || (b[i] == 0xff && b[i+1]&0x80 != 0)) {
		i++
	}
	return b[i:]
}
