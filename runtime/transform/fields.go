package transform

import (
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// ValueToKey replaces the record key with a struct (or map) of the listed
// value fields. Tombstones (nil value) pass through unchanged.
type ValueToKey struct {
	fields      []string
	replaceNull bool
	cache       schemaCache
}

const valueToKeyName = "ValueToKey"

// valueToKeyOptions is the configuration of ValueToKey.
type valueToKeyOptions struct {
	fields      []string
	replaceNull bool
}

func (o *valueToKeyOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "fields", Type: connect.TypeList, Importance: connect.High, Doc: "Field names on the record value to extract as the record key.", Into: connect.IntoList(&o.fields)},
		replaceNullKey(&o.replaceNull),
	}
}

func (o *valueToKeyOptions) Check() error {
	if len(o.fields) == 0 {
		return connect.Errorf("fields", "missing required configuration: at least one field")
	}
	return nil
}

func newValueToKey(o *valueToKeyOptions) Transformation {
	return &ValueToKey{fields: o.fields, replaceNull: o.replaceNull}
}

// Apply implements Transformation.
func (t *ValueToKey) Apply(r *connect.Record) (*connect.Record, error) {
	if r.Value == nil {
		return r, nil
	}
	if r.ValueSchema == nil {
		m, err := requireMap(valueToKeyName, valueSide, r.Value)
		if err != nil {
			return nil, err
		}
		key := make(map[string]any, len(t.fields))
		for _, f := range t.fields {
			key[f] = m[f]
		}
		return keySide.with(r, nil, key), nil
	}
	st, err := requireStruct(valueToKeyName, valueSide, r.Value)
	if err != nil {
		return nil, err
	}
	ks, err := t.cache.get(st.Schema(), func(in *connect.Schema) (*connect.Schema, error) {
		out := &connect.Schema{Type: connect.StructT}
		for _, name := range t.fields {
			f := in.Field(name)
			if f == nil {
				return nil, dataErr(valueToKeyName, "field does not exist: %s", name)
			}
			addField(out, name, f.Schema)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	key := connect.NewStructValue(ks)
	for i, name := range t.fields {
		f := st.Schema().Field(name)
		key.SetAt(i, fieldValue(st, f.Index, *f, t.replaceNull))
	}
	return keySide.with(r, ks, key), nil
}

// ExtractField is ExtractField$Key / ExtractField$Value: it replaces the key
// or value with one of its fields. With field.syntax.version=V2 the field
// may be a dotted path into nested structs/maps.
type ExtractField struct {
	side        side
	path        []string
	replaceNull bool
}

const extractName = "ExtractField"

// extractFieldOptions is the configuration of ExtractField.
type extractFieldOptions struct {
	field, version string
	replaceNull    bool
}

func (o *extractFieldOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		reqKey("field", connect.TypeString, "Field name to extract.", connect.IntoString(&o.field)),
		enumKey("field.syntax.version", "V1", "V1: field names are literal; V2: dotted paths into nested structs.", &o.version, "V1", "V2"),
		replaceNullKey(&o.replaceNull),
	}
}

func (o *extractFieldOptions) Check() error { return nil }

func newExtractField(o *extractFieldOptions, s side) *ExtractField {
	t := &ExtractField{side: s, path: []string{o.field}, replaceNull: o.replaceNull}
	if o.version == "V2" {
		t.path = strings.Split(o.field, ".")
	}
	return t
}

// Apply implements Transformation.
func (t *ExtractField) Apply(r *connect.Record) (*connect.Record, error) {
	v := t.side.value(r)
	s := t.side.schema(r)
	if s == nil {
		for _, name := range t.path {
			if v == nil {
				break
			}
			m, err := requireMap(extractName, t.side, v)
			if err != nil {
				return nil, err
			}
			v = m[name]
		}
		return t.side.with(r, nil, v), nil
	}
	for i, name := range t.path {
		if s.Type != connect.StructT {
			return nil, dataErr(extractName, "cannot extract %q from non-struct schema %v", strings.Join(t.path[:i+1], "."), s)
		}
		f := s.Field(name)
		if f == nil {
			return nil, dataErr(extractName, "unknown field: %s", strings.Join(t.path[:i+1], "."))
		}
		if v != nil {
			st, err := requireStruct(extractName, t.side, v)
			if err != nil {
				return nil, err
			}
			vf := st.Schema().Field(name)
			if vf == nil {
				return nil, dataErr(extractName, "struct value has no field %s", strings.Join(t.path[:i+1], "."))
			}
			v = fieldValue(st, vf.Index, *vf, t.replaceNull)
		}
		s = f.Schema
	}
	return t.side.with(r, s, v), nil
}

// Filter drops every record it is applied to; combine it with a predicate
// to drop only some.
type Filter struct{}

// Apply implements Transformation: it always returns nil.
func (Filter) Apply(*connect.Record) (*connect.Record, error) { return nil, nil }
