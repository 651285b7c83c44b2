package convert

import (
	"bytes"
	"encoding/base64"
	"math"
	"sync/atomic"
	"unicode/utf8"

	"github.com/sluicehq/sluice/runtime/connect"
)

// The fast read path for envelopes whose schema text was seen recently, as
// every record of a topic written by a JsonConverter repeats it:
//
//   - the schema is recognised by comparing the envelope's bytes with the
//     cached schema text (a memcmp) instead of scanning it as JSON, and
//   - the payload is decoded straight into Connect values by its schema,
//     without first building a JSON tree.
//
// The fast path only ever succeeds with the value the general path would
// return: on anything it does not handle, and on every error, it gives up
// and ToConnect takes the general path, which then reports the error.

// recentSchemaCap bounds the recently seen envelope schemas checked by
// prefix. A converter reads one topic (or a few); more schemas than this
// still hit the general path's schema cache.
const recentSchemaCap = 8

// recentSchema is an envelope schema text and its parsed schema.
type recentSchema struct {
	raw    []byte
	schema *connect.Schema
	plan   *fastPlan // nil unless schema is a struct
}

// recentSchemas is a small copy-on-write list: readers load it without a
// lock; a miss appends (evicting the oldest) under the converter's mutex.
type recentSchemas struct {
	list atomic.Pointer[[]recentSchema]
}

func (r *recentSchemas) find(data []byte) (recentSchema, bool) {
	l := r.list.Load()
	if l == nil {
		return recentSchema{}, false
	}
	for _, e := range *l {
		if bytes.HasPrefix(data, e.raw) {
			return e, true
		}
	}
	return recentSchema{}, false
}

// add remembers raw (copied) -> s; the caller holds the converter's mutex.
func (r *recentSchemas) add(raw []byte, s *connect.Schema) {
	var cur []recentSchema
	if l := r.list.Load(); l != nil {
		cur = *l
	}
	for _, e := range cur {
		if bytes.Equal(e.raw, raw) {
			return
		}
	}
	next := make([]recentSchema, 0, min(len(cur)+1, recentSchemaCap))
	next = append(next, recentSchema{raw: bytes.Clone(raw), schema: s, plan: newFastPlan(s, 0)})
	next = append(next, cur[:min(len(cur), recentSchemaCap-1)]...)
	r.list.Store(&next)
}

func (j *JSON) rememberSchema(raw []byte, s *connect.Schema) {
	if j.cacheSize <= 0 || s == nil {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.recent.add(raw, s)
}

const (
	envelopeSchemaPrefix  = `{"schema":`
	envelopePayloadPrefix = `,"payload":`
)

// fastEnvelope decodes {"schema":<recent schema>,"payload":...} written
// compactly (as FromConnect writes it). ok is false when the general path
// must decide.
func (j *JSON) fastEnvelope(data []byte) (*connect.Schema, any, bool) {
	if !bytes.HasPrefix(data, []byte(envelopeSchemaPrefix)) {
		return nil, nil, false
	}
	rest := data[len(envelopeSchemaPrefix):]
	e, ok := j.recent.find(rest)
	if !ok {
		return nil, nil, false
	}
	// e.raw is one complete JSON value, so the schema member ends exactly
	// where it does.
	if !bytes.HasPrefix(rest[len(e.raw):], []byte(envelopePayloadPrefix)) {
		return nil, nil, false
	}
	p := &parser{data: data, pos: len(envelopeSchemaPrefix) + len(e.raw) + len(envelopePayloadPrefix)}
	p.skipSpace()
	v, ok := j.fastValue(p, e.schema, e.plan)
	if !ok {
		return nil, nil, false
	}
	p.skipSpace()
	if p.pos >= len(p.data) || p.data[p.pos] != '}' {
		return nil, nil, false
	}
	p.pos++
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, nil, false
	}
	return e.schema, v, true
}

