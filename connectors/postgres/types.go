package postgres

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Debezium logical type names.
const (
	nameVarScaleDecimal = "io.debezium.data.VariableScaleDecimal"
	nameJSON            = "io.debezium.data.Json"
	nameUUID            = "io.debezium.data.Uuid"
	nameXML             = "io.debezium.data.Xml"
	nameEnum            = "io.debezium.data.Enum"
	nameDate            = "io.debezium.time.Date"
	nameTime            = "io.debezium.time.Time"
	nameMicroTime       = "io.debezium.time.MicroTime"
	nameTimestamp       = "io.debezium.time.Timestamp"
	nameMicroTimestamp  = "io.debezium.time.MicroTimestamp"
	nameZonedTimestamp  = "io.debezium.time.ZonedTimestamp"
	nameZonedTime       = "io.debezium.time.ZonedTime"
	nameMicroDuration   = "io.debezium.time.MicroDuration"
	nameInterval        = "io.debezium.time.Interval"
	nameBits            = "io.debezium.data.Bits"
	nameLtree           = "io.debezium.data.Ltree"
	namePoint           = "io.debezium.data.geometry.Point"
)

// PostgreSQL built-in type OIDs.
const (
	oidBool        = 16
	oidBytea       = 17
	oidChar        = 18
	oidName        = 19
	oidInt8        = 20
	oidInt2        = 21
	oidInt4        = 23
	oidText        = 25
	oidOID         = 26
	oidXID         = 28
	oidJSON        = 114
	oidXML         = 142
	oidFloat4      = 700
	oidFloat8      = 701
	oidMoney       = 790
	oidBPChar      = 1042
	oidVarchar     = 1043
	oidDate        = 1082
	oidTime        = 1083
	oidTimestamp   = 1114
	oidTimestamptz = 1184
	oidInterval    = 1186
	oidTimetz      = 1266
	oidNumeric     = 1700
	oidUUID        = 2950
	oidJSONB       = 3802
	oidInet        = 869
	oidCidr        = 650
	oidMacaddr     = 829
	oidMacaddr8    = 774
)

// typeInfo is what the catalog says about one type.
type typeInfo struct {
	oid      uint32
	name     string
	typtype  byte // b base, e enum, d domain, c composite, r range
	elem     uint32
	base     uint32
	baseMod  int32
	category byte
	labels   string // enum labels, comma separated
}

// converter turns a text-format value into its Connect value.
type converter func(text []byte) (any, error)

// mapper builds schemas and converters for column types.
type mapper struct {
	o      *options
	lookup func(oid uint32) (*typeInfo, error)
	warn   func(msg string, args ...any)
}

// columnType resolves the schema (non-optional form is adjusted by the
// caller) and converter of a column of type oid with modifier typmod.
func (m *mapper) columnType(oid uint32, typmod int32, optional bool, where string) (*connect.Schema, converter, error) {
	sb, conv, err := m.build(oid, typmod, where, 0)
	if err != nil {
		return nil, nil, err
	}
	if optional {
		sb.Optional()
	}
	return sb.Build(), conv, nil
}

