package mysql

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"golang.org/x/text/encoding/charmap"
)

// kind is a column's type family, as far as the Debezium mapping cares.
type kind int

const (
	kTiny kind = iota
	kSmall
	kMedium
	kInt
	kBig
	kFloat
	kDouble
	kDecimal
	kBit
	kText
	kBinary
	kDate
	kTime
	kDatetime
	kTimestamp
	kYear
	kEnum
	kSet
	kJSON
	kGeometry
	kPoint
)

// Debezium semantic type names.
const (
	nameDate           = "io.debezium.time.Date"
	nameTime           = "io.debezium.time.Time"
	nameMicroTime      = "io.debezium.time.MicroTime"
	nameTimestamp      = "io.debezium.time.Timestamp"
	nameMicroTimestamp = "io.debezium.time.MicroTimestamp"
	nameZonedTimestamp = "io.debezium.time.ZonedTimestamp"
	nameYear           = "io.debezium.time.Year"
	nameJSON           = "io.debezium.data.Json"
	nameEnum           = "io.debezium.data.Enum"
	nameEnumSet        = "io.debezium.data.EnumSet"
	nameBits           = "io.debezium.data.Bits"
	nameGeometry       = "io.debezium.data.geometry.Geometry"
	namePoint          = "io.debezium.data.geometry.Point"
)

// column is one table column as seen in a TABLE_MAP event or in
// information_schema: both sources produce the same description, so a
// snapshot and the binlog stream emit identical schemas.
type column struct {
	name     string
	kind     kind
	unsigned bool
	nullable bool
	fsp      int // fractional seconds precision of TIME/DATETIME/TIMESTAMP
	prec     int // DECIMAL precision
	scale    int // DECIMAL scale
	bits     int // BIT(n)
	values   []string
	latin1   bool // binlog bytes are latin1 (MySQL's cp1252) and need decoding to UTF-8
}

// typeName is a short SQL name for error messages.
func (c *column) typeName() string {
	names := [...]string{"TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "FLOAT", "DOUBLE", "DECIMAL", "BIT",
		"TEXT", "BLOB", "DATE", "TIME", "DATETIME", "TIMESTAMP", "YEAR", "ENUM", "SET", "JSON", "GEOMETRY", "POINT"}
	s := names[c.kind]
	if c.unsigned {
		s += " UNSIGNED"
	}
	return s
}

var (
	geometrySchema = connect.NewStruct().Name(nameGeometry).Version(1).Doc("Geometry").
			Field("wkb", connect.BytesSchema).Field("srid", connect.OptionalInt32Schema).Build()
	optGeometrySchema = connect.NewStruct().Name(nameGeometry).Version(1).Doc("Geometry").Optional().
				Field("wkb", connect.BytesSchema).Field("srid", connect.OptionalInt32Schema).Build()
	pointSchema = connect.NewStruct().Name(namePoint).Version(1).Doc("Geometry (POINT)").
			Field("x", connect.Float64Schema).Field("y", connect.Float64Schema).
			Field("wkb", connect.OptionalBytesSchema).Field("srid", connect.OptionalInt32Schema).Build()
	optPointSchema = connect.NewStruct().Name(namePoint).Version(1).Doc("Geometry (POINT)").Optional().
			Field("x", connect.Float64Schema).Field("y", connect.Float64Schema).
			Field("wkb", connect.OptionalBytesSchema).Field("srid", connect.OptionalInt32Schema).Build()
)

