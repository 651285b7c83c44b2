package convert

import (
	"encoding/base64"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// ToConnect parses data. With schemas.enable=true data must be an envelope
// with exactly the members "schema" and "payload"; the payload is typed by
// the schema (int32 vs int64, struct fields by name, logical types
// decoded). Otherwise (or with a null schema) the result is schemaless.
// Nil or empty data yields (nil, nil, nil).
func (j *JSON) ToConnect(_ string, data []byte) (*connect.Schema, any, error) {
	return j.toConnect(data, true)
}

// toConnect is ToConnect; fast=false skips the fast path (jsonfast.go), for
// tests that compare the two.
func (j *JSON) toConnect(data []byte, fast bool) (_ *connect.Schema, _ any, err error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	defer recoverData(&err)
	if !j.schemasEnabled {
		root, err := parseJSON(data)
		if err != nil {
			return nil, nil, err
		}
		return nil, j.schemaless(root), nil
	}
	if fast {
		if s, v, ok := j.fastEnvelope(data); ok {
			return s, v, nil
		}
	}
	schemaRaw, payload, err := j.envelope(data)
	if err != nil {
		return nil, nil, err
	}
	var schema *connect.Schema
	if string(schemaRaw) != "null" {
		if cached, ok := j.cachedSchema(schemaRaw); ok {
			schema = cached
		} else {
			node, err := parseJSON(schemaRaw)
			if err != nil {
				return nil, nil, err
			}
			if schema, err = j.toSchema(node, "schema"); err != nil {
				return nil, nil, err
			}
			j.cacheSchema(string(schemaRaw), schema)
			j.rememberSchema(schemaRaw, schema)
		}
	}
	if schema == nil {
		return nil, j.schemaless(payload), nil
	}
	v, err := j.toValue(schema, payload)
	if err != nil {
		return nil, nil, err
	}
	return schema, v, nil
}

var errEnvelope = dataErr("", "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields;"+
	" to read plain JSON set schemas.enable=false in the converter configuration")

// envelope splits {"schema":...,"payload":...} into the raw schema text
// (not parsed, so a cached schema costs nothing) and the parsed payload.
func (j *JSON) envelope(data []byte) (schemaRaw []byte, payload any, err error) {
	p := &parser{data: data}
	p.skipSpace()
	if p.pos >= len(data) || data[p.pos] != '{' {
		if _, err := parseJSON(data); err != nil {
			return nil, nil, err
		}
		return nil, nil, errEnvelope
	}
	p.pos++
	var haveSchema, havePayload bool
	n := 0
	p.skipSpace()
	if p.pos < len(data) && data[p.pos] == '}' {
		return nil, nil, errEnvelope
	}
	for {
		p.skipSpace()
		if p.pos >= len(data) || data[p.pos] != '"' {
			return nil, nil, p.errf("expected object member name, found %s", p.describe())
		}
		k, err := p.str()
		if err != nil {
			return nil, nil, err
		}
		p.skipSpace()
		if p.pos >= len(data) || data[p.pos] != ':' {
			return nil, nil, p.errf("expected ':' after member name %q, found %s", k, p.describe())
		}
		p.pos++
		p.skipSpace()
		n++
		switch k {
		case "schema":
			start := p.pos
			if err := p.skip(); err != nil {
				return nil, nil, err
			}
			schemaRaw, haveSchema = data[start:p.pos], true
		case "payload":
			if payload, err = p.value(); err != nil {
				return nil, nil, err
			}
			havePayload = true
		default:
			if err := p.skip(); err != nil {
				return nil, nil, err
			}
		}
		p.skipSpace()
		if p.pos >= len(data) {
			return nil, nil, p.errf("unterminated object")
		}
		if data[p.pos] == ',' {
			p.pos++
			continue
		}
		if data[p.pos] != '}' {
			return nil, nil, p.errf("expected ',' or '}' in object, found %s", p.describe())
		}
		p.pos++
		break
	}
	p.skipSpace()
	if p.pos != len(data) {
		return nil, nil, p.errf("unexpected %s after top-level value", p.describe())
	}
	if n != 2 || !haveSchema || !havePayload {
		return nil, nil, errEnvelope
	}
	return schemaRaw, payload, nil
}

// ParseSchema parses the JSON form of a schema (the envelope's "schema"
// member); "null" yields a nil schema.
func (j *JSON) ParseSchema(data []byte) (*connect.Schema, error) {
	root, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, nil
	}
	return j.toSchema(root, "schema")
}

