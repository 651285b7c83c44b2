package postgres

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Binary COPY. For tables whose every column has a type listed in
// binaryConverter, snapshot chunks are read with COPY ... (FORMAT binary):
// cheaper for the server to produce than text and for the task to decode.
// Each binary converter yields exactly the value the text converter of the
// same column yields (TestBinaryCopyMatchesText compares both on edge
// values); any other type keeps the table on text COPY.

// pgEpochMicros is 2000-01-01 00:00:00 UTC in Unix microseconds, the
// epoch of binary date and timestamp values.
const pgEpochMicros = 946684800_000_000

// decimalArena is one snapshot builder's value storage: big.Int values
// for decoded numerics, the bytes of decoded strings and the boxed
// values themselves, carved from the slabs of a boxer (box.go), so that
// an integer, a numeric of up to 64 bits or a short string costs no
// allocation of its own. An arena belongs to one goroutine.
type decimalArena struct {
	box boxer

	// The last day formatZonedIn formatted, and its "yyyy-mm-ddT" text.
	day     int64
	dayText [11]byte
	dayOK   bool
}

// textInline is the longest string copied into the text slab.
const textInline = 512

// reserve returns n writable bytes at the end of the text slab, to be
// filled and then sealed.
func (a *decimalArena) reserve(n int) []byte { return a.box.textSpace(n)[:n] }

// seal returns b, the bytes reserve just returned, filled, as a string
// sharing the slab; the bytes are never written again.
func (a *decimalArena) seal(b []byte) string { return a.box.textTake(b) }

// str copies b into the arena as a string.
func (a *decimalArena) str(b []byte) string {
	if len(b) > textInline {
		return string(b)
	}
	d := a.reserve(len(b))
	copy(d, b)
	return a.seal(d)
}

// convString is the text converter of string columns with its bytes in
// the arena.
func (a *decimalArena) convString(b []byte) (any, error) { return a.box.str(a.str(b)), nil }

// formatZonedIn is formatZoned with the text in the arena; consecutive
// values of the same day reuse the date's digits.
func (a *decimalArena) formatZonedIn(us int64, p int) string {
	const dayMicros = 86400_000_000
	day := floorDiv(us, dayMicros)
	if !a.dayOK || day != a.day {
		t := time.UnixMicro(day * dayMicros).UTC()
		if y := t.Year(); y < 1 || y > 9999 {
			return formatZoned(us, p)
		}
		y, mo, d := t.Date()
		put4(a.dayText[0:4], y)
		a.dayText[4] = '-'
		put2(a.dayText[5:7], int(mo))
		a.dayText[7] = '-'
		put2(a.dayText[8:10], d)
		a.dayText[10] = 'T'
		a.day, a.dayOK = day, true
	}
	tod := us - day*dayMicros
	secs, frac := int(tod/1_000_000), int(tod%1_000_000)
	n := 20 // yyyy-mm-ddThh:mm:ss Z
	if p > 0 {
		n += 1 + p
	}
	out := a.reserve(n)
	copy(out, a.dayText[:])
	put2(out[11:13], secs/3600)
	out[13] = ':'
	put2(out[14:16], secs/60%60)
	out[16] = ':'
	put2(out[17:19], secs%60)
	if p > 0 {
		out[19] = '.'
		for i := 6; i > p; i-- {
			frac /= 10
		}
		for j := 19 + p; j >= 20; j-- {
			out[j] = byte('0' + frac%10)
			frac /= 10
		}
	}
	out[n-1] = 'Z'
	return a.seal(out)
}

// put2 and put4 write v as 2 and 4 decimal digits.
func put2(b []byte, v int) {
	b[0], b[1] = byte('0'+v/10), byte('0'+v%10)
}

func put4(b []byte, v int) {
	put2(b[0:2], v/100)
	put2(b[2:4], v%100)
}