// schema returns the Connect schema of the column under the options'
// handling modes, following Debezium's MySQL mapping.
func (c *column) schema(o *options) *connect.Schema {
	var b *connect.SchemaBuilder
	switch c.kind {
	case kTiny:
		b = connect.NewSchema(connect.Int8)
		if c.unsigned {
			b = connect.NewSchema(connect.Int16)
		}
	case kSmall:
		b = connect.NewSchema(connect.Int16)
		if c.unsigned {
			b = connect.NewSchema(connect.Int32)
		}
	case kMedium:
		b = connect.NewSchema(connect.Int32)
	case kInt:
		b = connect.NewSchema(connect.Int32)
		if c.unsigned {
			b = connect.NewSchema(connect.Int64)
		}
	case kBig:
		b = connect.NewSchema(connect.Int64)
		if c.unsigned && o.bigintMode == "precise" {
			b = connect.DecimalSchema(0).Param("connect.decimal.precision", "20")
		}
	case kFloat:
		b = connect.NewSchema(connect.Float32)
	case kDouble:
		b = connect.NewSchema(connect.Float64)
	case kDecimal:
		switch o.decimalMode {
		case "double":
			b = connect.NewSchema(connect.Float64)
		case "string":
			b = connect.NewSchema(connect.String)
		default:
			b = connect.DecimalSchema(int32(c.scale)).Param("connect.decimal.precision", strconv.Itoa(c.prec))
		}
	case kBit:
		if c.bits == 1 {
			b = connect.NewSchema(connect.Boolean)
		} else {
			b = connect.NewSchema(connect.Bytes).Name(nameBits).Version(1).Param("length", strconv.Itoa(c.bits))
		}
	case kText:
		b = connect.NewSchema(connect.String)
	case kBinary:
		if o.binaryMode == "bytes" {
			b = connect.NewSchema(connect.Bytes)
		} else {
			b = connect.NewSchema(connect.String)
		}
	case kDate:
		if o.timeMode == "connect" {
			b = connect.DateSchema()
		} else {
			b = connect.NewSchema(connect.Int32).Name(nameDate).Version(1)
		}
	case kTime:
		switch {
		case o.timeMode == "connect":
			b = connect.TimeSchema()
		case o.timeMode == "adaptive" && c.fsp <= 3:
			b = connect.NewSchema(connect.Int32).Name(nameTime).Version(1)
		default:
			b = connect.NewSchema(connect.Int64).Name(nameMicroTime).Version(1)
		}
	case kDatetime:
		switch {
		case o.timeMode == "connect":
			b = connect.TimestampSchema()
		case c.fsp <= 3:
			b = connect.NewSchema(connect.Int64).Name(nameTimestamp).Version(1)
		default:
			b = connect.NewSchema(connect.Int64).Name(nameMicroTimestamp).Version(1)
		}
	case kTimestamp:
		b = connect.NewSchema(connect.String).Name(nameZonedTimestamp).Version(1)
	case kYear:
		b = connect.NewSchema(connect.Int32).Name(nameYear).Version(1)
	case kEnum:
		b = connect.NewSchema(connect.String).Name(nameEnum).Version(1).Param("allowed", strings.Join(c.values, ","))
	case kSet:
		b = connect.NewSchema(connect.String).Name(nameEnumSet).Version(1).Param("allowed", strings.Join(c.values, ","))
	case kJSON:
		b = connect.NewSchema(connect.String).Name(nameJSON).Version(1)
	case kGeometry:
		if c.nullable {
			return optGeometrySchema
		}
		return geometrySchema
	case kPoint:
		if c.nullable {
			return optPointSchema
		}
		return pointSchema
	}
	if c.nullable {
		b = b.Optional()
	}
	return b.Build()
}

