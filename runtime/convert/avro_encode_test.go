package convert

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/big"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/runtime/connect"
)

// planCase compiles the Avro schema, the encoding plan and the reflection
// path's Go types for Connect schema s.
type planCase struct {
	s      *connect.Schema
	text   string
	parsed avro.Schema
	node   *avroNode
	plan   *encOp
	api    avro.API
}

func newPlanCase(t testing.TB, s *connect.Schema) *planCase {
	t.Helper()
	a := &Avro{metadata: true}
	text, node, err := a.avroSchema(s)
	if err != nil {
		t.Fatalf("schema %v: %v", s, err)
	}
	parsed, err := avro.Parse(text)
	if err != nil {
		t.Fatalf("schema %v maps to invalid Avro %s: %v", s, text, err)
	}
	fillBranches(node, parsed)
	plan, err := compileEnc(node, parsed)
	if err != nil {
		t.Fatalf("no plan for %s: %v", text, err)
	}
	node.fieldType()
	return &planCase{s: s, text: text, parsed: parsed, node: node, plan: plan, api: avro.Config{BlockLength: avroBlockLength}.Freeze()}
}

func (c *planCase) encodePlan(v any) ([]byte, error) {
	w := avro.NewWriter(nil, 64, avro.WithWriterConfig(c.api))
	if err := c.plan.encode(w, v); err != nil {
		return nil, err
	}
	return w.Buffer(), nil
}

// encodeReflect is the reflection path: a value of the schema's Go struct
// type, encoded by hamba/avro's compiled struct encoder.
func (c *planCase) encodeReflect(v any) ([]byte, error) {
	root := reflect.New(c.node.fieldType()).Elem()
	if err := c.node.fill(root, v); err != nil {
		return nil, err
	}
	return c.api.Marshal(c.parsed, root.Interface())
}

// hambaDatum builds hamba/avro's generic datum (maps, slices, single-entry
// union maps) for Connect value v of schema s, written with Avro schema
// as, independently of the converter's nodes.
func hambaDatum(t testing.TB, as avro.Schema, s *connect.Schema, v any) any {
	t.Helper()
	as = derefSchema(as)
	if v == nil {
		v = s.Default
	}
	if u, ok := as.(*avro.UnionSchema); ok {
		if v == nil {
			return map[string]any{"null": nil}
		}
		for _, b := range u.Types() {
			if b.Type() != avro.Null {
				return map[string]any{branchName(b): hambaDatum(t, b, s, v)}
			}
		}
	}
	switch s.Name {
	case connect.DecimalName:
		return v.(connect.Decimal).UnscaledBytes() // Confluent's minimal two's complement
	case connect.DateName, connect.TimestampName:
		return v.(time.Time)
	case connect.TimeName:
		return time.Duration(connect.MillisOfDay(v.(time.Time))) * time.Millisecond
	}
	switch s.Type {
	case connect.Int8:
		return int32(v.(int8))
	case connect.Int16:
		return int32(v.(int16))
	case connect.Bytes:
		if v.([]byte) == nil {
			return []byte{}
		}
		return v
	case connect.Array:
		items := as.(*avro.ArraySchema).Items()
		out := []any{}
		for _, e := range v.([]any) {
			out = append(out, hambaDatum(t, items, s.Value, e))
		}
		return out
	case connect.Map:
		m := v.(map[any]any)
		if ms, ok := as.(*avro.MapSchema); ok {
			out := map[string]any{}
			for k, e := range m {
				out[k.(string)] = hambaDatum(t, ms.Values(), s.Value, e)
			}
			return out
		}
		rs := derefSchema(as.(*avro.ArraySchema).Items()).(*avro.RecordSchema)
		out := []any{}
		for k, e := range m {
			out = append(out, map[string]any{
				"key":   hambaDatum(t, rs.Fields()[0].Type(), s.Key, k),
				"value": hambaDatum(t, rs.Fields()[1].Type(), s.Value, e),
			})
		}
		return out
	case connect.StructT:
		rs := as.(*avro.RecordSchema)
		st := v.(*connect.Struct)
		out := map[string]any{}
		for i, f := range s.Fields {
			out[f.Name] = hambaDatum(t, rs.Fields()[i].Type(), f.Schema, st.At(i))
		}
		return out
	}
	return v
}

// schemaGen makes random Connect schemas and values.
type schemaGen struct {
	r     *rand.Rand
	names int
}