// toSchema converts a JSON schema node. path names the node for errors
// ("schema", "schema.fields[2]").
func (j *JSON) toSchema(node any, path string) (*connect.Schema, error) {
	obj, ok := node.(*jsonObject)
	if !ok {
		return nil, dataErr(path, "schema must be a JSON object, got %s", jsonKind(node))
	}
	tn, _ := obj.get("type")
	typ, ok := tn.(string)
	if !ok {
		return nil, dataErr(path, "schema must contain a string 'type' member")
	}
	s := &connect.Schema{Type: connect.Type(typ)}
	var err error
	switch s.Type {
	case connect.Int8, connect.Int16, connect.Int32, connect.Int64, connect.Float32, connect.Float64,
		connect.Boolean, connect.String, connect.Bytes:
	case connect.Array:
		items, _ := obj.get("items")
		if items == nil {
			return nil, dataErr(path, "array schema did not specify the element type (\"items\")")
		}
		if s.Value, err = j.toSchema(items, path+".items"); err != nil {
			return nil, err
		}
	case connect.Map:
		keys, _ := obj.get("keys")
		if keys == nil {
			return nil, dataErr(path, "map schema did not specify the key type (\"keys\")")
		}
		values, _ := obj.get("values")
		if values == nil {
			return nil, dataErr(path, "map schema did not specify the value type (\"values\")")
		}
		if s.Key, err = j.toSchema(keys, path+".keys"); err != nil {
			return nil, err
		}
		if s.Value, err = j.toSchema(values, path+".values"); err != nil {
			return nil, err
		}
	case connect.StructT:
		fn, _ := obj.get("fields")
		fields, ok := fn.([]any)
		if !ok {
			return nil, dataErr(path, "struct schema's \"fields\" member is not an array")
		}
		s.Fields = make([]connect.Field, 0, len(fields))
		for i, f := range fields {
			fpath := path + ".fields[" + strconv.Itoa(i) + "]"
			fo, ok := f.(*jsonObject)
			if !ok {
				return nil, dataErr(fpath, "struct field schema must be a JSON object, got %s", jsonKind(f))
			}
			nameNode, _ := fo.get("field")
			name, ok := nameNode.(string)
			if !ok {
				return nil, dataErr(fpath, "struct field name (\"field\") not specified properly")
			}
			if s.Field(name) != nil {
				return nil, dataErr(fpath, "duplicate struct field name %q", name)
			}
			fs, err := j.toSchema(fo, fpath)
			if err != nil {
				return nil, err
			}
			s.Fields = append(s.Fields, connect.Field{Name: name, Index: len(s.Fields), Schema: fs})
		}
	default:
		return nil, dataErr(path, "unknown schema type %q", typ)
	}
	if b, ok := func() (bool, bool) { v, _ := obj.get("optional"); b, ok := v.(bool); return b, ok }(); ok {
		s.Optional = b
	}
	if v, _ := obj.get("name"); v != nil {
		if n, ok := v.(string); ok {
			s.Name = n
		}
	}
	if v, _ := obj.get("version"); v != nil {
		if n, ok := v.(jsonNumber); ok && n.integral() {
			ver, err := strconv.ParseInt(string(n), 10, 32)
			if err != nil {
				return nil, dataErr(path+".version", "version %s out of int32 range", n)
			}
			s.Version = int32(ver)
		}
	}
	if v, _ := obj.get("doc"); v != nil {
		if d, ok := v.(string); ok {
			s.Doc = d
		}
	}
	if v, _ := obj.get("parameters"); v != nil {
		if po, ok := v.(*jsonObject); ok && len(po.members) > 0 {
			s.Parameters = make(map[string]string, len(po.members))
			for _, m := range po.members {
				sv, ok := m.value.(string)
				if !ok {
					return nil, dataErr(path+".parameters."+m.key, "schema parameters must have string values, got %s", jsonKind(m.value))
				}
				s.Parameters[m.key] = sv
			}
		}
	}
	if s.Name == connect.DecimalName {
		if _, err := connect.DecimalScale(s); err != nil {
			return nil, dataErr(path, "%v", err)
		}
	}
	if dn := obj.member("default"); dn != nil && dn.value != nil {
		d, err := j.toValue(s, dn.value)
		if err != nil {
			return nil, wrapPath(err, path+".default")
		}
		s.Default = d
	}
	return s, nil
}

