package transform

import (
	"fmt"
	"maps"
	"sync"

	"github.com/sluicehq/sluice/runtime/connect"
)

// side selects the record key or value, like Kafka's $Key/$Value variants.
type side bool

const (
	valueSide side = false
	keySide   side = true
)

func (s side) schema(r *connect.Record) *connect.Schema {
	if s == keySide {
		return r.KeySchema
	}
	return r.ValueSchema
}

func (s side) value(r *connect.Record) any {
	if s == keySide {
		return r.Key
	}
	return r.Value
}

// with returns a copy of r with the key or value replaced.
func (s side) with(r *connect.Record, schema *connect.Schema, v any) *connect.Record {
	out := r.Clone()
	if s == keySide {
		out.KeySchema, out.Key = schema, v
	} else {
		out.ValueSchema, out.Value = schema, v
	}
	return out
}

func (s side) String() string {
	if s == keySide {
		return "key"
	}
	return "value"
}

// DataError reports a record a transformation cannot handle.
type DataError struct {
	Transform string
	Msg       string
}

func (e *DataError) Error() string { return e.Transform + ": " + e.Msg }

func dataErr(transform, format string, args ...any) error {
	return &DataError{Transform: transform, Msg: fmt.Sprintf(format, args...)}
}

func requireStruct(name string, s side, v any) (*connect.Struct, error) {
	st, ok := v.(*connect.Struct)
	if !ok || st == nil {
		return nil, dataErr(name, "only Struct objects supported for the record %s with a schema, found %T", s, v)
	}
	return st, nil
}

func requireMap(name string, s side, v any) (map[string]any, error) {
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case map[any]any:
		out := make(map[string]any, len(m))
		for k, x := range m {
			ks, ok := k.(string)
			if !ok {
				return nil, dataErr(name, "schemaless record %s map has a non-string key of type %T", s, k)
			}
			out[ks] = x
		}
		return out, nil
	}
	return nil, dataErr(name, "only Map objects supported for the schemaless record %s, found %T", s, v)
}

// copySchemaBasics starts a struct schema with the name, version, doc and
// parameters of src, like Kafka's SchemaUtil.copySchemaBasics (optionality
// and default are not copied).
func copySchemaBasics(src *connect.Schema) *connect.Schema {
	return &connect.Schema{
		Type:       connect.StructT,
		Name:       src.Name,
		Version:    src.Version,
		Doc:        src.Doc,
		Parameters: maps.Clone(src.Parameters),
	}
}

func addField(s *connect.Schema, name string, fs *connect.Schema) {
	s.Fields = append(s.Fields, connect.Field{Name: name, Index: len(s.Fields), Schema: fs})
}

// optionalCopy returns s made optional (s itself when already optional).
func optionalCopy(s *connect.Schema) *connect.Schema {
	if s.Optional {
		return s
	}
	c := *s
	c.Optional = true
	return &c
}

// fieldValue reads a struct field like Kafka's Struct.get (the schema
// default when the value is null) or getWithoutDefault.
func fieldValue(st *connect.Struct, i int, f connect.Field, withDefault bool) any {
	v := st.At(i)
	if v == nil && withDefault {
		return f.Schema.Default
	}
	return v
}

const schemaCacheSize = 256

// schemaCache maps input schemas to derived output schemas, bounded.
type schemaCache struct {
	mu sync.Mutex
	m  map[*connect.Schema]*connect.Schema
}

func (c *schemaCache) get(in *connect.Schema, build func(*connect.Schema) (*connect.Schema, error)) (*connect.Schema, error) {
	c.mu.Lock()
	out, ok := c.m[in]
	c.mu.Unlock()
	if ok {
		return out, nil
	}
	out, err := build(in)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= schemaCacheSize {
		c.m = map[*connect.Schema]*connect.Schema{}
	}
	c.m[in] = out
	c.mu.Unlock()
	return out, nil
}

func isSourceRecord(r *connect.Record) bool {
	return r.SourcePartition != nil || r.SourceOffset != nil
}