func (g *schemaGen) primitive() *connect.SchemaBuilder {
	switch g.r.IntN(14) {
	case 0:
		return connect.NewSchema(connect.Int8)
	case 1:
		return connect.NewSchema(connect.Int16)
	case 2:
		return connect.NewSchema(connect.Int32)
	case 3:
		return connect.NewSchema(connect.Int64)
	case 4:
		return connect.NewSchema(connect.Float32)
	case 5:
		return connect.NewSchema(connect.Float64)
	case 6:
		return connect.NewSchema(connect.Boolean)
	case 7:
		return connect.NewSchema(connect.String)
	case 8:
		return connect.NewSchema(connect.Bytes)
	case 9:
		b := connect.DecimalSchema(int32(g.r.IntN(12)))
		if g.r.IntN(2) == 0 {
			b = b.Param("connect.decimal.precision", fmt.Sprint(10+g.r.IntN(30)))
		}
		return b
	case 10:
		return connect.DateSchema()
	case 11:
		return connect.TimeSchema()
	case 12:
		return connect.TimestampSchema()
	}
	// A Debezium-style named primitive with parameters.
	return connect.NewSchema(connect.String).Name("io.debezium.data.Enum").Version(1).Param("allowed", "a,b,c")
}

func (g *schemaGen) schema(depth int) *connect.Schema {
	var b *connect.SchemaBuilder
	k := g.r.IntN(10)
	if depth <= 0 {
		k = 0
	}
	switch k {
	case 6:
		b = connect.NewArray(g.schema(depth - 1))
	case 7:
		b = connect.NewMap(connect.StringSchema, g.schema(depth-1))
	case 8:
		key := g.primitive().Build()
		for key.Type == connect.Bytes { // a Go map key must be hashable
			key = g.primitive().Build()
		}
		if g.r.IntN(2) == 0 {
			key = connect.NewSchema(connect.String).Optional().Build()
		}
		b = connect.NewMap(key, g.schema(depth-1))
	case 9:
		return g.record(depth-1, g.r.IntN(3) == 0)
	default:
		b = g.primitive()
	}
	if g.r.IntN(3) == 0 {
		b = b.Optional()
	}
	s := b.Build()
	if s.Type.IsPrimitive() && g.r.IntN(4) == 0 {
		s.Default = g.value(s, 0)
	}
	return s
}

func (g *schemaGen) record(depth int, optional bool) *connect.Schema {
	b := connect.NewStruct()
	if g.r.IntN(2) == 0 {
		g.names++
		b = b.Name(fmt.Sprintf("gen.ns%d.Rec%d", g.names%3, g.names))
		if g.r.IntN(2) == 0 {
			b = b.Version(int32(1 + g.r.IntN(3)))
		}
	}
	for i := range g.r.IntN(7) {
		b = b.Field(fmt.Sprintf("f%d", i), g.schema(depth))
	}
	if optional {
		b = b.Optional()
	}
	return b.Build()
}

// value makes a value of s; nil (null or default) with probability nilP
// when s allows it.
func (g *schemaGen) value(s *connect.Schema, nilP float64) any {
	if (s.Optional || s.Default != nil) && g.r.Float64() < nilP {
		return nil
	}
	switch s.Name {
	case connect.DecimalName:
		scale, _ := connect.DecimalScale(s)
		var u *big.Int
		switch g.r.IntN(4) {
		case 0:
			u = big.NewInt(int64(g.r.IntN(511)) - 255)
		case 1:
			u = big.NewInt(g.r.Int64() - math.MaxInt64/2)
		case 2:
			u = new(big.Int).Lsh(big.NewInt(int64(g.r.IntN(1000))-500), uint(60+g.r.IntN(40)))
		default:
			u = big.NewInt([]int64{0, -1, 1, 127, 128, -128, -129, math.MinInt64, math.MaxInt64}[g.r.IntN(9)])
		}
		return connect.Decimal{Unscaled: u, Scale: scale}
	case connect.DateName:
		return connect.DateFromDays(int32(g.r.IntN(80000)) - 30000)
	case connect.TimeName:
		return connect.TimeFromMillis(int32(g.r.IntN(86_400_000)))
	case connect.TimestampName:
		return time.UnixMilli(g.r.Int64N(1<<44) - 1<<42).UTC()
	}
	switch s.Type {
	case connect.Int8:
		return int8(g.r.Uint32())
	case connect.Int16:
		return int16(g.r.Uint32())
	case connect.Int32:
		return int32(g.r.Uint32())
	case connect.Int64:
		return int64(g.r.Uint64())
	case connect.Float32:
		return float32(g.r.NormFloat64() * 1e6)
	case connect.Float64:
		return g.r.NormFloat64() * 1e12
	case connect.Boolean:
		return g.r.IntN(2) == 0
	case connect.String:
		return []string{"", "a", "héllo", "日本", strings.Repeat("x", 200)}[g.r.IntN(5)]
	case connect.Bytes:
		if g.r.IntN(5) == 0 {
			return []byte(nil)
		}
		b := make([]byte, g.r.IntN(20))
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
		return b
	case connect.Array:
		n := g.r.IntN(4)
		if g.r.IntN(8) == 0 {
			n = 95 + g.r.IntN(120) // more than one block
		}
		out := make([]any, n)
		for i := range out {
			out[i] = g.value(s.Value, 0.3)
		}
		return out
	case connect.Map:
		// At most one entry, so the bytes do not depend on map order
		// (TestAvroPlanLargeCollections covers more).
		m := map[any]any{}
		if g.r.IntN(3) > 0 {
			m[g.value(s.Key, 0.1)] = g.value(s.Value, 0.3)
		}
		return m
	case connect.StructT:
		st := connect.NewStructValue(s)
		for i, f := range s.Fields {
			st.SetAt(i, g.value(f.Schema, 0.3))
		}
		return st
	}
	panic("no value for " + s.String())
}