func (m *mapper) build(oid uint32, typmod int32, where string, depth int) (*connect.SchemaBuilder, converter, error) {
	if depth > 8 {
		return nil, nil, fmt.Errorf("type nesting too deep at %s", where)
	}
	o := m.o
	switch oid {
	case oidBool:
		return connect.NewSchema(connect.Boolean), convBool, nil
	case oidInt2:
		return connect.NewSchema(connect.Int16), convInt16, nil
	case oidInt4:
		return connect.NewSchema(connect.Int32), convInt32, nil
	case oidInt8, oidOID, oidXID:
		return connect.NewSchema(connect.Int64), convInt64, nil
	case oidFloat4:
		return connect.NewSchema(connect.Float32), convFloat32, nil
	case oidFloat8:
		return connect.NewSchema(connect.Float64), convFloat64, nil
	case oidText, oidVarchar, oidBPChar, oidName, oidChar, oidInet, oidCidr, oidMacaddr, oidMacaddr8:
		return connect.NewSchema(connect.String), convString, nil
	case oidJSON, oidJSONB:
		return connect.NewSchema(connect.String).Name(nameJSON).Version(1), convString, nil
	case oidUUID:
		return connect.NewSchema(connect.String).Name(nameUUID).Version(1), convString, nil
	case oidXML:
		return connect.NewSchema(connect.String).Name(nameXML).Version(1), convString, nil
	case oidBytea:
		return m.bytea()
	case oidNumeric:
		return m.numeric(typmod)
	case oidMoney:
		return m.money()
	case oidDate:
		if o.timeMode == "connect" {
			return connect.DateSchema(), convDateConnect, nil
		}
		return connect.NewSchema(connect.Int32).Name(nameDate).Version(1), convDate, nil
	case oidTime:
		p := timePrecision(typmod)
		switch {
		case o.timeMode == "connect":
			return connect.TimeSchema(), convTimeConnect, nil
		case o.timeMode == "adaptive" && p <= 3:
			return connect.NewSchema(connect.Int32).Name(nameTime).Version(1), convTimeMillis, nil
		default:
			return connect.NewSchema(connect.Int64).Name(nameMicroTime).Version(1), convTimeMicros, nil
		}
	case oidTimestamp:
		p := timePrecision(typmod)
		switch {
		case o.timeMode == "connect":
			return connect.TimestampSchema(), convTimestampConnect, nil
		case p <= 3:
			return connect.NewSchema(connect.Int64).Name(nameTimestamp).Version(1), convTimestampMillis, nil
		default:
			return connect.NewSchema(connect.Int64).Name(nameMicroTimestamp).Version(1), convTimestampMicros, nil
		}
	case oidTimestamptz:
		return connect.NewSchema(connect.String).Name(nameZonedTimestamp).Version(1), zonedTimestamp(timePrecision(typmod)), nil
	case oidTimetz:
		return connect.NewSchema(connect.String).Name(nameZonedTime).Version(1), convTimetz, nil
	case oidInterval:
		if o.intervalMode == "string" {
			return connect.NewSchema(connect.String).Name(nameInterval).Version(1), convIntervalString, nil
		}
		return connect.NewSchema(connect.Int64).Name(nameMicroDuration).Version(1), convIntervalMicros, nil
	}
	ti, err := m.lookup(oid)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case ti.typtype == 'd' && ti.base != 0:
		mod := ti.baseMod
		if typmod >= 0 {
			mod = typmod
		}
		return m.build(ti.base, mod, where, depth+1)
	case ti.typtype == 'e':
		return connect.NewSchema(connect.String).Name(nameEnum).Version(1).Param("allowed", ti.labels), convString, nil
	case ti.category == 'A' && ti.elem != 0:
		esb, econv, err := m.build(ti.elem, typmod, where+"[]", depth+1)
		if err != nil {
			return nil, nil, err
		}
		elem := esb.Optional().Build()
		return connect.NewArray(elem), arrayConverter(econv), nil
	case ti.name == "hstore":
		// hstore.handling.mode=json (Debezium's default).
		return connect.NewSchema(connect.String).Name(nameJSON).Version(1), convHstore, nil
	case ti.name == "citext":
		return connect.NewSchema(connect.String), convString, nil
	case ti.name == "ltree":
		return connect.NewSchema(connect.String).Name(nameLtree).Version(1), convString, nil
	case ti.name == "bit" && typmod == 1:
		return connect.NewSchema(connect.Boolean), convBit1, nil
	case ti.name == "bit" || ti.name == "varbit":
		length := "2147483647" // varbit without a maximum length
		if typmod > 0 {
			length = strconv.Itoa(int(typmod))
		}
		return connect.NewSchema(connect.Bytes).Name(nameBits).Version(1).Param("length", length), convBits, nil
	case ti.name == "point":
		return connect.NewStruct().Name(namePoint).Version(1).Doc("Geometry (POINT)").
			Field("x", connect.Float64Schema).Field("y", connect.Float64Schema).
			Field("wkb", connect.OptionalBytesSchema).Field("srid", connect.OptionalInt32Schema), convPoint, nil
	}
	m.warn("unknown column type; emitting its text form as a string", "column", where, "type", ti.name, "oid", oid)
	return connect.NewSchema(connect.String), convString, nil
}

func (m *mapper) bytea() (*connect.SchemaBuilder, converter, error) {
	switch m.o.binaryMode {
	case "base64":
		return connect.NewSchema(connect.String), func(b []byte) (any, error) {
			raw, err := decodeBytea(b)
			return base64.StdEncoding.EncodeToString(raw), err
		}, nil
	case "base64-url-safe":
		return connect.NewSchema(connect.String), func(b []byte) (any, error) {
			raw, err := decodeBytea(b)
			return base64.URLEncoding.EncodeToString(raw), err
		}, nil
	case "hex":
		return connect.NewSchema(connect.String), func(b []byte) (any, error) {
			raw, err := decodeBytea(b)
			return hex.EncodeToString(raw), err
		}, nil
	}
	return connect.NewSchema(connect.Bytes), func(b []byte) (any, error) { return decodeBytea(b) }, nil
}

