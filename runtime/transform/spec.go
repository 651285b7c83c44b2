package transform

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Class is one transformation or predicate class: its name and its
// configuration, declared once by an options type (connect.Options) that
// both builds instances and documents the keys.
type Class struct {
	// Name is the Kafka Connect or Debezium class name.
	Name string
	// Keys returns the class's configuration keys (the Keys of zero
	// options), for REST plugin listings, /config and docs.
	Keys func() connect.ConfigDef
	// NewTransformation builds a transformation from its own keys (without
	// the "transforms.<alias>." prefix); nil for a predicate class.
	NewTransformation func(cfg map[string]string) (Transformation, error)
	// NewPredicate builds a predicate from its own keys; nil for a
	// transformation class.
	NewPredicate func(cfg map[string]string) (Predicate, error)
}

// IsPredicate reports whether c is a predicate class.
func (c Class) IsPredicate() bool { return c.NewPredicate != nil }

// options is the constraint of an options type: a pointer to a struct
// implementing connect.Options.
type options[T any] interface {
	*T
	connect.Options
}

// transformation declares a transformation class whose options type is T.
func transformation[T any, O options[T]](name string, build func(O) Transformation) Class {
	return Class{
		Name: name,
		Keys: func() connect.ConfigDef { return O(new(T)).Keys() },
		NewTransformation: func(cfg map[string]string) (Transformation, error) {
			o := O(new(T))
			if err := bind(cfg, o); err != nil {
				return nil, err
			}
			return build(o), nil
		},
	}
}

// predicate declares a predicate class whose options type is T.
func predicate[T any, O options[T]](name string, build func(O) Predicate) Class {
	return Class{
		Name: name,
		Keys: func() connect.ConfigDef { return O(new(T)).Keys() },
		NewPredicate: func(cfg map[string]string) (Predicate, error) {
			o := O(new(T))
			if err := bind(cfg, o); err != nil {
				return nil, err
			}
			return build(o), nil
		},
	}
}

// bind is connect.Bind with this package's message for a required key
// that is not set ("missing required configuration").
func bind(cfg map[string]string, o connect.Options) error {
	for _, k := range o.Keys() {
		if _, ok := cfg[k.Name]; !ok && !k.HasDefault {
			return connect.Errorf(k.Name, "missing required configuration")
		}
	}
	_, err := connect.Bind(cfg, o)
	return err
}