// TestAvroPlanMatchesHamba: for random schemas covering every Connect type
// and logical type, optional unions (null first, or value first with a
// default), defaults, nested structs, arrays and both map forms, the plan
// writes the bytes of hamba/avro's generic Marshal of the same datum and
// of the reflection path (hamba's struct encoder), and the bytes decode.
func TestAvroPlanMatchesHamba(t *testing.T) {
	g := &schemaGen{r: rand.New(rand.NewPCG(20, 2026))}
	for i := range 400 {
		s := g.record(3, i%7 == 0)
		c := newPlanCase(t, s)
		for j := range 5 {
			v := g.value(s, 0) // a nil root is a tombstone, never encoded
			got, err := c.encodePlan(v)
			if err != nil {
				t.Fatalf("schema %d value %d: plan: %v\nschema %s", i, j, err, c.text)
			}
			old, err := c.encodeReflect(v)
			if err != nil {
				t.Fatalf("schema %d value %d: reflection path: %v", i, j, err)
			}
			generic, err := avro.Marshal(c.parsed, hambaDatum(t, c.parsed, s, v))
			if err != nil {
				t.Fatalf("schema %d value %d: hamba generic: %v\nschema %s", i, j, err, c.text)
			}
			if !bytes.Equal(got, generic) || !bytes.Equal(got, old) {
				t.Fatalf("schema %d value %d differs\n plan    % x\n generic % x\n reflect % x\nschema %s\nvalue %v", i, j, got, generic, old, c.text, v)
			}
			var back any
			if err := avro.Unmarshal(c.parsed, got, &back); err != nil {
				t.Fatalf("schema %d value %d: bytes do not decode: %v", i, j, err)
			}
		}
	}
}