func (m *mapper) numeric(typmod int32) (*connect.SchemaBuilder, converter, error) {
	switch m.o.decimalMode {
	case "double":
		return connect.NewSchema(connect.Float64), convNumericDouble, nil
	case "string":
		return connect.NewSchema(connect.String), convString, nil
	}
	post := numericPost(typmod)
	conv := func(b []byte) (any, error) {
		if isNaNText(b) {
			return nil, nil
		}
		d, err := parseDecimal(b)
		if err != nil {
			return nil, err
		}
		return post(d)
	}
	if typmod < 4 {
		sb := connect.NewStruct().Name(nameVarScaleDecimal).Version(1).Doc("Variable scaled decimal").
			Field("scale", connect.Int32Schema).Field("value", connect.BytesSchema)
		return sb, conv, nil
	}
	prec, scale := numericTypmod(typmod)
	return connect.DecimalSchema(scale).Param("connect.decimal.precision", strconv.Itoa(int(prec))), conv, nil
}

// numericPost turns a parsed numeric into its value under
// decimal.handling.mode=precise: a VariableScaleDecimal without trailing
// fractional zeros for numeric without a scale, else a Decimal at the
// column's scale.
func numericPost(typmod int32) func(connect.Decimal) (any, error) {
	if typmod < 4 {
		return func(d connect.Decimal) (any, error) {
			d = stripZeros(d)
			return vsd{scale: d.Scale, value: d.UnscaledBytes()}, nil
		}
	}
	_, scale := numericTypmod(typmod)
	return func(d connect.Decimal) (any, error) { return rescale(d, scale), nil }
}

// numericTypmod decodes numeric(p, s) from its type modifier; PostgreSQL
// 15 allows negative scales (-1000..1000), stored as 11 signed bits.
func numericTypmod(typmod int32) (prec, scale int32) {
	v := typmod - 4
	return (v >> 16) & 0xffff, ((v & 0x7ff) ^ 1024) - 1024
}

// stripZeros drops trailing fractional zeros (3.14159000 -> 3.14159), as
// Debezium's VariableScaleDecimal carries the value's own scale; the scale
// does not go below zero.
func stripZeros(d connect.Decimal) connect.Decimal {
	if d.Scale <= 0 || d.Unscaled.Sign() == 0 {
		if d.Unscaled.Sign() == 0 {
			return connect.Decimal{Unscaled: d.Unscaled, Scale: 0}
		}
		return d
	}
	u := new(big.Int).Set(d.Unscaled)
	ten := big.NewInt(10)
	q, r := new(big.Int), new(big.Int)
	sc := d.Scale
	for sc > 0 {
		q.QuoRem(u, ten, r)
		if r.Sign() != 0 {
			break
		}
		u.Set(q)
		sc--
	}
	return connect.Decimal{Unscaled: u, Scale: sc}
}

// parseDecimal is connect.ParseDecimal with a fast path for values that
// fit in 18 digits.
func parseDecimal(b []byte) (connect.Decimal, error) {
	if len(b) > 0 && len(b) <= 19 {
		var n int64
		neg := false
		scale := int32(-1)
		digits := 0
		ok := true
		for i, c := range b {
			switch {
			case c >= '0' && c <= '9':
				n = n*10 + int64(c-'0')
				digits++
				if scale >= 0 {
					scale++
				}
			case c == '.' && scale < 0:
				scale = 0
			case c == '-' && i == 0:
				neg = true
			default:
				ok = false
			}
		}
		if ok && digits > 0 && digits <= 18 {
			if neg {
				n = -n
			}
			return connect.Decimal{Unscaled: big.NewInt(n), Scale: max(scale, 0)}, nil
		}
	}
	return connect.ParseDecimal(string(b))
}

func (m *mapper) money() (*connect.SchemaBuilder, converter, error) {
	clean := func(b []byte) string {
		var sb strings.Builder
		for _, c := range b {
			if c >= '0' && c <= '9' || c == '.' || c == '-' {
				sb.WriteByte(c)
			} else if c == '(' {
				sb.WriteByte('-')
			}
		}
		return sb.String()
	}
	switch m.o.decimalMode {
	case "double":
		return connect.NewSchema(connect.Float64), func(b []byte) (any, error) {
			return strconv.ParseFloat(clean(b), 64)
		}, nil
	case "string":
		return connect.NewSchema(connect.String), func(b []byte) (any, error) { return clean(b), nil }, nil
	}
	return connect.DecimalSchema(2), func(b []byte) (any, error) {
		d, err := connect.ParseDecimal(clean(b))
		if err != nil {
			return nil, err
		}
		return rescale(d, 2), nil
	}, nil
}

// vsd is a VariableScaleDecimal before it is bound to its field schema.
type vsd struct {
	scale int32
	value []byte
}

// point is a geometric point before it is bound to its field schema.
type point struct{ x, y float64 }