// Builtins returns every transformation and predicate class sluice
// implements, sorted by name.
func Builtins() []Class {
	out := []Class{
		transformation(InsertFieldKey, func(o *insertFieldOptions) Transformation { return newInsertField(o, keySide) }),
		transformation(InsertFieldValue, func(o *insertFieldOptions) Transformation { return newInsertField(o, valueSide) }),
		transformation(ReplaceFieldKey, func(o *replaceFieldOptions) Transformation { return newReplaceField(o, keySide) }),
		transformation(ReplaceFieldValue, func(o *replaceFieldOptions) Transformation { return newReplaceField(o, valueSide) }),
		transformation(MaskFieldKey, func(o *maskFieldOptions) Transformation { return newMaskField(o, keySide) }),
		transformation(MaskFieldValue, func(o *maskFieldOptions) Transformation { return newMaskField(o, valueSide) }),
		transformation(ValueToKeyClass, newValueToKey),
		transformation(ExtractFieldKey, func(o *extractFieldOptions) Transformation { return newExtractField(o, keySide) }),
		transformation(ExtractFieldValue, func(o *extractFieldOptions) Transformation { return newExtractField(o, valueSide) }),
		transformation(RegexRouterClass, newRegexRouter),
		transformation(TimestampRouterClass, newTimestampRouter),
		transformation(FilterClass, func(*noOptions) Transformation { return Filter{} }),
		transformation(ExtractNewRecordStateClass, newExtractNewRecordState),
		transformation(TimestampConverterKey, func(o *timestampConverterOptions) Transformation { return newTimestampConverter(o, keySide) }),
		transformation(TimestampConverterValue, func(o *timestampConverterOptions) Transformation { return newTimestampConverter(o, valueSide) }),
		transformation(CastKey, func(o *castOptions) Transformation { return newCast(o, keySide) }),
		transformation(CastValue, func(o *castOptions) Transformation { return newCast(o, valueSide) }),
		transformation(HeaderFromKey, func(o *headerFromOptions) Transformation { return newHeaderFrom(o, keySide) }),
		transformation(HeaderFromValue, func(o *headerFromOptions) Transformation { return newHeaderFrom(o, valueSide) }),
		transformation(FlattenKey, func(o *flattenOptions) Transformation { return newFlatten(o, keySide) }),
		transformation(FlattenValue, func(o *flattenOptions) Transformation { return newFlatten(o, valueSide) }),
		transformation(HoistFieldKey, func(o *hoistFieldOptions) Transformation { return newHoistField(o, keySide) }),
		transformation(HoistFieldValue, func(o *hoistFieldOptions) Transformation { return newHoistField(o, valueSide) }),
		transformation(InsertHeaderClass, newInsertHeader),
		transformation(DropHeadersClass, newDropHeaders),
		transformation(SetSchemaMetadataKey, func(o *setSchemaMetadataOptions) Transformation { return newSetSchemaMetadata(o, keySide) }),
		transformation(SetSchemaMetadataValue, func(o *setSchemaMetadataOptions) Transformation { return newSetSchemaMetadata(o, valueSide) }),
		predicate(TopicNameMatches, newTopicNameMatches),
		predicate(HasHeaderKey, newHasHeaderKey),
		predicate(RecordIsTombstone, func(*noOptions) Predicate { return tombstonePredicate{} }),
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// noOptions is the options of a class without configuration.
type noOptions struct{}

func (*noOptions) Keys() connect.ConfigDef { return connect.ConfigDef{} }
func (*noOptions) Check() error            { return nil }

// builtin finds a built-in class by full or simple name (the part after
// the last dot, e.g. "InsertField$Value", "ExtractNewRecordState").
func builtin(name string, pred bool) (Class, bool) {
	name = strings.TrimSpace(name)
	all := Builtins()
	for _, c := range all {
		if c.IsPredicate() == pred && c.Name == name {
			return c, true
		}
	}
	for _, c := range all {
		if c.IsPredicate() == pred && c.Name[strings.LastIndexByte(c.Name, '.')+1:] == name {
			return c, true
		}
	}
	return Class{}, false
}

func names(pred bool) []string {
	var out []string
	for _, c := range Builtins() {
		if c.IsPredicate() == pred {
			out = append(out, c.Name)
		}
	}
	return out
}

// Classes returns the built-in transformation class names, sorted.
func Classes() []string { return names(false) }

// PredicateClasses returns the built-in predicate class names, sorted.
func PredicateClasses() []string { return names(true) }

// ErrUnknownClass is wrapped by errors for a class name this package does
// not implement.
var ErrUnknownClass = errors.New("unknown transformation or predicate class")

// ConfigDef returns the configuration keys of a built-in transformation or
// predicate class (full or simple name): the Keys of its options.
func ConfigDef(class string) (connect.ConfigDef, error) {
	if c, ok := builtin(class, false); ok {
		return c.Keys(), nil
	}
	if c, ok := builtin(class, true); ok {
		return c.Keys(), nil
	}
	return nil, fmt.Errorf("%w %q", ErrUnknownClass, class)
}

// New returns one built-in transformation of the given class configured
// with its own parameters (keys without the "transforms.<alias>." prefix).
func New(class string, cfg map[string]string) (Transformation, error) {
	c, ok := builtin(class, false)
	if !ok {
		return nil, connect.Errorf("type", "unknown transformation class %q", class)
	}
	return c.NewTransformation(cfg)
}

// NewPredicate returns one built-in predicate of the given class
// configured with its own parameters (keys without the
// "predicates.<alias>." prefix).
func NewPredicate(class string, cfg map[string]string) (Predicate, error) {
	c, ok := builtin(class, true)
	if !ok {
		return nil, connect.Errorf("type", "unknown predicate class %q", class)
	}
	return c.NewPredicate(cfg)
}

// Lookup resolves the transformation and predicate classes a chain names
// (transforms.<alias>.type, predicates.<alias>.type). The worker passes
// its plugin registry; Builtin is the classes of this package.
type Lookup interface {
	// Transformation returns the constructor of the transformation named
	// by class name or alias.
	Transformation(name string) (func(cfg map[string]string) (Transformation, error), bool)
	// Predicate returns the constructor of the predicate named by class
	// name or alias.
	Predicate(name string) (func(cfg map[string]string) (Predicate, error), bool)
	// TransformationClasses and PredicateClasses list the known class
	// names, for error messages.
	TransformationClasses() []string
	PredicateClasses() []string
}

// Builtin is the Lookup of this package's classes, by full or simple name.
func Builtin() Lookup { return builtinLookup{} }

type builtinLookup struct{}

func (builtinLookup) Transformation(name string) (func(map[string]string) (Transformation, error), bool) {
	c, ok := builtin(name, false)
	return c.NewTransformation, ok
}

func (builtinLookup) Predicate(name string) (func(map[string]string) (Predicate, error), bool) {
	c, ok := builtin(name, true)
	return c.NewPredicate, ok
}

func (builtinLookup) TransformationClasses() []string { return Classes() }
func (builtinLookup) PredicateClasses() []string      { return PredicateClasses() }

// Key declarations shared by the classes.

func strKey(name, def, doc string, into func(string) error) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true, Importance: connect.Medium, Doc: doc, Into: into}
}

// reqKey declares a required key; a blank value counts as missing.
func reqKey(name string, t connect.ConfigType, doc string, into func(string) error) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: t, Importance: connect.High, Doc: doc, Into: func(v string) error {
		if strings.TrimSpace(v) == "" {
			return connect.Errorf(name, "missing required configuration")
		}
		return into(v)
	}}
}

// setKey declares a required key that may be set to any string, even an
// empty one.
func setKey(name, doc string, into func(string) error) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeString, Importance: connect.High, Doc: doc, Into: into}
}

func listKey(name, doc string, dst *[]string) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeList, Default: "", HasDefault: true, Importance: connect.Medium, Doc: doc, Into: connect.IntoList(dst)}
}

func boolKey(name, def, doc string, dst *bool) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeBoolean, Default: def, HasDefault: true, Importance: connect.Medium, Doc: doc, Into: connect.IntoBool(dst)}
}

func enumKey(name, def, doc string, dst *string, values ...string) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true, Importance: connect.Medium,
		Doc: doc, Validate: connect.OneOf(values...), Recommended: values, Into: connect.IntoOneOf(dst, values...)}
}

// reqEnumKey declares a required enumeration.
func reqEnumKey(name, doc string, dst *string, values ...string) connect.ConfigKey {
	k := reqKey(name, connect.TypeString, doc, connect.IntoOneOf(dst, values...))
	k.Validate, k.Recommended = connect.OneOf(values...), values
	return k
}

func replaceNullKey(dst *bool) connect.ConfigKey {
	return boolKey("replace.null.with.default", "true",
		"Whether to replace fields that have a default value and that are null to the default value.", dst)
}
