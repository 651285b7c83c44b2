package convert

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/runtime/connect"
)

// String is Kafka Connect's StringConverter: values are written as their
// string form in the configured encoding and read back as optional strings.
type String struct {
	latin1 bool // ISO-8859-1 (or US-ASCII) instead of UTF-8
	ascii  bool
}

// NewString returns a StringConverter. It understands converter.encoding
// (UTF-8 default; ISO-8859-1 and US-ASCII are also supported) and, like
// Kafka, the more specific serializer.encoding/deserializer.encoding.
func NewString(cfg map[string]string, _ bool) (*String, error) {
	o := &stringOptions{}
	if _, err := connect.Bind(cfg, o); err != nil {
		return nil, err
	}
	return newString(o), nil
}

// stringOptions is the configuration of StringConverter.
type stringOptions struct {
	connect.Given
	encoding string // the effective encoding, set by Check
}

func (o *stringOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{{Name: "converter.encoding", Type: connect.TypeString, Default: "UTF-8", HasDefault: true,
		Importance: connect.High, Doc: "The name of the Java character set to use for encoding strings as byte arrays.",
		Validate: func(v string) error {
			if strings.TrimSpace(v) == "" {
				return nil
			}
			_, _, err := stringEncoding(v)
			return err
		}}}
}

// Check picks the encoding: converter.encoding, else (like Kafka) the
// more specific serializer.encoding or deserializer.encoding.
func (o *stringOptions) Check() error {
	o.encoding = "UTF-8"
	for _, k := range []string{"converter.encoding", "serializer.encoding", "deserializer.encoding"} {
		if v, ok := o.Raw(k); ok && strings.TrimSpace(v) != "" {
			if _, _, err := stringEncoding(v); err != nil {
				return connect.Errorf(k, "%v", err)
			}
			o.encoding = v
			break
		}
	}
	return nil
}

// stringEncoding reports whether an encoding name is ISO-8859-1 or
// US-ASCII (neither: UTF-8), failing for other encodings.
func stringEncoding(name string) (latin1, ascii bool, err error) {
	switch strings.ToUpper(strings.ReplaceAll(strings.TrimSpace(name), "_", "-")) {
	case "UTF-8", "UTF8":
		return false, false, nil
	case "ISO-8859-1", "LATIN1", "ISO8859-1":
		return true, false, nil
	case "US-ASCII", "ASCII":
		return false, true, nil
	}
	return false, false, fmt.Errorf("unsupported encoding %q (supported: UTF-8, ISO-8859-1, US-ASCII)", strings.TrimSpace(name))
}

func newString(o *stringOptions) *String {
	latin1, ascii, _ := stringEncoding(o.encoding) // checked by Check
	return &String{latin1: latin1, ascii: ascii}
}

// FromConnect writes the value's string form (Struct values render like
// Kafka's Struct.toString; []byte values are taken as text).
func (c *String) FromConnect(_ string, _ *connect.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	case time.Time: // before fmt.Stringer, which time.Time also is
		s = x.UTC().Format(time.RFC3339Nano)
	case *time.Time:
		if x == nil {
			return nil, nil
		}
		s = x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		s = x.String()
	default:
		s = fmt.Sprint(v)
	}
	switch {
	case c.latin1, c.ascii:
		max := rune(0xff)
		if c.ascii {
			max = 0x7f
		}
		out := make([]byte, 0, len(s))
		for _, r := range s {
			if r > max {
				r = '?' // what Java's encoder substitutes for unmappable characters
			}
			out = append(out, byte(r))
		}
		return out, nil
	}
	return []byte(s), nil
}

// ToConnect returns an optional string schema and the decoded text.
func (c *String) ToConnect(_ string, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return connect.OptionalStringSchema, nil, nil
	}
	if c.latin1 || c.ascii {
		var b strings.Builder
		for _, x := range data {
			if c.ascii && x > 0x7f {
				b.WriteRune(utf8.RuneError)
				continue
			}
			b.WriteRune(rune(x))
		}
		return connect.OptionalStringSchema, b.String(), nil
	}
	return connect.OptionalStringSchema, string(data), nil
}

// ByteArray is Kafka Connect's ByteArrayConverter: it passes []byte values
// through unchanged.
type ByteArray struct{}

// NewByteArray returns a ByteArrayConverter; it has no configuration.
func NewByteArray(map[string]string, bool) (*ByteArray, error) { return &ByteArray{}, nil }

// FromConnect returns v, which must be []byte (schema nil or BYTES).
func (ByteArray) FromConnect(_ string, s *connect.Schema, v any) ([]byte, error) {
	if s != nil && s.Type != connect.Bytes {
		return nil, dataErr("", "invalid schema type for ByteArrayConverter: %s", s.Type)
	}
	if v == nil {
		return nil, nil
	}
	b, ok := v.([]byte)
	if !ok {
		return nil, dataErr("", "ByteArrayConverter is not compatible with values of Go type %T", v)
	}
	return b, nil
}

// ToConnect returns an optional bytes schema and data unchanged.
func (ByteArray) ToConnect(_ string, data []byte) (*connect.Schema, any, error) {
	if data == nil {
		return connect.OptionalBytesSchema, nil, nil
	}
	return connect.OptionalBytesSchema, data, nil
}