// bindVSD turns vsd and point values (also inside arrays) into structs of
// schema s.
func bindVSD(s *connect.Schema, v any) any {
	switch x := v.(type) {
	case vsd:
		st := connect.NewStructValue(s)
		st.SetAt(0, x.scale)
		st.SetAt(1, x.value)
		return st
	case point:
		st := connect.NewStructValue(s)
		st.SetAt(0, x.x)
		st.SetAt(1, x.y)
		st.SetAt(2, pointWKB(x.x, x.y))
		return st
	case []any:
		for i, e := range x {
			if e != nil {
				x[i] = bindVSD(s.Value, e)
			}
		}
	}
	return v
}

func rescale(d connect.Decimal, scale int32) connect.Decimal {
	if d.Scale == scale {
		return d
	}
	u := new(big.Int).Set(d.Unscaled)
	if d.Scale < scale {
		u.Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(scale-d.Scale)), nil))
	} else {
		u.Quo(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(d.Scale-scale)), nil))
	}
	return connect.Decimal{Unscaled: u, Scale: scale}
}

func isNaNText(b []byte) bool {
	s := string(b)
	return s == "NaN" || s == "Infinity" || s == "-Infinity"
}

func timePrecision(typmod int32) int32 {
	if typmod < 0 {
		return 6
	}
	return typmod
}

// fallbackFor returns the value used, as Debezium does, for a NOT NULL
// column whose value is absent (non-key columns of an old tuple under
// REPLICA IDENTITY DEFAULT), so events still match their schema.
func fallbackFor(s *connect.Schema) any {
	if s.Optional {
		return nil
	}
	switch s.Name {
	case connect.DecimalName:
		sc, _ := connect.DecimalScale(s)
		return connect.Decimal{Unscaled: new(big.Int), Scale: sc}
	case connect.DateName, connect.TimeName, connect.TimestampName:
		return time.Unix(0, 0).UTC()
	case nameZonedTimestamp:
		return "1970-01-01T00:00:00Z"
	case nameZonedTime:
		return "00:00:00Z"
	case nameVarScaleDecimal:
		st := connect.NewStructValue(s)
		st.SetAt(0, int32(0))
		st.SetAt(1, []byte{0})
		return st
	}
	switch s.Type {
	case connect.Int8:
		return int8(0)
	case connect.Int16:
		return int16(0)
	case connect.Int32:
		return int32(0)
	case connect.Int64:
		return int64(0)
	case connect.Float32:
		return float32(0)
	case connect.Float64:
		return float64(0)
	case connect.Boolean:
		return false
	case connect.String:
		return ""
	case connect.Bytes:
		return []byte{}
	case connect.Array:
		return []any{}
	}
	return nil
}

// placeholderFor returns the value standing for an unchanged TOASTed column.
func placeholderFor(s *connect.Schema, ph string) any {
	switch s.Type {
	case connect.String:
		return ph
	case connect.Bytes:
		if s.Name == "" {
			return []byte(ph)
		}
	case connect.Array:
		if s.Value != nil && s.Value.Type == connect.String {
			return []any{ph}
		}
	}
	return nil
}

func convString(b []byte) (any, error) { return string(b), nil }

// convBit1 maps bit(1) to a boolean.
func convBit1(b []byte) (any, error) {
	switch string(b) {
	case "1":
		return true, nil
	case "0":
		return false, nil
	}
	return nil, fmt.Errorf("invalid bit(1) value %q", b)
}

// convBits maps a bit string to io.debezium.data.Bits: the bits read as a
// binary number (last character = least significant bit), as little-endian
// bytes, as few as hold the highest set bit (Debezium sizes the value by
// its content, not the column length: B'0000000101' is one byte, all
// zeros none).
func convBits(b []byte) (any, error) {
	n := len(b)
	out := make([]byte, (n+7)/8)
	for i := 0; i < n; i++ {
		c := b[n-1-i]
		switch c {
		case '1':
			out[i/8] |= 1 << (i % 8)
		case '0':
		default:
			return nil, fmt.Errorf("invalid bit string %q", b)
		}
	}
	for len(out) > 0 && out[len(out)-1] == 0 {
		out = out[:len(out)-1]
	}
	return out, nil
}

// convPoint parses "(x,y)".
func convPoint(b []byte) (any, error) {
	s := string(b)
	if len(s) < 5 || s[0] != '(' || s[len(s)-1] != ')' {
		return nil, fmt.Errorf("invalid point %q", s)
	}
	xs, ys, ok := strings.Cut(s[1:len(s)-1], ",")
	if !ok {
		return nil, fmt.Errorf("invalid point %q", s)
	}
	x, err1 := strconv.ParseFloat(xs, 64)
	y, err2 := strconv.ParseFloat(ys, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("invalid point %q", s)
	}
	return point{x, y}, nil
}

