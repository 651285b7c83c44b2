package convert

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Converter translates between Connect data and Kafka bytes. Implementations
// are safe for concurrent use.
type Converter interface {
	// FromConnect serializes a value with its schema (nil schema =
	// schemaless). A nil value yields nil bytes (a tombstone).
	FromConnect(topic string, s *connect.Schema, v any) ([]byte, error)
	// ToConnect deserializes bytes into a schema (nil when schemaless) and
	// a value. Nil or empty data yields a nil schema and value.
	ToConnect(topic string, data []byte) (*connect.Schema, any, error)
}

// Class names of the built-in converters, as in Kafka Connect.
const (
	JSONClass      = "org.apache.kafka.connect.json.JsonConverter"
	StringClass    = "org.apache.kafka.connect.storage.StringConverter"
	ByteArrayClass = "org.apache.kafka.connect.converters.ByteArrayConverter"
)

// ErrUnknownClass is wrapped by New for a converter class it does not know.
var ErrUnknownClass = errors.New("unknown converter class")

// Classes returns the class names New accepts (without aliases), sorted.
func Classes() []string {
	out := []string{JSONClass, StringClass, ByteArrayClass, AvroClass}
	sort.Strings(out)
	return out
}

// New returns the converter for a Kafka Connect class name or one of the
// short aliases json, string and bytes. cfg holds the converter's own keys,
// with the "key.converter."/"value.converter." prefix removed.
func New(class string, cfg map[string]string, isKey bool) (Converter, error) {
	switch strings.TrimSpace(class) {
	case JSONClass, "json", "JsonConverter":
		return NewJSON(cfg, isKey)
	case StringClass, "string", "StringConverter":
		return NewString(cfg, isKey)
	case ByteArrayClass, "bytes", "ByteArrayConverter":
		return NewByteArray(cfg, isKey)
	case AvroClass, "avro", "AvroConverter":
		return NewAvro(cfg, isKey)
	}
	return nil, fmt.Errorf("%w %q (known: %s; aliases json, string, bytes, avro)", ErrUnknownClass, class, strings.Join(Classes(), ", "))
}

// DataError reports data that cannot be converted, naming the path of the
// offending field ("after.amount", "tags[2]"); Path is empty for the
// top-level value.
type DataError struct {
	Path string
	Msg  string
}

func (e *DataError) Error() string {
	if e.Path == "" {
		return "convert: " + e.Msg
	}
	return fmt.Sprintf("convert: field %q: %s", e.Path, e.Msg)
}

func dataErr(path, format string, args ...any) error {
	return &DataError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// ConfigDef returns the configuration keys of a converter class (or alias),
// without the key.converter./value.converter. prefix.
func ConfigDef(class string) (connect.ConfigDef, error) {
	switch strings.TrimSpace(class) {
	case JSONClass, "json", "JsonConverter":
		return JSONConfigDef(), nil
	case StringClass, "string", "StringConverter":
		return connect.ConfigDef{{Name: "converter.encoding", Type: connect.TypeString, Default: "UTF-8", HasDefault: true,
			Importance: connect.High, Doc: "The name of the Java character set to use for encoding strings as byte arrays.",
			Validate: connect.OneOf("UTF-8", "UTF8", "ISO-8859-1", "LATIN1", "US-ASCII", "ASCII")}}, nil
	case AvroClass, "avro", "AvroConverter":
		return AvroConfigDef(), nil
	case ByteArrayClass, "bytes", "ByteArrayConverter", SimpleHeaderClass, "simple", "SimpleHeaderConverter":
		return connect.ConfigDef{}, nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownClass, class)
}
