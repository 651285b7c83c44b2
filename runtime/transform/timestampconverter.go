package transform

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Timestamp kinds of TimestampConverter (target.type values).
const (
	tsString    = "string"
	tsUnix      = "unix"
	tsDate      = "Date"
	tsTime      = "Time"
	tsTimestamp = "Timestamp"
)

// TimestampConverter is TimestampConverter$Key / $Value: it converts a
// timestamp (the whole key/value, or one field) between Unix epoch numbers
// (unix.precision), formatted strings (format, SimpleDateFormat syntax,
// UTC) and the Date, Time and Timestamp logical types.
type TimestampConverter struct {
	side        side
	field       string
	target      string
	format      *dateFormat
	precision   string
	replaceNull bool
	cache       schemaCache
}

const tsConvName = "TimestampConverter"

// timestampConverterOptions is the configuration of TimestampConverter.
type timestampConverterOptions struct {
	field, target, precision string
	format                   *dateFormat // nil when format is empty
	replaceNull              bool
}

func (o *timestampConverterOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		strKey("field", "", "The field containing the timestamp, or empty if the entire value is a timestamp.", func(v string) error {
			o.field = strings.TrimSpace(v)
			return nil
		}),
		reqEnumKey("target.type", "The desired timestamp representation: string, unix, Date, Time, or Timestamp.", &o.target,
			tsString, tsUnix, tsDate, tsTime, tsTimestamp),
		strKey("format", "", "A SimpleDateFormat-compatible format for the timestamp.", func(v string) error {
			if v == "" {
				o.format = nil
				return nil
			}
			return intoDateFormat("format", &o.format)(v)
		}),
		enumKey("unix.precision", "milliseconds", "The desired Unix precision for the timestamp.", &o.precision, "seconds", "milliseconds", "microseconds", "nanoseconds"),
		replaceNullKey(&o.replaceNull),
	}
}

func (o *timestampConverterOptions) Check() error {
	if o.format == nil && o.target == tsString {
		return connect.Errorf("format", "missing required configuration when target.type is string")
	}
	return nil
}

func newTimestampConverter(o *timestampConverterOptions, s side) *TimestampConverter {
	return &TimestampConverter{side: s, field: o.field, target: o.target, format: o.format, precision: o.precision, replaceNull: o.replaceNull}
}

func (t *TimestampConverter) targetSchema(optional bool) *connect.Schema {
	var b *connect.SchemaBuilder
	switch t.target {
	case tsString:
		b = connect.NewSchema(connect.String)
	case tsUnix:
		b = connect.NewSchema(connect.Int64)
	case tsDate:
		b = connect.DateSchema()
	case tsTime:
		b = connect.TimeSchema()
	default:
		b = connect.TimestampSchema()
	}
	if optional {
		b.Optional()
	}
	return b.Build()
}

func kindOfSchema(s *connect.Schema) (string, error) {
	switch s.Name {
	case connect.TimestampName:
		return tsTimestamp, nil
	case connect.DateName:
		return tsDate, nil
	case connect.TimeName:
		return tsTime, nil
	}
	switch s.Type {
	case connect.String:
		return tsString, nil
	case connect.Int64:
		return tsUnix, nil
	}
	return "", dataErr(tsConvName, "schema %v does not correspond to a known timestamp type", s)
}

func kindOfValue(v any) (string, error) {
	switch v.(type) {
	case time.Time:
		return tsTimestamp, nil
	case string:
		return tsString, nil
	case int64, int32, int:
		return tsUnix, nil
	}
	return "", dataErr(tsConvName, "value of type %T is not a known timestamp representation", v)
}

func (t *TimestampConverter) toTime(kind string, v any) (time.Time, error) {
	switch kind {
	case tsString:
		if t.format == nil {
			return time.Time{}, dataErr(tsConvName, "format is required to parse string timestamps")
		}
		tm, err := t.format.parse(v.(string))
		if err != nil {
			return time.Time{}, dataErr(tsConvName, "could not parse %q: %v", v, err)
		}
		return tm, nil
	case tsUnix:
		var n int64
		switch x := v.(type) {
		case int64:
			n = x
		case int32:
			n = int64(x)
		case int:
			n = int64(x)
		default:
			return time.Time{}, dataErr(tsConvName, "unix timestamp of type %T", v)
		}
		switch t.precision {
		case "seconds":
			return time.Unix(n, 0).UTC(), nil
		case "microseconds":
			return time.UnixMicro(n).UTC(), nil
		case "nanoseconds":
			return time.Unix(0, n).UTC(), nil
		}
		return time.UnixMilli(n).UTC(), nil
	}
	tm, ok := v.(time.Time)
	if !ok {
		return time.Time{}, dataErr(tsConvName, "expected time.Time for %s, got %T", kind, v)
	}
	return tm.UTC(), nil
}