// pointWKB is the point as little-endian Well-Known Binary, as Debezium
// fills Point.wkb.
func pointWKB(x, y float64) []byte {
	out := make([]byte, 21)
	out[0] = 1 // little endian
	binary.LittleEndian.PutUint32(out[1:], 1)
	binary.LittleEndian.PutUint64(out[5:], math.Float64bits(x))
	binary.LittleEndian.PutUint64(out[13:], math.Float64bits(y))
	return out
}

func convBool(b []byte) (any, error) {
	if len(b) == 1 {
		switch b[0] {
		case 't':
			return true, nil
		case 'f':
			return false, nil
		}
	}
	return nil, fmt.Errorf("invalid boolean %q", b)
}

func parseInt(b []byte) (int64, error) {
	if len(b) == 0 || len(b) > 19 {
		return strconv.ParseInt(string(b), 10, 64)
	}
	neg := false
	i := 0
	if b[0] == '-' {
		neg = true
		i = 1
		if len(b) == 1 {
			return 0, fmt.Errorf("invalid integer %q", b)
		}
	}
	var n int64
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("invalid integer %q", b)
		}
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n, nil
}

func convInt16(b []byte) (any, error) {
	n, err := parseInt(b)
	return int16(n), err
}

func convInt32(b []byte) (any, error) {
	n, err := parseInt(b)
	return int32(n), err
}

func convInt64(b []byte) (any, error) {
	if len(b) > 0 && b[0] != '-' && len(b) >= 19 {
		u, err := strconv.ParseUint(string(b), 10, 64)
		return int64(u), err
	}
	return parseInt(b)
}

func convFloat32(b []byte) (any, error) {
	f, err := strconv.ParseFloat(string(b), 32)
	return float32(f), err
}

func convFloat64(b []byte) (any, error) { return strconv.ParseFloat(string(b), 64) }

func convNumericDouble(b []byte) (any, error) {
	switch string(b) {
	case "NaN":
		return math.NaN(), nil
	case "Infinity":
		return math.Inf(1), nil
	case "-Infinity":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(string(b), 64)
}

func decodeBytea(b []byte) ([]byte, error) {
	if len(b) >= 2 && b[0] == '\\' && b[1] == 'x' {
		out := make([]byte, (len(b)-2)/2)
		_, err := hex.Decode(out, b[2:])
		return out, err
	}
	// Escape format.
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' {
			out = append(out, b[i])
			continue
		}
		if i+1 < len(b) && b[i+1] == '\\' {
			out = append(out, '\\')
			i++
			continue
		}
		if i+3 < len(b) {
			v, err := strconv.ParseUint(string(b[i+1:i+4]), 8, 8)
			if err != nil {
				return nil, fmt.Errorf("invalid bytea escape at byte %d", i)
			}
			out = append(out, byte(v))
			i += 3
			continue
		}
		return nil, fmt.Errorf("invalid bytea escape at byte %d", i)
	}
	return out, nil
}

// parseDate parses YYYY-MM-DD (with optional " BC").
func parseDate(s string) (time.Time, error) {
	bc := strings.HasSuffix(s, " BC")
	s = strings.TrimSuffix(s, " BC")
	i := strings.IndexByte(s, '-')
	if i <= 0 || len(s) < i+6 {
		return time.Time{}, fmt.Errorf("invalid date %q", s)
	}
	y, err1 := strconv.Atoi(s[:i])
	mo, err2 := strconv.Atoi(s[i+1 : i+3])
	d, err3 := strconv.Atoi(s[i+4 : i+6])
	if err1 != nil || err2 != nil || err3 != nil {
		return time.Time{}, fmt.Errorf("invalid date %q", s)
	}
	if bc {
		y = 1 - y
	}
	return time.Date(y, time.Month(mo), d, 0, 0, 0, 0, time.UTC), nil
}

func convDate(b []byte) (any, error) {
	switch string(b) {
	case "infinity":
		return InfinityDays, nil
	case "-infinity":
		return NegInfinityDays, nil
	}
	t, err := parseDate(string(b))
	if err != nil {
		return nil, err
	}
	return int32(t.Unix() / 86400), nil
}

func convDateConnect(b []byte) (any, error) {
	t, err := parseDate(string(b))
	if err != nil {
		return nil, err
	}
	return t, nil
}

