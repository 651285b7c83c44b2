package convert

import (
	"errors"
	"fmt"
	"slices"
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

// Class is one converter or header converter class: its name, short
// aliases and configuration, declared once by an options type
// (connect.Options) that both builds instances and documents the keys.
type Class struct {
	// Name is the Kafka Connect (or Confluent) class name.
	Name    string
	Aliases []string
	// Keys returns the class's configuration keys (the Keys of zero
	// options), without the key.converter./value.converter. prefix.
	Keys func() connect.ConfigDef
	// New builds a key (isKey) or value converter from its own keys; nil
	// for a class that is only a header converter.
	New func(cfg map[string]string, isKey bool) (Converter, error)
	// NewHeader builds a header converter; nil for a class Kafka does not
	// list as a header converter (NewHeaderConverter still adapts it).
	NewHeader func(cfg map[string]string) (HeaderConverter, error)
}

// Matches reports whether name is the class name or one of its aliases.
func (c Class) Matches(name string) bool {
	name = strings.TrimSpace(name)
	return name == c.Name || slices.Contains(c.Aliases, name)
}

// converter declares a converter class whose options type is T; build
// makes the converter from bound options.
func converter[T any, O options[T]](name string, aliases []string, build func(o O, isKey bool) Converter) Class {
	return Class{
		Name: name, Aliases: aliases,
		Keys: func() connect.ConfigDef { return O(new(T)).Keys() },
		New: func(cfg map[string]string, isKey bool) (Converter, error) {
			o := O(new(T))
			if _, err := connect.Bind(cfg, o); err != nil {
				return nil, err
			}
			return build(o, isKey), nil
		},
	}
}

// options is the constraint of an options type: a pointer to a struct
// implementing connect.Options.
type options[T any] interface {
	*T
	connect.Options
}

// noOptions is the options of a class without configuration.
type noOptions struct{}

func (*noOptions) Keys() connect.ConfigDef { return connect.ConfigDef{} }
func (*noOptions) Check() error            { return nil }

// alsoHeader makes a value converter class a header converter too.
func alsoHeader(c Class) Class {
	c.NewHeader = func(cfg map[string]string) (HeaderConverter, error) {
		conv, err := c.New(cfg, false)
		if err != nil {
			return nil, err
		}
		return AsHeaderConverter(conv), nil
	}
	return c
}

// Builtins returns the converter and header converter classes built into
// sluice, sorted by name.
func Builtins() []Class {
	out := []Class{
		alsoHeader(converter(JSONClass, []string{"json", "JsonConverter"}, func(o *jsonOptions, isKey bool) Converter { return newJSON(o, isKey) })),
		alsoHeader(converter(StringClass, []string{"string", "StringConverter"}, func(o *stringOptions, _ bool) Converter { return newString(o) })),
		alsoHeader(converter(ByteArrayClass, []string{"bytes", "ByteArrayConverter"}, func(*noOptions, bool) Converter { return &ByteArray{} })),
		converter(AvroClass, []string{"avro", "AvroConverter"}, func(o *avroOptions, isKey bool) Converter { return newAvro(o, isKey) }),
		{Name: SimpleHeaderClass, Aliases: []string{"simple", "SimpleHeaderConverter"},
			Keys:      func() connect.ConfigDef { return connect.ConfigDef{} },
			NewHeader: func(map[string]string) (HeaderConverter, error) { return SimpleHeader{}, nil }},
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func lookup(name string) (Class, bool) {
	for _, c := range Builtins() {
		if c.Matches(name) {
			return c, true
		}
	}
	return Class{}, false
}

// Classes returns the value converter class names New accepts (without
// aliases), sorted.
func Classes() []string {
	var out []string
	for _, c := range Builtins() {
		if c.New != nil {
			out = append(out, c.Name)
		}
	}
	return out
}

// New returns the converter for a Kafka Connect class name or one of the
// short aliases json, string, bytes and avro. cfg holds the converter's own
// keys, with the "key.converter."/"value.converter." prefix removed.
func New(class string, cfg map[string]string, isKey bool) (Converter, error) {
	if c, ok := lookup(class); ok && c.New != nil {
		return c.New(cfg, isKey)
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

// ConfigDef returns the configuration keys of a converter or header
// converter class (or alias), without the key.converter./value.converter.
// prefix: the Keys of its options.
func ConfigDef(class string) (connect.ConfigDef, error) {
	if c, ok := lookup(class); ok {
		return c.Keys(), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownClass, class)
}
