package s3

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// partitioner maps a record to its encoded partition path (without the
// topics dir and topic).
type partitioner interface {
	encode(r *connect.Record, tp connect.TopicPartition, ts int64) (string, error)
	// timeBased reports whether the path depends on the record timestamp.
	timeBased() bool
}

func newPartitioner(s *settings) (partitioner, error) {
	switch s.partitioner {
	case "field":
		return fieldPartitioner{fields: s.partitionFields, delim: s.dirDelim}, nil
	case "time", "daily", "hourly":
		toks, err := parseJoda(s.pathFormat)
		if err != nil {
			return nil, connect.Errorf(KeyPathFormat, "%v", err)
		}
		return timePartitioner{toks: toks, durationMs: s.durationMs, tz: s.tz}, nil
	}
	return defaultPartitioner{}, nil
}

type defaultPartitioner struct{}

func (defaultPartitioner) encode(_ *connect.Record, tp connect.TopicPartition, _ int64) (string, error) {
	return "partition=" + strconv.Itoa(int(tp.Partition)), nil
}
func (defaultPartitioner) timeBased() bool { return false }

type fieldPartitioner struct {
	fields []string
	delim  string
}

func (f fieldPartitioner) timeBased() bool { return false }

func (f fieldPartitioner) encode(r *connect.Record, _ connect.TopicPartition, _ int64) (string, error) {
	parts := make([]string, 0, len(f.fields))
	for _, name := range f.fields {
		var v any
		switch val := r.Value.(type) {
		case *connect.Struct:
			if val.Schema().Field(name) == nil {
				return "", fmt.Errorf("FieldPartitioner: field %q not in value schema %v", name, val.Schema())
			}
			v = val.Get(name)
		case map[string]any:
			var ok bool
			if v, ok = val[name]; !ok {
				return "", fmt.Errorf("FieldPartitioner: field %q missing from value", name)
			}
		default:
			return "", fmt.Errorf("FieldPartitioner: value of type %T is not a struct or map", r.Value)
		}
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case bool:
			s = strconv.FormatBool(x)
		case int8:
			s = strconv.Itoa(int(x))
		case int16:
			s = strconv.Itoa(int(x))
		case int32:
			s = strconv.Itoa(int(x))
		case int64:
			s = strconv.FormatInt(x, 10)
		case int:
			s = strconv.Itoa(x)
		case float64:
			if x != float64(int64(x)) {
				return "", fmt.Errorf("FieldPartitioner: field %q has non-integral number %v", name, x)
			}
			s = strconv.FormatInt(int64(x), 10)
		case nil:
			return "", fmt.Errorf("FieldPartitioner: field %q is null", name)
		default:
			return "", fmt.Errorf("FieldPartitioner: field %q has unsupported type %T (use string, integer or boolean fields)", name, v)
		}
		parts = append(parts, name+"="+s)
	}
	return strings.Join(parts, f.delim), nil
}

type timePartitioner struct {
	toks       []jodaToken
	durationMs int64
	tz         *time.Location
}

func (p timePartitioner) timeBased() bool { return true }