// schemaless converts a JSON tree to the runtime's schemaless values.
func (j *JSON) schemaless(node any) any {
	switch x := node.(type) {
	case jsonNumber:
		if x.integral() {
			if n, err := strconv.ParseInt(string(x), 10, 64); err == nil {
				return n
			}
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return f
	case []any:
		out := make([]any, len(x))
		for i, el := range x {
			out[i] = j.schemaless(el)
		}
		return out
	case *jsonObject:
		out := make(map[string]any, len(x.members))
		for _, m := range x.members {
			out[m.key] = j.schemaless(m.value)
		}
		return out
	}
	return node // nil, bool, string
}

// toValue converts a JSON node to a Go value of schema s.
func (j *JSON) toValue(s *connect.Schema, node any) (any, error) {
	if node == nil {
		if s.Default != nil && j.replaceNull {
			return s.Default, nil
		}
		if s.Optional {
			return nil, nil
		}
		return nil, dataErr("", "invalid null value for required %s field", s.Type)
	}
	switch s.Name {
	case connect.DecimalName:
		scale, err := connect.DecimalScale(s)
		if err != nil {
			return nil, dataErr("", "%v", err)
		}
		switch x := node.(type) {
		case jsonNumber:
			d, err := parseDecimalLiteral(string(x))
			if err != nil {
				return nil, dataErr("", "%v", err)
			}
			return rescale(d, scale), nil
		case string:
			b, err := decodeBase64(x)
			if err != nil {
				return nil, dataErr("", "invalid base64 for Decimal: %v", err)
			}
			if len(b) == 0 {
				return nil, dataErr("", "empty bytes for Decimal")
			}
			return connect.DecimalFromBytes(b, scale), nil
		}
		return nil, dataErr("", "expected number or base64 string for Decimal, got %s", jsonKind(node))
	case connect.DateName:
		n, err := intNode(node, 32)
		if err != nil {
			return nil, err
		}
		return connect.DateFromDays(int32(n)), nil
	case connect.TimeName:
		n, err := intNode(node, 32)
		if err != nil {
			return nil, err
		}
		if n < 0 || n >= 86_400_000 {
			return nil, dataErr("", "Time value %d outside 0..86399999 milliseconds", n)
		}
		return connect.TimeFromMillis(int32(n)), nil
	case connect.TimestampName:
		n, err := intNode(node, 64)
		if err != nil {
			return nil, err
		}
		return time.UnixMilli(n).UTC(), nil
	}
	switch s.Type {
	case connect.Int8:
		n, err := intNode(node, 8)
		return int8(n), err
	case connect.Int16:
		n, err := intNode(node, 16)
		return int16(n), err
	case connect.Int32:
		n, err := intNode(node, 32)
		return int32(n), err
	case connect.Int64:
		return intNode(node, 64)
	case connect.Float32:
		f, err := floatNode(node, 32)
		return float32(f), err
	case connect.Float64:
		return floatNode(node, 64)
	case connect.Boolean:
		b, ok := node.(bool)
		if !ok {
			return nil, dataErr("", "expected boolean, got %s", jsonKind(node))
		}
		return b, nil
	case connect.String:
		str, ok := node.(string)
		if !ok {
			return nil, dataErr("", "expected string, got %s", jsonKind(node))
		}
		return str, nil
	case connect.Bytes:
		str, ok := node.(string)
		if !ok {
			return nil, dataErr("", "expected base64 string for bytes, got %s", jsonKind(node))
		}
		b, err := decodeBase64(str)
		if err != nil {
			return nil, dataErr("", "invalid base64: %v", err)
		}
		return b, nil
	case connect.Array:
		arr, ok := node.([]any)
		if !ok {
			return nil, dataErr("", "expected array, got %s", jsonKind(node))
		}
		out := make([]any, len(arr))
		for i, el := range arr {
			v, err := j.toValue(s.Value, el)
			if err != nil {
				return nil, wrapPath(err, "["+strconv.Itoa(i)+"]")
			}
			out[i] = v
		}
		return out, nil
	case connect.Map:
		out := map[any]any{}
		if s.Key.Type == connect.String {
			obj, ok := node.(*jsonObject)
			if !ok {
				return nil, dataErr("", "maps with string keys must be encoded as JSON objects, got %s", jsonKind(node))
			}
			for _, m := range obj.members {
				v, err := j.toValue(s.Value, m.value)
				if err != nil {
					return nil, wrapPath(err, "["+m.key+"]")
				}
				out[m.key] = v
			}
			return out, nil
		}
		arr, ok := node.([]any)
		if !ok {
			return nil, dataErr("", "maps with non-string keys must be encoded as a JSON array of [key, value] pairs, got %s", jsonKind(node))
		}
		for i, el := range arr {
			epath := "[" + strconv.Itoa(i) + "]"
			pair, ok := el.([]any)
			if !ok || len(pair) != 2 {
				return nil, dataErr(epath, "map entry must be a [key, value] array of length 2")
			}
			k, err := j.toValue(s.Key, pair[0])
			if err != nil {
				return nil, wrapPath(err, epath+"<key>")
			}
			if !comparable(k) {
				return nil, dataErr(epath, "map key of Go type %T cannot be used as a Go map key", k)
			}
			v, err := j.toValue(s.Value, pair[1])
			if err != nil {
				return nil, wrapPath(err, epath)
			}
			out[k] = v
		}
		return out, nil
	case connect.StructT:
		obj, ok := node.(*jsonObject)
		if !ok {
			return nil, dataErr("", "expected object for struct %v, got %s", s, jsonKind(node))
		}
		st := connect.NewStructValue(s)
		for i, f := range s.Fields {
			fv, _ := obj.getAt(i, f.Name)
			v, err := j.toValue(f.Schema, fv)
			if err != nil {
				return nil, wrapPath(err, f.Name)
			}
			st.SetAt(i, v)
		}
		return st, nil
	}
	return nil, dataErr("", "unknown schema type %q", s.Type)
}

func comparable(v any) bool {
	switch v.(type) {
	case []byte, []any, map[any]any:
		return false
	}
	return true
}

func intNode(node any, bits int) (int64, error) {
	n, ok := node.(jsonNumber)
	if !ok {
		return 0, dataErr("", "expected integer, got %s", jsonKind(node))
	}
	if n.integral() {
		v, err := strconv.ParseInt(string(n), 10, bits)
		if err != nil {
			return 0, dataErr("", "integer %s out of range for int%d", n, bits)
		}
		return v, nil
	}
	// 1.0 or 1e3: accept when the value is an exact integer.
	f, _, err := big.ParseFloat(string(n), 10, 256, big.ToNearestEven)
	if err != nil || !f.IsInt() {
		return 0, dataErr("", "expected integer, got %s", n)
	}
	v, acc := f.Int64()
	if acc != big.Exact {
		return 0, dataErr("", "integer %s out of range for int%d", n, bits)
	}
	if lim := int64(1) << (bits - 1); bits < 64 && (v < -lim || v >= lim) {
		return 0, dataErr("", "integer %s out of range for int%d", n, bits)
	}
	return v, nil
}

func floatNode(node any, bits int) (float64, error) {
	switch x := node.(type) {
	case jsonNumber:
		f, err := strconv.ParseFloat(string(x), bits)
		if err != nil && !math.IsInf(f, 0) {
			return 0, dataErr("", "invalid number %s", x)
		}
		return f, nil
	case string:
		switch x {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
	}
	return 0, dataErr("", "expected number, got %s", jsonKind(node))
}

func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b2, err2 := base64.RawStdEncoding.DecodeString(s); err2 == nil {
			return b2, nil
		}
		return nil, err
	}
	return b, nil
}

