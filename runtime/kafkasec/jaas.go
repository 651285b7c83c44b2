package kafkasec

import (
	"fmt"
	"strings"
)

// JAASEntry is one login module of a JAAS configuration.
type JAASEntry struct {
	Module  string // e.g. org.apache.kafka.common.security.scram.ScramLoginModule
	Flag    string // required, requisite, sufficient or optional
	Options map[string]string
}

// ParseJAAS parses the body of a JAAS configuration as sasl.jaas.config
// holds it: `Module flag key="value" key2=value2;`, one or more entries,
// values quoted with '"' (backslash escapes) or bare.
func ParseJAAS(s string) ([]JAASEntry, error) {
	p := &jaasParser{s: s}
	var out []JAASEntry
	for {
		p.space()
		if p.eof() {
			break
		}
		mod := p.word()
		if mod == "" {
			return nil, p.errf("expected a login module class name")
		}
		p.space()
		flag := p.word()
		switch flag {
		case "required", "requisite", "sufficient", "optional":
		case "":
			return nil, p.errf("expected a control flag (required, requisite, sufficient, optional) after %s", mod)
		default:
			return nil, p.errf("unknown control flag %q after %s", flag, mod)
		}
		e := JAASEntry{Module: mod, Flag: flag, Options: map[string]string{}}
		for {
			p.space()
			if p.eof() {
				return nil, p.errf("missing ';' after the options of %s", mod)
			}
			if p.peek() == ';' {
				p.i++
				break
			}
			key := p.word()
			if key == "" {
				return nil, p.errf("expected an option name")
			}
			p.space()
			if p.eof() || p.peek() != '=' {
				return nil, p.errf("expected '=' after option %s", key)
			}
			p.i++
			p.space()
			val, err := p.value()
			if err != nil {
				return nil, err
			}
			e.Options[key] = val
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no login module")
	}
	return out, nil
}

type jaasParser struct {
	s string
	i int
}

func (p *jaasParser) eof() bool  { return p.i >= len(p.s) }
func (p *jaasParser) peek() byte { return p.s[p.i] }

func (p *jaasParser) errf(format string, args ...any) error {
	return fmt.Errorf("at byte %d: %s", p.i, fmt.Sprintf(format, args...))
}

func (p *jaasParser) space() {
	for !p.eof() && strings.IndexByte(" \t\r\n", p.peek()) >= 0 {
		p.i++
	}
}

func (p *jaasParser) word() string {
	start := p.i
	for !p.eof() && strings.IndexByte(" \t\r\n=;\"", p.peek()) < 0 {
		p.i++
	}
	return p.s[start:p.i]
}

func (p *jaasParser) value() (string, error) {
	if p.eof() {
		return "", p.errf("expected a value")
	}
	if p.peek() != '"' {
		v := p.word()
		if v == "" {
			return "", p.errf("expected a value")
		}
		return v, nil
	}
	start := p.i
	p.i++
	var b strings.Builder
	for !p.eof() {
		c := p.peek()
		p.i++
		switch c {
		case '\\':
			if p.eof() {
				return "", p.errf("unterminated escape")
			}
			b.WriteByte(p.peek())
			p.i++
		case '"':
			return b.String(), nil
		default:
			b.WriteByte(c)
		}
	}
	p.i = start
	return "", p.errf("unterminated quoted value")
}
