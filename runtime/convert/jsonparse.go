package convert

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// A small JSON parser producing a tree that keeps number literals verbatim
// (so integers, floats and NUMERIC decimals are typed by their schema, not
// by float64) and the raw text of each object member (the envelope's schema
// text is the schema cache key).
//
// Tree values: nil, bool, string, jsonNumber, []any, *jsonObject.

type jsonNumber string

func (n jsonNumber) integral() bool {
	for i := 0; i < len(n); i++ {
		switch n[i] {
		case '.', 'e', 'E':
			return false
		}
	}
	return true
}

type jsonMember struct {
	key        string
	value      any
	start, end int // raw text span of value
}

type jsonObject struct {
	members []jsonMember
	index   map[string]int // built lazily for large objects
}

// get returns the value of the last member named key (Jackson keeps the
// last of duplicate names).
func (o *jsonObject) get(key string) (any, bool) {
	if len(o.members) > 12 {
		if o.index == nil {
			o.index = make(map[string]int, len(o.members))
			for i, m := range o.members {
				o.index[m.key] = i
			}
		}
		i, ok := o.index[key]
		if !ok {
			return nil, false
		}
		return o.members[i].value, true
	}
	for i := len(o.members) - 1; i >= 0; i-- {
		if o.members[i].key == key {
			return o.members[i].value, true
		}
	}
	return nil, false
}

// getAt is get with a hint: struct fields usually arrive in schema order,
// so member i is checked first.
func (o *jsonObject) getAt(i int, key string) (any, bool) {
	if i < len(o.members) && o.members[i].key == key {
		// Fast path, unless a later duplicate overrides it.
		if len(o.members) <= 64 {
			for k := i + 1; k < len(o.members); k++ {
				if o.members[k].key == key {
					return o.get(key)
				}
			}
			return o.members[i].value, true
		}
	}
	return o.get(key)
}

func (o *jsonObject) member(key string) *jsonMember {
	for i := len(o.members) - 1; i >= 0; i-- {
		if o.members[i].key == key {
			return &o.members[i]
		}
	}
	return nil
}

const maxDepth = 1000

type parser struct {
	data  []byte
	pos   int
	depth int
}

// SyntaxError reports malformed JSON with the byte offset at fault.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("convert: invalid JSON at byte %d: %s", e.Offset, e.Msg)
}

func parseJSON(data []byte) (any, error) {
	p := &parser{data: data}
	p.skipSpace()
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errf("unexpected %s after top-level value", p.describe())
	}
	return v, nil
}

