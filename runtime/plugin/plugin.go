// Package plugin is the typed registry of every plugin kind sluice runs:
// source and sink connectors, transformations, predicates, converters and
// header converters. Each entry carries its class name, aliases, version,
// kind, ConfigDef and constructor. The registry is built explicitly by the
// binary (cmd/sluice) and passed to the worker; there is no registration
// by import side effect and no package-level state.
//
// The worker (connector lookup, GET /connector-plugins, plugin config and
// validation), the CLI (sluice list-plugins) and the generated config docs
// all read the same registry.
package plugin

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/sluicehq/sluice/runtime/transform"
)

// Kind is a plugin type, named as GET /connector-plugins names it.
type Kind string

// Plugin kinds.
const (
	Source          Kind = "source"
	Sink            Kind = "sink"
	Transformation  Kind = "transformation"
	Predicate       Kind = "predicate"
	Converter       Kind = "converter"
	HeaderConverter Kind = "header_converter"
)

// Kinds lists every kind, in the order listings use.
var kinds = [...]Kind{Source, Sink, Transformation, Predicate, Converter, HeaderConverter}

// IsConnector reports whether k is Source or Sink.
func (k Kind) IsConnector() bool { return k == Source || k == Sink }

// Spec describes one plugin. Exactly the constructor matching Kind is set.
type Spec struct {
	Class   string
	Aliases []string
	Version string
	Kind    Kind
	// Config returns the plugin's own configuration keys.
	Config func() connect.ConfigDef

	// NewConnector returns a fresh connector (Source and Sink).
	NewConnector func() connect.Connector
	// NewTransformation builds a transformation from its own keys.
	NewTransformation func(cfg map[string]string) (transform.Transformation, error)
	// NewPredicate builds a predicate from its own keys.
	NewPredicate func(cfg map[string]string) (transform.Predicate, error)
	// NewConverter builds a key (isKey) or value converter.
	NewConverter func(cfg map[string]string, isKey bool) (convert.Converter, error)
	// NewHeaderConverter builds a header converter.
	NewHeaderConverter func(cfg map[string]string) (convert.HeaderConverter, error)
}

// Matches reports whether name is the spec's class or one of its aliases.
func (s Spec) Matches(name string) bool {
	name = strings.TrimSpace(name)
	if name == s.Class {
		return true
	}
	for _, a := range s.Aliases {
		if a == name {
			return true
		}
	}
	return false
}

// ConfigDef returns the spec's configuration keys (never nil for a
// well-formed spec).
func (s Spec) ConfigDef() connect.ConfigDef {
	if s.Config == nil {
		return connect.ConfigDef{}
	}
	if d := s.Config(); d != nil {
		return d
	}
	return connect.ConfigDef{}
}

// ConnectPlugin returns a connector spec as the worker's connect.Plugin.
func (s Spec) ConnectPlugin() connect.Plugin {
	return connect.Plugin{Class: s.Class, Aliases: s.Aliases, Type: string(s.Kind), Version: s.Version, New: s.NewConnector}
}

func (s Spec) check() error {
	if strings.TrimSpace(s.Class) == "" {
		return errors.New("plugin: empty class name")
	}
	var ok bool
	switch s.Kind {
	case Source, Sink:
		ok = s.NewConnector != nil
	case Transformation:
		ok = s.NewTransformation != nil
	case Predicate:
		ok = s.NewPredicate != nil
	case Converter:
		ok = s.NewConverter != nil
	case HeaderConverter:
		ok = s.NewHeaderConverter != nil
	default:
		return fmt.Errorf("plugin %s: unknown kind %q", s.Class, s.Kind)
	}
	if !ok {
		return fmt.Errorf("plugin %s: kind %s needs its constructor", s.Class, s.Kind)
	}
	return nil
}

// Registry holds the plugins of one process. It is immutable once built.
type Registry struct {
	specs []Spec
}

// ErrDuplicate is wrapped by New when two plugins of one kind share a
// class name or alias.
var ErrDuplicate = errors.New("plugin: duplicate name")

// New returns a registry of specs. It fails on a spec without the
// constructor its kind needs, or on a class name or alias used twice
// within a kind (a converter may share its class with a header converter,
// as Kafka lists converters that are also header converters).
func New(specs ...Spec) (*Registry, error) {
	seen := map[Kind]map[string]string{}
	for _, s := range specs {
		if err := s.check(); err != nil {
			return nil, err
		}
		group := s.Kind
		if group == Sink {
			group = Source // connector.class names one namespace
		}
		if seen[group] == nil {
			seen[group] = map[string]string{}
		}
		for _, n := range append([]string{s.Class}, s.Aliases...) {
			if other, dup := seen[group][n]; dup {
				return nil, fmt.Errorf("%w %q: %s and %s", ErrDuplicate, n, other, s.Class)
			}
			seen[group][n] = s.Class
		}
	}
	return &Registry{specs: append([]Spec(nil), specs...)}, nil
}