// fastValue decodes the JSON value at p.pos as s, exactly as
// toValue(s, <parsed value>) would.
func (j *JSON) fastValue(p *parser, s *connect.Schema, pl *fastPlan) (any, bool) {
	if p.pos >= len(p.data) {
		return nil, false
	}
	c := p.data[p.pos]
	if c == 'n' {
		if p.literal("null") != nil {
			return nil, false
		}
		v, err := j.toValue(s, nil)
		return v, err == nil
	}
	switch s.Name {
	case connect.DecimalName, connect.DateName, connect.TimeName, connect.TimestampName:
		return j.treeValue(p, s)
	}
	switch s.Type {
	case connect.StructT:
		if c != '{' {
			return nil, false
		}
		return j.fastStruct(p, s, pl)
	case connect.String:
		if c != '"' {
			return nil, false
		}
		str, err := p.str()
		return str, err == nil
	case connect.Boolean:
		switch c {
		case 't':
			return true, p.literal("true") == nil
		case 'f':
			return false, p.literal("false") == nil
		}
		return nil, false
	case connect.Int8, connect.Int16, connect.Int32, connect.Int64:
		n, ok := p.smallInt()
		if !ok {
			return j.treeValue(p, s)
		}
		switch s.Type {
		case connect.Int8:
			if n < -1<<7 || n >= 1<<7 {
				return nil, false
			}
			return int8(n), true
		case connect.Int16:
			if n < -1<<15 || n >= 1<<15 {
				return nil, false
			}
			return int16(n), true
		case connect.Int32:
			if n < -1<<31 || n >= 1<<31 {
				return nil, false
			}
			return int32(n), true
		}
		return n, true
	}
	return j.treeValue(p, s)
}

// treeValue is the general path for one value: parse it, then convert.
func (j *JSON) treeValue(p *parser, s *connect.Schema) (any, bool) {
	node, err := p.value()
	if err != nil {
		return nil, false
	}
	v, err := j.toValue(s, node)
	return v, err == nil
}

// fastStruct decodes an object as struct s: members matched to fields by
// name (the last of duplicate names wins, as in the tree), unknown members
// parsed and ignored, missing fields converted from null.
func (j *JSON) fastStruct(p *parser, s *connect.Schema, pl *fastPlan) (any, bool) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, false
	}
	p.pos++ // '{'
	st := connect.NewStructValue(s)
	var seenSmall uint64
	var seenBig []bool
	if len(s.Fields) > 64 {
		seenBig = make([]bool, len(s.Fields))
	}
	next := 0 // members usually come in field order
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			key, ok := p.plainKey()
			if !ok {
				return nil, false
			}
			p.skipSpace()
			if p.pos >= len(p.data) || p.data[p.pos] != ':' {
				return nil, false
			}
			p.pos++
			p.skipSpace()
			idx := -1
			if next < len(s.Fields) && string(key) == s.Fields[next].Name {
				idx = next
			} else {
				for i := range s.Fields {
					if string(key) == s.Fields[i].Name {
						idx = i
						break
					}
				}
			}
			if idx < 0 {
				if _, err := p.value(); err != nil {
					return nil, false
				}
			} else {
				var v any
				var ok bool
				quoted := p.pos < len(p.data) && p.data[p.pos] == '"'
				if pl != nil && pl.fields[idx].str && quoted {
					v, ok = pl.fields[idx].last.value(p)
				} else if pl != nil && pl.fields[idx].dec && quoted {
					if v, ok = p.base64Decimal(pl.fields[idx].scale); !ok {
						v, ok = j.fastValue(p, s.Fields[idx].Schema, nil)
					}
				} else {
					var sub *fastPlan
					if pl != nil {
						sub = pl.fields[idx].plan
					}
					v, ok = j.fastValue(p, s.Fields[idx].Schema, sub)
				}
				if !ok {
					return nil, false
				}
				st.SetAt(idx, v)
				if seenBig != nil {
					seenBig[idx] = true
				} else {
					seenSmall |= 1 << idx
				}
				next = idx + 1
			}
			p.skipSpace()
			if p.pos >= len(p.data) {
				return nil, false
			}
			if p.data[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.data[p.pos] != '}' {
				return nil, false
			}
			p.pos++
			break
		}
	}
	for i := range s.Fields {
		if seenBig != nil && seenBig[i] || seenBig == nil && seenSmall&(1<<i) != 0 {
			continue
		}
		v, err := j.toValue(s.Fields[i].Schema, nil)
		if err != nil {
			return nil, false
		}
		st.SetAt(i, v)
	}
	return st, true
}

