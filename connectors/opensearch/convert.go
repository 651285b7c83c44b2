package opensearch

import (
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Debezium semantic type names the sink maps to OpenSearch types.
const (
	dbzDate           = "io.debezium.time.Date"
	dbzTimestamp      = "io.debezium.time.Timestamp"
	dbzMicroTimestamp = "io.debezium.time.MicroTimestamp"
	dbzNanoTimestamp  = "io.debezium.time.NanoTimestamp"
	dbzZonedTimestamp = "io.debezium.time.ZonedTimestamp"
	dbzPoint          = "io.debezium.data.geometry.Point"
)

// docID derives the document id from a record key. Primitive keys are
// their decimal or string form. Struct keys (Debezium's primary-key
// structs) and schemaless JSON object keys are flattened: a single field
// gives its value; several fields give their values in schema order (JSON
// objects: sorted by field name) joined by "+", with "\" and "+" inside a
// value escaped as "\\" and "\+", so distinct keys never share an id.
func docID(key any) (string, error) {
	switch k := key.(type) {
	case nil:
		return "", fmt.Errorf("the record key is null; set key.ignore=true or give the records a key")
	case *connect.Struct:
		fields := k.Schema().Fields
		parts := make([]string, 0, len(fields))
		for i, f := range fields {
			p, err := scalarID(k.At(i))
			if err != nil {
				return "", fmt.Errorf("key field %s: %w", f.Name, err)
			}
			parts = append(parts, p)
		}
		return joinID(parts), nil
	case map[string]any:
		names := make([]string, 0, len(k))
		for n := range k {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, 0, len(k))
		for _, n := range names {
			p, err := scalarID(k[n])
			if err != nil {
				return "", fmt.Errorf("key field %s: %w", n, err)
			}
			parts = append(parts, p)
		}
		return joinID(parts), nil
	}
	return scalarID(key)
}

func joinID(parts []string) string {
	if len(parts) == 1 {
		return parts[0]
	}
	r := strings.NewReplacer(`\`, `\\`, `+`, `\+`)
	for i, p := range parts {
		parts[i] = r.Replace(p)
	}
	return strings.Join(parts, "+")
}

func scalarID(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case int8, int16, int32, int64, int, uint8, uint16, uint32, uint64:
		return fmt.Sprint(x), nil
	case float64:
		if x == float64(int64(x)) {
			return strconv.FormatInt(int64(x), 10), nil
		}
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case float32:
		return strconv.FormatFloat(float64(x), 'g', -1, 32), nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	case connect.Decimal:
		return x.String(), nil
	case nil:
		return "", fmt.Errorf("is null")
	}
	return "", fmt.Errorf("type %T cannot be a document id (use a primitive or a struct of primitives)", v)
}

// converter turns Connect values into JSON-encodable documents.
type converter struct {
	compactMap bool
}

func isoMillis(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
func isoMicros(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

func asInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int32:
		return int64(x), true
	case int:
		return int64(x), true
	case float64:
		return int64(x), true
	case json.Number:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}

// value converts v (described by s, which may be nil for schemaless data).
func (c converter) value(s *connect.Schema, v any) (any, error) {
	if v == nil {
		if s != nil && s.Default != nil {
			v = s.Default
		} else {
			return nil, nil
		}
	}
	if s == nil {
		return c.schemaless(v)
	}
	switch s.Name {
	case connect.DecimalName:
		if d, ok := v.(connect.Decimal); ok {
			return json.Number(d.String()), nil
		}
	case connect.DateName:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format("2006-01-02"), nil
		}
	case connect.TimeName:
		if t, ok := v.(time.Time); ok {
			return t.UTC().Format("15:04:05.000"), nil
		}
	case connect.TimestampName:
		if t, ok := v.(time.Time); ok {
			return isoMillis(t), nil
		}
	case dbzDate:
		if n, ok := asInt64(v); ok {
			return time.Unix(n*86400, 0).UTC().Format("2006-01-02"), nil
		}
	case dbzTimestamp:
		if n, ok := asInt64(v); ok {
			return isoMillis(time.UnixMilli(n)), nil
		}
	case dbzMicroTimestamp:
		if n, ok := asInt64(v); ok {
			return isoMicros(time.UnixMicro(n)), nil
		}
	case dbzNanoTimestamp:
		if n, ok := asInt64(v); ok {
			return time.Unix(0, n).UTC().Format(time.RFC3339Nano), nil
		}
	case dbzPoint:
		if st, ok := v.(*connect.Struct); ok {
			x, y := st.Get("x"), st.Get("y")
			if x != nil && y != nil {
				return map[string]any{"lat": y, "lon": x}, nil
			}
			return nil, nil
		}
	}
	switch s.Type {
	case connect.StructT:
		st, ok := v.(*connect.Struct)
		if !ok {
			return c.schemaless(v)
		}
		out := make(map[string]any, len(st.Schema().Fields))
		for i, f := range st.Schema().Fields {
			fv, err := c.value(f.Schema, st.At(i))
			if err != nil {
				return nil, fmt.Errorf("%s.%w", f.Name, err)
			}
			out[f.Name] = fv
		}
		return out, nil
	case connect.Array:
		arr, ok := v.([]any)
		if !ok {
			return c.schemaless(v)
		}
		out := make([]any, len(arr))
		for i, x := range arr {
			var err error
			if out[i], err = c.value(s.Value, x); err != nil {
				return nil, err
			}
		}
		return out, nil
	case connect.Map:
		m, ok := v.(map[any]any)
		if !ok {
			return c.schemaless(v)
		}
		if c.compactMap && s.Key != nil && s.Key.Type == connect.String {
			out := make(map[string]any, len(m))
			for k, x := range m {
				cv, err := c.value(s.Value, x)
				if err != nil {
					return nil, err
				}
				out[fmt.Sprint(k)] = cv
			}
			return out, nil
		}
		keys := make([]any, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		out := make([]any, 0, len(m))
		for _, k := range keys {
			ck, err := c.value(s.Key, k)
			if err != nil {
				return nil, err
			}
			cv, err := c.value(s.Value, m[k])
			if err != nil {
				return nil, err
			}
			out = append(out, map[string]any{"key": ck, "value": cv})
		}
		return out, nil
	}
	return c.schemaless(v)
}

func (c converter) schemaless(v any) (any, error) {
	switch x := v.(type) {
	case nil, string, bool, int8, int16, int32, int64, int, float32, float64, json.Number, []byte:
		if f, ok := x.(float64); ok && (f != f || f > 1.7976931348623157e308 || f < -1.7976931348623157e308) {
			return nil, fmt.Errorf("value %v is not a finite number", f)
		}
		return x, nil
	case *big.Int:
		return json.Number(x.String()), nil
	case connect.Decimal:
		return json.Number(x.String()), nil
	case time.Time:
		return isoMillis(x), nil
	case *connect.Struct:
		return c.value(x.Schema(), x)
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			cv, err := c.schemaless(e)
			if err != nil {
				return nil, err
			}
			out[k] = cv
		}
		return out, nil
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			cv, err := c.schemaless(e)
			if err != nil {
				return nil, err
			}
			out[fmt.Sprint(k)] = cv
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			var err error
			if out[i], err = c.schemaless(e); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("value of Go type %T cannot be written as JSON", v)
}

// mapping derives OpenSearch field mappings from a Connect schema: ints to
// byte/short/integer/long, float/double, boolean, string to text with a
// keyword sub-field, bytes to binary, Decimal to double (the exact digits
// stay in _source), Connect and Debezium dates and timestamps to date,
// Debezium Point to geo_point, structs to objects.
func mapping(s *connect.Schema) map[string]any {
	switch s.Name {
	case connect.DecimalName:
		return map[string]any{"type": "double"}
	case connect.DateName, connect.TimestampName, dbzDate, dbzTimestamp, dbzMicroTimestamp, dbzNanoTimestamp, dbzZonedTimestamp:
		return map[string]any{"type": "date"}
	case connect.TimeName:
		return map[string]any{"type": "keyword"}
	case dbzPoint:
		return map[string]any{"type": "geo_point"}
	}
	switch s.Type {
	case connect.Int8:
		return map[string]any{"type": "byte"}
	case connect.Int16:
		return map[string]any{"type": "short"}
	case connect.Int32:
		return map[string]any{"type": "integer"}
	case connect.Int64:
		return map[string]any{"type": "long"}
	case connect.Float32:
		return map[string]any{"type": "float"}
	case connect.Float64:
		return map[string]any{"type": "double"}
	case connect.Boolean:
		return map[string]any{"type": "boolean"}
	case connect.String:
		return map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}}
	case connect.Bytes:
		return map[string]any{"type": "binary"}
	case connect.Array:
		if s.Value != nil {
			return mapping(s.Value)
		}
	case connect.StructT:
		props := map[string]any{}
		for _, f := range s.Fields {
			props[f.Name] = mapping(f.Schema)
		}
		return map[string]any{"properties": props}
	}
	return map[string]any{"type": "object"}
}

// indexName derives the target index (or data stream) from the topic like
// Aiven's sink: topic.index.map first, then the pattern, lowercased, with
// a leading '-', '_' or '+' removed.
func (s *settings) indexName(topic string) string {
	if ix, ok := s.topicIndex[topic]; ok {
		return ix
	}
	name := topic
	if s.indexPattern != "" {
		name = strings.ReplaceAll(s.indexPattern, "${topic}", topic)
	}
	if s.dataStream && s.dataStreamPrefix != "" {
		name = s.dataStreamPrefix + "-" + name
	}
	name = strings.ToLower(name)
	name = strings.TrimLeft(name, "-_+")
	if name == "." || name == ".." || name == "" {
		name = "dot"
	}
	if len(name) > 255 {
		name = name[:255]
	}
	return name
}

// jsonPointer resolves an RFC 6901 path into a converted document.
func jsonPointer(doc any, path []string) (any, bool) {
	cur := doc
	for _, p := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[p]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, cur != nil
}