func (p timePartitioner) encode(_ *connect.Record, _ connect.TopicPartition, ts int64) (string, error) {
	// Bucket the timestamp in local time, like Confluent's
	// TimeBasedPartitioner: floor(local / duration) * duration.
	t := time.UnixMilli(ts).In(p.tz)
	_, off := t.Zone()
	local := ts + int64(off)*1000
	bucket := floorDiv(local, p.durationMs) * p.durationMs
	start := time.UnixMilli(bucket - int64(off)*1000).In(p.tz)
	return formatJoda(p.toks, start), nil
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// jodaToken is a literal or a date field of a Joda-Time pattern.
type jodaToken struct {
	lit   string
	field byte // 0 for literal
	width int
}

// parseJoda parses the subset of Joda-Time DateTimeFormat patterns used in
// path.format: quoted literals ('year'=), ” for a quote, and the numeric
// fields y/Y (year), M (month), d (day), H (hour 0-23), k (hour 1-24),
// h (hour 1-12), m (minute), s (second), S (millisecond), D (day of year),
// w (week of year). Other pattern letters are rejected.
func parseJoda(p string) ([]jodaToken, error) {
	var toks []jodaToken
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			toks = append(toks, jodaToken{lit: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(p); {
		c := p[i]
		switch {
		case c == '\'':
			if i+1 < len(p) && p[i+1] == '\'' {
				lit.WriteByte('\'')
				i += 2
				continue
			}
			j := i + 1
			for {
				if j >= len(p) {
					return nil, fmt.Errorf("unterminated quote at byte %d of %q", i, p)
				}
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				lit.WriteByte(p[j])
				j++
			}
			i = j + 1
		case (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'):
			j := i
			for j < len(p) && p[j] == c {
				j++
			}
			switch c {
			case 'y', 'Y', 'x', 'M', 'd', 'H', 'k', 'h', 'm', 's', 'S', 'D', 'w':
			default:
				return nil, fmt.Errorf("unsupported pattern letter %q at byte %d of %q (numeric date fields only)", c, i, p)
			}
			if c == 'M' && j-i >= 3 {
				return nil, fmt.Errorf("month names (MMM) are not supported at byte %d of %q; use MM", i, p)
			}
			flush()
			toks = append(toks, jodaToken{field: c, width: j - i})
			i = j
		default:
			lit.WriteByte(c)
			i++
		}
	}
	flush()
	if len(toks) == 0 {
		return nil, fmt.Errorf("empty pattern")
	}
	return toks, nil
}

func formatJoda(toks []jodaToken, t time.Time) string {
	var b strings.Builder
	for _, tk := range toks {
		if tk.field == 0 {
			b.WriteString(tk.lit)
			continue
		}
		var n int
		switch tk.field {
		case 'y', 'Y', 'x':
			n = t.Year()
			if tk.width == 2 {
				n %= 100
			}
		case 'M':
			n = int(t.Month())
		case 'd':
			n = t.Day()
		case 'H':
			n = t.Hour()
		case 'k':
			n = t.Hour()
			if n == 0 {
				n = 24
			}
		case 'h':
			n = t.Hour() % 12
			if n == 0 {
				n = 12
			}
		case 'm':
			n = t.Minute()
		case 's':
			n = t.Second()
		case 'S':
			n = t.Nanosecond() / 1e6
		case 'D':
			n = t.YearDay()
		case 'w':
			_, n = t.ISOWeek()
		}
		s := strconv.Itoa(n)
		for len(s) < tk.width {
			s = "0" + s
		}
		b.WriteString(s)
	}
	return b.String()
}

// timestampOf extracts a record's timestamp in ms for the configured
// extractor.
func timestampOf(s *settings, r *connect.Record, now time.Time) (int64, error) {
	switch s.extractor {
	case "record":
		if r.Timestamp.IsZero() {
			return 0, fmt.Errorf("record has no timestamp (Record timestamp extractor)")
		}
		return r.Timestamp.UnixMilli(), nil
	case "recordfield":
		return fieldTimestamp(r.Value, s.timestampField)
	}
	return now.UnixMilli(), nil
}

// fieldTimestamp reads a (possibly dotted, nested) field as a timestamp:
// Timestamp/Date logical values, integers (ms since epoch) or RFC 3339
// strings.
func fieldTimestamp(v any, path string) (int64, error) {
	cur := v
	for _, name := range strings.Split(path, ".") {
		switch x := cur.(type) {
		case *connect.Struct:
			if x.Schema().Field(name) == nil {
				return 0, fmt.Errorf("timestamp.field %q: no field %q in %v", path, name, x.Schema())
			}
			cur = x.Get(name)
		case map[string]any:
			cur = x[name]
		default:
			return 0, fmt.Errorf("timestamp.field %q: cannot read field %q from %T", path, name, cur)
		}
	}
	switch x := cur.(type) {
	case time.Time:
		return x.UnixMilli(), nil
	case int64:
		return x, nil
	case int32:
		return int64(x), nil
	case float64:
		return int64(x), nil
	case string:
		t, err := time.Parse(time.RFC3339Nano, x)
		if err != nil {
			return 0, fmt.Errorf("timestamp.field %q: %q is not an RFC 3339 timestamp", path, x)
		}
		return t.UnixMilli(), nil
	case nil:
		return 0, fmt.Errorf("timestamp.field %q is null", path)
	}
	return 0, fmt.Errorf("timestamp.field %q has unsupported type %T", path, cur)
}