// binaryConverter returns the binary COPY converter of a column, or nil
// when the column is read as text. Numerics take their big.Int values
// from ar.
func (m *mapper) binaryConverter(oid uint32, typmod int32, ar *decimalArena) converter {
	o := m.o
	switch oid {
	case oidBool:
		return binBool
	case oidInt2:
		return func(b []byte) (any, error) {
			if len(b) != 2 {
				return nil, errBinaryLength
			}
			return ar.box.int16(int16(binary.BigEndian.Uint16(b))), nil
		}
	case oidInt4:
		return func(b []byte) (any, error) {
			if len(b) != 4 {
				return nil, errBinaryLength
			}
			return ar.box.int32(int32(binary.BigEndian.Uint32(b))), nil
		}
	case oidInt8:
		return func(b []byte) (any, error) {
			v, err := binInt64Raw(b)
			if err != nil {
				return nil, err
			}
			return ar.box.int64(v), nil
		}
	case oidFloat4:
		return binFloat32
	case oidFloat8:
		return binFloat64
	case oidText, oidVarchar, oidBPChar, oidName, oidJSON:
		return ar.convString
	case oidJSONB:
		return binJSONB
	case oidUUID:
		return binUUID
	case oidBytea:
		if o.binaryMode == "bytes" {
			return binBytea
		}
	case oidNumeric:
		if o.decimalMode == "precise" {
			post := numericPost(typmod)
			if typmod >= 4 { // fixed scale: the rescaled Decimal boxed in the arena
				_, scale := numericTypmod(typmod)
				post = func(d connect.Decimal) (any, error) { return ar.box.dec(rescale(d, scale)), nil }
			}
			return func(b []byte) (any, error) {
				d, special, err := decodeBinaryNumeric(b, ar)
				if err != nil {
					return nil, err
				}
				switch special {
				case "NaN":
					return nil, nil
				case "":
					return post(d)
				}
				return post(connect.Decimal{}) // unreachable: infinities fail in decodeBinaryNumeric
			}
		}
	case oidDate:
		if o.timeMode != "connect" {
			return binDate
		}
	case oidTimestamp:
		if o.timeMode != "connect" {
			if timePrecision(typmod) <= 3 {
				return binTimestampMillis
			}
			return binTimestampMicros
		}
	case oidTimestamptz:
		p := int(min(max(timePrecision(typmod), 0), 6))
		return func(b []byte) (any, error) {
			us, err := binInt64Raw(b)
			if err != nil {
				return nil, err
			}
			switch us {
			case math.MaxInt64:
				return "infinity", nil
			case math.MinInt64:
				return "-infinity", nil
			}
			return ar.box.str(ar.formatZonedIn(us+pgEpochMicros, p)), nil
		}
	}
	return nil
}

var errBinaryLength = errors.New("unexpected binary value length")

func binBool(b []byte) (any, error) {
	if len(b) != 1 {
		return nil, errBinaryLength
	}
	return b[0] != 0, nil
}

func binInt64Raw(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, errBinaryLength
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func binFloat32(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, errBinaryLength
	}
	return math.Float32frombits(binary.BigEndian.Uint32(b)), nil
}

func binFloat64(b []byte) (any, error) {
	if len(b) != 8 {
		return nil, errBinaryLength
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}

func binJSONB(b []byte) (any, error) {
	if len(b) == 0 || b[0] != 1 {
		return nil, fmt.Errorf("unsupported binary jsonb version")
	}
	return string(b[1:]), nil
}

func binUUID(b []byte) (any, error) {
	if len(b) != 16 {
		return nil, errBinaryLength
	}
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:]), nil
}

func binBytea(b []byte) (any, error) { return append([]byte{}, b...), nil }

func binDate(b []byte) (any, error) {
	if len(b) != 4 {
		return nil, errBinaryLength
	}
	switch d := int32(binary.BigEndian.Uint32(b)); d {
	case math.MaxInt32:
		return InfinityDays, nil
	case math.MinInt32:
		return NegInfinityDays, nil
	default:
		return d + 10957, nil // days from 1970-01-01 to 2000-01-01
	}
}

func binTimestampMicros(b []byte) (any, error) {
	us, err := binInt64Raw(b)
	if err != nil {
		return nil, err
	}
	switch us {
	case math.MaxInt64:
		return InfinityMicros, nil
	case math.MinInt64:
		return NegInfinityMicros, nil
	}
	return us + pgEpochMicros, nil
}

