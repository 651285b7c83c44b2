package connect

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Type is a Connect schema type, named as in Kafka Connect's Schema.Type.
type Type string

// Schema types.
const (
	Int8    Type = "int8"
	Int16   Type = "int16"
	Int32   Type = "int32"
	Int64   Type = "int64"
	Float32 Type = "float"
	Float64 Type = "double"
	Boolean Type = "boolean"
	String  Type = "string"
	Bytes   Type = "bytes"
	Array   Type = "array"
	Map     Type = "map"
	StructT Type = "struct"
)

// IsPrimitive reports whether t is not array, map or struct.
func (t Type) IsPrimitive() bool {
	switch t {
	case Array, Map, StructT:
		return false
	}
	return true
}

// Valid reports whether t is a known type.
func (t Type) Valid() bool {
	switch t {
	case Int8, Int16, Int32, Int64, Float32, Float64, Boolean, String, Bytes, Array, Map, StructT:
		return true
	}
	return false
}

// Schema describes a value: its type, whether it may be null, an optional
// name (used for logical types such as Decimal or io.debezium.time.*),
// version, doc, parameters, default, and nested schemas for complex types.
// Schemas are treated as immutable once built; share them freely.
type Schema struct {
	Type       Type
	Optional   bool
	Name       string
	Version    int32 // 0 means unset
	Doc        string
	Parameters map[string]string
	Default    any // nil means no default

	Fields []Field // StructT only, in order
	Key    *Schema // Map only
	Value  *Schema // Map (values) and Array (elements)
}

// Field is one named member of a struct schema.
type Field struct {
	Name   string
	Index  int
	Schema *Schema
}

// Field returns the struct field with the given name, or nil.
func (s *Schema) Field(name string) *Field {
	if s == nil {
		return nil
	}
	for i := range s.Fields {
		if s.Fields[i].Name == name {
			return &s.Fields[i]
		}
	}
	return nil
}

// String renders the schema briefly for error messages.
func (s *Schema) String() string {
	if s == nil {
		return "<schemaless>"
	}
	var b strings.Builder
	b.WriteString(string(s.Type))
	if s.Name != "" {
		b.WriteString("(" + s.Name + ")")
	}
	if s.Optional {
		b.WriteString("?")
	}
	return b.String()
}

// Equal reports whether two schemas are structurally identical, including
// names, parameters and defaults of primitive types.
func (s *Schema) Equal(o *Schema) bool {
	if s == o {
		return true
	}
	if s == nil || o == nil {
		return false
	}
	if s.Type != o.Type || s.Optional != o.Optional || s.Name != o.Name || s.Version != o.Version ||
		s.Doc != o.Doc || !maps.Equal(s.Parameters, o.Parameters) || fmt.Sprint(s.Default) != fmt.Sprint(o.Default) {
		return false
	}
	if len(s.Fields) != len(o.Fields) {
		return false
	}
	for i := range s.Fields {
		if s.Fields[i].Name != o.Fields[i].Name || !s.Fields[i].Schema.Equal(o.Fields[i].Schema) {
			return false
		}
	}
	return s.Key.Equal(o.Key) && s.Value.Equal(o.Value)
}

// SchemaBuilder builds a Schema fluently, like Kafka Connect's
// SchemaBuilder. Call Build to obtain the schema.
type SchemaBuilder struct{ s Schema }

// NewSchema starts a schema of the given type.
func NewSchema(t Type) *SchemaBuilder { return &SchemaBuilder{s: Schema{Type: t}} }

// NewStruct starts a struct schema.
func NewStruct() *SchemaBuilder { return NewSchema(StructT) }

// NewArray starts an array schema with the given element schema.
func NewArray(elem *Schema) *SchemaBuilder {
	return &SchemaBuilder{s: Schema{Type: Array, Value: elem}}
}

// NewMap starts a map schema with the given key and value schemas.
func NewMap(key, value *Schema) *SchemaBuilder {
	return &SchemaBuilder{s: Schema{Type: Map, Key: key, Value: value}}
}

// Optional marks the schema optional (nullable).
func (b *SchemaBuilder) Optional() *SchemaBuilder { b.s.Optional = true; return b }

// Name sets the schema name.
func (b *SchemaBuilder) Name(n string) *SchemaBuilder { b.s.Name = n; return b }

// Version sets the schema version.
func (b *SchemaBuilder) Version(v int32) *SchemaBuilder { b.s.Version = v; return b }

// Doc sets the schema documentation.
func (b *SchemaBuilder) Doc(d string) *SchemaBuilder { b.s.Doc = d; return b }

// Param sets one schema parameter.
func (b *SchemaBuilder) Param(k, v string) *SchemaBuilder {
	if b.s.Parameters == nil {
		b.s.Parameters = map[string]string{}
	}
	b.s.Parameters[k] = v
	return b
}

// Default sets the default value.
func (b *SchemaBuilder) Default(v any) *SchemaBuilder { b.s.Default = v; return b }

// Field appends a struct field.
func (b *SchemaBuilder) Field(name string, s *Schema) *SchemaBuilder {
	b.s.Fields = append(b.s.Fields, Field{Name: name, Index: len(b.s.Fields), Schema: s})
	return b
}

// Build returns the schema. The builder must not be used afterwards.
func (b *SchemaBuilder) Build() *Schema {
	s := b.s
	s.Fields = slices.Clone(s.Fields)
	return &s
}

// Predefined primitive schemas, required and optional.
var (
	Int8Schema            = &Schema{Type: Int8}
	Int16Schema           = &Schema{Type: Int16}
	Int32Schema           = &Schema{Type: Int32}
	Int64Schema           = &Schema{Type: Int64}
	Float32Schema         = &Schema{Type: Float32}
	Float64Schema         = &Schema{Type: Float64}
	BooleanSchema         = &Schema{Type: Boolean}
	StringSchema          = &Schema{Type: String}
	BytesSchema           = &Schema{Type: Bytes}
	OptionalInt8Schema    = &Schema{Type: Int8, Optional: true}
	OptionalInt16Schema   = &Schema{Type: Int16, Optional: true}
	OptionalInt32Schema   = &Schema{Type: Int32, Optional: true}
	OptionalInt64Schema   = &Schema{Type: Int64, Optional: true}
	OptionalFloat32Schema = &Schema{Type: Float32, Optional: true}
	OptionalFloat64Schema = &Schema{Type: Float64, Optional: true}
	OptionalBooleanSchema = &Schema{Type: Boolean, Optional: true}
	OptionalStringSchema  = &Schema{Type: String, Optional: true}
	OptionalBytesSchema   = &Schema{Type: Bytes, Optional: true}
)
