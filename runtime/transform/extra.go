package transform

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
)

// Flatten is Flatten$Key / Flatten$Value: nested structs (or maps) become
// top-level fields named parent<delimiter>child. Arrays and maps with a
// schema are kept as they are; a field becomes optional when any parent is.
type Flatten struct {
	side      side
	delimiter string
	cache     schemaCache
}

const flattenName = "Flatten"

func newFlatten(p params, key bool) (*Flatten, error) {
	return &Flatten{side: side(key), delimiter: p.str("delimiter", ".")}, nil
}

func (t *Flatten) name(prefix, field string) string {
	if prefix == "" {
		return field
	}
	return prefix + t.delimiter + field
}

// Apply implements Transformation.
func (t *Flatten) Apply(r *connect.Record) (*connect.Record, error) {
	v := t.side.value(r)
	if v == nil {
		return r, nil
	}
	s := t.side.schema(r)
	if s == nil {
		m, err := requireMap(flattenName, t.side, v)
		if err != nil {
			return nil, err
		}
		out := map[string]any{}
		t.flattenMap("", m, out)
		return t.side.with(r, nil, out), nil
	}
	st, err := requireStruct(flattenName, t.side, v)
	if err != nil {
		return nil, err
	}
	ns, err := t.cache.get(st.Schema(), func(in *connect.Schema) (*connect.Schema, error) {
		out := copySchemaBasics(in)
		if err := t.flattenSchema("", in, in.Optional, out); err != nil {
			return nil, err
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	out := connect.NewStructValue(ns)
	if err := t.flattenStruct("", st, out); err != nil {
		return nil, err
	}
	return t.side.with(r, ns, out), nil
}

func (t *Flatten) flattenMap(prefix string, m map[string]any, out map[string]any) {
	for k, v := range m {
		name := t.name(prefix, k)
		switch x := v.(type) {
		case map[string]any:
			t.flattenMap(name, x, out)
		case map[any]any:
			if sm, err := requireMap(flattenName, valueSide, x); err == nil {
				t.flattenMap(name, sm, out)
			} else {
				out[name] = v
			}
		default:
			out[name] = v
		}
	}
}

func (t *Flatten) flattenSchema(prefix string, in *connect.Schema, optional bool, out *connect.Schema) error {
	for _, f := range in.Fields {
		name := t.name(prefix, f.Name)
		opt := optional || f.Schema.Optional
		if f.Schema.Type == connect.StructT {
			if err := t.flattenSchema(name, f.Schema, opt, out); err != nil {
				return err
			}
			continue
		}
		if out.Field(name) != nil {
			return dataErr(flattenName, "flattened field name %q is not unique", name)
		}
		fs := f.Schema
		if opt && !fs.Optional {
			fs = optionalCopy(fs)
		}
		addField(out, name, fs)
	}
	return nil
}

func (t *Flatten) flattenStruct(prefix string, st *connect.Struct, out *connect.Struct) error {
	for i, f := range st.Schema().Fields {
		name := t.name(prefix, f.Name)
		v := st.At(i)
		if f.Schema.Type == connect.StructT {
			if inner, ok := v.(*connect.Struct); ok && inner != nil {
				if err := t.flattenStruct(name, inner, out); err != nil {
					return err
				}
			}
			continue
		}
		if out.Schema().Field(name) == nil {
			return dataErr(flattenName, "nested value field %q does not match the record schema", name)
		}
		out.Set(name, v)
	}
	return nil
}

// HoistField is HoistField$Key / HoistField$Value: it wraps the key or
// value in a struct (or map) with one field.
type HoistField struct {
	side  side
	field string
	cache schemaCache
}

func newHoistField(p params, key bool) (*HoistField, error) {
	f, err := p.required("field")
	if err != nil {
		return nil, err
	}
	return &HoistField{side: side(key), field: f}, nil
}

// Apply implements Transformation.
func (t *HoistField) Apply(r *connect.Record) (*connect.Record, error) {
	s := t.side.schema(r)
	v := t.side.value(r)
	if s == nil {
		return t.side.with(r, nil, map[string]any{t.field: v}), nil
	}
	ns, _ := t.cache.get(s, func(in *connect.Schema) (*connect.Schema, error) {
		return connect.NewStruct().Field(t.field, in).Build(), nil
	})
	return t.side.with(r, ns, connect.NewStructValue(ns).Set(t.field, v)), nil
}

// InsertHeader adds a header with a literal value, typed like Kafka's
// Values.parseString (boolean, integer, float or string).
type InsertHeader struct {
	header string
	schema *connect.Schema
	value  any
}

func newInsertHeader(p params) (*InsertHeader, error) {
	h, err := p.required("header")
	if err != nil {
		return nil, err
	}
	if !p.has("value.literal") {
		return nil, p.errf("value.literal", "missing required configuration")
	}
	s, v, err := convert.SimpleHeader{}.ToConnectHeader("", h, []byte(p.m["value.literal"]))
	if err != nil {
		return nil, p.errf("value.literal", "%v", err)
	}
	return &InsertHeader{header: h, schema: s, value: v}, nil
}

// Apply implements Transformation.
func (t *InsertHeader) Apply(r *connect.Record) (*connect.Record, error) {
	out := r.Clone()
	out.Headers = append(out.Headers, connect.Header{Key: t.header, Schema: t.schema, Value: t.value})
	return out, nil
}

// DropHeaders removes every header with one of the configured names.
type DropHeaders struct{ names []string }

func newDropHeaders(p params) (*DropHeaders, error) {
	names := p.list("headers")
	if len(names) == 0 {
		return nil, p.errf("headers", "missing required configuration: at least one header name")
	}
	return &DropHeaders{names: names}, nil
}

// Apply implements Transformation.
func (t *DropHeaders) Apply(r *connect.Record) (*connect.Record, error) {
	out := r.Clone()
	out.Headers = slices.DeleteFunc(out.Headers, func(h connect.Header) bool { return slices.Contains(t.names, h.Key) })
	return out, nil
}

// SetSchemaMetadata is SetSchemaMetadata$Key / $Value: it sets the schema
// name and/or version (records must have a schema).
type SetSchemaMetadata struct {
	side    side
	name    string
	version int32
	cache   schemaCache
}

func newSetSchemaMetadata(p params, key bool) (*SetSchemaMetadata, error) {
	t := &SetSchemaMetadata{side: side(key), name: strings.TrimSpace(p.str("schema.name", ""))}
	if v := strings.TrimSpace(p.str("schema.version", "")); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			return nil, p.errf("schema.version", "expected an integer, got %q", v)
		}
		t.version = int32(n)
	}
	if t.name == "" && t.version == 0 {
		return nil, p.errf("schema.name", "neither schema.name nor schema.version is set")
	}
	return t, nil
}

// Apply implements Transformation.
func (t *SetSchemaMetadata) Apply(r *connect.Record) (*connect.Record, error) {
	s := t.side.schema(r)
	if s == nil {
		return nil, dataErr("SetSchemaMetadata", "record %s has no schema", t.side)
	}
	ns, _ := t.cache.get(s, func(in *connect.Schema) (*connect.Schema, error) {
		c := *in
		c.Parameters = maps.Clone(in.Parameters)
		c.Fields = slices.Clone(in.Fields)
		if t.name != "" {
			c.Name = t.name
		}
		if t.version != 0 {
			c.Version = t.version
		}
		return &c, nil
	})
	v := t.side.value(r)
	if st, ok := v.(*connect.Struct); ok && st != nil && ns.Type == connect.StructT {
		out := connect.NewStructValue(ns)
		for i := range ns.Fields {
			if i < len(st.Schema().Fields) {
				out.SetAt(i, st.At(i))
			}
		}
		v = out
	}
	return t.side.with(r, ns, v), nil
}

// HeaderFrom is HeaderFrom$Key / HeaderFrom$Value: it copies (or moves)
// fields of the key or value into headers.
type HeaderFrom struct {
	side        side
	fields      []string
	headers     []string
	move        bool
	replaceNull bool
	cache       schemaCache
}

const headerFromName = "HeaderFrom"

func newHeaderFrom(p params, key bool) (*HeaderFrom, error) {
	t := &HeaderFrom{side: side(key), fields: p.list("fields"), headers: p.list("headers")}
	if len(t.fields) == 0 {
		return nil, p.errf("fields", "missing required configuration")
	}
	if len(t.headers) != len(t.fields) {
		return nil, p.errf("headers", "must have the same number of elements as fields (%d), got %d", len(t.fields), len(t.headers))
	}
	if _, err := p.required("operation"); err != nil {
		return nil, err
	}
	op, err := p.oneOf("operation", "", "move", "copy")
	if err != nil {
		return nil, err
	}
	t.move = op == "move"
	if t.replaceNull, err = p.boolean("replace.null.with.default", true); err != nil {
		return nil, err
	}
	return t, nil
}

// Apply implements Transformation.
func (t *HeaderFrom) Apply(r *connect.Record) (*connect.Record, error) {
	v := t.side.value(r)
	if v == nil {
		return r, nil
	}
	s := t.side.schema(r)
	if s == nil {
		m, err := requireMap(headerFromName, t.side, v)
		if err != nil {
			return nil, err
		}
		out := r.Clone()
		nm := m
		if t.move {
			nm = maps.Clone(m)
		}
		for i, f := range t.fields {
			out.Headers = append(out.Headers, connect.Header{Key: t.headers[i], Value: m[f]})
			if t.move {
				delete(nm, f)
			}
		}
		if t.side == keySide {
			out.Key = nm
		} else {
			out.Value = nm
		}
		return out, nil
	}
	st, err := requireStruct(headerFromName, t.side, v)
	if err != nil {
		return nil, err
	}
	in := st.Schema()
	out := r.Clone()
	for i, name := range t.fields {
		f := in.Field(name)
		if f == nil {
			return nil, dataErr(headerFromName, "field %q not found in %v", name, in)
		}
		out.Headers = append(out.Headers, connect.Header{Key: t.headers[i], Schema: f.Schema, Value: fieldValue(st, f.Index, *f, t.replaceNull)})
	}
	if !t.move {
		return out, nil
	}
	ns, _ := t.cache.get(in, func(in *connect.Schema) (*connect.Schema, error) {
		ns := copySchemaBasics(in)
		ns.Optional = in.Optional
		for _, f := range in.Fields {
			if !slices.Contains(t.fields, f.Name) {
				addField(ns, f.Name, f.Schema)
			}
		}
		return ns, nil
	})
	nv := connect.NewStructValue(ns)
	for i, f := range ns.Fields {
		of := in.Field(f.Name)
		nv.SetAt(i, fieldValue(st, of.Index, *of, t.replaceNull))
	}
	if t.side == keySide {
		out.KeySchema, out.Key = ns, nv
	} else {
		out.ValueSchema, out.Value = ns, nv
	}
	return out, nil
}