// TestAvroPlanCases: hand-picked schemas, including a struct schema used
// twice (a named type referenced the second time), a top-level optional
// struct, and the Debezium-shaped events of the benchmarks.
func TestAvroPlanCases(t *testing.T) {
	env, row := cdcSchema()
	_, pgKey, pgEnv, pgV := pgBenchEvent()
	optRow := *row
	optRow.Optional = true
	deleted := connect.NewStructValue(pgEnv).Set("before", pgV.Get("after")).Set("source", pgV.Get("source")).Set("op", "d")
	for _, c := range []struct {
		name string
		s    *connect.Schema
		v    any
	}{
		{"cdc", env, cdcValue(env, row)},
		{"pg", pgEnv, pgV},
		{"pg delete", pgEnv, deleted},
		{"pg key", pgKey.Schema(), pgKey},
		{"optional root", &optRow, cdcValue(env, row).Get("after")},
		{"primitive root", connect.Int64Schema, int64(-5)},
		{"empty struct", connect.NewStruct().Build(), connect.NewStructValue(connect.NewStruct().Build())},
		{"array of empty structs", connect.NewArray(connect.NewStruct().Build()).Build(),
			[]any{connect.NewStructValue(connect.NewStruct().Build()), connect.NewStructValue(connect.NewStruct().Build())}},
		{"default used for null", connect.NewStruct().Field("n", connect.NewSchema(connect.Int32).Default(int32(-9)).Build()).
			Field("o", connect.NewSchema(connect.String).Optional().Default("dflt").Build()).Build(), nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			pc := newPlanCase(t, c.s)
			v := c.v
			if c.name == "default used for null" {
				v = connect.NewStructValue(c.s)
			}
			got, err := pc.encodePlan(v)
			if err != nil {
				t.Fatal(err)
			}
			old, err := pc.encodeReflect(v)
			if err != nil {
				t.Fatal(err)
			}
			if c.s.Name != env.Name && c.s.Name != row.Name { // cdc values have two-entry maps: order varies
				generic, err := avro.Marshal(pc.parsed, hambaDatum(t, pc.parsed, c.s, v))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, generic) {
					t.Fatalf("plan % x\ngeneric % x", got, generic)
				}
			}
			if len(got) != len(old) {
				t.Fatalf("plan % x\nreflect % x", got, old)
			}
			var a, b any
			if err := avro.Unmarshal(pc.parsed, got, &a); err != nil {
				t.Fatal(err)
			}
			if err := avro.Unmarshal(pc.parsed, old, &b); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("decoded differently:\n%v\n%v", a, b)
			}
		})
	}
}

// TestAvroPlanLargeCollections: maps beyond one block (hamba writes 100
// items per block) decode to the same data as hamba's output; map order
// makes the bytes differ.
func TestAvroPlanLargeCollections(t *testing.T) {
	s := connect.NewStruct().
		Field("m", connect.NewMap(connect.StringSchema, connect.OptionalInt64Schema).Build()).
		Field("e", connect.NewMap(connect.Int32Schema, connect.StringSchema).Build()).
		Build()
	pc := newPlanCase(t, s)
	for _, n := range []int{0, 1, 99, 100, 101, 250} {
		m, e := map[any]any{}, map[any]any{}
		for i := range n {
			m[fmt.Sprint("k", i)] = int64(i)
			if i%3 == 0 {
				m[fmt.Sprint("k", i)] = nil
			}
			e[int32(i)] = fmt.Sprint(i)
		}
		v := connect.NewStructValue(s).Set("m", m).Set("e", e)
		got, err := pc.encodePlan(v)
		if err != nil {
			t.Fatal(err)
		}
		generic, err := avro.Marshal(pc.parsed, hambaDatum(t, pc.parsed, s, v))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(generic) {
			t.Fatalf("%d entries: %d bytes, hamba %d", n, len(got), len(generic))
		}
		var a, b any
		if err := avro.Unmarshal(pc.parsed, got, &a); err != nil {
			t.Fatal(err)
		}
		if err := avro.Unmarshal(pc.parsed, generic, &b); err != nil {
			t.Fatal(err)
		}
		// MapEntry arrays are in map order: compare them as maps.
		entries := func(d any) map[any]any {
			out := map[any]any{}
			for _, e := range d.(map[string]any)["e"].([]any) {
				out[e.(map[string]any)["key"]] = e.(map[string]any)["value"]
			}
			return out
		}
		if !reflect.DeepEqual(a.(map[string]any)["m"], b.(map[string]any)["m"]) || !reflect.DeepEqual(entries(a), entries(b)) || len(entries(a)) != n {
			t.Fatalf("%d entries decode differently\n%v\n%v", n, a, b)
		}
	}
}

