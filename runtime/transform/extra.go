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

// flattenOptions is the configuration of Flatten.
type flattenOptions struct{ delimiter string }

func (o *flattenOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{strKey("delimiter", ".", "Delimiter to insert between field names from the input record.", connect.IntoString(&o.delimiter))}
}

func (o *flattenOptions) Check() error { return nil }

func newFlatten(o *flattenOptions, s side) *Flatten {
	return &Flatten{side: s, delimiter: o.delimiter}
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

// hoistFieldOptions is the configuration of HoistField.
type hoistFieldOptions struct{ field string }

func (o *hoistFieldOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{reqKey("field", connect.TypeString, "Field name for the single field that will be created.", connect.IntoString(&o.field))}
}

func (o *hoistFieldOptions) Check() error { return nil }

func newHoistField(o *hoistFieldOptions, s side) *HoistField {
	return &HoistField{side: s, field: o.field}
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

// insertHeaderOptions is the configuration of InsertHeader.
type insertHeaderOptions struct {
	header string
	schema *connect.Schema
	value  any
}

func (o *insertHeaderOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		reqKey("header", connect.TypeString, "The name of the header.", connect.IntoString(&o.header)),
		setKey("value.literal", "The literal value that is to be set as the header value.", func(v string) error {
			s, x, err := convert.SimpleHeader{}.ToConnectHeader("", "", []byte(v))
			if err != nil {
				return connect.Errorf("value.literal", "%v", err)
			}
			o.schema, o.value = s, x
			return nil
		}),
	}
}

func (o *insertHeaderOptions) Check() error { return nil }

func newInsertHeader(o *insertHeaderOptions) Transformation {
	return &InsertHeader{header: o.header, schema: o.schema, value: o.value}
}

// Apply implements Transformation.
func (t *InsertHeader) Apply(r *connect.Record) (*connect.Record, error) {
	out := r.Clone()
	out.Headers = append(out.Headers, connect.Header{Key: t.header, Schema: t.schema, Value: t.value})
	return out, nil
}

// DropHeaders removes every header with one of the configured names.
type DropHeaders struct{ names []string }

// dropHeadersOptions is the configuration of DropHeaders.
type dropHeadersOptions struct{ names []string }

func (o *dropHeadersOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{{Name: "headers", Type: connect.TypeList, Importance: connect.High, Doc: "The name of the headers to be removed.", Into: connect.IntoList(&o.names)}}
}

func (o *dropHeadersOptions) Check() error {
	if len(o.names) == 0 {
		return connect.Errorf("headers", "missing required configuration: at least one header name")
	}
	return nil
}

func newDropHeaders(o *dropHeadersOptions) Transformation { return &DropHeaders{names: o.names} }

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

// setSchemaMetadataOptions is the configuration of SetSchemaMetadata.
type setSchemaMetadataOptions struct {
	name    string
	version int32
}

func (o *setSchemaMetadataOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		strKey("schema.name", "", "Schema name to set.", func(v string) error { o.name = strings.TrimSpace(v); return nil }),
		{Name: "schema.version", Type: connect.TypeInt, Importance: connect.High, Doc: "Schema version to set.", Default: "", HasDefault: true,
			Validate: func(v string) error {
				if strings.TrimSpace(v) == "" {
					return nil
				}
				return connect.AtLeast(1)(v)
			},
			Into: func(v string) error {
				n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 32)
				if err != nil {
					return connect.Errorf("schema.version", "expected an integer, got %q", v)
				}
				o.version = int32(n)
				return nil
			}},
	}
}

func (o *setSchemaMetadataOptions) Check() error {
	if o.name == "" && o.version == 0 {
		return connect.Errorf("schema.name", "neither schema.name nor schema.version is set")
	}
	return nil
}

func newSetSchemaMetadata(o *setSchemaMetadataOptions, s side) *SetSchemaMetadata {
	return &SetSchemaMetadata{side: s, name: o.name, version: o.version}
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

// headerFromOptions is the configuration of HeaderFrom.
type headerFromOptions struct {
	fields, headers []string
	operation       string
	replaceNull     bool
}

func (o *headerFromOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		reqKey("fields", connect.TypeList, "Field names in the record whose values are to be copied or moved to headers.", connect.IntoList(&o.fields)),
		reqKey("headers", connect.TypeList, "Header names, in the same order as the field names listed in the fields configuration property.", connect.IntoList(&o.headers)),
		reqEnumKey("operation", "Either move if the fields are to be moved to the headers (removed from the key/value), or copy.", &o.operation, "move", "copy"),
		replaceNullKey(&o.replaceNull),
	}
}

func (o *headerFromOptions) Check() error {
	if len(o.fields) == 0 {
		return connect.Errorf("fields", "missing required configuration")
	}
	if len(o.headers) != len(o.fields) {
		return connect.Errorf("headers", "must have the same number of elements as fields (%d), got %d", len(o.fields), len(o.headers))
	}
	return nil
}

func newHeaderFrom(o *headerFromOptions, s side) *HeaderFrom {
	return &HeaderFrom{side: s, fields: o.fields, headers: o.headers, move: o.operation == "move", replaceNull: o.replaceNull}
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
