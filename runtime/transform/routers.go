package transform

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// compileJavaRegex compiles a Java regular expression that must match the
// whole input (Matcher.matches semantics). Go's RE2 syntax covers the
// common subset; lookaround and backreferences are rejected.
func compileJavaRegex(key, expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, connect.Errorf(key, "invalid regex %q: %v", expr, err)
	}
	return re, nil
}

// intoJavaRegex compiles the value of key with compileJavaRegex.
func intoJavaRegex(key string, dst **regexp.Regexp) func(string) error {
	return connect.Into(dst, func(v string) (*regexp.Regexp, error) { return compileJavaRegex(key, v) })
}

// javaReplacement translates a java.util.regex replacement string ($1,
// ${name}, \$ escapes) into a Go regexp template. Like Java, "$12" refers to
// group 12 only if the pattern has that many groups, else group 1 then "2".
func javaReplacement(rep string, re *regexp.Regexp) (string, error) {
	groups := re.NumSubexp()
	var b strings.Builder
	for i := 0; i < len(rep); i++ {
		c := rep[i]
		switch c {
		case '\\':
			i++
			if i >= len(rep) {
				return "", fmt.Errorf("character to be escaped is missing")
			}
			if rep[i] == '$' {
				b.WriteString("$$")
			} else {
				b.WriteByte(rep[i])
			}
		case '$':
			i++
			if i >= len(rep) {
				return "", fmt.Errorf("illegal group reference: group index is missing")
			}
			if rep[i] == '{' {
				end := strings.IndexByte(rep[i:], '}')
				if end < 0 {
					return "", fmt.Errorf("named capturing group is missing trailing '}'")
				}
				name := rep[i+1 : i+end]
				if re.SubexpIndex(name) < 0 {
					return "", fmt.Errorf("no group with name {%s}", name)
				}
				b.WriteString("${" + name + "}")
				i += end
				continue
			}
			if rep[i] < '0' || rep[i] > '9' {
				return "", fmt.Errorf("illegal group reference")
			}
			n := int(rep[i] - '0')
			for i+1 < len(rep) && rep[i+1] >= '0' && rep[i+1] <= '9' {
				next := n*10 + int(rep[i+1]-'0')
				if next > groups {
					break
				}
				n = next
				i++
			}
			if n > groups {
				return "", fmt.Errorf("no group %d", n)
			}
			b.WriteString("${" + strconv.Itoa(n) + "}")
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// RegexRouter renames the topic when the whole topic matches regex,
// replacing it with replacement ($1 group references, Java syntax).
type RegexRouter struct {
	re       *regexp.Regexp
	template string
}

// regexRouterOptions is the configuration of RegexRouter.
type regexRouterOptions struct {
	re          *regexp.Regexp
	replacement string
	template    string // set by Check
}

func (o *regexRouterOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		reqKey("regex", connect.TypeString, "Regular expression to use for matching the whole topic name.", intoJavaRegex("regex", &o.re)),
		setKey("replacement", "Replacement string, with $1-style group references.", connect.IntoString(&o.replacement)),
	}
}

func (o *regexRouterOptions) Check() error {
	tmpl, err := javaReplacement(o.replacement, o.re)
	if err != nil {
		return connect.Errorf("replacement", "invalid replacement %q: %v", o.replacement, err)
	}
	o.template = tmpl
	return nil
}

func newRegexRouter(o *regexRouterOptions) Transformation {
	return &RegexRouter{re: o.re, template: o.template}
}

// Apply implements Transformation.
func (t *RegexRouter) Apply(r *connect.Record) (*connect.Record, error) {
	m := t.re.FindStringSubmatchIndex(r.Topic)
	if m == nil {
		return r, nil
	}
	topic := string(t.re.ExpandString(nil, t.template, r.Topic, m))
	if topic == r.Topic {
		return r, nil
	}
	out := r.Clone()
	out.Topic = topic
	return out, nil
}

// TimestampRouter renames the topic from topic.format ("${topic}" and
// "${timestamp}" placeholders) with the record timestamp (UTC) formatted
// by timestamp.format in java.text.SimpleDateFormat syntax.
type TimestampRouter struct {
	format string
	ts     *dateFormat
}

// timestampRouterOptions is the configuration of TimestampRouter.
type timestampRouterOptions struct {
	topicFormat string
	ts          *dateFormat
}

func (o *timestampRouterOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		strKey("topic.format", "${topic}-${timestamp}", "Format string which can contain ${topic} and ${timestamp} as placeholders.", connect.IntoString(&o.topicFormat)),
		strKey("timestamp.format", "yyyyMMdd", "Format string for the timestamp compatible with java.text.SimpleDateFormat (UTC).", intoDateFormat("timestamp.format", &o.ts)),
	}
}

func (o *timestampRouterOptions) Check() error { return nil }

// intoDateFormat parses a SimpleDateFormat pattern.
func intoDateFormat(key string, dst **dateFormat) func(string) error {
	return func(v string) error {
		df, err := parseDateFormat(v)
		if err != nil {
			return connect.Errorf(key, "%v", err)
		}
		*dst = df
		return nil
	}
}

func newTimestampRouter(o *timestampRouterOptions) Transformation {
	return &TimestampRouter{format: o.topicFormat, ts: o.ts}
}

// Apply implements Transformation.
func (t *TimestampRouter) Apply(r *connect.Record) (*connect.Record, error) {
	if r.Timestamp.IsZero() {
		return nil, dataErr("TimestampRouter", "timestamp missing on record for topic %q", r.Topic)
	}
	topic := strings.ReplaceAll(t.format, "${topic}", r.Topic)
	topic = strings.ReplaceAll(topic, "${timestamp}", t.ts.format(r.Timestamp.UTC()))
	out := r.Clone()
	out.Topic = topic
	return out, nil
}

// dateFormat is a parsed java.text.SimpleDateFormat pattern.
type dateFormat struct {
	tokens []dateToken
}

type dateToken struct {
	letter  byte // 0 for literal text
	count   int
	literal string
}

// parseDateFormat parses a SimpleDateFormat pattern: letters G y Y M L d D
// E u a H k K h m s S w W F z Z X (repeated for width), 'quoted text' and
// ” for a quote; other characters are literal.
func parseDateFormat(pattern string) (*dateFormat, error) {
	df := &dateFormat{}
	lit := func(s string) {
		if n := len(df.tokens); n > 0 && df.tokens[n-1].letter == 0 {
			df.tokens[n-1].literal += s
			return
		}
		df.tokens = append(df.tokens, dateToken{literal: s})
	}
	for i := 0; i < len(pattern); {
		c := pattern[i]
		switch {
		case c == '\'':
			if i+1 < len(pattern) && pattern[i+1] == '\'' {
				lit("'")
				i += 2
				continue
			}
			end := strings.IndexByte(pattern[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("unterminated quote in pattern %q", pattern)
			}
			// '' inside quoted text is a quote.
			text := pattern[i+1 : i+1+end]
			i += end + 2
			for i < len(pattern) && pattern[i] == '\'' && i+1 < len(pattern) {
				end2 := strings.IndexByte(pattern[i+1:], '\'')
				if end2 < 0 {
					return nil, fmt.Errorf("unterminated quote in pattern %q", pattern)
				}
				text += "'" + pattern[i+1:i+1+end2]
				i += end2 + 2
			}
			lit(text)
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			if !strings.ContainsRune("GyYMLdDEuaHkKhmsSwWFzZX", rune(c)) {
				return nil, fmt.Errorf("illegal pattern character '%c' in %q", c, pattern)
			}
			n := 1
			for i+n < len(pattern) && pattern[i+n] == c {
				n++
			}
			df.tokens = append(df.tokens, dateToken{letter: c, count: n})
			i += n
		default:
			lit(string(c))
			i++
		}
	}
	return df, nil
}

func pad(n int64, width int) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	if len(s) < width {
		s = strings.Repeat("0", width-len(s)) + s
	}
	if neg {
		return "-" + s
	}
	return s
}

func (df *dateFormat) format(t time.Time) string {
	var b strings.Builder
	for _, tk := range df.tokens {
		n := tk.count
		switch tk.letter {
		case 0:
			b.WriteString(tk.literal)
		case 'G':
			if t.Year() > 0 {
				b.WriteString("AD")
			} else {
				b.WriteString("BC")
			}
		case 'y', 'Y', 'u':
			y := t.Year()
			if tk.letter == 'Y' {
				y, _ = t.ISOWeek()
			}
			if tk.letter == 'u' {
				wd := int(t.Weekday())
				if wd == 0 {
					wd = 7
				}
				b.WriteString(pad(int64(wd), n))
				continue
			}
			if n == 2 {
				b.WriteString(pad(int64(y%100), 2))
			} else {
				b.WriteString(pad(int64(y), n))
			}
		case 'M', 'L':
			switch {
			case n >= 4:
				b.WriteString(t.Month().String())
			case n == 3:
				b.WriteString(t.Month().String()[:3])
			default:
				b.WriteString(pad(int64(t.Month()), n))
			}
		case 'd':
			b.WriteString(pad(int64(t.Day()), n))
		case 'D':
			b.WriteString(pad(int64(t.YearDay()), n))
		case 'E':
			if n >= 4 {
				b.WriteString(t.Weekday().String())
			} else {
				b.WriteString(t.Weekday().String()[:3])
			}
		case 'a':
			if t.Hour() < 12 {
				b.WriteString("AM")
			} else {
				b.WriteString("PM")
			}
		case 'H':
			b.WriteString(pad(int64(t.Hour()), n))
		case 'k':
			h := t.Hour()
			if h == 0 {
				h = 24
			}
			b.WriteString(pad(int64(h), n))
		case 'K':
			b.WriteString(pad(int64(t.Hour()%12), n))
		case 'h':
			h := t.Hour() % 12
			if h == 0 {
				h = 12
			}
			b.WriteString(pad(int64(h), n))
		case 'm':
			b.WriteString(pad(int64(t.Minute()), n))
		case 's':
			b.WriteString(pad(int64(t.Second()), n))
		case 'S':
			b.WriteString(pad(int64(t.Nanosecond()/1_000_000), n))
		case 'w':
			_, w := t.ISOWeek()
			b.WriteString(pad(int64(w), n))
		case 'W':
			b.WriteString(pad(int64((t.Day()-1)/7+1), n))
		case 'F':
			b.WriteString(pad(int64((t.Day()-1)/7+1), n))
		case 'z':
			if n >= 4 {
				b.WriteString("Coordinated Universal Time")
			} else {
				b.WriteString("UTC")
			}
		case 'Z':
			b.WriteString("+0000")
		case 'X':
			b.WriteString("Z")
		}
	}
	return b.String()
}

// TopicNameMatchesPredicate is true for records whose whole topic matches
// pattern.
type TopicNameMatchesPredicate struct{ re *regexp.Regexp }

// topicNameMatchesOptions is the configuration of TopicNameMatches.
type topicNameMatchesOptions struct{ re *regexp.Regexp }

func (o *topicNameMatchesOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{reqKey("pattern", connect.TypeString, "A Java regular expression for matching against the name of a record's topic.", intoJavaRegex("pattern", &o.re))}
}

func (o *topicNameMatchesOptions) Check() error { return nil }

func newTopicNameMatches(o *topicNameMatchesOptions) Predicate {
	return &TopicNameMatchesPredicate{re: o.re}
}

// Test implements Predicate.
func (p *TopicNameMatchesPredicate) Test(r *connect.Record) (bool, error) {
	return p.re.MatchString(r.Topic), nil
}

// HasHeaderKeyPredicate is true for records with at least one header named
// name.
type HasHeaderKeyPredicate struct{ name string }

// hasHeaderKeyOptions is the configuration of HasHeaderKey.
type hasHeaderKeyOptions struct{ name string }

func (o *hasHeaderKeyOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{reqKey("name", connect.TypeString, "The header name.", connect.IntoString(&o.name))}
}

func (o *hasHeaderKeyOptions) Check() error { return nil }

func newHasHeaderKey(o *hasHeaderKeyOptions) Predicate {
	return &HasHeaderKeyPredicate{name: o.name}
}

// Test implements Predicate.
func (p *HasHeaderKeyPredicate) Test(r *connect.Record) (bool, error) {
	return r.Header(p.name) != nil, nil
}

// tombstonePredicate is RecordIsTombstone: true when the value is nil.
type tombstonePredicate struct{}

func (tombstonePredicate) Test(r *connect.Record) (bool, error) { return r.Value == nil, nil }