// value converts a decoded column value (from the binlog or from a
// text-protocol snapshot row, see decodeBinlog / decodeText) to its Connect
// value. in is already normalized: int64/uint64 for integers and BIT,
// float32/float64, string for DECIMAL and temporal values, []byte for
// strings and blobs, string labels for ENUM/SET.
func (c *column) value(o *options, in any) (any, error) {
	if in == nil {
		return nil, nil
	}
	switch c.kind {
	case kTiny, kSmall, kMedium, kInt, kBig:
		var n int64
		var u uint64
		switch v := in.(type) {
		case int64:
			n, u = v, uint64(v)
		case uint64:
			n, u = int64(v), v
		default:
			return nil, fmt.Errorf("unexpected %T", in)
		}
		switch c.kind {
		case kTiny:
			if c.unsigned {
				return int16(u), nil
			}
			return int8(n), nil
		case kSmall:
			if c.unsigned {
				return int32(u), nil
			}
			return int16(n), nil
		case kMedium:
			return int32(n), nil
		case kInt:
			if c.unsigned {
				return int64(u), nil
			}
			return int32(n), nil
		default:
			if c.unsigned && o.bigintMode == "precise" {
				return connect.Decimal{Unscaled: new(big.Int).SetUint64(u), Scale: 0}, nil
			}
			return n, nil
		}
	case kFloat:
		switch v := in.(type) {
		case float32:
			return v, nil
		case float64:
			return float32(v), nil
		}
	case kDouble:
		switch v := in.(type) {
		case float32:
			return float64(v), nil
		case float64:
			return v, nil
		}
	case kDecimal:
		s, ok := in.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected %T", in)
		}
		switch o.decimalMode {
		case "string":
			return s, nil
		case "double":
			return strconv.ParseFloat(s, 64)
		}
		if d, ok := fastDecimal(s, c.scale); ok {
			return d, nil
		}
		d, err := connect.ParseDecimal(s)
		if err != nil {
			return nil, err
		}
		if d.Scale != int32(c.scale) {
			d = rescale(d, int32(c.scale))
		}
		return d, nil
	case kBit:
		u, ok := in.(uint64)
		if !ok {
			return nil, fmt.Errorf("unexpected %T", in)
		}
		if c.bits == 1 {
			return u&1 == 1, nil
		}
		out := make([]byte, (c.bits+7)/8)
		for i := range out {
			out[i] = byte(u >> (8 * i))
		}
		return out, nil
	case kText, kJSON:
		var str string
		switch v := in.(type) {
		case []byte:
			str = string(v)
		case string:
			// Binlog strings point into their event's buffer, which
			// go-mysql (v1.13 BinlogSyncer, ReadPacket) allocates per
			// event and never reuses: they need no copy.
			str = v
		default:
			return nil, fmt.Errorf("unexpected %T", in)
		}
		if c.latin1 && !isASCII(str) {
			d, err := charmap.Windows1252.NewDecoder().String(str)
			if err != nil {
				return nil, err
			}
			return d, nil
		}
		return str, nil
	case kBinary:
		var b []byte
		switch v := in.(type) {
		case []byte:
			b = v
		case string:
			b = []byte(v)
		default:
			return nil, fmt.Errorf("unexpected %T", in)
		}
		switch o.binaryMode {
		case "base64":
			return base64.StdEncoding.EncodeToString(b), nil
		case "base64-url-safe":
			return base64.URLEncoding.EncodeToString(b), nil
		case "hex":
			return hex.EncodeToString(b), nil
		}
		return append([]byte(nil), b...), nil
	case kEnum, kSet:
		if s, ok := in.(string); ok {
			return strings.Clone(s), nil
		}
	case kYear:
		switch v := in.(type) {
		case int64:
			return int32(v), nil
		case uint64:
			return int32(v), nil
		}
	case kDate, kDatetime, kTimestamp, kTime:
		s, ok := in.(string)
		if !ok {
			return nil, fmt.Errorf("unexpected %T", in)
		}
		return c.temporal(o, s)
	case kGeometry, kPoint:
		b, ok := in.([]byte)
		if !ok {
			return nil, fmt.Errorf("unexpected %T", in)
		}
		return c.geometry(b)
	}
	return nil, fmt.Errorf("unexpected %T", in)
}

func rescale(d connect.Decimal, scale int32) connect.Decimal {
	u := new(big.Int).Set(d.Unscaled)
	for s := d.Scale; s < scale; s++ {
		u.Mul(u, big.NewInt(10))
	}
	for s := d.Scale; s > scale; s-- {
		u.Quo(u, big.NewInt(10))
	}
	return connect.Decimal{Unscaled: u, Scale: scale}
}

// zero returns the value used for a zero date in a NOT NULL column (the
// epoch), or nil for a nullable column, as Debezium does.
func (c *column) zero(o *options) any {
	if c.nullable {
		return nil
	}
	switch c.kind {
	case kDate:
		if o.timeMode == "connect" {
			return time.Unix(0, 0).UTC()
		}
		return int32(0)
	case kDatetime:
		if o.timeMode == "connect" {
			return time.Unix(0, 0).UTC()
		}
		return int64(0)
	case kTimestamp:
		return "1970-01-01T00:00:00Z"
	}
	return nil
}