// plainKey reads a member name without escapes and returns its bytes
// (valid UTF-8); anything else is left to the general path.
func (p *parser) plainKey() ([]byte, bool) {
	if p.pos >= len(p.data) || p.data[p.pos] != '"' {
		return nil, false
	}
	start := p.pos + 1
	ascii := true
	for i := start; i < len(p.data); i++ {
		c := p.data[i]
		switch {
		case c == '"':
			key := p.data[start:i]
			if !ascii && !utf8.Valid(key) {
				return nil, false
			}
			p.pos = i + 1
			return key, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// smallInt reads an integer literal with no fraction or exponent that fits
// an int64. It leaves p.pos alone when the literal is anything else.
func (p *parser) smallInt() (int64, bool) {
	i := p.pos
	neg := i < len(p.data) && p.data[i] == '-'
	if neg {
		i++
	}
	start := i
	var n uint64 // 19 digits always fit
	for i < len(p.data) && p.data[i] >= '0' && p.data[i] <= '9' {
		if i-start == 19 {
			return 0, false
		}
		n = n*10 + uint64(p.data[i]-'0')
		i++
	}
	digits := i - start
	if digits == 0 || digits > 1 && p.data[start] == '0' {
		return 0, false
	}
	if i < len(p.data) && (p.data[i] == '.' || p.data[i] == 'e' || p.data[i] == 'E') {
		return 0, false
	}
	if n > math.MaxInt64 && !(neg && n == math.MaxInt64+1) {
		return 0, false
	}
	p.pos = i
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// fastPlan is what the fast read path keeps per struct schema of a recent
// envelope schema: for each field, the plan of a struct field, or for a
// plain string field the last value read, which many records repeat (a
// CDC source's connector, database, table and operation names). A repeated
// string is then returned as the same boxed value, without allocating.
type fastPlan struct {
	fields []fastField
}

type fastField struct {
	plan  *fastPlan // struct fields
	str   bool      // a string field without a logical type
	last  lastString
	dec   bool  // a Decimal field with a valid scale
	scale int32 // dec's scale
}

// maxPlanDepth bounds the plan of nested structs; deeper structs decode
// without one.
const maxPlanDepth = 16

func newFastPlan(s *connect.Schema, depth int) *fastPlan {
	if s == nil || s.Type != connect.StructT || depth >= maxPlanDepth {
		return nil
	}
	switch s.Name {
	case connect.DecimalName, connect.DateName, connect.TimeName, connect.TimestampName:
		return nil // fastValue hands these to the general path
	}
	pl := &fastPlan{fields: make([]fastField, len(s.Fields))}
	for i, f := range s.Fields {
		fs := f.Schema
		switch {
		case fs.Type == connect.String && fs.Name != connect.DecimalName && fs.Name != connect.DateName &&
			fs.Name != connect.TimeName && fs.Name != connect.TimestampName:
			pl.fields[i].str = true
		case fs.Type == connect.StructT:
			pl.fields[i].plan = newFastPlan(fs, depth+1)
		case fs.Name == connect.DecimalName:
			if scale, err := connect.DecimalScale(fs); err == nil {
				pl.fields[i].dec, pl.fields[i].scale = true, scale
			}
		}
	}
	return pl
}

// lastString is a string field's last value. It is safe for concurrent
// use. A field whose values keep changing (maxMissStreak times in a row)
// stops being remembered, so it costs one comparison per record.
type lastString struct {
	cur    atomic.Pointer[boxedString]
	streak atomic.Int32 // misses since the last repeat
}

const maxMissStreak = 4

type boxedString struct {
	s string
	v any // s, boxed once
}

// value reads the string at p.pos (an opening quote) as fastValue does.
func (l *lastString) value(p *parser) (any, bool) {
	start := p.pos + 1
	cur := l.cur.Load()
	if cur != nil {
		// A repeat: the same bytes followed by the closing quote (a plain
		// string compares equal only to its own unescaped text, and a
		// remembered string never contains a quote or backslash).
		end := start + len(cur.s)
		if end < len(p.data) && p.data[end] == '"' && string(p.data[start:end]) == cur.s {
			p.pos = end + 1
			if l.streak.Load() != 0 {
				l.streak.Store(0)
			}
			return cur.v, true
		}
	}
	str, err := p.str()
	if err != nil {
		return nil, false
	}
	var v any = str
	if l.streak.Load() < maxMissStreak && plainString(str) {
		l.streak.Add(1)
		l.cur.Store(&boxedString{s: str, v: v})
	}
	return v, true
}

// plainString reports whether s is written as itself between quotes (no
// escapes) and is valid UTF-8, so that its bytes in the input are s.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// base64Decimal reads a Decimal written as a base64 string without
// escapes, as toValue does for a string node; anything else (escapes,
// control characters, base64 that only the unpadded alphabet accepts,
// long values) is left to the general path, and p.pos is left alone.
func (p *parser) base64Decimal(scale int32) (any, bool) {
	start := p.pos + 1
	end := start
	for end < len(p.data) && p.data[end] != '"' {
		if p.data[end] < 0x20 || p.data[end] == '\\' {
			return nil, false
		}
		end++
	}
	if end >= len(p.data) || end == start || end-start > 88 {
		return nil, false
	}
	var tmp [66]byte // base64.StdEncoding.DecodedLen(88)
	n, err := base64.StdEncoding.Decode(tmp[:], p.data[start:end])
	if err != nil || n == 0 {
		return nil, false
	}
	p.pos = end + 1
	return connect.DecimalFromBytes(tmp[:n], scale), true
}
