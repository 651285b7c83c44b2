package connect

import (
	"fmt"
	"strings"
)

// Struct is a value of a struct schema: one value per field, in field
// order.
type Struct struct {
	schema *Schema
	values []any
}

// NewStructValue returns an empty struct value of schema s, which must be a
// struct schema.
func NewStructValue(s *Schema) *Struct {
	if s == nil || s.Type != StructT {
		panic(fmt.Sprintf("connect: NewStructValue with non-struct schema %v", s))
	}
	return &Struct{schema: s, values: make([]any, len(s.Fields))}
}

// StructArena allocates struct values in shared blocks: the Structs and
// field value slices it returns are carved from slices allocated for many
// structs at a time, so building the structs of a batch of records costs a
// few allocations instead of two per struct. Each returned struct is
// independent (no two share a field value) and behaves exactly like one
// from [NewStructValue]; a block stays in memory while any struct carved
// from it is reachable. The zero StructArena is ready to use. It is not
// safe for concurrent use.
type StructArena struct {
	structs []Struct
	values  []any
}

// Block sizes of a StructArena: structs, and field values, per allocation.
const (
	arenaStructs = 256
	arenaValues  = 2048
)

// NewStructValue returns an empty struct value of schema s, which must be a
// struct schema, allocated from the arena.
func (a *StructArena) NewStructValue(s *Schema) *Struct {
	if s == nil || s.Type != StructT {
		panic(fmt.Sprintf("connect: StructArena.NewStructValue with non-struct schema %v", s))
	}
	n := len(s.Fields)
	if n > arenaValues/8 {
		return NewStructValue(s)
	}
	if len(a.structs) == 0 {
		a.structs = make([]Struct, arenaStructs)
	}
	if len(a.values) < n {
		a.values = make([]any, arenaValues)
	}
	st := &a.structs[0]
	a.structs = a.structs[1:]
	// The capacity limit keeps the slice from reaching its neighbour's values.
	st.schema, st.values = s, a.values[:n:n]
	a.values = a.values[n:]
	return st
}

// Schema returns the struct's schema.
func (st *Struct) Schema() *Schema { return st.schema }

// Put sets a field by name and returns the struct for chaining. It returns
// an error for unknown fields or values that don't match the field schema.
func (st *Struct) Put(name string, v any) error {
	f := st.schema.Field(name)
	if f == nil {
		return &DataError{Path: name, Msg: "no such field in schema " + st.schema.String()}
	}
	if err := Validate(f.Schema, v); err != nil {
		return prefixPath(err, name)
	}
	st.values[f.Index] = v
	return nil
}

// Set is Put for code that builds values it knows match the schema; it
// panics on unknown fields.
func (st *Struct) Set(name string, v any) *Struct {
	f := st.schema.Field(name)
	if f == nil {
		panic(fmt.Sprintf("connect: no field %q in %v", name, st.schema))
	}
	st.values[f.Index] = v
	return st
}

// Get returns a field's value by name (nil if unset or unknown).
func (st *Struct) Get(name string) any {
	f := st.schema.Field(name)
	if f == nil {
		return nil
	}
	return st.values[f.Index]
}

// At returns the value of the field at index i.
func (st *Struct) At(i int) any { return st.values[i] }

// SetAt sets the value of the field at index i.
func (st *Struct) SetAt(i int, v any) { st.values[i] = v }

// Validate checks every field value against the schema.
func (st *Struct) Validate() error { return Validate(st.schema, st) }

// String renders the struct like Kafka Connect's Struct.toString.
func (st *Struct) String() string {
	var b strings.Builder
	b.WriteString("Struct{")
	first := true
	for i, f := range st.schema.Fields {
		if st.values[i] == nil {
			continue
		}
		if !first {
			b.WriteString(",")
		}
		first = false
		fmt.Fprintf(&b, "%s=%v", f.Name, st.values[i])
	}
	b.WriteString("}")
	return b.String()
}

// DataError reports a value that does not match its schema, naming the
// path of the offending field.
type DataError struct {
	Path string
	Msg  string
}

func (e *DataError) Error() string {
	if e.Path == "" {
		return "data error: " + e.Msg
	}
	return "data error at field " + e.Path + ": " + e.Msg
}

func prefixPath(err error, p string) error {
	if de, ok := err.(*DataError); ok {
		if de.Path == "" {
			return &DataError{Path: p, Msg: de.Msg}
		}
		return &DataError{Path: p + "." + de.Path, Msg: de.Msg}
	}
	return err
}

// Validate checks that v is a valid Go value for schema s (see the package
// documentation for the representation). A nil schema accepts anything.
func Validate(s *Schema, v any) error {
	if s == nil {
		return nil
	}
	if v == nil {
		if s.Optional || s.Default != nil {
			return nil
		}
		return &DataError{Msg: "null value for required " + s.String()}
	}
	switch s.Name {
	case DecimalName:
		if _, ok := v.(Decimal); ok {
			return nil
		}
		return mismatch(s, v)
	case DateName, TimeName, TimestampName:
		if isTime(v) {
			return nil
		}
		return mismatch(s, v)
	}
	ok := false
	switch s.Type {
	case Int8:
		_, ok = v.(int8)
	case Int16:
		_, ok = v.(int16)
	case Int32:
		_, ok = v.(int32)
	case Int64:
		_, ok = v.(int64)
	case Float32:
		_, ok = v.(float32)
	case Float64:
		_, ok = v.(float64)
	case Boolean:
		_, ok = v.(bool)
	case String:
		_, ok = v.(string)
	case Bytes:
		_, ok = v.([]byte)
	case Array:
		arr, isArr := v.([]any)
		if !isArr {
			return mismatch(s, v)
		}
		for i, e := range arr {
			if err := Validate(s.Value, e); err != nil {
				return prefixPath(err, fmt.Sprintf("[%d]", i))
			}
		}
		return nil
	case Map:
		m, isMap := v.(map[any]any)
		if !isMap {
			return mismatch(s, v)
		}
		for k, e := range m {
			if err := Validate(s.Key, k); err != nil {
				return prefixPath(err, fmt.Sprintf("<key %v>", k))
			}
			if err := Validate(s.Value, e); err != nil {
				return prefixPath(err, fmt.Sprintf("[%v]", k))
			}
		}
		return nil
	case StructT:
		st, isStruct := v.(*Struct)
		if !isStruct {
			return mismatch(s, v)
		}
		if st.schema != s && !st.schema.Equal(s) {
			return &DataError{Msg: "struct schema " + st.schema.String() + " does not match " + s.String()}
		}
		for i, f := range s.Fields {
			if err := Validate(f.Schema, st.values[i]); err != nil {
				return prefixPath(err, f.Name)
			}
		}
		return nil
	}
	if !ok {
		return mismatch(s, v)
	}
	return nil
}

func mismatch(s *Schema, v any) error {
	return &DataError{Msg: fmt.Sprintf("value of Go type %T does not match schema %v", v, s)}
}
