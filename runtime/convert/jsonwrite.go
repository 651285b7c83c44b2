package convert

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/runtime/connect"
)

// encoder writes JSON exactly as Kafka's JsonConverter (Jackson) does:
// compact, members in schema order, doubles in Java's Double.toString form,
// non-finite floats as the strings "NaN", "Infinity" and "-Infinity".
type encoder struct {
	decimalFormat DecimalFormat
	replaceNull   bool
}

// paramOrder lists schema parameters in the order Kafka Connect and
// Debezium insert them; other parameters follow sorted by name (Go maps do
// not keep insertion order).
var paramOrder = [...]string{
	"scale", "connect.decimal.precision",
	"__debezium.source.column.type", "__debezium.source.column.length", "__debezium.source.column.scale",
	"__debezium.source.column.name",
}

func paramKeys(p map[string]string) []string {
	keys := make([]string, 0, len(p))
	for _, k := range paramOrder {
		if _, ok := p[k]; ok {
			keys = append(keys, k)
		}
	}
	known := len(keys)
	for k := range p {
		if !slices.Contains(paramOrder[:], k) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys[known:])
	return keys
}

// schema appends the JSON form of s. For a struct field (isField) the
// field name is appended as "field" at the end, as Kafka does.
func (e *encoder) schema(buf []byte, s *connect.Schema, field string, isField bool, path string) ([]byte, error) {
	if s == nil {
		return nil, dataErr(path, "nil schema")
	}
	if !s.Type.Valid() {
		return nil, dataErr(path, "unknown schema type %q", s.Type)
	}
	var err error
	buf = append(buf, `{"type":"`...)
	buf = append(buf, s.Type...)
	buf = append(buf, '"')
	switch s.Type {
	case connect.StructT:
		buf = append(buf, `,"fields":[`...)
		for i, f := range s.Fields {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = e.schema(buf, f.Schema, f.Name, true, joinPath(path, f.Name)); err != nil {
				return nil, err
			}
		}
		buf = append(buf, ']')
	case connect.Array:
		buf = append(buf, `,"items":`...)
		if buf, err = e.schema(buf, s.Value, "", false, path+"[]"); err != nil {
			return nil, err
		}
	case connect.Map:
		buf = append(buf, `,"keys":`...)
		if buf, err = e.schema(buf, s.Key, "", false, path+"<key>"); err != nil {
			return nil, err
		}
		buf = append(buf, `,"values":`...)
		if buf, err = e.schema(buf, s.Value, "", false, path+"[]"); err != nil {
			return nil, err
		}
	}
	buf = append(buf, `,"optional":`...)
	buf = strconv.AppendBool(buf, s.Optional)
	if s.Name != "" {
		buf = append(buf, `,"name":`...)
		buf = appendString(buf, s.Name)
	}
	if s.Version != 0 {
		buf = append(buf, `,"version":`...)
		buf = strconv.AppendInt(buf, int64(s.Version), 10)
	}
	if s.Doc != "" {
		buf = append(buf, `,"doc":`...)
		buf = appendString(buf, s.Doc)
	}
	if len(s.Parameters) > 0 {
		buf = append(buf, `,"parameters":{`...)
		for i, k := range paramKeys(s.Parameters) {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, k)
			buf = append(buf, ':')
			buf = appendString(buf, s.Parameters[k])
		}
		buf = append(buf, '}')
	}
	if s.Default != nil {
		buf = append(buf, `,"default":`...)
		if buf, err = e.value(buf, s, s.Default); err != nil {
			return nil, wrapPath(err, path)
		}
	}
	if isField {
		buf = append(buf, `,"field":`...)
		buf = appendString(buf, field)
	}
	return append(buf, '}'), nil
}

