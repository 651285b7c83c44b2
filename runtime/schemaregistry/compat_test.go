package schemaregistry

import (
	"testing"

	"github.com/hamba/avro/v2"
)

// Schemas from Avro's schema-resolution rules: each pair is (old, new).
const (
	recV1            = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`
	recAddNoDefault  = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string"}]}`
	recAddDefault    = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":"string","default":"x"}]}`
	recLong          = `{"type":"record","name":"R","fields":[{"name":"a","type":"long"}]}`
	enumAB           = `{"type":"enum","name":"E","symbols":["A","B"]}`
	enumABC          = `{"type":"enum","name":"E","symbols":["A","B","C"]}`
	unionInt         = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`
	unionIntNull     = `{"type":"record","name":"R","fields":[{"name":"a","type":["null","int"],"default":null}]}`
	unionIntStr      = `{"type":"record","name":"R","fields":[{"name":"a","type":["int","string"]}]}`
	recRemoveDefault = `{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}`
)

func TestCompatibilityRules(t *testing.T) {
	type want struct{ backward, forward bool }
	cases := []struct {
		name     string
		old, new string
		want     want
	}{
		// A reader field missing from the writer needs a default.
		{"field added without default", recV1, recAddNoDefault, want{backward: false, forward: true}},
		{"field added with default", recV1, recAddDefault, want{backward: true, forward: true}},
		// Removing a field: old readers need its default.
		{"field removed (old had no default)", recAddNoDefault, recRemoveDefault, want{backward: true, forward: false}},
		{"field removed (old had default)", recAddDefault, recRemoveDefault, want{backward: true, forward: true}},
		// int is promotable to long, not the other way.
		{"int promoted to long", recV1, recLong, want{backward: true, forward: false}},
		{"long narrowed to int", recLong, recV1, want{backward: false, forward: true}},
		// A writer symbol unknown to the reader is an error.
		{"enum symbol added", enumAB, enumABC, want{backward: true, forward: false}},
		{"enum symbol removed", enumABC, enumAB, want{backward: false, forward: true}},
		// Unions: a reader union must contain every writer branch.
		{"int widened to union with null", unionInt, unionIntNull, want{backward: true, forward: false}},
		{"union narrowed to int", unionIntNull, unionInt, want{backward: false, forward: true}},
		{"union branch added", unionInt, unionIntStr, want{backward: true, forward: false}},
		{"type changed int to string", recV1, `{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`, want{false, false}},
		{"record renamed", recV1, `{"type":"record","name":"S","fields":[{"name":"a","type":"int"}]}`, want{false, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			old, nw := avro.MustParse(c.old), avro.MustParse(c.new)
			for _, m := range []struct {
				level Compatibility
				ok    bool
			}{
				{None, true},
				{Backward, c.want.backward},
				{BackwardTransitive, c.want.backward},
				{Forward, c.want.forward},
				{ForwardTransitive, c.want.forward},
				{Full, c.want.backward && c.want.forward},
				{FullTransitive, c.want.backward && c.want.forward},
			} {
				msgs := CheckCompatibility(m.level, nw, []avro.Schema{old})
				if got := len(msgs) == 0; got != m.ok {
					t.Errorf("%s: compatible=%v, want %v (%v)", m.level, got, m.ok, msgs)
				}
			}
		})
	}
}

// TestCompatibilityTransitive: v1 {a}, v2 {a, b default}, v3 {a, b no
// default}. v3 reads v2 data (b present) but not v1 data (b missing, no
// default), so BACKWARD passes and BACKWARD_TRANSITIVE fails.
func TestCompatibilityTransitive(t *testing.T) {
	v1, v2, v3 := avro.MustParse(recV1), avro.MustParse(recAddDefault), avro.MustParse(recAddNoDefault)
	for _, c := range []struct {
		level Compatibility
		ok    bool
	}{
		{Backward, true}, {BackwardTransitive, false}, {Full, true}, {FullTransitive, false},
		{Forward, true}, {ForwardTransitive, true},
	} {
		msgs := CheckCompatibility(c.level, v3, []avro.Schema{v1, v2})
		if got := len(msgs) == 0; got != c.ok {
			t.Errorf("%s: compatible=%v, want %v (%v)", c.level, got, c.ok, msgs)
		}
	}
	// Forward transitive: enum symbols removed step by step.
	e1 := avro.MustParse(`{"type":"enum","name":"E","symbols":["A","B","C"]}`)
	e2 := avro.MustParse(`{"type":"enum","name":"E","symbols":["A","B","C","D"]}`)
	e3 := avro.MustParse(`{"type":"enum","name":"E","symbols":["A","B","D"]}`)
	// e3 written data (A,B,D) is readable by e2 but e1 lacks D.
	if msgs := CheckCompatibility(Forward, e3, []avro.Schema{e1, e2}); len(msgs) != 0 {
		t.Errorf("FORWARD e3 after e2: %v", msgs)
	}
	if msgs := CheckCompatibility(ForwardTransitive, e3, []avro.Schema{e1, e2}); len(msgs) == 0 {
		t.Errorf("FORWARD_TRANSITIVE e3 against e1 should fail (D unknown to e1)")
	}
}

func TestParseCompatibility(t *testing.T) {
	if c, err := ParseCompatibility("full_transitive"); err != nil || c != FullTransitive {
		t.Fatalf("got %v %v", c, err)
	}
	if _, err := ParseCompatibility("SIDEWAYS"); err == nil {
		t.Fatal("want error")
	}
}