func (p *parser) errf(format string, args ...any) error {
	return &SyntaxError{Offset: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *parser) describe() string {
	if p.pos >= len(p.data) {
		return "end of input"
	}
	c := p.data[p.pos]
	if c >= 0x20 && c < 0x7f {
		return strconv.QuoteRune(rune(c))
	}
	return fmt.Sprintf("byte 0x%02x", c)
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *parser) value() (any, error) {
	if p.pos >= len(p.data) {
		return nil, p.errf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return nil, p.errf("unexpected %s", p.describe())
}

func (p *parser) literal(s string) error {
	if len(p.data)-p.pos < len(s) || string(p.data[p.pos:p.pos+len(s)]) != s {
		return p.errf("invalid literal, expected %s", s)
	}
	p.pos += len(s)
	return nil
}

func (p *parser) number() (any, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	intStart := p.pos
	if n := digits(); n == 0 {
		return nil, p.errf("invalid number: expected digit")
	} else if n > 1 && p.data[intStart] == '0' {
		p.pos = intStart
		return nil, p.errf("invalid number: leading zero")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errf("invalid number: expected digit after decimal point")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errf("invalid number: expected digit in exponent")
		}
	}
	return jsonNumber(p.data[start:p.pos]), nil
}

func (p *parser) str() (string, error) {
	p.pos++ // opening quote
	start := p.pos
	// Fast path: no escapes.
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c == '"' {
			s := p.data[start:p.pos]
			p.pos++
			if !utf8.Valid(s) {
				return string([]rune(string(s))), nil // invalid bytes become U+FFFD
			}
			return string(s), nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.errf("control character 0x%02x in string", c)
		}
		p.pos++
	}
	buf := append([]byte(nil), p.data[start:p.pos]...)
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			if !utf8.Valid(buf) {
				return string([]rune(string(buf))), nil
			}
			return string(buf), nil
		case c < 0x20:
			return "", p.errf("control character 0x%02x in string", c)
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		p.pos++
		if p.pos >= len(p.data) {
			break
		}
		e := p.data[p.pos]
		p.pos++
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := p.hex4()
			if !ok {
				return "", p.errf("invalid \\u escape")
			}
			if utf16.IsSurrogate(r) {
				if p.pos+1 < len(p.data) && p.data[p.pos] == '\\' && p.data[p.pos+1] == 'u' {
					save := p.pos
					p.pos += 2
					r2, ok2 := p.hex4()
					if dec := utf16.DecodeRune(r, r2); ok2 && dec != utf8.RuneError {
						r = dec
					} else {
						p.pos = save
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			buf = utf8.AppendRune(buf, r)
		default:
			p.pos--
			return "", p.errf("invalid escape character %s", p.describe())
		}
	}
	return "", p.errf("unterminated string")
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.pos < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.pos : p.pos+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	p.pos += 4
	return r, true
}

func (p *parser) array() (any, error) {
	p.depth++
	if p.depth > maxDepth {
		return nil, p.errf("nesting deeper than %d", maxDepth)
	}
	defer func() { p.depth-- }()
	p.pos++
	out := []any{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return out, nil
	}
	for {
		p.skipSpace()
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errf("unterminated array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return out, nil
		default:
			return nil, p.errf("expected ',' or ']' in array, found %s", p.describe())
		}
	}
}

func (p *parser) object() (any, error) {
	p.depth++
	if p.depth > maxDepth {
		return nil, p.errf("nesting deeper than %d", maxDepth)
	}
	defer func() { p.depth-- }()
	p.pos++
	o := &jsonObject{}
	p.skipSpace()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return o, nil
	}
	for {
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errf("expected object member name, found %s", p.describe())
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errf("expected ':' after member name %q, found %s", k, p.describe())
		}
		p.pos++
		p.skipSpace()
		start := p.pos
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		o.members = append(o.members, jsonMember{key: k, value: v, start: start, end: p.pos})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errf("unterminated object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return o, nil
		default:
			return nil, p.errf("expected ',' or '}' in object, found %s", p.describe())
		}
	}
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case jsonNumber:
		return "number"
	case []any:
		return "array"
	case *jsonObject:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

// skip validates one value without building it.
func (p *parser) skip() error {
	if p.pos >= len(p.data) {
		return p.errf("unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{' || c == '[':
		p.depth++
		if p.depth > maxDepth {
			return p.errf("nesting deeper than %d", maxDepth)
		}
		defer func() { p.depth-- }()
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		p.pos++
		p.skipSpace()
		if p.pos < len(p.data) && p.data[p.pos] == closing {
			p.pos++
			return nil
		}
		for {
			p.skipSpace()
			if closing == '}' {
				if p.pos >= len(p.data) || p.data[p.pos] != '"' {
					return p.errf("expected object member name, found %s", p.describe())
				}
				if err := p.skipString(); err != nil {
					return err
				}
				p.skipSpace()
				if p.pos >= len(p.data) || p.data[p.pos] != ':' {
					return p.errf("expected ':' after member name, found %s", p.describe())
				}
				p.pos++
				p.skipSpace()
			}
			if err := p.skip(); err != nil {
				return err
			}
			p.skipSpace()
			if p.pos >= len(p.data) {
				return p.errf("unterminated %s", map[byte]string{'}': "object", ']': "array"}[closing])
			}
			switch p.data[p.pos] {
			case ',':
				p.pos++
			case closing:
				p.pos++
				return nil
			default:
				return p.errf("expected ',' or '%c', found %s", closing, p.describe())
			}
		}
	case c == '"':
		return p.skipString()
	}
	_, err := p.value()
	return err
}

func (p *parser) skipString() error {
	p.pos++
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			return nil
		case c == '\\':
			p.pos += 2
		case c < 0x20:
			return p.errf("control character 0x%02x in string", c)
		default:
			p.pos++
		}
	}
	return p.errf("unterminated string")
}