func binTimestampMillis(b []byte) (any, error) {
	v, err := binTimestampMicros(b)
	if err != nil {
		return nil, err
	}
	return floorDiv(v.(int64), 1000), nil
}

// formatZoned formats Unix microseconds as Debezium's ZonedTimestamp in UTC
// with p fractional digits.
func formatZoned(us int64, p int) string {
	t := time.UnixMicro(us).UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		frac := ""
		if p > 0 {
			f := fmt.Sprintf("%06d", t.Nanosecond()/1000)
			frac = "." + f[:p]
		}
		return t.Format("2006-01-02T15:04:05") + frac + "Z"
	}
	var out [27]byte
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	put := func(i, v, n int) {
		for j := i + n - 1; j >= i; j-- {
			out[j] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, y, 4)
	out[4] = '-'
	put(5, int(mo), 2)
	out[7] = '-'
	put(8, d, 2)
	out[10] = 'T'
	put(11, h, 2)
	out[13] = ':'
	put(14, mi, 2)
	out[16] = ':'
	put(17, s, 2)
	n := 19
	if p > 0 {
		out[19] = '.'
		f := t.Nanosecond() / 1000
		for i := 6; i > p; i-- {
			f /= 10
		}
		put(20, f, p)
		n = 20 + p
	}
	out[n] = 'Z'
	return string(out[:n+1])
}

// decodeBinaryNumeric decodes numeric's binary form (ndigits, weight,
// sign, dscale, base-10000 digits) to the decimal PostgreSQL prints: the
// unscaled value of its dscale fractional digits. special is "NaN" for NaN;
// infinities are an error, as their text form is for the text converter.
func decodeBinaryNumeric(b []byte, ar *decimalArena) (d connect.Decimal, special string, err error) {
	if len(b) < 8 {
		return d, "", errBinaryLength
	}
	ndigits := int(binary.BigEndian.Uint16(b[0:]))
	weight := int(int16(binary.BigEndian.Uint16(b[2:])))
	sign := binary.BigEndian.Uint16(b[4:])
	dscale := int(binary.BigEndian.Uint16(b[6:]))
	if len(b) != 8+2*ndigits {
		return d, "", errBinaryLength
	}
	switch sign {
	case 0x0000, 0x4000:
	case 0xC000:
		return d, "NaN", nil
	default:
		return d, "", fmt.Errorf("invalid numeric %s", map[uint16]string{0xD000: "Infinity", 0xF000: "-Infinity"}[sign])
	}
	// The value is N * 10000^(weight-ndigits+1), N the digits read as one
	// base-10000 integer; scaled by 10^dscale that is N * 10^e. Digits
	// past dscale are zero (PostgreSQL rounds to dscale), so for e < 0 the
	// division is exact.
	e := 4*(weight-ndigits+1) + dscale
	var u *big.Int
	if ndigits <= 4 {
		var n uint64
		for i := 0; i < ndigits; i++ {
			n = n*10000 + uint64(binary.BigEndian.Uint16(b[8+2*i:]))
		}
		for ; e < 0; e++ {
			n /= 10
		}
		for ; e > 0 && n <= math.MaxInt64/10; e-- {
			n *= 10
		}
		if e == 0 {
			return connect.Decimal{Unscaled: ar.box.bigInt(n, sign == 0x4000), Scale: int32(dscale)}, "", nil
		}
		u = new(big.Int).SetUint64(n)
	} else {
		u = new(big.Int)
		w := big.NewInt(10000)
		for i := 0; i < ndigits; i++ {
			u.Mul(u, w)
			u.Add(u, big.NewInt(int64(binary.BigEndian.Uint16(b[8+2*i:]))))
		}
		if e < 0 {
			u.Quo(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(-e)), nil))
			e = 0
		}
	}
	if e > 0 {
		u.Mul(u, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(e)), nil))
	}
	if sign == 0x4000 {
		u.Neg(u)
	}
	return connect.Decimal{Unscaled: u, Scale: int32(dscale)}, "", nil
}