// value appends v as described by s (nil s = schemaless).
func (e *encoder) value(buf []byte, s *connect.Schema, v any) ([]byte, error) {
	if s == nil {
		return e.schemaless(buf, v)
	}
	if v == nil {
		if s.Default != nil && e.replaceNull {
			v = s.Default
		} else if s.Optional {
			return append(buf, "null"...), nil
		} else {
			return nil, dataErr("", "null value for required field of schema %v", s)
		}
	}
	switch s.Name {
	case connect.DecimalName:
		d, ok := v.(connect.Decimal)
		if !ok {
			if p, isPtr := v.(*connect.Decimal); isPtr && p != nil {
				d, ok = *p, true
			}
		}
		if !ok {
			return nil, dataErr("", "invalid type for Decimal: expected connect.Decimal, got %T", v)
		}
		scale, err := connect.DecimalScale(s)
		if err != nil {
			return nil, dataErr("", "%v", err)
		}
		if d.Scale != scale {
			return nil, dataErr("", "decimal %s has scale %d, schema scale is %d", d, d.Scale, scale)
		}
		if e.decimalFormat == DecimalNumeric {
			return append(buf, javaBigDecimal(d)...), nil
		}
		return appendBase64(buf, d.UnscaledBytes()), nil
	case connect.DateName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, dataErr("", "invalid type for Date: expected time.Time, got %T", v)
		}
		t = t.UTC()
		if t.Hour() != 0 || t.Minute() != 0 || t.Second() != 0 || t.Nanosecond() != 0 {
			return nil, dataErr("", "Date value %s has a non-zero time of day", t.Format(time.RFC3339Nano))
		}
		return strconv.AppendInt(buf, int64(floorDiv(t.Unix(), 86400)), 10), nil
	case connect.TimeName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, dataErr("", "invalid type for Time: expected time.Time, got %T", v)
		}
		ms := t.UnixMilli()
		if ms < 0 || ms >= 86_400_000 {
			return nil, dataErr("", "Time value %s has a date part other than 1970-01-01", t.UTC().Format(time.RFC3339Nano))
		}
		return strconv.AppendInt(buf, ms, 10), nil
	case connect.TimestampName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, dataErr("", "invalid type for Timestamp: expected time.Time, got %T", v)
		}
		return strconv.AppendInt(buf, t.UnixMilli(), 10), nil
	}
	var err error
	switch s.Type {
	case connect.Int8:
		if x, ok := v.(int8); ok {
			return strconv.AppendInt(buf, int64(x), 10), nil
		}
	case connect.Int16:
		if x, ok := v.(int16); ok {
			return strconv.AppendInt(buf, int64(x), 10), nil
		}
	case connect.Int32:
		if x, ok := v.(int32); ok {
			return strconv.AppendInt(buf, int64(x), 10), nil
		}
	case connect.Int64:
		if x, ok := v.(int64); ok {
			return strconv.AppendInt(buf, x, 10), nil
		}
	case connect.Float32:
		if x, ok := v.(float32); ok {
			return appendJavaFloat(buf, float64(x), 32), nil
		}
	case connect.Float64:
		if x, ok := v.(float64); ok {
			return appendJavaFloat(buf, x, 64), nil
		}
	case connect.Boolean:
		if x, ok := v.(bool); ok {
			return strconv.AppendBool(buf, x), nil
		}
	case connect.String:
		if x, ok := v.(string); ok {
			return appendString(buf, x), nil
		}
	case connect.Bytes:
		if x, ok := v.([]byte); ok {
			return appendBase64(buf, x), nil
		}
	case connect.Array:
		arr, ok := v.([]any)
		if !ok {
			break
		}
		buf = append(buf, '[')
		for i, el := range arr {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = e.value(buf, s.Value, el); err != nil {
				return nil, wrapPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return append(buf, ']'), nil
	case connect.Map:
		m, ok := v.(map[any]any)
		if !ok {
			if sm, isStr := v.(map[string]any); isStr {
				m = make(map[any]any, len(sm))
				for k, x := range sm {
					m[k] = x
				}
				ok = true
			}
		}
		if !ok {
			break
		}
		return e.schemaMap(buf, s, m)
	case connect.StructT:
		st, ok := v.(*connect.Struct)
		if !ok {
			break
		}
		if st == nil {
			return nil, dataErr("", "nil *connect.Struct")
		}
		if st.Schema() != s && !st.Schema().Equal(s) {
			return nil, dataErr("", "struct schema %v does not match field schema %v", st.Schema(), s)
		}
		buf = append(buf, '{')
		for i, f := range s.Fields {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, f.Name)
			buf = append(buf, ':')
			if buf, err = e.value(buf, f.Schema, st.At(i)); err != nil {
				return nil, wrapPath(err, f.Name)
			}
		}
		return append(buf, '}'), nil
	default:
		return nil, dataErr("", "unknown schema type %q", s.Type)
	}
	return nil, dataErr("", "value of Go type %T does not match schema %v", v, s)
}

type mapEntry struct {
	key   any
	enc   []byte
	value any
}