// parseClock parses HH:MM:SS[.ffffff] and returns microseconds since
// midnight and the rest of the string.
func parseClock(s string) (int64, string, error) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, "", fmt.Errorf("invalid time %q", s)
	}
	h, err1 := strconv.Atoi(s[0:2])
	mi, err2 := strconv.Atoi(s[3:5])
	se, err3 := strconv.Atoi(s[6:8])
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, "", fmt.Errorf("invalid time %q", s)
	}
	us := (int64(h)*3600 + int64(mi)*60 + int64(se)) * 1_000_000
	rest := s[8:]
	if len(rest) > 0 && rest[0] == '.' {
		j := 1
		var frac int64
		digits := 0
		for j < len(rest) && rest[j] >= '0' && rest[j] <= '9' {
			if digits < 6 {
				frac = frac*10 + int64(rest[j]-'0')
				digits++
			}
			j++
		}
		for ; digits < 6; digits++ {
			frac *= 10
		}
		us += frac
		rest = rest[j:]
	}
	return us, rest, nil
}

func convTimeMicros(b []byte) (any, error) {
	us, _, err := parseClock(string(b))
	return us, err
}

func convTimeMillis(b []byte) (any, error) {
	us, _, err := parseClock(string(b))
	return int32(us / 1000), err
}

func convTimeConnect(b []byte) (any, error) {
	us, _, err := parseClock(string(b))
	if err != nil {
		return nil, err
	}
	return time.UnixMilli(us / 1000).UTC(), nil
}

// parseTimestamp parses "YYYY-MM-DD HH:MM:SS[.ffffff][+zz[:zz]][ BC]" and
// returns the UTC instant in microseconds since the epoch.
func parseTimestamp(s string) (int64, error) {
	bc := strings.HasSuffix(s, " BC")
	s = strings.TrimSuffix(s, " BC")
	sp := strings.IndexByte(s, ' ')
	if sp < 0 {
		switch s {
		case "infinity":
			return math.MaxInt64, nil
		case "-infinity":
			return math.MinInt64, nil
		}
		return 0, fmt.Errorf("invalid timestamp %q", s)
	}
	datePart := s[:sp]
	if bc {
		datePart += " BC"
	}
	d, err := parseDate(datePart)
	if err != nil {
		return 0, err
	}
	us, rest, err := parseClock(s[sp+1:])
	if err != nil {
		return 0, err
	}
	off, err := parseOffset(rest)
	if err != nil {
		return 0, fmt.Errorf("invalid timestamp %q: %v", s, err)
	}
	return d.Unix()*1_000_000 + us - int64(off)*1_000_000, nil
}

// parseOffset parses +HH[:MM[:SS]] into seconds east of UTC.
func parseOffset(s string) (int, error) {
	if s == "" {
		return 0, nil
	}
	sign := 1
	switch s[0] {
	case '+':
	case '-':
		sign = -1
	default:
		return 0, fmt.Errorf("bad zone offset %q", s)
	}
	parts := strings.Split(s[1:], ":")
	mult := 3600
	total := 0
	for _, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return 0, fmt.Errorf("bad zone offset %q", s)
		}
		total += n * mult
		mult /= 60
	}
	return sign * total, nil
}

// Debezium's values for timestamp 'infinity' and '-infinity': the PostgreSQL
// JDBC driver's DATE_POSITIVE_INFINITY / DATE_NEGATIVE_INFINITY taken as
// microseconds, and the same instants in milliseconds.
const (
	InfinityMicros    int64 = 9223372036825200000
	NegInfinityMicros int64 = -9223372036832400000
)

// Debezium's epoch days for date 'infinity' (+5877611-06-21) and
// '-infinity' (-5877611-06-22).
const (
	InfinityDays    int32 = 2146033979
	NegInfinityDays int32 = -2147472691
)

func timestampInfinity(b []byte) (int64, bool) {
	switch string(b) {
	case "infinity":
		return InfinityMicros, true
	case "-infinity":
		return NegInfinityMicros, true
	}
	return 0, false
}

func convTimestampMicros(b []byte) (any, error) {
	if v, ok := timestampInfinity(b); ok {
		return v, nil
	}
	return parseTimestamp(string(b))
}

func convTimestampMillis(b []byte) (any, error) {
	if v, ok := timestampInfinity(b); ok {
		return floorDiv(v, 1000), nil
	}
	us, err := parseTimestamp(string(b))
	if err != nil {
		return nil, err
	}
	return floorDiv(us, 1000), nil
}