func (t *TimestampConverter) fromTime(tm time.Time) any {
	switch t.target {
	case tsString:
		return t.format.format(tm)
	case tsUnix:
		switch t.precision {
		case "seconds":
			return tm.Unix()
		case "microseconds":
			return tm.UnixMicro()
		case "nanoseconds":
			return tm.UnixNano()
		}
		return tm.UnixMilli()
	case tsDate:
		return time.Date(tm.Year(), tm.Month(), tm.Day(), 0, 0, 0, 0, time.UTC)
	case tsTime:
		return time.Date(1970, 1, 1, tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond()/1e6*1e6, time.UTC)
	}
	return tm
}

func (t *TimestampConverter) convert(kind string, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	tm, err := t.toTime(kind, v)
	if err != nil {
		return nil, err
	}
	return t.fromTime(tm), nil
}

// Apply implements Transformation.
func (t *TimestampConverter) Apply(r *connect.Record) (*connect.Record, error) {
	s, v := t.side.schema(r), t.side.value(r)
	if s == nil {
		if t.field == "" {
			if v == nil {
				return r, nil
			}
			kind, err := kindOfValue(v)
			if err != nil {
				return nil, err
			}
			nv, err := t.convert(kind, v)
			if err != nil {
				return nil, err
			}
			return t.side.with(r, nil, nv), nil
		}
		if v == nil {
			return r, nil
		}
		m, err := requireMap(tsConvName, t.side, v)
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		if fv := m[t.field]; fv != nil {
			kind, err := kindOfValue(fv)
			if err != nil {
				return nil, err
			}
			if out[t.field], err = t.convert(kind, fv); err != nil {
				return nil, err
			}
		}
		return t.side.with(r, nil, out), nil
	}
	if t.field == "" {
		kind, err := kindOfSchema(s)
		if err != nil {
			return nil, err
		}
		nv, err := t.convert(kind, v)
		if err != nil {
			return nil, err
		}
		return t.side.with(r, t.targetSchema(s.Optional), nv), nil
	}
	if v == nil {
		return r, nil
	}
	st, err := requireStruct(tsConvName, t.side, v)
	if err != nil {
		return nil, err
	}
	in := st.Schema()
	f := in.Field(t.field)
	if f == nil {
		return nil, dataErr(tsConvName, "unknown field: %s", t.field)
	}
	kind, err := kindOfSchema(f.Schema)
	if err != nil {
		return nil, err
	}
	ns, err := t.cache.get(in, func(in *connect.Schema) (*connect.Schema, error) {
		out := copySchemaBasics(in)
		out.Optional = in.Optional
		for _, x := range in.Fields {
			if x.Name == t.field {
				addField(out, x.Name, t.targetSchema(x.Schema.Optional))
			} else {
				addField(out, x.Name, x.Schema)
			}
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	out := connect.NewStructValue(ns)
	for i, x := range in.Fields {
		val := fieldValue(st, i, x, t.replaceNull)
		if x.Name == t.field {
			if val, err = t.convert(kind, val); err != nil {
				return nil, err
			}
		}
		out.SetAt(i, val)
	}
	return t.side.with(r, ns, out), nil
}

// parse reads text written in the pattern (numeric fields, month names,
// AM/PM, literals and Z/X zone offsets), in UTC unless the text has a zone.
func (df *dateFormat) parse(s string) (time.Time, error) {
	year, month, day := 1970, 1, 1
	hour, minute, sec, milli := 0, 0, 0, 0
	pm, hasAMPM, h12 := false, false, false
	loc := time.UTC
	pos := 0
	num := func(tk dateToken, max int) (int, error) {
		end := pos
		if end < len(s) && (s[end] == '-' || s[end] == '+') && (tk.letter == 'y' || tk.letter == 'u') {
			end++
		}
		limit := len(s)
		if max > 0 && pos+max < limit {
			limit = pos + max
		}
		for end < limit && s[end] >= '0' && s[end] <= '9' {
			end++
		}
		if end == pos {
			return 0, fmt.Errorf("expected digits for '%c' at position %d", tk.letter, pos)
		}
		n, err := strconv.Atoi(s[pos:end])
		if err != nil {
			return 0, fmt.Errorf("bad number at position %d", pos)
		}
		pos = end
		return n, nil
	}
	for i, tk := range df.tokens {
		// Adjacent numeric fields (yyyyMMdd) take exactly their width.
		width := 0
		if i+1 < len(df.tokens) && df.tokens[i+1].letter != 0 {
			width = tk.count
		}
		var err error
		switch tk.letter {
		case 0:
			if !strings.HasPrefix(s[pos:], tk.literal) {
				return time.Time{}, fmt.Errorf("expected %q at position %d", tk.literal, pos)
			}
			pos += len(tk.literal)
		case 'y', 'Y', 'u':
			year, err = num(tk, width)
			if err == nil && tk.count == 2 && year < 100 {
				year += 2000
			}
		case 'M', 'L':
			if tk.count >= 3 {
				found := false
				for m := time.January; m <= time.December; m++ {
					name := m.String()
					if tk.count == 3 {
						name = name[:3]
					}
					if strings.HasPrefix(s[pos:], name) {
						month, pos, found = int(m), pos+len(name), true
						break
					}
				}
				if !found {
					err = fmt.Errorf("expected month name at position %d", pos)
				}
			} else {
				month, err = num(tk, width)
			}
		case 'd':
			day, err = num(tk, width)
		case 'H', 'k':
			hour, err = num(tk, width)
		case 'h', 'K':
			hour, err = num(tk, width)
			h12 = true
		case 'm':
			minute, err = num(tk, width)
		case 's':
			sec, err = num(tk, width)
		case 'S':
			milli, err = num(tk, width)
		case 'a':
			switch {
			case strings.HasPrefix(s[pos:], "AM"):
				hasAMPM = true
			case strings.HasPrefix(s[pos:], "PM"):
				hasAMPM, pm = true, true
			default:
				err = fmt.Errorf("expected AM or PM at position %d", pos)
			}
			pos += 2
		case 'Z', 'X':
			if strings.HasPrefix(s[pos:], "Z") {
				pos++
				break
			}
			if pos >= len(s) || (s[pos] != '+' && s[pos] != '-') {
				err = fmt.Errorf("expected zone offset at position %d", pos)
				break
			}
			sign := 1
			if s[pos] == '-' {
				sign = -1
			}
			pos++
			rest := s[pos:]
			isDigits := func(x string) bool {
				for i := 0; i < len(x); i++ {
					if x[i] < '0' || x[i] > '9' {
						return false
					}
				}
				return x != ""
			}
			var hh, mm int
			switch {
			case len(rest) >= 5 && rest[2] == ':' && isDigits(rest[:2]) && isDigits(rest[3:5]):
				hh, _ = strconv.Atoi(rest[:2])
				mm, _ = strconv.Atoi(rest[3:5])
				pos += 5
			case len(rest) >= 4 && isDigits(rest[:4]):
				hh, _ = strconv.Atoi(rest[:2])
				mm, _ = strconv.Atoi(rest[2:4])
				pos += 4
			case len(rest) >= 2 && isDigits(rest[:2]):
				hh, _ = strconv.Atoi(rest[:2])
				pos += 2
			default:
				err = fmt.Errorf("bad zone offset at position %d", pos)
			}
			if err != nil {
				break
			}
			loc = time.FixedZone("", sign*(hh*3600+mm*60))
		case 'E':
			// Skip a day name.
			for wd := time.Sunday; wd <= time.Saturday; wd++ {
				name := wd.String()
				if tk.count < 4 {
					name = name[:3]
				}
				if strings.HasPrefix(s[pos:], name) {
					pos += len(name)
					break
				}
			}
		default:
			return time.Time{}, fmt.Errorf("pattern letter '%c' is not supported for parsing", tk.letter)
		}
		if err != nil {
			return time.Time{}, err
		}
	}
	if pos != len(s) {
		return time.Time{}, fmt.Errorf("unparsed text %q", s[pos:])
	}
	if h12 || hasAMPM {
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 24 || minute > 59 || sec > 60 || milli > 999 {
		return time.Time{}, fmt.Errorf("field out of range")
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, milli*1e6, loc).UTC(), nil
}
