package connect

import (
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Logical type names, as in Kafka Connect.
const (
	DecimalName   = "org.apache.kafka.connect.data.Decimal"
	DateName      = "org.apache.kafka.connect.data.Date"
	TimeName      = "org.apache.kafka.connect.data.Time"
	TimestampName = "org.apache.kafka.connect.data.Timestamp"
	// DecimalScaleParam is the schema parameter holding a Decimal's scale.
	DecimalScaleParam = "scale"
)

// Decimal is an arbitrary-precision decimal number: Unscaled × 10^-Scale.
// It is the Go value of the Decimal logical type (BYTES holding the
// big-endian two's-complement unscaled value).
type Decimal struct {
	Unscaled *big.Int
	Scale    int32
}

// DecimalSchema returns a Decimal logical schema with the given scale.
func DecimalSchema(scale int32) *SchemaBuilder {
	return NewSchema(Bytes).Name(DecimalName).Version(1).Param(DecimalScaleParam, strconv.Itoa(int(scale)))
}

// DateSchema returns a Date logical schema (INT32 days since the epoch).
func DateSchema() *SchemaBuilder { return NewSchema(Int32).Name(DateName).Version(1) }

// TimeSchema returns a Time logical schema (INT32 milliseconds since midnight).
func TimeSchema() *SchemaBuilder { return NewSchema(Int32).Name(TimeName).Version(1) }

// TimestampSchema returns a Timestamp logical schema (INT64 ms since the epoch).
func TimestampSchema() *SchemaBuilder { return NewSchema(Int64).Name(TimestampName).Version(1) }

// ParseDecimal parses a base-10 string such as "-12.340" keeping its scale.
func ParseDecimal(s string) (Decimal, error) {
	str := strings.TrimSpace(s)
	neg := strings.HasPrefix(str, "-")
	str = strings.TrimLeft(str, "+-")
	intPart, frac, _ := strings.Cut(str, ".")
	digits := intPart + frac
	if digits == "" {
		return Decimal{}, fmt.Errorf("invalid decimal %q", s)
	}
	u, ok := new(big.Int).SetString(digits, 10)
	if !ok {
		return Decimal{}, fmt.Errorf("invalid decimal %q", s)
	}
	if neg {
		u.Neg(u)
	}
	return Decimal{Unscaled: u, Scale: int32(len(frac))}, nil
}

// String renders the decimal in plain base-10 notation.
func (d Decimal) String() string {
	if d.Unscaled == nil {
		return "0"
	}
	s := new(big.Int).Abs(d.Unscaled).String()
	sign := ""
	if d.Unscaled.Sign() < 0 {
		sign = "-"
	}
	if d.Scale <= 0 {
		return sign + s + strings.Repeat("0", int(-d.Scale))
	}
	if len(s) <= int(d.Scale) {
		s = strings.Repeat("0", int(d.Scale)-len(s)+1) + s
	}
	p := len(s) - int(d.Scale)
	return sign + s[:p] + "." + s[p:]
}

// Float64 returns the nearest float64 value.
func (d Decimal) Float64() float64 {
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

// UnscaledBytes returns the big-endian two's-complement encoding of the
// unscaled value, as Java's BigInteger.toByteArray produces it.
func (d Decimal) UnscaledBytes() []byte { return TwosComplement(d.Unscaled) }

// DecimalFromBytes decodes a big-endian two's-complement unscaled value.
func DecimalFromBytes(b []byte, scale int32) Decimal {
	return Decimal{Unscaled: FromTwosComplement(b), Scale: scale}
}

// TwosComplement encodes v minimally in big-endian two's complement.
func TwosComplement(v *big.Int) []byte {
	if v == nil || v.Sign() == 0 {
		return []byte{0}
	}
	if v.Sign() > 0 {
		b := v.Bytes()
		if b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return b
	}
	// Negative: 2^(8n) + v for the smallest n that keeps the sign bit set.
	n := len(new(big.Int).Neg(v).Bytes())
	for {
		m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
		m.Add(m, v)
		b := m.Bytes()
		for len(b) < n {
			b = append([]byte{0}, b...)
		}
		if len(b) == n && b[0]&0x80 != 0 {
			return b
		}
		n++
	}
}

// FromTwosComplement decodes big-endian two's complement bytes.
func FromTwosComplement(b []byte) *big.Int {
	v := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}

// DecimalScale returns the scale parameter of a Decimal schema.
func DecimalScale(s *Schema) (int32, error) {
	if s == nil || s.Parameters == nil {
		return 0, fmt.Errorf("decimal schema has no %q parameter", DecimalScaleParam)
	}
	v, err := strconv.Atoi(s.Parameters[DecimalScaleParam])
	if err != nil {
		return 0, fmt.Errorf("decimal schema parameter %q: %w", DecimalScaleParam, err)
	}
	return int32(v), nil
}

// DaysSinceEpoch converts a Date value to its INT32 representation.
func DaysSinceEpoch(t time.Time) int32 {
	return int32(t.UTC().Truncate(24*time.Hour).Unix() / 86400)
}

// DateFromDays converts the INT32 representation of Date to time.Time.
func DateFromDays(d int32) time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

// MillisOfDay converts a Time value to its INT32 representation.
func MillisOfDay(t time.Time) int32 {
	t = t.UTC()
	return int32(t.Hour()*3_600_000 + t.Minute()*60_000 + t.Second()*1000 + t.Nanosecond()/1_000_000)
}

// TimeFromMillis converts the INT32 representation of Time to time.Time on
// 1970-01-01.
func TimeFromMillis(ms int32) time.Time { return time.UnixMilli(int64(ms)).UTC() }
