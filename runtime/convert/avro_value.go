package convert

import (
	"fmt"
	"math"
	"math/big"
	"reflect"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// fromAvro converts a value decoded by hamba to the node's Connect value.
func (n *avroNode) fromAvro(v any, path string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if n.optional && n.kind != kUnion && n.wrapped() {
		// hamba gives complex union branches as {branch name: value}.
		if m, ok := v.(map[string]any); ok && len(m) == 1 {
			if inner, ok := m[n.branch]; ok {
				v = inner
			}
		}
		if v == nil {
			return nil, nil
		}
	}
	switch n.kind {
	case kInt, kLong:
		i, ok := toInt64(v)
		if !ok {
			break
		}
		switch n.connect.Type {
		case connect.Int8:
			return int8(i), nil
		case connect.Int16:
			return int16(i), nil
		case connect.Int32:
			return int32(i), nil
		}
		return i, nil
	case kFloat:
		switch x := v.(type) {
		case float32:
			return x, nil
		case float64:
			return float32(x), nil
		}
	case kDouble:
		switch x := v.(type) {
		case float64:
			return x, nil
		case float32:
			return float64(x), nil
		}
	case kBool:
		if x, ok := v.(bool); ok {
			return x, nil
		}
	case kString, kEnum:
		if x, ok := v.(string); ok {
			return x, nil
		}
	case kBytes:
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	case kFixed:
		rv := reflect.ValueOf(v)
		if rv.Kind() == reflect.Array {
			b := make([]byte, rv.Len())
			reflect.Copy(reflect.ValueOf(b), rv)
			return b, nil
		}
		if b, ok := v.([]byte); ok {
			return b, nil
		}
	case kDecimal:
		switch x := v.(type) {
		case *big.Rat:
			u := new(big.Int).Mul(x.Num(), pow10(n.scale))
			u.Quo(u, x.Denom())
			return connect.Decimal{Unscaled: u, Scale: n.scale}, nil
		case []byte:
			return connect.DecimalFromBytes(x, n.scale), nil
		}
	case kDate, kTimestampMillis:
		switch x := v.(type) {
		case time.Time:
			return x.UTC(), nil
		default:
			if i, ok := toInt64(v); ok {
				if n.kind == kDate {
					return connect.DateFromDays(int32(i)), nil
				}
				return time.UnixMilli(i).UTC(), nil
			}
		}
	case kTimeMillis:
		switch x := v.(type) {
		case time.Duration:
			return connect.TimeFromMillis(int32(x / time.Millisecond)), nil
		default:
			if i, ok := toInt64(v); ok {
				return connect.TimeFromMillis(int32(i)), nil
			}
		}
	case kMicros:
		switch x := v.(type) {
		case time.Time:
			return x.UnixMicro(), nil
		case time.Duration:
			return x.Microseconds(), nil
		default:
			if i, ok := toInt64(v); ok {
				return i, nil
			}
		}
	case kRecord:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		st := connect.NewStructValue(n.connect)
		for i, f := range n.fields {
			fv, err := f.node.fromAvro(m[f.name], joinPath(path, f.name))
			if err != nil {
				return nil, err
			}
			st.SetAt(i, fv)
		}
		return st, nil
	case kArray:
		arr, ok := v.([]any)
		if !ok {
			break
		}
		out := make([]any, len(arr))
		for i, e := range arr {
			ev, err := n.elem.fromAvro(e, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = ev
		}
		return out, nil
	case kMap:
		m, ok := v.(map[string]any)
		if !ok {
			break
		}
		out := make(map[any]any, len(m))
		for k, e := range m {
			ev, err := n.elem.fromAvro(e, fmt.Sprintf("%s[%s]", path, k))
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	case kMapEntries:
		arr, ok := v.([]any)
		if !ok {
			break
		}
		out := make(map[any]any, len(arr))
		for _, e := range arr {
			em, ok := e.(map[string]any)
			if !ok {
				return nil, dataErr(path, "map entry of Go type %T", e)
			}
			k, err := n.key.fromAvro(em["key"], path+"<key>")
			if err != nil {
				return nil, err
			}
			ev, err := n.elem.fromAvro(em["value"], fmt.Sprintf("%s[%v]", path, k))
			if err != nil {
				return nil, err
			}
			out[k] = ev
		}
		return out, nil
	case kUnion:
		st := connect.NewStructValue(n.connect)
		m, isMap := v.(map[string]any)
		for i, b := range n.branches {
			inner := *b.node
			inner.optional = false
			// hamba gives a branch as {branch name: value}, or bare when its
			// type resolver knows the Go type.
			bv := v
			if isMap && len(m) == 1 {
				if wv, ok := m[b.name]; ok {
					bv = wv
				} else if inner.wrapped() {
					continue
				}
			} else if inner.wrapped() {
				continue
			}
			fv, err := inner.fromAvro(bv, joinPath(path, n.connect.Fields[i].Name))
			if err != nil {
				continue
			}
			st.SetAt(i, fv)
			return st, nil
		}
		return nil, dataErr(path, "Avro union value of Go type %T matches no branch of %v", v, n.connect)
	}
	return nil, dataErr(path, "Avro value of Go type %T does not match %v", v, n.connect)
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case float64:
		if x == math.Trunc(x) {
			return int64(x), true
		}
	}
	return 0, false
}

// wrapped reports whether hamba decodes this node, as a union branch, as
// a single-entry map: types its type resolver does not know (records,
// arrays, maps, enums, fixed).
func (n *avroNode) wrapped() bool {
	switch n.kind {
	case kRecord, kArray, kMap, kMapEntries, kEnum, kFixed, kUnion:
		return true
	}
	return false
}
