package plugin

import (
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/sluicehq/sluice/runtime/transform"
)

// Connectors returns specs for connector plugins as connectors export
// them (connect.Plugin). A spec's ConfigDef comes from a fresh instance.
func Connectors(ps ...connect.Plugin) []Spec {
	out := make([]Spec, 0, len(ps))
	for _, p := range ps {
		newc := p.New
		out = append(out, Spec{
			Class: p.Class, Aliases: p.Aliases, Version: p.Version, Kind: Kind(p.Type),
			NewConnector: newc,
			Config: func() connect.ConfigDef {
				if newc == nil {
					return nil
				}
				if c := newc(); c != nil {
					return c.ConfigDef()
				}
				return nil
			},
		})
	}
	return out
}

// simpleName is the part of a Java class name after the last dot, which
// runtime/transform also accepts.
func simpleName(class string) string {
	if i := strings.LastIndexByte(class, '.'); i >= 0 {
		return class[i+1:]
	}
	return class
}

// converterAliases are the short names convert.New accepts per class.
var converterAliases = map[string][]string{
	convert.JSONClass:         {"json", "JsonConverter"},
	convert.StringClass:       {"string", "StringConverter"},
	convert.ByteArrayClass:    {"bytes", "ByteArrayConverter"},
	convert.AvroClass:         {"avro", "AvroConverter"},
	convert.SimpleHeaderClass: {"simple", "SimpleHeaderConverter"},
}

// headerConverterClasses are the classes Kafka lists as header converters
// that sluice supports: SimpleHeaderConverter and the converters
// convert.NewHeaderConverter adapts.
var headerConverterClasses = []string{convert.SimpleHeaderClass, convert.StringClass, convert.JSONClass, convert.ByteArrayClass}

// Builtins returns the transformations, predicates, converters and header
// converters built into sluice, all reporting version.
func Builtins(version string) []Spec {
	var out []Spec
	cfgOf := func(f func(string) (connect.ConfigDef, error), class string) func() connect.ConfigDef {
		return func() connect.ConfigDef {
			d, err := f(class)
			if err != nil {
				return nil
			}
			return d
		}
	}
	for _, c := range transform.Classes() {
		class := c
		out = append(out, Spec{Class: class, Aliases: []string{simpleName(class)}, Version: version, Kind: Transformation,
			Config: cfgOf(transform.ConfigDef, class),
			NewTransformation: func(cfg map[string]string) (transform.Transformation, error) {
				return transform.New(class, cfg)
			}})
	}
	for _, c := range transform.PredicateClasses() {
		class := c
		out = append(out, Spec{Class: class, Aliases: []string{simpleName(class)}, Version: version, Kind: Predicate,
			Config: cfgOf(transform.ConfigDef, class),
			NewPredicate: func(cfg map[string]string) (transform.Predicate, error) {
				return transform.NewPredicate(class, cfg)
			}})
	}
	for _, c := range convert.Classes() {
		class := c
		out = append(out, Spec{Class: class, Aliases: converterAliases[class], Version: version, Kind: Converter,
			Config: cfgOf(convert.ConfigDef, class),
			NewConverter: func(cfg map[string]string, isKey bool) (convert.Converter, error) {
				return convert.New(class, cfg, isKey)
			}})
	}
	for _, c := range headerConverterClasses {
		class := c
		out = append(out, Spec{Class: class, Aliases: converterAliases[class], Version: version, Kind: HeaderConverter,
			Config: cfgOf(convert.ConfigDef, class),
			NewHeaderConverter: func(cfg map[string]string) (convert.HeaderConverter, error) {
				return convert.NewHeaderConverter(class, cfg)
			}})
	}
	return out
}
