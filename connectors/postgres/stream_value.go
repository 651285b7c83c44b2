package postgres

import (
	"github.com/sluicehq/sluice/runtime/connect"
)

// valKind selects a streaming fast path for the text values of a column:
// the value is decoded and boxed without allocating each, and equals what
// the column's converter returns. Values a fast path does not take (errors,
// special values, unusual forms) go through the converter.
type valKind uint8

const (
	kindGeneric valKind = iota // the column's converter
	kindText                   // convString
	kindInt16                  // convInt16
	kindInt32                  // convInt32
	kindInt64                  // convInt64
	kindBool                   // convBool
	kindZoned                  // zonedTimestamp(prec)
	kindDecimal                // numeric(p, scale) under decimal.handling.mode=precise
)

// colFast is the fast path of one value column.
type colFast struct {
	kind  valKind
	prec  int8  // kindZoned: fractional digits
	scale int32 // kindDecimal: the column's scale
}

// fastCols returns the fast paths of tb's value columns (by value index),
// from the relation's columns rel that tb was built from. The choice
// follows mapper.build for built-in types, which it maps before any
// catalog lookup; anything else keeps its converter.
func fastCols(o *options, tb *table, rel []catColumn) []colFast {
	fast := make([]colFast, len(tb.cols))
	for idx, col := range tb.cols {
		if col.relPos < 0 || col.relPos >= len(rel) || col.vsd {
			continue
		}
		cc := rel[col.relPos]
		f := &fast[idx]
		switch cc.typeOID {
		case oidText, oidVarchar, oidBPChar, oidName, oidChar, oidInet, oidCidr, oidMacaddr, oidMacaddr8,
			oidJSON, oidJSONB, oidUUID, oidXML:
			f.kind = kindText
		case oidInt2:
			f.kind = kindInt16
		case oidInt4:
			f.kind = kindInt32
		case oidInt8, oidOID, oidXID:
			f.kind = kindInt64
		case oidBool:
			f.kind = kindBool
		case oidTimestamptz:
			f.kind, f.prec = kindZoned, int8(min(max(timePrecision(cc.typmod), 0), 6))
		case oidNumeric:
			if o.decimalMode != "double" && o.decimalMode != "string" && cc.typmod >= 4 {
				_, scale := numericTypmod(cc.typmod)
				f.kind, f.scale = kindDecimal, scale
			}
		}
	}
	return fast
}

// setRelation registers tb, built from the relation's columns rel, as
// relation id.
func (s *streamer) setRelation(id uint32, tb *table, rel []catColumn) {
	s.relations[id] = tb
	if tb == nil {
		return
	}
	if s.fast == nil {
		s.fast = map[*table][]colFast{}
	}
	s.fast[tb] = fastCols(s.t.o, tb, rel)
}

// makeValue is Task.makeValueIn for a streamed tuple: values of columns
// with a fast path are decoded and boxed in shared slabs, and text values
// share the message's bytes (stream messages are never written once
// received).
func (s *streamer) makeValue(tb *table, cols []tupleCol, old *connect.Struct) (*connect.Struct, *ValueError) {
	fast := s.fast[tb]
	if fast == nil {
		return s.t.makeValueIn(&s.arena, tb, len(cols), tupleSource(cols), old)
	}
	st := s.arena.NewStructValue(tb.value)
	var verr *ValueError
	for pos := 0; pos < len(cols) && pos < len(tb.byRelPos); pos++ {
		idx := tb.byRelPos[pos]
		if idx < 0 {
			continue
		}
		col := tb.cols[idx]
		c := &cols[pos]
		if setSpecial(st, old, col, idx, c.kind) {
			continue
		}
		if c.kind == 't' {
			if v, ok := s.fastValue(fast[idx], c.data); ok {
				st.SetAt(idx, v)
				continue
			}
		}
		st.SetAt(idx, tb.convert(col, c.data, &verr))
	}
	return st, verr
}

// fastValue decodes text value d by fast path f; ok is false when the
// column's converter must decode it.
func (s *streamer) fastValue(f colFast, d []byte) (any, bool) {
	b := &s.box
	switch f.kind {
	case kindText:
		return b.str(aliasString(d)), true
	case kindInt16, kindInt32, kindInt64:
		if len(d) == 0 || len(d) > 18 {
			return nil, false
		}
		n, err := parseInt(d)
		if err != nil {
			return nil, false
		}
		switch f.kind {
		case kindInt16:
			return b.int16(int16(n)), true
		case kindInt32:
			return b.int32(int32(n)), true
		}
		return b.int64(n), true
	case kindBool:
		if len(d) == 1 {
			switch d[0] {
			case 't':
				return true, true
			case 'f':
				return false, true
			}
		}
	case kindZoned:
		return s.zoned(d, int(f.prec))
	case kindDecimal:
		n, scale, ok := parseSmallDecimal(d)
		if !ok {
			return nil, false
		}
		if scale != f.scale {
			if n, ok = rescaleInt(n, scale, f.scale); !ok {
				return nil, false
			}
		}
		return b.decimal(n, f.scale), true
	}
	return nil, false
}

// zoned is convTimestamptzP's fast path (values in UTC as sessions print
// them), writing the result into the text slab.
func (s *streamer) zoned(b []byte, p int) (any, bool) {
	if !isUTCTimestamptz(b) {
		return nil, false
	}
	out := appendZonedUTC(s.box.textSpace(21+p), b, p)
	return s.box.str(s.box.textTake(out)), true
}

// parseSmallDecimal is parseDecimal's fast path: b as an unscaled integer
// and its scale, when it has at most 18 digits.
func parseSmallDecimal(b []byte) (n int64, scale int32, ok bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, 0, false
	}
	neg := false
	scale = -1
	digits := 0
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
			return 0, 0, false
		}
	}
	if digits == 0 || digits > 18 {
		return 0, 0, false
	}
	if neg {
		n = -n
	}
	return n, max(scale, 0), true
}

// rescaleInt is rescale on an unscaled int64 with at most 18 digits: ok is
// false when the result might not fit.
func rescaleInt(n int64, from, to int32) (int64, bool) {
	if to > from {
		k := to - from
		if k > 18 {
			return 0, false
		}
		p := pow10(k)
		const limit = 999999999999999999 // 18 digits
		if n > limit/p || n < -limit/p {
			return 0, false
		}
		return n * p, true
	}
	k := from - to
	if k > 18 {
		return 0, true // truncated to zero, as big.Int.Quo does
	}
	return n / pow10(k), true // truncation toward zero, as big.Int.Quo
}

func pow10(k int32) int64 {
	p := int64(1)
	for ; k > 0; k-- {
		p *= 10
	}
	return p
}
