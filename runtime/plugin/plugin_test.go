package plugin

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/sluicehq/sluice/runtime/transform"
)

type fakeConn struct{ connect.SinkConnector }

func (fakeConn) ConfigDef() connect.ConfigDef {
	return connect.ConfigDef{{Name: "x", Type: connect.TypeString, Importance: connect.High}}
}

func fakePlugin(class string, aliases ...string) connect.Plugin {
	return connect.Plugin{Class: class, Aliases: aliases, Type: "sink", Version: "1",
		New: func() connect.Connector { return fakeConn{} }}
}

func TestRegistryLookup(t *testing.T) {
	r, err := New(append(Connectors(fakePlugin("com.example.Sink", "ex")), Builtins("v9")...)...)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kind  Kind
		name  string
		class string
	}{
		{Sink, "ex", "com.example.Sink"},
		{Source, "com.example.Sink", "com.example.Sink"},
		{Transformation, "InsertField$Value", transform.InsertFieldValue},
		{Transformation, transform.FilterClass, transform.FilterClass},
		{Predicate, transform.RecordIsTombstone, transform.RecordIsTombstone},
		{Converter, "json", convert.JSONClass},
		{HeaderConverter, "simple", convert.SimpleHeaderClass},
		{HeaderConverter, convert.StringClass, convert.StringClass},
	}
	for _, tt := range tests {
		s, ok := r.Lookup(tt.kind, tt.name)
		if !ok || s.Class != tt.class {
			t.Errorf("Lookup(%s, %s) = %q %v, want %q", tt.kind, tt.name, s.Class, ok, tt.class)
		}
	}
	if _, ok := r.Lookup(Converter, "simple"); ok {
		t.Error("SimpleHeaderConverter found as a value converter")
	}
	if _, ok := r.Lookup(Transformation, "nope"); ok {
		t.Error("unknown transformation found")
	}
	s, _ := r.Lookup(Sink, "ex")
	if d := s.ConfigDef(); d.Key("x") == nil {
		t.Errorf("connector ConfigDef %+v lacks x", d)
	}
	s, _ = r.Lookup(Transformation, "MaskField$Value")
	if d := s.ConfigDef(); d.Key("fields") == nil {
		t.Errorf("MaskField ConfigDef %+v lacks fields", d)
	}
	if _, err := s.NewTransformation(map[string]string{}); err == nil {
		t.Error("MaskField without fields built")
	}
	if got := r.Connectors(); len(got) != 1 || got[0].Class != "com.example.Sink" || got[0].New == nil {
		t.Errorf("Connectors = %+v", got)
	}
	for _, s := range r.All(Transformation, Predicate, Converter, HeaderConverter) {
		if s.Version != "v9" {
			t.Errorf("%s version %q", s.Class, s.Version)
		}
	}
}

func TestRegistryRejects(t *testing.T) {
	tests := []struct {
		name  string
		specs []Spec
		dup   bool
	}{
		{"duplicate alias across source and sink", Connectors(fakePlugin("a", "x"), fakePlugin("b", "x")), true},
		{"duplicate class", Connectors(fakePlugin("a"), fakePlugin("a")), true},
		{"missing constructor", []Spec{{Class: "t", Kind: Transformation}}, false},
		{"unknown kind", []Spec{{Class: "t", Kind: "widget"}}, false},
		{"empty class", []Spec{{Kind: Converter, NewConverter: func(map[string]string, bool) (convert.Converter, error) { return nil, nil }}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.specs...)
			if err == nil {
				t.Fatal("accepted")
			}
			if errors.Is(err, ErrDuplicate) != tt.dup {
				t.Errorf("err %v, duplicate %v", err, tt.dup)
			}
		})
	}
	// A converter class may also be a header converter.
	if _, err := New(Builtins("v")...); err != nil {
		t.Errorf("builtins: %v", err)
	}
}

// TestRegistryBuilds checks the constructors the worker calls: a registry
// builds only the plugins it holds.
func TestRegistryBuilds(t *testing.T) {
	full, err := New(Builtins("v")...)
	if err != nil {
		t.Fatal(err)
	}
	var noConv []Spec
	for _, s := range Builtins("v") {
		if s.Kind != Converter && s.Kind != HeaderConverter {
			noConv = append(noConv, s)
		}
	}
	bare, err := New(noConv...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := full.NewConverter("json", map[string]string{"schemas.enable": "false"}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := full.NewConverter("json", map[string]string{"decimal.format": "HEX"}, false); err == nil {
		t.Fatal("bad decimal.format accepted")
	}
	if _, err := bare.NewConverter("json", nil, false); !errors.Is(err, convert.ErrUnknownClass) {
		t.Fatalf("converter missing from the registry: %v", err)
	}
	// Empty = SimpleHeaderConverter; a value converter serves as a header
	// converter.
	for _, class := range []string{"", "simple", "avro"} {
		cfg := map[string]string{convert.SchemaRegistryURLConfig: "http://127.0.0.1:1"}
		if _, err := full.NewHeaderConverter(class, cfg); err != nil {
			t.Errorf("header converter %q: %v", class, err)
		}
		if _, err := bare.NewHeaderConverter(class, cfg); !errors.Is(err, convert.ErrUnknownClass) {
			t.Errorf("header converter %q missing from the registry: %v", class, err)
		}
	}
	if _, ok := full.Transformation("RegexRouter"); !ok {
		t.Error("RegexRouter not found by simple name")
	}
	if newp, ok := full.Predicate(transform.HasHeaderKey); !ok {
		t.Error("HasHeaderKey not found")
	} else if _, err := newp(nil); err == nil {
		t.Error("HasHeaderKey without name built")
	}
	if _, err := transform.NewChainFrom(map[string]string{"transforms": "f", "transforms.f.type": "Filter"}, full); err != nil {
		t.Fatal(err)
	}
}