func convTimestampConnect(b []byte) (any, error) {
	us, err := parseTimestamp(string(b))
	if err != nil {
		return nil, err
	}
	return time.UnixMilli(floorDiv(us, 1000)).UTC(), nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// formatFraction renders microseconds as Java's ISO formatter does: no
// fraction when zero, otherwise without trailing zeros.
func formatFraction(us int64) string {
	if us == 0 {
		return ""
	}
	var b [7]byte
	b[0] = '.'
	for i := 6; i >= 1; i-- {
		b[i] = byte('0' + us%10)
		us /= 10
	}
	n := 7
	for n > 1 && b[n-1] == '0' {
		n--
	}
	return string(b[:n])
}

// zonedTimestamp returns the timestamptz(p) converter: ISO-8601 in UTC
// with exactly p fractional digits (none for p = 0), as Debezium formats
// ZonedTimestamp for a column of precision p.
func zonedTimestamp(p int32) converter {
	p = min(max(p, 0), 6)
	return func(b []byte) (any, error) { return convTimestamptzP(b, int(p)) }
}

func convTimestamptz(b []byte) (any, error) { return convTimestamptzP(b, 6) }

// isUTCTimestamptz reports whether b is a timestamptz as a UTC session
// prints it ("2024-01-02 03:04:05[.ffffff]+00").
func isUTCTimestamptz(b []byte) bool {
	n := len(b)
	return n >= 22 && n <= 32 && b[10] == ' ' && b[n-3] == '+' && b[n-2] == '0' && b[n-1] == '0' && b[4] == '-' && b[13] == ':'
}

// appendZonedUTC appends b (isUTCTimestamptz) as Debezium's ZonedTimestamp
// with exactly p fractional digits: 20 bytes, plus 1+p when p > 0.
func appendZonedUTC(out, b []byte, p int) []byte {
	start := len(out)
	out = append(out, b[:19]...)
	out[start+10] = 'T'
	frac := b[19 : len(b)-3]
	if len(frac) > 0 {
		frac = frac[1:] // '.'
	}
	if p > 0 {
		out = append(out, '.')
		for i := 0; i < p; i++ {
			if i < len(frac) {
				out = append(out, frac[i])
			} else {
				out = append(out, '0')
			}
		}
	}
	return append(out, 'Z')
}

func convTimestamptzP(b []byte, p int) (any, error) {
	// Fast path: sessions run with TimeZone=UTC, so values end in "+00" and
	// PostgreSQL prints the fraction without trailing zeros.
	if isUTCTimestamptz(b) {
		return string(appendZonedUTC(make([]byte, 0, 21+p), b, p)), nil
	}
	s := string(b)
	if s == "infinity" || s == "-infinity" {
		return s, nil
	}
	us, err := parseTimestamp(s)
	if err != nil {
		return nil, err
	}
	return formatZoned(us, p), nil
}

func convTimetz(b []byte) (any, error) {
	us, rest, err := parseClock(string(b))
	if err != nil {
		return nil, err
	}
	off, err := parseOffset(rest)
	if err != nil {
		return nil, fmt.Errorf("invalid timetz %q: %v", b, err)
	}
	day := int64(86400) * 1_000_000
	us = ((us-int64(off)*1_000_000)%day + day) % day
	sec := us / 1_000_000
	return fmt.Sprintf("%02d:%02d:%02d%sZ", sec/3600, sec/60%60, sec%60, formatFraction(us%1_000_000)), nil
}

// interval holds the parts of a PostgreSQL interval.
type interval struct {
	years, months, days int64
	micros              int64 // time part
}

// parseInterval parses IntervalStyle=postgres output such as
// "1 year 2 mons -3 days +04:05:06.789".
func parseInterval(s string) (interval, error) {
	var iv interval
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		tok := f[i]
		if strings.Contains(tok, ":") {
			neg := strings.HasPrefix(tok, "-")
			tok = strings.TrimLeft(tok, "+-")
			parts := strings.SplitN(tok, ":", 3)
			for len(parts) < 3 {
				parts = append(parts, "0")
			}
			h, err := strconv.ParseInt(parts[0], 10, 64)
			if err != nil {
				return iv, fmt.Errorf("invalid interval %q", s)
			}
			mi, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil {
				return iv, fmt.Errorf("invalid interval %q", s)
			}
			secF, err := strconv.ParseFloat(parts[2], 64)
			if err != nil {
				return iv, fmt.Errorf("invalid interval %q", s)
			}
			us := h*3_600_000_000 + mi*60_000_000 + int64(math.Round(secF*1_000_000))
			if neg {
				us = -us
			}
			iv.micros += us
			continue
		}
		n, err := strconv.ParseInt(tok, 10, 64)
		if err != nil || i+1 >= len(f) {
			return iv, fmt.Errorf("invalid interval %q", s)
		}
		i++
		switch unit := strings.TrimSuffix(f[i], "s"); unit {
		case "year":
			iv.years += n
		case "mon":
			iv.months += n
		case "day":
			iv.days += n
		default:
			return iv, fmt.Errorf("invalid interval unit %q in %q", f[i], s)
		}
	}
	return iv, nil
}

// daysPerMonth is the average month length Debezium uses for MicroDuration.
const daysPerMonth = 365.25 / 12

