package convert

import (
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// The reflection path, for registered schemas the encoding plan
// (avro_encode.go) does not cover: Go values of a struct type built for
// the schema (reflect.StructOf, fields tagged with their Avro names),
// encoded by hamba/avro's struct encoder, which matches fields by name and
// writes defaults for fields the value lacks. Optional values are pointers
// (nil is the union's null branch).

var (
	timeType     = reflect.TypeFor[time.Time]()
	durationType = reflect.TypeFor[time.Duration]()
	bytesType    = reflect.TypeFor[[]byte]()
)

// goType returns the Go type hamba encodes for the node, without the
// optional pointer.
func (n *avroNode) goType() reflect.Type {
	if n.typ != nil {
		return n.typ
	}
	switch n.kind {
	case kInt:
		n.typ = reflect.TypeFor[int32]()
	case kLong:
		n.typ = reflect.TypeFor[int64]()
	case kFloat:
		n.typ = reflect.TypeFor[float32]()
	case kDouble:
		n.typ = reflect.TypeFor[float64]()
	case kBool:
		n.typ = reflect.TypeFor[bool]()
	case kString:
		n.typ = reflect.TypeFor[string]()
	case kBytes:
		n.typ = bytesType
	case kDecimal:
		// The unscaled two's-complement bytes, as Confluent writes them;
		// hamba writes []byte as plain bytes whatever the logical type.
		n.typ = bytesType
	case kDate, kTimestampMillis:
		n.typ = timeType
	case kTimeMillis:
		n.typ = durationType
	case kRecord:
		fields := make([]reflect.StructField, len(n.fields))
		for i, f := range n.fields {
			fields[i] = reflect.StructField{Name: "F" + strconv.Itoa(i), Type: f.node.fieldType(), Tag: reflect.StructTag(`avro:"` + f.name + `"`)}
		}
		n.typ = reflect.StructOf(fields)
	case kArray:
		n.typ = reflect.SliceOf(n.elem.fieldType())
	case kMap:
		n.typ = reflect.MapOf(reflect.TypeFor[string](), n.elem.fieldType())
	case kMapEntries:
		n.typ = reflect.SliceOf(reflect.StructOf([]reflect.StructField{
			{Name: "K", Type: n.key.fieldType(), Tag: `avro:"key"`},
			{Name: "V", Type: n.elem.fieldType(), Tag: `avro:"value"`},
		}))
	default:
		panic(fmt.Sprintf("convert: no Go type for Avro node kind %d", n.kind))
	}
	return n.typ
}

// fieldType is goType, as a pointer when the node is optional.
func (n *avroNode) fieldType() reflect.Type {
	if n.optional {
		return reflect.PointerTo(n.goType())
	}
	return n.goType()
}

// fill stores Connect value v into dst (of fieldType).
func (n *avroNode) fill(dst reflect.Value, v any) error {
	const path = ""
	if v == nil {
		if n.connect != nil && n.connect.Default != nil {
			v = n.connect.Default
		} else if n.optional {
			return nil // nil pointer: null
		} else {
			return dataErr(path, "null value for required %v", n.connect)
		}
	}
	if n.optional {
		p := reflect.New(n.goType())
		dst.Set(p)
		dst = p.Elem()
	}
	ok := false
	switch n.kind {
	case kInt:
		switch x := v.(type) {
		case int8:
			dst.SetInt(int64(x))
			ok = true
		case int16:
			dst.SetInt(int64(x))
			ok = true
		case int32:
			dst.SetInt(int64(x))
			ok = true
		}
	case kLong:
		var x int64
		if x, ok = v.(int64); ok {
			dst.SetInt(x)
		}
	case kFloat:
		var x float32
		if x, ok = v.(float32); ok {
			dst.SetFloat(float64(x))
		}
	case kDouble:
		var x float64
		if x, ok = v.(float64); ok {
			dst.SetFloat(x)
		}
	case kBool:
		var x bool
		if x, ok = v.(bool); ok {
			dst.SetBool(x)
		}
	case kString:
		var x string
		if x, ok = v.(string); ok {
			dst.SetString(x)
		}
	case kBytes:
		var x []byte
		if x, ok = v.([]byte); ok {
			if x == nil {
				x = []byte{}
			}
			dst.SetBytes(x)
		}
	case kDecimal:
		var d connect.Decimal
		if d, ok = v.(connect.Decimal); ok {
			if d.Unscaled == nil {
				return dataErr(path, "decimal without unscaled value")
			}
			if d.Scale != n.scale {
				return dataErr(path, "decimal scale %d does not match schema scale %d", d.Scale, n.scale)
			}
			dst.SetBytes(d.UnscaledBytes())
		}
	case kDate, kTimestampMillis:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			dst.Set(reflect.ValueOf(t))
		}
	case kTimeMillis:
		var t time.Time
		if t, ok = v.(time.Time); ok {
			dst.SetInt(int64(time.Duration(connect.MillisOfDay(t)) * time.Millisecond))
		}
	case kRecord:
		var st *connect.Struct
		if st, ok = v.(*connect.Struct); ok {
			if len(st.Schema().Fields) != len(n.fields) {
				return dataErr(path, "struct value of %v has %d fields, schema %v has %d", st.Schema(), len(st.Schema().Fields), n.connect, len(n.fields))
			}
			for i, f := range n.fields {
				if err := f.node.fill(dst.Field(i), st.At(i)); err != nil {
					return underPath(err, f.name)
				}
			}
		}
	case kArray:
		var arr []any
		if arr, ok = v.([]any); ok {
			s := reflect.MakeSlice(dst.Type(), len(arr), len(arr))
			for i, e := range arr {
				if err := n.elem.fill(s.Index(i), e); err != nil {
					return underPath(err, fmt.Sprintf("[%d]", i))
				}
			}
			dst.Set(s)
		}
	case kMap:
		var m map[any]any
		if m, ok = v.(map[any]any); ok {
			out := reflect.MakeMapWithSize(dst.Type(), len(m))
			ev := reflect.New(dst.Type().Elem()).Elem()
			for k, e := range m {
				ks, isStr := k.(string)
				if !isStr {
					return dataErr(path, "map key of Go type %T, want string", k)
				}
				ev.SetZero()
				if err := n.elem.fill(ev, e); err != nil {
					return underPath(err, "["+ks+"]")
				}
				out.SetMapIndex(reflect.ValueOf(ks), ev)
			}
			dst.Set(out)
		}
	case kMapEntries:
		var m map[any]any
		if m, ok = v.(map[any]any); ok {
			s := reflect.MakeSlice(dst.Type(), 0, len(m))
			entry := reflect.New(dst.Type().Elem()).Elem()
			for k, e := range m {
				entry.SetZero()
				if err := n.key.fill(entry.Field(0), k); err != nil {
					return underPath(err, "<key>")
				}
				if err := n.elem.fill(entry.Field(1), e); err != nil {
					return underPath(err, fmt.Sprintf("[%v]", k))
				}
				s = reflect.Append(s, entry)
			}
			dst.Set(s)
		}
	}
	if !ok {
		return dataErr(path, "value of Go type %T does not match schema %v", v, n.connect)
	}
	return nil
}

// underPath prefixes the path of a *DataError with name (a field, or an
// index such as "[2]"), building paths only when there is an error.
func underPath(err error, name string) error {
	de, ok := err.(*DataError)
	if !ok {
		return err
	}
	p := name
	if de.Path != "" {
		if de.Path[0] == '[' || de.Path[0] == '<' {
			p += de.Path
		} else {
			p += "." + de.Path
		}
	}
	return &DataError{Path: p, Msg: de.Msg}
}