func (e *encoder) schemaMap(buf []byte, s *connect.Schema, m map[any]any) ([]byte, error) {
	if s.Key == nil || s.Value == nil {
		return nil, dataErr("", "map schema without key or value schema")
	}
	objectMode := s.Key.Type == connect.String
	entries := make([]mapEntry, 0, len(m))
	for k, v := range m {
		kb, err := e.value(nil, s.Key, k)
		if err != nil {
			return nil, wrapPath(err, "<key>")
		}
		entries = append(entries, mapEntry{key: k, enc: kb, value: v})
	}
	slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(string(a.enc), string(b.enc)) })
	var err error
	if objectMode {
		buf = append(buf, '{')
		for i, en := range entries {
			if i > 0 {
				buf = append(buf, ',')
			}
			ks, _ := en.key.(string) // a null key writes as "null" text in Jackson (asText)
			if en.key == nil {
				ks = "null"
			}
			buf = appendString(buf, ks)
			buf = append(buf, ':')
			if buf, err = e.value(buf, s.Value, en.value); err != nil {
				return nil, wrapPath(err, "["+ks+"]")
			}
		}
		return append(buf, '}'), nil
	}
	buf = append(buf, '[')
	for i, en := range entries {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '[')
		buf = append(buf, en.enc...)
		buf = append(buf, ',')
		if buf, err = e.value(buf, s.Value, en.value); err != nil {
			return nil, wrapPath(err, "["+string(en.enc)+"]")
		}
		buf = append(buf, ']')
	}
	return append(buf, ']'), nil
}

// schemaless appends a value without schema, inferring the JSON type from
// the Go type. Beyond Kafka (which knows only the Connect Java types), it
// writes connect.Decimal as a number, time.Time as epoch milliseconds,
// *connect.Struct with its own schema and json.Number verbatim.
func (e *encoder) schemaless(buf []byte, v any) ([]byte, error) {
	var err error
	switch x := v.(type) {
	case nil:
		return append(buf, "null"...), nil
	case bool:
		return strconv.AppendBool(buf, x), nil
	case string:
		return appendString(buf, x), nil
	case []byte:
		return appendBase64(buf, x), nil
	case int8:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(buf, x, 10), nil
	case int:
		return strconv.AppendInt(buf, int64(x), 10), nil
	case uint8:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(buf, x, 10), nil
	case uint:
		return strconv.AppendUint(buf, uint64(x), 10), nil
	case float32:
		return appendJavaFloat(buf, float64(x), 32), nil
	case float64:
		return appendJavaFloat(buf, x, 64), nil
	case json.Number:
		if _, perr := strconv.ParseFloat(string(x), 64); perr != nil && !isBigNumber(string(x)) {
			return nil, dataErr("", "invalid json.Number %q", string(x))
		}
		return append(buf, x...), nil
	case connect.Decimal:
		return append(buf, javaBigDecimal(x)...), nil
	case time.Time:
		return strconv.AppendInt(buf, x.UnixMilli(), 10), nil
	case *connect.Struct:
		if x == nil {
			return append(buf, "null"...), nil
		}
		return e.value(buf, x.Schema(), x)
	case []any:
		buf = append(buf, '[')
		for i, el := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			if buf, err = e.schemaless(buf, el); err != nil {
				return nil, wrapPath(err, "["+strconv.Itoa(i)+"]")
			}
		}
		return append(buf, ']'), nil
	case []string:
		buf = append(buf, '[')
		for i, el := range x {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, el)
		}
		return append(buf, ']'), nil
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		buf = append(buf, '{')
		for i, k := range keys {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, k)
			buf = append(buf, ':')
			if buf, err = e.schemaless(buf, x[k]); err != nil {
				return nil, wrapPath(err, k)
			}
		}
		return append(buf, '}'), nil
	case map[any]any:
		allStrings := true
		for k := range x {
			if _, ok := k.(string); !ok {
				allStrings = false
				break
			}
		}
		if allStrings {
			sm := make(map[string]any, len(x))
			for k, v := range x {
				sm[k.(string)] = v
			}
			return e.schemaless(buf, sm)
		}
		entries := make([]mapEntry, 0, len(x))
		for k, v := range x {
			kb, err := e.schemaless(nil, k)
			if err != nil {
				return nil, wrapPath(err, "<key>")
			}
			entries = append(entries, mapEntry{key: k, enc: kb, value: v})
		}
		slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(string(a.enc), string(b.enc)) })
		buf = append(buf, '[')
		for i, en := range entries {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, '[')
			buf = append(buf, en.enc...)
			buf = append(buf, ',')
			if buf, err = e.schemaless(buf, en.value); err != nil {
				return nil, wrapPath(err, "["+string(en.enc)+"]")
			}
			buf = append(buf, ']')
		}
		return append(buf, ']'), nil
	}
	return nil, dataErr("", "schemaless value of unsupported Go type %T", v)
}

