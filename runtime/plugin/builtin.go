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

// Builtins returns the transformations, predicates, converters and header
// converters built into sluice (runtime/transform.Builtins and
// runtime/convert.Builtins, each declared once by its options type), all
// reporting version. A converter class that is also a header converter
// yields one spec of each kind.
func Builtins(version string) []Spec {
	var out []Spec
	for _, c := range transform.Builtins() {
		s := Spec{Class: c.Name, Aliases: []string{simpleName(c.Name)}, Version: version, Config: c.Keys}
		if c.IsPredicate() {
			s.Kind, s.NewPredicate = Predicate, c.NewPredicate
		} else {
			s.Kind, s.NewTransformation = Transformation, c.NewTransformation
		}
		out = append(out, s)
	}
	for _, c := range convert.Builtins() {
		if c.New != nil {
			out = append(out, Spec{Class: c.Name, Aliases: c.Aliases, Version: version, Kind: Converter, Config: c.Keys, NewConverter: c.New})
		}
	}
	for _, c := range convert.Builtins() {
		if c.NewHeader != nil {
			out = append(out, Spec{Class: c.Name, Aliases: c.Aliases, Version: version, Kind: HeaderConverter, Config: c.Keys, NewHeaderConverter: c.NewHeader})
		}
	}
	return out
}
