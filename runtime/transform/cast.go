package transform

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
)

// Cast is Cast$Key / Cast$Value: it casts the whole key/value ("spec":
// "int64") or some fields ("spec": "a:int32,b:string") to another primitive
// type: int8, int16, int32, int64, float32, float64, boolean or string.
// Decimal values may be cast to numbers or strings; Date, Time and
// Timestamp values and bytes (base64) to strings.
type Cast struct {
	side        side
	whole       connect.Type // set when the whole value is cast
	fields      map[string]connect.Type
	replaceNull bool
	cache       schemaCache
}

const castName = "Cast"

var castTypes = map[string]connect.Type{
	"int8": connect.Int8, "int16": connect.Int16, "int32": connect.Int32, "int64": connect.Int64,
	"float32": connect.Float32, "float64": connect.Float64, "boolean": connect.Boolean, "string": connect.String,
}

// castOptions is the configuration of Cast.
type castOptions struct {
	whole       connect.Type
	fields      map[string]connect.Type
	replaceNull bool
}

func (o *castOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		reqKey("spec", connect.TypeList, "List of fields and the type to cast them to (field:type,...), or a single type to cast the entire value.", o.parseSpec),
		replaceNullKey(&o.replaceNull),
	}
}

func (o *castOptions) parseSpec(v string) error {
	specs := connect.SplitList(v)
	if len(specs) == 0 {
		return connect.Errorf("spec", "missing required configuration")
	}
	o.whole, o.fields = "", map[string]connect.Type{}
	for _, sp := range specs {
		field, typ, hasField := strings.Cut(sp, ":")
		if !hasField {
			typ, field = field, ""
		}
		ct, ok := castTypes[strings.ToLower(strings.TrimSpace(typ))]
		if !ok {
			return connect.Errorf("spec", "invalid cast type %q in %q (supported: int8, int16, int32, int64, float32, float64, boolean, string)", typ, sp)
		}
		if !hasField {
			if len(specs) != 1 {
				return connect.Errorf("spec", "a whole-value cast %q must be the only entry", sp)
			}
			o.whole = ct
			continue
		}
		o.fields[strings.TrimSpace(field)] = ct
	}
	return nil
}

func (o *castOptions) Check() error { return nil }

func newCast(o *castOptions, s side) *Cast {
	return &Cast{side: s, whole: o.whole, fields: o.fields, replaceNull: o.replaceNull}
}

func castSchema(to connect.Type, orig *connect.Schema) *connect.Schema {
	s := &connect.Schema{Type: to, Optional: orig != nil && orig.Optional}
	if orig != nil && orig.Default != nil {
		if d, err := castValue(orig.Default, to); err == nil {
			s.Default = d
		}
	}
	return s
}