func isBigNumber(s string) bool {
	_, ok := new(big.Float).SetString(s)
	return ok
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func appendBase64(buf []byte, b []byte) []byte {
	buf = append(buf, '"')
	buf = base64.StdEncoding.AppendEncode(buf, b)
	return append(buf, '"')
}

const hexDigits = "0123456789ABCDEF"

// appendString appends s as a JSON string the way Jackson escapes it:
// quote, backslash and control characters only (\b \t \n \f \r short
// forms, others \u00XX); everything else, including non-ASCII, verbatim.
// Invalid UTF-8 is replaced by U+FFFD.
func appendString(buf []byte, s string) []byte {
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			buf = append(buf, s[start:i]...)
			switch c {
			case '"', '\\':
				buf = append(buf, '\\', c)
			case '\b':
				buf = append(buf, '\\', 'b')
			case '\t':
				buf = append(buf, '\\', 't')
			case '\n':
				buf = append(buf, '\\', 'n')
			case '\f':
				buf = append(buf, '\\', 'f')
			case '\r':
				buf = append(buf, '\\', 'r')
			default:
				buf = append(buf, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			buf = append(buf, s[start:i]...)
			buf = append(buf, "\uFFFD"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}

// FormatJavaFloat formats f as Java's Double.toString (bits 64) or
// Float.toString (bits 32) does; non-finite values give NaN, Infinity and
// -Infinity.
func FormatJavaFloat(f float64, bits int) string {
	b := appendJavaFloat(nil, f, bits)
	if b[0] == '"' {
		b = b[1 : len(b)-1]
	}
	return string(b)
}

// appendJavaFloat appends f as Java's Double.toString (bits 64) or
// Float.toString (bits 32) writes it, and non-finite values as Jackson
// does by default (quoted "NaN", "Infinity", "-Infinity").
func appendJavaFloat(buf []byte, f float64, bits int) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, `"NaN"`...)
	case math.IsInf(f, 1):
		return append(buf, `"Infinity"`...)
	case math.IsInf(f, -1):
		return append(buf, `"-Infinity"`...)
	case f == 0:
		if math.Signbit(f) {
			return append(buf, "-0.0"...)
		}
		return append(buf, "0.0"...)
	}
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		start := len(buf)
		buf = strconv.AppendFloat(buf, f, 'f', -1, bits)
		if !slices.Contains(buf[start:], '.') {
			buf = append(buf, ".0"...)
		}
		return buf
	}
	s := strconv.FormatFloat(f, 'e', -1, bits)
	mant, exp, _ := strings.Cut(s, "e")
	buf = append(buf, mant...)
	if !strings.Contains(mant, ".") {
		buf = append(buf, ".0"...)
	}
	n, _ := strconv.Atoi(exp)
	buf = append(buf, 'E')
	return strconv.AppendInt(buf, int64(n), 10)
}

// javaBigDecimal renders d like Java's BigDecimal.toString (which Jackson
// uses for decimal.format=NUMERIC): plain notation unless the scale is
// negative or the adjusted exponent is below -6.
func javaBigDecimal(d connect.Decimal) string {
	u := d.Unscaled
	if u == nil {
		u = new(big.Int)
	}
	coeff := new(big.Int).Abs(u).String()
	adjusted := -int64(d.Scale) + int64(len(coeff)-1)
	if d.Scale >= 0 && adjusted >= -6 {
		return connect.Decimal{Unscaled: u, Scale: d.Scale}.String()
	}
	var b strings.Builder
	if u.Sign() < 0 {
		b.WriteByte('-')
	}
	b.WriteByte(coeff[0])
	if len(coeff) > 1 {
		b.WriteByte('.')
		b.WriteString(coeff[1:])
	}
	b.WriteByte('E')
	if adjusted >= 0 {
		b.WriteByte('+')
	}
	b.WriteString(strconv.FormatInt(adjusted, 10))
	return b.String()
}