// Lookup returns the plugin of kind k named by class or alias. For Source
// or Sink it finds either connector kind.
func (r *Registry) Lookup(k Kind, name string) (Spec, bool) {
	for _, s := range r.specs {
		if (s.Kind == k || k.IsConnector() && s.Kind.IsConnector()) && s.Matches(name) {
			return s, true
		}
	}
	return Spec{}, false
}

// Find returns the first plugin named by class or alias, connectors first,
// then the other kinds in Kind order.
func (r *Registry) Find(name string) (Spec, bool) {
	for _, k := range kinds {
		for _, s := range r.specs {
			if s.Kind == k && s.Matches(name) {
				return s, true
			}
		}
	}
	return Spec{}, false
}

// All returns the plugins of the given kinds (every kind when none is
// given), sorted by class then kind.
func (r *Registry) All(ks ...Kind) []Spec {
	var out []Spec
	for _, s := range r.specs {
		if len(ks) == 0 || containsKind(ks, s.Kind) {
			out = append(out, s)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Class != out[j].Class {
			return out[i].Class < out[j].Class
		}
		return out[i].Kind < out[j].Kind
	})
	return out
}

// Classes returns the class names of kind k, sorted.
func (r *Registry) Classes(k Kind) []string {
	var out []string
	for _, s := range r.All(k) {
		out = append(out, s.Class)
	}
	return out
}

// Connectors returns the source and sink connectors as connect.Plugins,
// in registration order.
func (r *Registry) Connectors() []connect.Plugin {
	var out []connect.Plugin
	for _, s := range r.specs {
		if s.Kind.IsConnector() {
			out = append(out, s.ConnectPlugin())
		}
	}
	return out
}

func containsKind(ks []Kind, k Kind) bool {
	for _, x := range ks {
		if x == k {
			return true
		}
	}
	return false
}

// Transformation returns the constructor of the transformation named by
// class or alias (transform.Lookup, so the worker builds chains from the
// registry).
func (r *Registry) Transformation(name string) (func(map[string]string) (transform.Transformation, error), bool) {
	s, ok := r.Lookup(Transformation, name)
	return s.NewTransformation, ok
}

// Predicate returns the constructor of the predicate named by class or
// alias (transform.Lookup).
func (r *Registry) Predicate(name string) (func(map[string]string) (transform.Predicate, error), bool) {
	s, ok := r.Lookup(Predicate, name)
	return s.NewPredicate, ok
}

// TransformationClasses returns the transformation class names, sorted
// (transform.Lookup).
func (r *Registry) TransformationClasses() []string { return r.Classes(Transformation) }

// PredicateClasses returns the predicate class names, sorted
// (transform.Lookup).
func (r *Registry) PredicateClasses() []string { return r.Classes(Predicate) }

// NewConverter builds the key (isKey) or value converter named by class or
// alias from its own keys. An unknown class is an error wrapping
// convert.ErrUnknownClass that lists the known classes.
func (r *Registry) NewConverter(class string, cfg map[string]string, isKey bool) (convert.Converter, error) {
	s, ok := r.Lookup(Converter, class)
	if !ok {
		return nil, fmt.Errorf("%w %q (known: %s)", convert.ErrUnknownClass, strings.TrimSpace(class), strings.Join(r.Classes(Converter), ", "))
	}
	return s.NewConverter(cfg, isKey)
}

// NewHeaderConverter builds the header converter named by class or alias
// (SimpleHeaderConverter when class is empty). As in Kafka, a value
// converter that is not a header converter itself serves as one.
func (r *Registry) NewHeaderConverter(class string, cfg map[string]string) (convert.HeaderConverter, error) {
	if strings.TrimSpace(class) == "" {
		class = convert.SimpleHeaderClass
	}
	if s, ok := r.Lookup(HeaderConverter, class); ok {
		return s.NewHeaderConverter(cfg)
	}
	if s, ok := r.Lookup(Converter, class); ok {
		c, err := s.NewConverter(cfg, false)
		if err != nil {
			return nil, err
		}
		return convert.AsHeaderConverter(c), nil
	}
	return nil, fmt.Errorf("%w %q (known: %s)", convert.ErrUnknownClass, strings.TrimSpace(class), strings.Join(r.Classes(HeaderConverter), ", "))
}

var _ transform.Lookup = (*Registry)(nil)