// TestAvroPlanErrors: bad values get the reflection path's errors, naming
// the field.
func TestAvroPlanErrors(t *testing.T) {
	inner := connect.NewStruct().Name("In").Field("x", connect.Int32Schema).Build()
	s := connect.NewStruct().
		Field("a", connect.Int64Schema).
		Field("arr", connect.NewArray(inner).Optional().Build()).
		Field("m", connect.NewMap(connect.StringSchema, connect.DecimalSchema(2).Build()).Optional().Build()).
		Field("e", connect.NewMap(connect.Int32Schema, connect.StringSchema).Optional().Build()).
		Build()
	pc := newPlanCase(t, s)
	ok := func() *connect.Struct { return connect.NewStructValue(s).Set("a", int64(1)) }
	for _, c := range []struct {
		name string
		v    any
		want string
	}{
		{"required null", connect.NewStructValue(s), `"a"`},
		{"wrong type", ok().Set("a", int32(1)), `field "a": value of Go type int32`},
		{"in array", ok().Set("arr", []any{connect.NewStructValue(inner).Set("x", int32(1)), connect.NewStructValue(inner)}), `"arr[1].x"`},
		{"decimal scale", ok().Set("m", map[any]any{"k": connect.Decimal{Unscaled: big.NewInt(1), Scale: 3}}), `"m[k]": decimal scale 3`},
		{"map key type", ok().Set("m", map[any]any{1: connect.Decimal{Unscaled: big.NewInt(1), Scale: 2}}), "map key of Go type int"},
		{"entry key", ok().Set("e", map[any]any{"x": "y"}), `"e<key>"`},
		{"entry value", ok().Set("e", map[any]any{int32(4): 5}), `"e[4]"`},
		{"not a struct", "x", "value of Go type string"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := pc.encodePlan(c.v)
			_, oldErr := pc.encodeReflect(c.v)
			if err == nil || oldErr == nil || err.Error() != oldErr.Error() || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("plan error %v\nreflection error %v\nwant %s", err, oldErr, c.want)
			}
		})
	}
}

func TestTwosComplement64(t *testing.T) {
	var b [8]byte
	vals := []int64{math.MinInt64, math.MaxInt64}
	for i := int64(-70000); i <= 70000; i++ {
		vals = append(vals, i)
	}
	for sh := range 63 {
		vals = append(vals, 1<<sh, -(1 << sh), 1<<sh-1, -(1<<sh)-1)
	}
	for _, x := range vals {
		if got, want := twosComplement64(&b, x), connect.TwosComplement(big.NewInt(x)); !bytes.Equal(got, want) {
			t.Fatalf("%d: % x, want % x", x, got, want)
		}
	}
}

// TestAvroUseLatestOtherSchema: with use.latest.version the registered
// schema may differ from the one the Connect schema maps to (fields in
// another order, an extra field with a default); the plan does not cover
// it, so the reflection path writes the record by field name.
func TestAvroUseLatestOtherSchema(t *testing.T) {
	url, _ := startRegistry(t)
	latest := `{"type":"record","name":"Order","namespace":"com.acme","fields":[` +
		`{"name":"name","type":"string"},{"name":"id","type":"int"},{"name":"extra","type":"string","default":"x"}]}`
	if _, err := newRegistryClient(url, "").register(context.Background(), "orders-value", latest); err != nil {
		t.Fatal(err)
	}
	a, err := NewAvro(map[string]string{SchemaRegistryURLConfig: url, AutoRegisterSchemasConfig: "false", UseLatestVersionConfig: "true"}, false)
	if err != nil {
		t.Fatal(err)
	}
	s := connect.NewStruct().Name("com.acme.Order").Field("id", connect.Int32Schema).Field("name", connect.StringSchema).Build()
	data, err := a.FromConnect("orders", s, connect.NewStructValue(s).Set("id", int32(3)).Set("name", "n"))
	if err != nil {
		t.Fatal(err)
	}
	if e, _ := a.encoder("orders", s); e.plan != nil {
		t.Fatal("the plan must not cover a schema with other fields")
	}
	_, v, err := a.ToConnect("orders", data)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.(*connect.Struct).String(); got != "Struct{name=n,id=3,extra=x}" {
		t.Fatalf("decoded %s", got)
	}
}

// TestAvroConcurrent: one converter used by several goroutines (shared
// plans, pooled writers and readers) converts every record correctly.
func TestAvroConcurrent(t *testing.T) {
	url, _ := startRegistry(t)
	conv, err := NewAvro(map[string]string{SchemaRegistryURLConfig: url}, false)
	if err != nil {
		t.Fatal(err)
	}
	env, row := cdcSchema()
	_, _, pgEnv, pgV := pgBenchEvent()
	done := make(chan error)
	for g := range 4 {
		go func() {
			for i := range 200 {
				topic, s, v := "cdc", env, any(cdcValue(env, row))
				if (g+i)%2 == 0 {
					topic, s, v = "pg", pgEnv, pgV
				}
				data, err := conv.FromConnect(topic, s, v)
				if err != nil {
					done <- err
					return
				}
				_, got, err := conv.ToConnect("t", data)
				if err != nil {
					done <- err
					return
				}
				if got.(*connect.Struct).String() != v.(*connect.Struct).String() {
					done <- fmt.Errorf("goroutine %d record %d: got %v, want %v", g, i, got, v)
					return
				}
			}
			done <- nil
		}()
	}
	for range 4 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