// temporal converts "YYYY-MM-DD", "[-]hhh:mm:ss[.ffffff]" or
// "YYYY-MM-DD hh:mm:ss[.ffffff]" text (TIMESTAMP already in UTC).
func (c *column) temporal(o *options, s string) (any, error) {
	bad := func() (any, error) { return nil, fmt.Errorf("cannot parse %s value %q", c.typeName(), s) }
	if c.kind == kTime {
		neg := strings.HasPrefix(s, "-")
		s2 := strings.TrimPrefix(s, "-")
		hms, frac, _ := strings.Cut(s2, ".")
		p0, p1, p2, ok := split3(hms, ':')
		if !ok {
			return bad()
		}
		h, e1 := strconv.ParseInt(p0, 10, 64)
		m, e2 := strconv.ParseInt(p1, 10, 64)
		sec, e3 := strconv.ParseInt(p2, 10, 64)
		us, e4 := fracMicros(frac)
		if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
			return bad()
		}
		v := ((h*60+m)*60+sec)*1_000_000 + us
		if neg {
			v = -v
		}
		switch {
		case o.timeMode == "connect":
			return time.UnixMilli(v / 1000).UTC(), nil
		case o.timeMode == "adaptive" && c.fsp <= 3:
			return int32(v / 1000), nil
		}
		return v, nil
	}
	date, clock, _ := strings.Cut(s, " ")
	d0, d1, d2, ok := split3(date, '-')
	if !ok {
		return bad()
	}
	y, e1 := strconv.Atoi(d0)
	mo, e2 := strconv.Atoi(d1)
	d, e3 := strconv.Atoi(d2)
	if e1 != nil || e2 != nil || e3 != nil {
		return bad()
	}
	if mo == 0 || d == 0 {
		return c.zero(o), nil
	}
	var hh, mi, ss int
	var us int64
	if clock != "" {
		hms, frac, _ := strings.Cut(clock, ".")
		p0, p1, p2, ok := split3(hms, ':')
		if !ok {
			return bad()
		}
		var e4, e5, e6, e7 error
		hh, e4 = strconv.Atoi(p0)
		mi, e5 = strconv.Atoi(p1)
		ss, e6 = strconv.Atoi(p2)
		us, e7 = fracMicros(frac)
		if e4 != nil || e5 != nil || e6 != nil || e7 != nil {
			return bad()
		}
	}
	t := time.Date(y, time.Month(mo), d, hh, mi, ss, int(us)*1000, time.UTC)
	return c.fromTime(o, t, us), nil
}

// fromTime converts a DATE, DATETIME or TIMESTAMP value (in UTC; us its
// microseconds) to its Connect value.
func (c *column) fromTime(o *options, t time.Time, us int64) any {
	switch c.kind {
	case kDate:
		if o.timeMode == "connect" {
			return t
		}
		return int32(t.Unix() / 86400)
	case kDatetime:
		switch {
		case o.timeMode == "connect":
			return t
		case c.fsp <= 3:
			return t.UnixMilli()
		}
		return t.UnixMicro()
	default: // TIMESTAMP: ISO-8601 UTC with the column's fractional digits
		out := t.Format("2006-01-02T15:04:05")
		if c.fsp > 0 {
			out += "." + fmt.Sprintf("%06d", us)[:c.fsp]
		}
		return out + "Z"
	}
}

func fracMicros(f string) (int64, error) {
	if f == "" {
		return 0, nil
	}
	if len(f) > 6 {
		f = f[:6]
	}
	n, err := strconv.ParseInt(f, 10, 64)
	if err != nil {
		return 0, err
	}
	for i := len(f); i < 6; i++ {
		n *= 10
	}
	return n, nil
}

