package convert

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/runtime/connect"
)

// decodeCase reads Avro schema text as the converter does for a schema
// fetched by id: its Connect node, the decoding plan and the generic path.
type decodeCase struct {
	parsed avro.Schema
	node   *avroNode
	plan   *decOp
	api    avro.API
}

func newDecodeCase(t testing.TB, text string) *decodeCase {
	t.Helper()
	parsed, err := avro.Parse(text)
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	node, err := (&schemaReader{seen: map[string]*avroNode{}}).read(parsed, "")
	if err != nil {
		t.Fatalf("%s: %v", text, err)
	}
	plan, err := compileDec(node, parsed)
	if err != nil {
		t.Fatalf("no decoding plan for %s: %v", text, err)
	}
	return &decodeCase{parsed: parsed, node: node, plan: plan, api: avro.Config{BlockLength: avroBlockLength}.Freeze()}
}

func (c *decodeCase) decodePlan(body []byte) (any, error) {
	r := avro.NewReader(nil, 0, avro.WithReaderConfig(c.api)).Reset(body)
	return c.plan.decode(r)
}

// decodeGeneric is the generic path: hamba's generic Unmarshal, then
// fromAvro.
func (c *decodeCase) decodeGeneric(body []byte) (any, error) {
	var gv any
	if err := c.api.Unmarshal(c.parsed, body, &gv); err != nil {
		return nil, err
	}
	return c.node.fromAvro(gv, "")
}

