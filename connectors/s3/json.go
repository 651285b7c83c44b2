package s3

import (
	"bufio"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// jsonEncoder writes newline-delimited JSON, one record value per line,
// like Confluent's JsonFormat (JsonConverter with schemas disabled):
// Decimal as base64 (or a number with json.decimal.format=NUMERIC),
// Date as days, Time and Timestamp as milliseconds, bytes as base64.
type jsonEncoder struct {
	w          *bufio.Writer
	gz         *gzip.Writer // s3.compression.type=gzip
	decimalNum bool
	buf        []byte
	pending    int64
}

// newJSONEncoder writes to w, gzip-compressed at gzipLevel when gzipLevel
// is not noGzip.
func newJSONEncoder(w io.Writer, decimalNum bool, gzipLevel int) (*jsonEncoder, error) {
	e := &jsonEncoder{decimalNum: decimalNum}
	if gzipLevel != noGzip {
		gz, err := gzip.NewWriterLevel(w, gzipLevel)
		if err != nil {
			return nil, err
		}
		e.gz, w = gz, gz
	}
	e.w = bufio.NewWriterSize(w, 64<<10)
	return e, nil
}

// noGzip disables gzip in newJSONEncoder.
const noGzip = -100

func (e *jsonEncoder) write(s *connect.Schema, v any) error {
	b, err := e.appendValue(e.buf[:0], s, v, "")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	e.buf = b
	_, err = e.w.Write(b)
	e.pending = int64(e.w.Buffered())
	return err
}

func (e *jsonEncoder) buffered() int64 { return e.pending }

func (e *jsonEncoder) flushBuffered() error {
	e.pending = 0
	return e.w.Flush()
}

func (e *jsonEncoder) close() error {
	if err := e.flushBuffered(); err != nil {
		return err
	}
	if e.gz != nil {
		return e.gz.Close()
	}
	return nil
}

func (e *jsonEncoder) appendValue(b []byte, s *connect.Schema, v any, path string) ([]byte, error) {
	if v == nil {
		if s != nil && s.Default != nil {
			v = s.Default
		} else {
			return append(b, "null"...), nil
		}
	}
	if s == nil {
		return e.appendSchemaless(b, v, path)
	}
	switch s.Name {
	case connect.DecimalName:
		d, ok := v.(connect.Decimal)
		if !ok {
			return nil, fmt.Errorf("field %s: %v", displayPath(path), typeErr(s, v))
		}
		if e.decimalNum {
			return append(b, d.String()...), nil
		}
		return strconv.AppendQuote(b, base64.StdEncoding.EncodeToString(d.UnscaledBytes())), nil
	case connect.DateName:
		if t, ok := v.(time.Time); ok {
			return strconv.AppendInt(b, int64(connect.DaysSinceEpoch(t)), 10), nil
		}
	case connect.TimeName:
		if t, ok := v.(time.Time); ok {
			return strconv.AppendInt(b, int64(connect.MillisOfDay(t)), 10), nil
		}
	case connect.TimestampName:
		if t, ok := v.(time.Time); ok {
			return strconv.AppendInt(b, t.UnixMilli(), 10), nil
		}
	}
	switch s.Type {
	case connect.StructT:
		st, ok := v.(*connect.Struct)
		if !ok {
			return nil, fmt.Errorf("field %s: %v", displayPath(path), typeErr(s, v))
		}
		b = append(b, '{')
		for i, f := range st.Schema().Fields {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, f.Name)
			b = append(b, ':')
			var err error
			if b, err = e.appendValue(b, f.Schema, st.At(i), joinPath(path, f.Name)); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case connect.Array:
		arr, ok := v.([]any)
		if !ok {
			return nil, fmt.Errorf("field %s: %v", displayPath(path), typeErr(s, v))
		}
		b = append(b, '[')
		for i, x := range arr {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = e.appendValue(b, s.Value, x, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case connect.Map:
		m, ok := v.(map[any]any)
		if !ok {
			return nil, fmt.Errorf("field %s: %v", displayPath(path), typeErr(s, v))
		}
		keys := make([]any, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		if s.Key != nil && s.Key.Type == connect.String {
			b = append(b, '{')
			for i, k := range keys {
				if i > 0 {
					b = append(b, ',')
				}
				ks, _ := k.(string)
				b = strconv.AppendQuote(b, ks)
				b = append(b, ':')
				var err error
				if b, err = e.appendValue(b, s.Value, m[k], path+"["+ks+"]"); err != nil {
					return nil, err
				}
			}
			return append(b, '}'), nil
		}
		// Non-string keys: an array of [key, value] pairs, as JsonConverter does.
		b = append(b, '[')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			var err error
			if b, err = e.appendValue(b, s.Key, k, path); err != nil {
				return nil, err
			}
			b = append(b, ',')
			if b, err = e.appendValue(b, s.Value, m[k], path); err != nil {
				return nil, err
			}
			b = append(b, ']')
		}
		return append(b, ']'), nil
	}
	return e.appendSchemaless(b, v, path)
}

func (e *jsonEncoder) appendSchemaless(b []byte, v any, path string) ([]byte, error) {
	switch x := v.(type) {
	case string:
		return strconv.AppendQuote(b, x), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case float32:
		return appendFloat(b, float64(x), 32, path)
	case float64:
		return appendFloat(b, x, 64, path)
	case []byte:
		return strconv.AppendQuote(b, base64.StdEncoding.EncodeToString(x)), nil
	case connect.Decimal:
		if e.decimalNum {
			return append(b, x.String()...), nil
		}
		return strconv.AppendQuote(b, base64.StdEncoding.EncodeToString(x.UnscaledBytes())), nil
	case time.Time:
		return strconv.AppendInt(b, x.UnixMilli(), 10), nil
	case *connect.Struct:
		return e.appendValue(b, x.Schema(), x, path)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, k)
			b = append(b, ':')
			var err error
			if b, err = e.appendValue(b, nil, x[k], joinPath(path, k)); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case []any:
		b = append(b, '[')
		for i, el := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = e.appendValue(b, nil, el, path+"["+strconv.Itoa(i)+"]"); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("field %s: cannot encode %T as JSON: %v", displayPath(path), v, err)
	}
	return append(b, j...), nil
}

func appendFloat(b []byte, f float64, bits int, path string) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("field %s: %v cannot be written as JSON", displayPath(path), f)
	}
	return strconv.AppendFloat(b, f, 'g', -1, bits), nil
}