func convIntervalMicros(b []byte) (any, error) {
	iv, err := parseInterval(string(b))
	if err != nil {
		return nil, err
	}
	days := float64(iv.years*12+iv.months)*daysPerMonth + float64(iv.days)
	return int64(math.Round(days*86400*1e6)) + iv.micros, nil
}

func convIntervalString(b []byte) (any, error) {
	iv, err := parseInterval(string(b))
	if err != nil {
		return nil, err
	}
	us := iv.micros
	neg := us < 0
	if neg {
		us = -us
	}
	h := us / 3_600_000_000
	m := us / 60_000_000 % 60
	secs := float64(us%60_000_000) / 1e6
	sign := ""
	if neg {
		sign = "-"
	}
	return fmt.Sprintf("P%dY%dM%dDT%s%dH%s%dM%s%sS", iv.years, iv.months, iv.days, sign, h, sign, m, sign,
		strconv.FormatFloat(secs, 'f', -1, 64)), nil
}

// arrayConverter parses a one-dimensional array literal such as
// {1,NULL,"a b"} and converts each element.
func arrayConverter(elem converter) converter {
	return func(b []byte) (any, error) {
		elems, err := parseArray(b)
		if err != nil {
			return nil, err
		}
		out := make([]any, len(elems))
		for i, e := range elems {
			if e == nil {
				continue
			}
			v, err := elem(e)
			if err != nil {
				return nil, fmt.Errorf("array element %d: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	}
}

func parseArray(b []byte) ([][]byte, error) {
	// Skip optional dimension decoration "[1:2]=".
	if len(b) > 0 && b[0] == '[' {
		i := 0
		for i < len(b) && b[i] != '=' {
			i++
		}
		if i >= len(b) {
			return nil, fmt.Errorf("invalid array literal %q", b)
		}
		b = b[i+1:]
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return nil, fmt.Errorf("invalid array literal %q", b)
	}
	body := b[1 : len(b)-1]
	var out [][]byte
	if len(body) == 0 {
		return [][]byte{}, nil
	}
	i := 0
	for i <= len(body) {
		if i < len(body) && body[i] == '{' {
			return nil, fmt.Errorf("multi-dimensional arrays are not supported")
		}
		if i < len(body) && body[i] == '"' {
			var e []byte
			i++
			for i < len(body) && body[i] != '"' {
				if body[i] == '\\' && i+1 < len(body) {
					i++
				}
				e = append(e, body[i])
				i++
			}
			if e == nil {
				e = []byte{}
			}
			out = append(out, e)
			i++ // closing quote
		} else {
			j := i
			for j < len(body) && body[j] != ',' {
				j++
			}
			tok := body[i:j]
			if string(tok) == "NULL" {
				out = append(out, nil)
			} else {
				out = append(out, tok)
			}
			i = j
		}
		if i >= len(body) {
			break
		}
		if body[i] != ',' {
			return nil, fmt.Errorf("invalid array literal %q at byte %d", b, i)
		}
		i++
	}
	return out, nil
}

// convHstore turns hstore text ("a"=>"1", "b"=>NULL) into a JSON object.
func convHstore(b []byte) (any, error) {
	var out strings.Builder
	out.WriteByte('{')
	i, n := 0, 0
	next := func() (string, bool, error) { // quoted string or NULL
		for i < len(b) && (b[i] == ' ' || b[i] == ',') {
			i++
		}
		if i+4 <= len(b) && string(b[i:i+4]) == "NULL" {
			i += 4
			return "", true, nil
		}
		if i >= len(b) || b[i] != '"' {
			return "", false, fmt.Errorf("invalid hstore at byte %d", i)
		}
		i++
		var sb strings.Builder
		for i < len(b) && b[i] != '"' {
			if b[i] == '\\' && i+1 < len(b) {
				i++
			}
			sb.WriteByte(b[i])
			i++
		}
		if i >= len(b) {
			return "", false, fmt.Errorf("unterminated hstore string")
		}
		i++
		return sb.String(), false, nil
	}
	for {
		for i < len(b) && (b[i] == ' ' || b[i] == ',') {
			i++
		}
		if i >= len(b) {
			break
		}
		k, _, err := next()
		if err != nil {
			return nil, err
		}
		for i < len(b) && b[i] == ' ' {
			i++
		}
		if i+2 > len(b) || b[i] != '=' || b[i+1] != '>' {
			return nil, fmt.Errorf("invalid hstore at byte %d", i)
		}
		i += 2
		v, null, err := next()
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out.WriteByte(',')
		}
		n++
		out.WriteString(jsonQuote(k))
		out.WriteByte(':')
		if null {
			out.WriteString("null")
		} else {
			out.WriteString(jsonQuote(v))
		}
	}
	out.WriteByte('}')
	return out.String(), nil
}

// jsonQuote quotes s as a JSON string.
func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