func (c *decodeCase) check(t *testing.T, what string, body []byte) any {
	t.Helper()
	got, err := c.decodePlan(body)
	if err != nil {
		t.Fatalf("%s: plan: %v", what, err)
	}
	want, err := c.decodeGeneric(body)
	if err != nil {
		t.Fatalf("%s: generic: %v", what, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: decoded differently\n plan    %v\n generic %v", what, got, want)
	}
	if s, ok := got.(*connect.Struct); ok {
		if err := connect.Validate(c.node.connect, s); err != nil {
			t.Fatalf("%s: decoded value does not validate: %v", what, err)
		}
	}
	// Every truncation (up to 128 of them) is an error, not a panic or a short value.
	step := max(1, len(body)/128)
	for i := 0; i < len(body); i += step {
		if _, err := c.decodePlan(body[:i]); err == nil {
			t.Fatalf("%s: %d of %d bytes decoded without error", what, i, len(body))
		}
	}
	return got
}

// TestAvroDecodePlanMatchesGeneric: records the converter writes for
// random Connect schemas read back through the plan equal the generic
// path's values, and equal the values written.
func TestAvroDecodePlanMatchesGeneric(t *testing.T) {
	g := &schemaGen{r: rand.New(rand.NewPCG(7, 2026))}
	for i := range 300 {
		s := g.record(3, false)
		pc := newPlanCase(t, s)
		dc := newDecodeCase(t, pc.text)
		for j := range 4 {
			v := g.value(s, 0.25)
			body, err := pc.encodePlan(v)
			if err != nil {
				t.Fatal(err)
			}
			got := dc.check(t, pc.text, body)
			// Written defaults come back as values; compare re-encoded bytes.
			again, err := pc.encodePlan(got)
			if err != nil {
				t.Fatalf("schema %d value %d: re-encoding the decoded value: %v", i, j, err)
			}
			if len(again) != len(body) {
				t.Fatalf("schema %d value %d: round trip changed the bytes\n% x\n% x", i, j, body, again)
			}
		}
	}
}

// TestAvroDecodePlanForeign: schemas other producers write (general
// unions, enums, fixed, micros, nested named types, Connect type hints).
func TestAvroDecodePlanForeign(t *testing.T) {
	text := `{"type":"record","name":"Ev","namespace":"x","fields":[` +
		`{"name":"u","type":["null","int","string",{"type":"record","name":"P","fields":[{"name":"q","type":"long"}]}]},` +
		`{"name":"p2","type":["null","P"]},` +
		`{"name":"e","type":{"type":"enum","name":"Color","symbols":["RED","GREEN"]}},` +
		`{"name":"oe","type":["null","Color"]},` +
		`{"name":"f","type":{"type":"fixed","name":"Two","size":2}},` +
		`{"name":"ts","type":{"type":"long","logicalType":"timestamp-micros"}},` +
		`{"name":"tm","type":{"type":"long","logicalType":"time-micros"}},` +
		`{"name":"lts","type":{"type":"long","logicalType":"local-timestamp-millis"}},` +
		`{"name":"i8","type":{"type":"int","connect.type":"int8"}},` +
		`{"name":"arr","type":{"type":"array","items":["null","string"]}},` +
		`{"name":"m","type":{"type":"map","values":{"type":"array","items":"P"}}},` +
		`{"name":"dec","type":["null",{"type":"bytes","logicalType":"decimal","precision":30,"scale":4}]}]}`
	dc := newDecodeCase(t, text)
	parsed := dc.parsed
	for i, u := range []any{nil, map[string]any{"int": 5}, map[string]any{"string": "hi"}, map[string]any{"x.P": map[string]any{"q": int64(-9)}}} {
		body, err := avro.Marshal(parsed, map[string]any{
			"u": u, "p2": map[string]any{"x.P": map[string]any{"q": int64(3)}}, "e": "GREEN", "oe": nil,
			"f": [2]byte{1, 2}, "ts": time.UnixMicro(1_700_000_000_000_001).UTC(), "tm": time.Duration(5_000_123) * time.Microsecond,
			"lts": time.UnixMilli(1_700_000_000_123).UTC(), "i8": -3,
			"arr": []any{nil, map[string]any{"string": "a"}},
			"m":   map[string]any{"k": []any{map[string]any{"q": int64(1)}}},
			"dec": nil,
		})
		if err != nil {
			t.Fatal(err)
		}
		got := dc.check(t, "foreign "+string(rune('0'+i)), body).(*connect.Struct)
		if got.Get("e") != "GREEN" || got.Get("ts") != int64(1_700_000_000_000_001) || got.Get("tm") != int64(5_000_123) || got.Get("i8") != int8(-3) {
			t.Fatalf("decoded %v", got)
		}
	}
	// A recursive schema has no plan; the generic path reads it.
	rec := `{"type":"record","name":"Node","fields":[{"name":"v","type":"int"},{"name":"kids","type":{"type":"array","items":"Node"}}]}`
	p := avro.MustParse(rec)
	node, err := (&schemaReader{seen: map[string]*avroNode{}}).read(p, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := compileDec(node, p); err == nil {
		t.Fatal("a recursive schema must not get a plan")
	}
}

// TestAvroDecodePlanBadData: corrupt bytes get errors naming the field.
func TestAvroDecodePlanBadData(t *testing.T) {
	dc := newDecodeCase(t, `{"type":"record","name":"R","fields":[{"name":"a","type":"long"},`+
		`{"name":"o","type":["null","string"]},{"name":"e","type":{"type":"enum","name":"E","symbols":["X"]}},`+
		`{"name":"l","type":{"type":"array","items":"int"}}]}`)
	for _, c := range []struct {
		name string
		body []byte
		want string
	}{
		{"union index", []byte{2, 4}, `field "o": union index 2`},
		{"string length", []byte{2, 2, 1}, `field "o"`},
		{"enum index", []byte{2, 0, 2}, `field "e": enum symbol index 1`},
		{"array item", []byte{2, 0, 0, 4, 2}, `field "l[1]"`},
		{"negative block size", []byte{2, 0, 0, 1}, `field "l"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := dc.decodePlan(c.body)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want %s", err, c.want)
			}
		})
	}
}

// TestAvroDecimalScaleAbovePrecision: Postgres allows numeric(3,5); the
// Avro schema hamba/avro parses as plain bytes still reads back as a
// Connect Decimal.
func TestAvroDecimalScaleAbovePrecision(t *testing.T) {
	s := connect.NewStruct().Field("d", connect.DecimalSchema(5).Param("connect.decimal.precision", "3").Build()).Build()
	pc := newPlanCase(t, s)
	v := connect.NewStructValue(s).Set("d", connect.Decimal{Unscaled: big.NewInt(-123), Scale: 5})
	body, err := pc.encodePlan(v)
	if err != nil {
		t.Fatal(err)
	}
	dc := newDecodeCase(t, pc.text)
	got := dc.check(t, "numeric(3,5)", body).(*connect.Struct)
	d, ok := got.Get("d").(connect.Decimal)
	if !ok || d.String() != "-0.00123" || dc.node.connect.Fields[0].Schema.Name != connect.DecimalName {
		t.Fatalf("decoded %#v with schema %v", got.Get("d"), dc.node.connect.Fields[0].Schema)
	}
}

// FuzzAvroDecodePlan: any bytes decode without panicking, and where both
// the plan and the generic path accept them they agree.
func FuzzAvroDecodePlan(f *testing.F) {
	env, row := cdcSchema()
	pc := newPlanCase(f, env)
	dc := newDecodeCase(f, pc.text)
	body, err := pc.encodePlan(cdcValue(env, row))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(body[:len(body)/2])
	f.Add([]byte{2, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := dc.decodePlan(data)
		if err != nil {
			if _, ok := err.(*DataError); !ok {
				t.Fatalf("error %T is not a *DataError: %v", err, err)
			}
			return
		}
		want, gerr := dc.decodeGeneric(data)
		if gerr == nil && fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("plan %v\ngeneric %v", got, want)
		}
	})
}
