package convert

import (
	"encoding/base64"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// SimpleHeaderClass is Kafka Connect's default header converter class.
const SimpleHeaderClass = "org.apache.kafka.connect.storage.SimpleHeaderConverter"

// HeaderConverter translates one header value between Connect data and
// bytes.
type HeaderConverter interface {
	FromConnectHeader(topic, key string, s *connect.Schema, v any) ([]byte, error)
	ToConnectHeader(topic, key string, data []byte) (*connect.Schema, any, error)
}

// NewHeaderConverter returns the header converter for a class name:
// SimpleHeaderConverter (alias "simple"), or any value converter class
// accepted by New (as Kafka allows, e.g. JsonConverter or StringConverter).
func NewHeaderConverter(class string, cfg map[string]string) (HeaderConverter, error) {
	if strings.TrimSpace(class) == "" {
		class = SimpleHeaderClass
	}
	if c, ok := lookup(class); ok && c.NewHeader != nil {
		return c.NewHeader(cfg)
	}
	c, err := New(class, cfg, false)
	if err != nil {
		return nil, err
	}
	return AsHeaderConverter(c), nil
}

// AsHeaderConverter adapts a value converter to a header converter, as
// Kafka lets any Converter serve as a HeaderConverter.
func AsHeaderConverter(c Converter) HeaderConverter { return headerAdapter{c} }

type headerAdapter struct{ c Converter }

func (h headerAdapter) FromConnectHeader(topic, _ string, s *connect.Schema, v any) ([]byte, error) {
	return h.c.FromConnect(topic, s, v)
}

func (h headerAdapter) ToConnectHeader(topic, _ string, data []byte) (*connect.Schema, any, error) {
	return h.c.ToConnect(topic, data)
}

// SimpleHeader is like Kafka's SimpleHeaderConverter: values are written
// as their string form (strings verbatim, bytes base64, Date/Time/Timestamp
// in ISO-8601, structs/maps/arrays as JSON) and read back with the type
// inferred from the text: boolean, the smallest fitting integer type,
// float64, or string. Unlike Kafka it does not infer arrays, maps or
// temporal types when reading; those stay strings.
type SimpleHeader struct{}

// FromConnectHeader implements HeaderConverter.
func (SimpleHeader) FromConnectHeader(_, key string, s *connect.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if s != nil {
		switch s.Name {
		case connect.DateName, connect.TimeName, connect.TimestampName:
			t, ok := v.(time.Time)
			if !ok {
				return nil, dataErr(key, "expected time.Time for %s, got %T", s.Name, v)
			}
			t = t.UTC()
			switch s.Name {
			case connect.DateName:
				return []byte(t.Format("2006-01-02")), nil
			case connect.TimeName:
				return []byte(t.Format("15:04:05.000Z")), nil
			}
			return []byte(t.Format("2006-01-02T15:04:05.000Z")), nil
		}
	}
	switch x := v.(type) {
	case string:
		return []byte(x), nil
	case []byte:
		return []byte(base64.StdEncoding.EncodeToString(x)), nil
	case bool:
		return strconv.AppendBool(nil, x), nil
	case int8, int16, int32, int64, int:
		return fmt.Appendf(nil, "%d", x), nil
	case float32:
		return []byte(FormatJavaFloat(float64(x), 32)), nil
	case float64:
		return []byte(FormatJavaFloat(x, 64)), nil
	case connect.Decimal:
		return []byte(x.String()), nil
	}
	e := encoder{}
	b, err := e.value(nil, s, v)
	if err != nil {
		return nil, wrapPath(err, key)
	}
	return b, nil
}

// ToConnectHeader implements HeaderConverter.
func (SimpleHeader) ToConnectHeader(_, _ string, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return nil, nil, nil
	}
	s := string(data)
	switch s {
	case "true":
		return connect.BooleanSchema, true, nil
	case "false":
		return connect.BooleanSchema, false, nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n >= math.MinInt8 && n <= math.MaxInt8:
			return connect.Int8Schema, int8(n), nil
		case n >= math.MinInt16 && n <= math.MaxInt16:
			return connect.Int16Schema, int16(n), nil
		case n >= math.MinInt32 && n <= math.MaxInt32:
			return connect.Int32Schema, int32(n), nil
		}
		return connect.Int64Schema, n, nil
	}
	if looksNumeric(s) {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return connect.Float64Schema, f, nil
		}
	}
	return connect.StringSchema, s, nil
}

func looksNumeric(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9') && c != '.' && c != '-' && c != '+' && c != 'e' && c != 'E' {
			return false
		}
	}
	return true
}