// Apply implements Transformation.
func (t *Cast) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.side.schema(r), t.side.value(r)
	if t.whole != "" {
		if v == nil {
			if s == nil {
				return r, nil
			}
			return t.side.with(r, castSchema(t.whole, s), nil), nil
		}
		nv, err := castValue(v, t.whole)
		if err != nil {
			return nil, err
		}
		if s == nil {
			return t.side.with(r, nil, nv), nil
		}
		ns, _ := t.cache.get(s, func(in *connect.Schema) (*connect.Schema, error) { return castSchema(t.whole, in), nil })
		return t.side.with(r, ns, nv), nil
	}
	if v == nil {
		return r, nil
	}
	if s == nil {
		m, err := requireMap(castName, t.side, v)
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		for f, to := range t.fields {
			if x, ok := out[f]; ok && x != nil {
				if out[f], err = castValue(x, to); err != nil {
					return nil, fmt.Errorf("field %q: %w", f, err)
				}
			}
		}
		return t.side.with(r, nil, out), nil
	}
	st, err := requireStruct(castName, t.side, v)
	if err != nil {
		return nil, err
	}
	ns, err := t.cache.get(st.Schema(), func(in *connect.Schema) (*connect.Schema, error) {
		out := copySchemaBasics(in)
		for _, f := range in.Fields {
			if to, ok := t.fields[f.Name]; ok {
				if !f.Schema.Type.IsPrimitive() {
					return nil, dataErr(castName, "field %q of type %s cannot be cast", f.Name, f.Schema.Type)
				}
				addField(out, f.Name, castSchema(to, f.Schema))
			} else {
				addField(out, f.Name, f.Schema)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	out := connect.NewStructValue(ns)
	for i, f := range st.Schema().Fields {
		x := fieldValue(st, i, f, t.replaceNull)
		if to, ok := t.fields[f.Name]; ok && x != nil {
			if x, err = castValue(x, to); err != nil {
				return nil, fmt.Errorf("field %q: %w", f.Name, err)
			}
		}
		out.SetAt(i, x)
	}
	return t.side.with(r, ns, out), nil
}

// castValue converts a primitive value to the Go representation of type to.
func castValue(v any, to connect.Type) (any, error) {
	if to == connect.String {
		switch x := v.(type) {
		case string:
			return x, nil
		case []byte:
			return base64.StdEncoding.EncodeToString(x), nil
		case time.Time:
			return x.UTC().Format("2006-01-02T15:04:05.000Z"), nil
		case connect.Decimal:
			return x.String(), nil
		case float32:
			return convert.FormatJavaFloat(float64(x), 32), nil
		case float64:
			return convert.FormatJavaFloat(x, 64), nil
		case bool, int8, int16, int32, int64, int:
			return fmt.Sprint(x), nil
		}
		return nil, dataErr(castName, "cannot cast value of type %T to string", v)
	}
	var f float64
	var i int64
	isInt := false
	switch x := v.(type) {
	case bool:
		if x {
			i = 1
		}
		isInt = true
	case int8:
		i, isInt = int64(x), true
	case int16:
		i, isInt = int64(x), true
	case int32:
		i, isInt = int64(x), true
	case int64:
		i, isInt = x, true
	case int:
		i, isInt = int64(x), true
	case float32:
		f = float64(x)
	case float64:
		f = x
	case connect.Decimal:
		f = x.Float64()
		if to != connect.Float32 && to != connect.Float64 && to != connect.Boolean {
			q, ok := decimalInt64(x)
			if !ok {
				return nil, dataErr(castName, "decimal %s does not fit int64", x)
			}
			i, isInt = q, true
		}
	case string:
		s := strings.TrimSpace(x)
		if to == connect.Boolean {
			b, err := strconv.ParseBool(s)
			if err != nil {
				return nil, dataErr(castName, "cannot cast %q to boolean", x)
			}
			return b, nil
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil {
			i, isInt = n, true
		} else if fl, err := strconv.ParseFloat(s, 64); err == nil {
			f = fl
		} else {
			return nil, dataErr(castName, "cannot cast %q to %s", x, to)
		}
	default:
		return nil, dataErr(castName, "cannot cast value of type %T to %s", v, to)
	}
	if isInt {
		f = float64(i)
	} else if to != connect.Float32 && to != connect.Float64 && to != connect.Boolean {
		if math.IsNaN(f) || f > math.MaxInt64 || f < math.MinInt64 {
			return nil, dataErr(castName, "value %v does not fit %s", f, to)
		}
		i = int64(f) // truncation, like Java's narrowing conversion
	}
	switch to {
	case connect.Int8:
		return int8(i), nil
	case connect.Int16:
		return int16(i), nil
	case connect.Int32:
		return int32(i), nil
	case connect.Int64:
		return i, nil
	case connect.Float32:
		return float32(f), nil
	case connect.Float64:
		return f, nil
	case connect.Boolean:
		if isInt {
			return i != 0, nil
		}
		return f != 0, nil
	}
	return nil, dataErr(castName, "unsupported cast target %s", to)
}

// decimalInt64 truncates a Decimal toward zero to an int64.
func decimalInt64(d connect.Decimal) (int64, bool) {
	s := d.String()
	if i := strings.IndexByte(s, '.'); i >= 0 {
		s = s[:i]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