// parseDecimalLiteral parses a JSON number literal exactly, exponent
// included ("1.5E+3" = 1500 with scale -2).
func parseDecimalLiteral(s string) (connect.Decimal, error) {
	mant, exp := s, int64(0)
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.ParseInt(s[i+1:], 10, 32)
		if err != nil {
			return connect.Decimal{}, err
		}
		mant, exp = s[:i], e
	}
	d, err := connect.ParseDecimal(mant)
	if err != nil {
		return connect.Decimal{}, err
	}
	sc := int64(d.Scale) - exp
	if sc > math.MaxInt32 || sc < math.MinInt32 {
		return connect.Decimal{}, strconv.ErrRange
	}
	d.Scale = int32(sc)
	return d, nil
}

// rescale returns d with the given scale when that loses no digits;
// otherwise d unchanged.
func rescale(d connect.Decimal, scale int32) connect.Decimal {
	if d.Scale == scale {
		return d
	}
	if d.Scale < scale {
		if scale-d.Scale > 1000 {
			return d
		}
		m := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-d.Scale)), nil)
		return connect.Decimal{Unscaled: m.Mul(m, d.Unscaled), Scale: scale}
	}
	if d.Scale-scale > 1000 {
		return d
	}
	m := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale-scale)), nil)
	q, r := new(big.Int).QuoRem(d.Unscaled, m, new(big.Int))
	if r.Sign() != 0 {
		return d
	}
	return connect.Decimal{Unscaled: q, Scale: scale}
}

// wrapPath prefixes the path of a *DataError with a parent segment: a field
// name, or an index like "[2]".
func wrapPath(err error, seg string) error {
	de, ok := err.(*DataError)
	if !ok || seg == "" {
		return err
	}
	switch {
	case de.Path == "":
		return &DataError{Path: seg, Msg: de.Msg}
	case de.Path[0] == '[' || de.Path[0] == '<':
		return &DataError{Path: seg + de.Path, Msg: de.Msg}
	}
	return &DataError{Path: seg + "." + de.Path, Msg: de.Msg}
}
