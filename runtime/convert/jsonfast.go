package convert

import (
	"bytes"
	"math"
	"sync"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"

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
	// arenas holds *connect.StructArena: the structs of a payload are
	// carved from shared blocks instead of two allocations each.
	arenas *sync.Pool
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
	next = append(next, recentSchema{raw: bytes.Clone(raw), schema: s,
		arenas: &sync.Pool{New: func() any { return new(connect.StructArena) }}})
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
	// One copy of the payload, which the decoded strings then alias,
	// instead of one allocation per string (the input buffer is the
	// caller's, often reused).
	own := bytes.Clone(data[len(envelopeSchemaPrefix)+len(e.raw)+len(envelopePayloadPrefix):])
	p := &parser{data: own, arena: e.arenas.Get().(*connect.StructArena)}
	defer e.arenas.Put(p.arena)
	p.skipSpace()
	v, ok := j.fastValue(p, e.schema)
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
func (j *JSON) fastValue(p *parser, s *connect.Schema) (any, bool) {
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
		return j.fastStruct(p, s)
	case connect.String:
		if c != '"' {
			return nil, false
		}
		if str, ok := p.aliasStr(); ok {
			return str, true
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
func (j *JSON) fastStruct(p *parser, s *connect.Schema) (any, bool) {
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxDepth {
		return nil, false
	}
	p.pos++ // '{'
	var st *connect.Struct
	if p.arena != nil {
		st = p.arena.NewStructValue(s)
	} else {
		st = connect.NewStructValue(s)
	}
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
				v, ok := j.fastValue(p, s.Fields[idx].Schema)
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

// aliasStr reads a string without escapes and of valid UTF-8 as a string
// sharing p.data's bytes (the fast path's private copy of the payload);
// anything else, and a parser without an arena (not the fast path's), is
// left to str. p.pos is left alone when ok is false.
func (p *parser) aliasStr() (string, bool) {
	if p.arena == nil {
		return "", false
	}
	start := p.pos + 1
	ascii := true
	for i := start; i < len(p.data); i++ {
		c := p.data[i]
		switch {
		case c == '"':
			b := p.data[start:i]
			if !ascii && !utf8.Valid(b) {
				return "", false
			}
			p.pos = i + 1
			if len(b) == 0 {
				return "", true
			}
			return unsafe.String(&b[0], len(b)), true
		case c == '\\' || c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", false
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