// geometry splits MySQL's internal geometry value (4-byte little-endian
// SRID followed by WKB) into Debezium's Geometry or Point struct.
func (c *column) geometry(b []byte) (any, error) {
	if len(b) < 4+5 {
		return nil, fmt.Errorf("geometry value of %d bytes is too short", len(b))
	}
	srid := int32(binary.LittleEndian.Uint32(b))
	wkb := append([]byte(nil), b[4:]...)
	if c.kind == kPoint {
		if len(wkb) < 21 {
			return nil, fmt.Errorf("POINT WKB of %d bytes is too short", len(wkb))
		}
		var order binary.ByteOrder = binary.LittleEndian
		if wkb[0] == 0 {
			order = binary.BigEndian
		}
		s := connect.NewStructValue(c.schemaGeom())
		s.SetAt(0, math.Float64frombits(order.Uint64(wkb[5:])))
		s.SetAt(1, math.Float64frombits(order.Uint64(wkb[13:])))
		s.SetAt(2, wkb)
		s.SetAt(3, srid)
		return s, nil
	}
	s := connect.NewStructValue(c.schemaGeom())
	s.SetAt(0, wkb)
	s.SetAt(1, srid)
	return s, nil
}

func (c *column) schemaGeom() *connect.Schema {
	switch {
	case c.kind == kPoint && c.nullable:
		return optPointSchema
	case c.kind == kPoint:
		return pointSchema
	case c.nullable:
		return optGeometrySchema
	}
	return geometrySchema
}

// split3 splits s into exactly three parts at sep.
func split3(s string, sep byte) (a, b, c string, ok bool) {
	i := strings.IndexByte(s, sep)
	if i < 0 {
		return "", "", "", false
	}
	j := strings.IndexByte(s[i+1:], sep)
	if j < 0 {
		return "", "", "", false
	}
	j += i + 1
	if strings.IndexByte(s[j+1:], sep) >= 0 {
		return "", "", "", false
	}
	return s[:i], s[i+1 : j], s[j+1:], true
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// binlogValue converts a go-mysql row value straight to the Connect value:
// signed integers and floats already have the Go type of their Connect
// type and are passed through without boxing them again.
func (c *column) binlogValue(o *options, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if !c.unsigned {
		ok := false
		switch c.kind {
		case kTiny:
			_, ok = v.(int8)
		case kSmall:
			_, ok = v.(int16)
		case kMedium, kInt:
			_, ok = v.(int32)
		case kBig:
			_, ok = v.(int64)
		case kDouble:
			_, ok = v.(float64)
		case kFloat:
			_, ok = v.(float32)
		}
		if ok {
			return v, nil
		}
	}
	if tt, ok := v.(time.Time); ok {
		// DATE/DATETIME/TIMESTAMP decoded by go-mysql (ParseTime); zero
		// and out-of-range values still arrive as text.
		switch c.kind {
		case kDate, kDatetime, kTimestamp:
			u := tt.UTC()
			return c.fromTime(o, u, int64(u.Nanosecond()/1000)), nil
		}
	}
	n, err := normalizeBinlog(c, v)
	if err != nil {
		return nil, err
	}
	return c.value(o, n)
}

// fastDecimal parses a plain decimal of at most 18 digits with at most
// scale fraction digits into a Decimal of that scale without going through
// big.Int's string parsing; ok is false for anything else.
func fastDecimal(s string, scale int) (d connect.Decimal, ok bool) {
	i, neg := 0, false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	var n int64
	digits, frac := 0, -1
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			if digits >= 18 {
				return d, false
			}
			n = n*10 + int64(c-'0')
			digits++
			if frac >= 0 {
				frac++
			}
		case c == '.' && frac < 0:
			frac = 0
		default:
			return d, false
		}
	}
	if digits == 0 {
		return d, false
	}
	frac = max(frac, 0)
	for ; frac < scale; frac++ {
		if digits >= 18 {
			return d, false
		}
		n *= 10
		digits++
	}
	if frac != scale {
		return d, false
	}
	if neg {
		n = -n
	}
	return connect.Decimal{Unscaled: big.NewInt(n), Scale: int32(scale)}, true
}
