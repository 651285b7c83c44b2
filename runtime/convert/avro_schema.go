package convert

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Names and properties of Confluent's Connect<->Avro mapping (AvroData).
const (
	avroNamespace        = "io.confluent.connect.avro"
	avroDefaultName      = "ConnectDefault"
	avroMapEntryName     = "MapEntry"
	avroUnionName        = "io.confluent.connect.avro.Union"
	avroEnumParam        = "io.confluent.connect.avro.Enum"
	propConnectName      = "connect.name"
	propConnectVersion   = "connect.version"
	propConnectDoc       = "connect.doc"
	propConnectParams    = "connect.parameters"
	propConnectDefault   = "connect.default"
	propConnectType      = "connect.type"
	decimalPrecisionProp = "connect.decimal.precision"
	defaultPrecision     = 64
)

// kind is what an avroNode converts.
type kind uint8

const (
	kInt kind = iota
	kLong
	kFloat
	kDouble
	kBool
	kString
	kBytes
	kDecimal
	kDate
	kTimeMillis
	kTimestampMillis
	kMicros // time-micros / timestamp-micros read as INT64
	kRecord
	kArray
	kMap        // Avro map (string keys)
	kMapEntries // array of MapEntry records (non-string keys)
	kUnion      // general union, Connect struct io.confluent.connect.avro.Union
	kEnum
	kFixed
)

// avroNode is the compiled conversion between one Connect schema and one
// Avro schema, built once per schema and cached.
type avroNode struct {
	kind     kind
	connect  *connect.Schema
	optional bool   // Avro union of null and this node
	branch   string // union branch name of the non-null type
	intType  connect.Type
	scale    int32
	fields   []avroField
	elem     *avroNode // array elements, map values, MapEntry value
	key      *avroNode // MapEntry key
	branches []avroField
	typ      reflect.Type // Go type for encoding (goType), built lazily
}

type avroField struct {
	name string // Avro field name (or union branch name)
	node *avroNode
}

// schemaWriter renders a Connect schema as Confluent's AvroData does.
type schemaWriter struct {
	metadata bool
	defined  map[string]*avroNode
	unnamed  int
	entries  int
}

func (w *schemaWriter) prop(b *bytes.Buffer, k string, v any) {
	b.WriteString(`,"`)
	b.WriteString(k)
	b.WriteString(`":`)
	j, _ := json.Marshal(v)
	b.Write(j)
}

// params writes connect.parameters with Kafka's and Debezium's known keys
// first, in the order they insert them (as the JsonConverter does).
func (w *schemaWriter) params(b *bytes.Buffer, p map[string]string) {
	b.WriteString(`,"` + propConnectParams + `":{`)
	for i, k := range paramKeys(p) {
		if i > 0 {
			b.WriteByte(',')
		}
		kj, _ := json.Marshal(k)
		vj, _ := json.Marshal(p[k])
		b.Write(kj)
		b.WriteByte(':')
		b.Write(vj)
	}
	b.WriteByte('}')
}

// meta writes the connect.* properties of s.
func (w *schemaWriter) meta(b *bytes.Buffer, s *connect.Schema, withName bool) {
	if !w.metadata {
		return
	}
	if s.Doc != "" {
		w.prop(b, propConnectDoc, s.Doc)
	}
	if s.Version != 0 {
		w.prop(b, propConnectVersion, s.Version)
	}
	if len(s.Parameters) > 0 {
		w.params(b, s.Parameters)
	}
	if s.Default != nil && s.Type.IsPrimitive() {
		if d, ok := defaultJSON(s, s.Default); ok {
			b.WriteString(`,"` + propConnectDefault + `":`)
			b.Write(d)
		}
	}
	if withName && s.Name != "" {
		w.prop(b, propConnectName, s.Name)
	}
}

func splitName(full string) (ns, name string) {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[:i], full[i+1:]
	}
	return "", full
}

// write appends the Avro form of s (without the optional union) and
// returns its conversion node.
func (w *schemaWriter) write(b *bytes.Buffer, s *connect.Schema, path string) (*avroNode, error) {
	n := &avroNode{connect: s}
	switch s.Name {
	case connect.DecimalName:
		scale, err := connect.DecimalScale(s)
		if err != nil {
			return nil, dataErr(path, "%v", err)
		}
		prec := defaultPrecision
		if p, err := strconv.Atoi(s.Parameters[decimalPrecisionProp]); err == nil {
			prec = p
		}
		n.kind, n.scale = kDecimal, scale
		fmt.Fprintf(b, `{"type":"bytes","scale":%d,"precision":%d`, scale, prec)
		w.meta(b, s, true)
		b.WriteString(`,"logicalType":"decimal"}`)
		return n, nil
	case connect.DateName, connect.TimeName, connect.TimestampName:
		typ, lt := "int", "date"
		n.kind = kDate
		if s.Name == connect.TimeName {
			lt, n.kind = "time-millis", kTimeMillis
		} else if s.Name == connect.TimestampName {
			typ, lt, n.kind = "long", "timestamp-millis", kTimestampMillis
		}
		b.WriteString(`{"type":"` + typ + `"`)
		w.meta(b, s, true)
		b.WriteString(`,"logicalType":"` + lt + `"}`)
		return n, nil
	}
	prim := func(typ string, k kind) {
		n.kind = k
		hasMeta := w.metadata && (s.Name != "" || s.Version != 0 || s.Doc != "" || len(s.Parameters) > 0 || s.Default != nil)
		if !hasMeta && s.Type != connect.Int8 && s.Type != connect.Int16 {
			b.WriteString(`"` + typ + `"`)
			return
		}
		b.WriteString(`{"type":"` + typ + `"`)
		if s.Type == connect.Int8 || s.Type == connect.Int16 {
			w.prop(b, propConnectType, string(s.Type))
		}
		w.meta(b, s, true)
		b.WriteString("}")
	}
	switch s.Type {
	case connect.Int8, connect.Int16, connect.Int32:
		n.intType = s.Type
		prim("int", kInt)
	case connect.Int64:
		prim("long", kLong)
	case connect.Float32:
		prim("float", kFloat)
	case connect.Float64:
		prim("double", kDouble)
	case connect.Boolean:
		prim("boolean", kBool)
	case connect.String:
		prim("string", kString)
	case connect.Bytes:
		prim("bytes", kBytes)
	case connect.Array:
		if s.Value == nil {
			return nil, dataErr(path, "array schema without element schema")
		}
		n.kind = kArray
		b.WriteString(`{"type":"array","items":`)
		var err error
		if n.elem, err = w.optional(b, s.Value, path+"[]", false); err != nil {
			return nil, err
		}
		w.meta(b, s, true)
		b.WriteString("}")
	case connect.Map:
		if s.Key == nil || s.Value == nil {
			return nil, dataErr(path, "map schema without key or value schema")
		}
		var err error
		if s.Key.Type == connect.String && !s.Key.Optional && s.Key.Name == "" {
			n.kind = kMap
			b.WriteString(`{"type":"map","values":`)
			if n.elem, err = w.optional(b, s.Value, path+"[]", false); err != nil {
				return nil, err
			}
			w.meta(b, s, true)
			b.WriteString("}")
			return n, nil
		}
		n.kind = kMapEntries
		w.entries++
		name := avroMapEntryName
		if w.entries > 1 {
			name += strconv.Itoa(w.entries)
		}
		fmt.Fprintf(b, `{"type":"array","items":{"type":"record","name":%q,"namespace":%q,"fields":[{"name":"key","type":`, name, avroNamespace)
		if n.key, err = w.optional(b, s.Key, path+"<key>", true); err != nil {
			return nil, err
		}
		b.WriteString(`},{"name":"value","type":`)
		if n.elem, err = w.optional(b, s.Value, path+"[]", true); err != nil {
			return nil, err
		}
		b.WriteString("}]}")
		w.meta(b, s, true)
		b.WriteString("}")
	case connect.StructT:
		n.kind = kRecord
		full := s.Name
		if full == "" {
			w.unnamed++
			full = avroNamespace + "." + avroDefaultName
			if w.unnamed > 1 {
				full += strconv.Itoa(w.unnamed)
			}
		}
		if prev, ok := w.defined[full]; ok {
			// Avro names may be defined once; later uses refer to it.
			j, _ := json.Marshal(full)
			b.Write(j)
			cp := *prev
			return &cp, nil
		}
		w.defined[full] = n
		ns, name := splitName(full)
		b.WriteString(`{"type":"record","name":`)
		j, _ := json.Marshal(name)
		b.Write(j)
		if ns != "" {
			j, _ = json.Marshal(ns)
			b.WriteString(`,"namespace":`)
			b.Write(j)
		}
		if s.Doc != "" {
			w.prop(b, "doc", s.Doc)
		}
		b.WriteString(`,"fields":[`)
		for i, f := range s.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"name":`)
			j, _ := json.Marshal(f.Name)
			b.Write(j)
			b.WriteString(`,"type":`)
			fn, err := w.optional(b, f.Schema, joinPath(path, f.Name), true)
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, avroField{name: f.Name, node: fn})
			b.WriteByte('}')
		}
		b.WriteByte(']')
		if w.metadata {
			if s.Version != 0 {
				w.prop(b, propConnectVersion, s.Version)
			}
			if len(s.Parameters) > 0 {
				w.params(b, s.Parameters)
			}
			if s.Name != "" {
				w.prop(b, propConnectName, s.Name)
			}
		}
		b.WriteByte('}')
	default:
		return nil, dataErr(path, "unknown schema type %q", s.Type)
	}
	return n, nil
}

// optional writes s, as a union with null when it is optional; for a
// record field (field) it also writes the field default.
func (w *schemaWriter) optional(b *bytes.Buffer, s *connect.Schema, path string, field bool) (*avroNode, error) {
	if s == nil {
		return nil, dataErr(path, "nil schema")
	}
	if !s.Optional {
		n, err := w.write(b, s, path)
		if err == nil && field && s.Default != nil {
			if d, ok := defaultJSON(s, s.Default); ok {
				b.WriteString(`,"default":`)
				b.Write(d)
			}
		}
		return n, err
	}
	var d []byte
	hasDefault := false
	if s.Default != nil {
		d, hasDefault = defaultJSON(s, s.Default)
	}
	var n *avroNode
	var err error
	if hasDefault {
		// The default must match the union's first branch.
		b.WriteByte('[')
		if n, err = w.write(b, s, path); err != nil {
			return nil, err
		}
		b.WriteString(`,"null"]`)
		if field {
			b.WriteString(`,"default":`)
			b.Write(d)
		}
	} else {
		b.WriteString(`["null",`)
		if n, err = w.write(b, s, path); err != nil {
			return nil, err
		}
		b.WriteByte(']')
		if field {
			b.WriteString(`,"default":null`)
		}
	}
	n.optional = true
	return n, nil
}

// defaultJSON renders a primitive default as an Avro JSON default.
func defaultJSON(s *connect.Schema, v any) ([]byte, bool) {
	switch s.Name {
	case connect.DecimalName:
		d, ok := v.(connect.Decimal)
		if !ok {
			return nil, false
		}
		return latin1JSON(d.UnscaledBytes()), true
	case connect.DateName, connect.TimeName, connect.TimestampName:
		t, ok := v.(time.Time)
		if !ok {
			return nil, false
		}
		switch s.Name {
		case connect.DateName:
			return []byte(strconv.Itoa(int(connect.DaysSinceEpoch(t)))), true
		case connect.TimeName:
			return []byte(strconv.Itoa(int(connect.MillisOfDay(t)))), true
		}
		return []byte(strconv.FormatInt(t.UnixMilli(), 10)), true
	}
	switch x := v.(type) {
	case []byte:
		return latin1JSON(x), true
	case int8, int16, int32, int64, bool, string:
		j, err := json.Marshal(x)
		return j, err == nil
	case float32, float64:
		j, err := json.Marshal(x)
		return j, err == nil // NaN and Inf have no JSON form: no default
	}
	return nil, false
}

// latin1JSON renders bytes as Avro's JSON form of bytes defaults: a string
// of code points 0-255.
func latin1JSON(b []byte) []byte {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	j, _ := json.Marshal(string(r))
	return j
}

// fillBranches records the union branch names hamba uses for the non-null
// branch of optional nodes, walking the parsed Avro schema.
func fillBranches(n *avroNode, s avro.Schema) {
	if ref, ok := s.(*avro.RefSchema); ok {
		s = ref.Schema()
	}
	if u, ok := s.(*avro.UnionSchema); ok && n.optional {
		for _, t := range u.Types() {
			if t.Type() != avro.Null {
				n.branch = branchName(t)
				s = t
				break
			}
		}
		if ref, ok := s.(*avro.RefSchema); ok {
			s = ref.Schema()
		}
	}
	switch n.kind {
	case kRecord:
		rs, ok := s.(*avro.RecordSchema)
		if !ok {
			return
		}
		for i, f := range rs.Fields() {
			if i < len(n.fields) {
				fillBranches(n.fields[i].node, f.Type())
			}
		}
	case kArray:
		if as, ok := s.(*avro.ArraySchema); ok {
			fillBranches(n.elem, as.Items())
		}
	case kMap:
		if ms, ok := s.(*avro.MapSchema); ok {
			fillBranches(n.elem, ms.Values())
		}
	case kMapEntries:
		if as, ok := s.(*avro.ArraySchema); ok {
			if rs, ok := derefSchema(as.Items()).(*avro.RecordSchema); ok && len(rs.Fields()) == 2 {
				fillBranches(n.key, rs.Fields()[0].Type())
				fillBranches(n.elem, rs.Fields()[1].Type())
			}
		}
	}
}

func derefSchema(s avro.Schema) avro.Schema {
	if ref, ok := s.(*avro.RefSchema); ok {
		return ref.Schema()
	}
	return s
}

// branchName is the name hamba gives a union branch: a named type's full
// name, else the type with its logical type ("long.timestamp-millis").
func branchName(s avro.Schema) string {
	s = derefSchema(s)
	if ns, ok := s.(avro.NamedSchema); ok {
		return ns.FullName()
	}
	name := string(s.Type())
	if lts, ok := s.(avro.LogicalTypeSchema); ok && lts.Logical() != nil {
		name += "." + string(lts.Logical().Type())
	}
	return name
}

// schemaReader maps an Avro schema to Connect, as Confluent's AvroData.
type schemaReader struct {
	seen map[string]*avroNode
}

func propString(p map[string]any, k string) string {
	s, _ := p[k].(string)
	return s
}

// propsParams returns the connect.parameters property.
func propsParams(props map[string]any) map[string]any {
	p, _ := props[propConnectParams].(map[string]any)
	return p
}

func propsOf(s avro.Schema) map[string]any {
	if ps, ok := s.(interface{ Props() map[string]any }); ok {
		return ps.Props()
	}
	return nil
}

// applyMeta copies connect.* properties onto a Connect schema.
func applyMeta(cs *connect.Schema, props map[string]any) {
	if n := propString(props, propConnectName); n != "" {
		cs.Name = n
	}
	if d := propString(props, propConnectDoc); d != "" {
		cs.Doc = d
	}
	switch v := props[propConnectVersion].(type) {
	case float64:
		cs.Version = int32(v)
	case int:
		cs.Version = int32(v)
	case json.Number:
		n, _ := v.Int64()
		cs.Version = int32(n)
	}
	if ps, ok := props[propConnectParams].(map[string]any); ok {
		if cs.Parameters == nil {
			cs.Parameters = map[string]string{}
		}
		for k, v := range ps {
			cs.Parameters[k] = fmt.Sprint(v)
		}
	}
}

// read returns the node (with its Connect schema) for Avro schema s.
func (r *schemaReader) read(s avro.Schema, path string) (*avroNode, error) {
	s = derefSchema(s)
	props := propsOf(s)
	n := &avroNode{}
	cs := &connect.Schema{}
	n.connect = cs
	switch t := s.(type) {
	case *avro.PrimitiveSchema:
		var lt avro.LogicalType
		if t.Logical() != nil {
			lt = t.Logical().Type()
		}
		switch {
		case t.Type() == avro.Bytes && lt == "" && propString(props, propConnectName) == connect.DecimalName:
			// A decimal whose scale exceeds its precision (Postgres allows
			// numeric(3,5)), which hamba/avro parses as plain bytes: the
			// Connect schema still says Decimal with its scale.
			scale, err := strconv.Atoi(propString(propsParams(props), connect.DecimalScaleParam))
			if err != nil {
				return nil, dataErr(path, "Avro bytes named %s without a valid scale parameter", connect.DecimalName)
			}
			n.kind, n.scale = kDecimal, int32(scale)
			*cs = *connect.DecimalSchema(n.scale).Build()
			applyMeta(cs, props)
			return n, nil
		case t.Type() == avro.Bytes && lt == avro.Decimal:
			dec := t.Logical().(*avro.DecimalLogicalSchema)
			n.kind, n.scale = kDecimal, int32(dec.Scale())
			*cs = *connect.DecimalSchema(n.scale).Build()
			applyMeta(cs, props)
			cs.Name = connect.DecimalName
			if _, ok := cs.Parameters[decimalPrecisionProp]; !ok && dec.Precision() > 0 {
				cs.Parameters[decimalPrecisionProp] = strconv.Itoa(dec.Precision())
			}
			return n, nil
		case t.Type() == avro.Int && lt == avro.Date:
			n.kind = kDate
			*cs = *connect.DateSchema().Build()
		case t.Type() == avro.Int && lt == avro.TimeMillis:
			n.kind = kTimeMillis
			*cs = *connect.TimeSchema().Build()
		case t.Type() == avro.Long && lt == avro.TimestampMillis:
			n.kind = kTimestampMillis
			*cs = *connect.TimestampSchema().Build()
		case t.Type() == avro.Long && (lt == avro.TimestampMicros || lt == avro.TimeMicros || lt == avro.LocalTimestampMicros || lt == avro.LocalTimestampMillis):
			n.kind, cs.Type = kMicros, connect.Int64
			if lt == avro.LocalTimestampMillis {
				n.kind = kTimestampMillis
				*cs = *connect.TimestampSchema().Build()
			}
		default:
			switch t.Type() {
			case avro.Int:
				n.kind, cs.Type = kInt, connect.Int32
				switch propString(props, propConnectType) {
				case "int8":
					cs.Type = connect.Int8
				case "int16":
					cs.Type = connect.Int16
				}
				n.intType = cs.Type
			case avro.Long:
				n.kind, cs.Type = kLong, connect.Int64
			case avro.Float:
				n.kind, cs.Type = kFloat, connect.Float32
			case avro.Double:
				n.kind, cs.Type = kDouble, connect.Float64
			case avro.Boolean:
				n.kind, cs.Type = kBool, connect.Boolean
			case avro.String:
				n.kind, cs.Type = kString, connect.String
			case avro.Bytes:
				n.kind, cs.Type = kBytes, connect.Bytes
			default:
				return nil, dataErr(path, "Avro type %s has no Connect mapping", t.Type())
			}
		}
		applyMeta(cs, props)
		if d, ok := props[propConnectDefault]; ok {
			cs.Default = jsonDefaultToConnect(n, d)
		}
		return n, nil
	case *avro.EnumSchema:
		n.kind = kEnum
		cs.Type, cs.Name = connect.String, t.FullName()
		cs.Parameters = map[string]string{avroEnumParam: t.FullName()}
		for _, sym := range t.Symbols() {
			cs.Parameters[avroEnumParam+"."+sym] = sym
		}
		applyMeta(cs, props)
		return n, nil
	case *avro.FixedSchema:
		if t.Logical() != nil && t.Logical().Type() == avro.Decimal {
			return nil, dataErr(path, "fixed decimal has no Connect mapping")
		}
		n.kind, cs.Type = kFixed, connect.Bytes
		cs.Name = t.FullName()
		applyMeta(cs, props)
		return n, nil
	case *avro.ArraySchema:
		if rs, ok := derefSchema(t.Items()).(*avro.RecordSchema); ok && strings.HasPrefix(rs.FullName(), avroNamespace+"."+avroMapEntryName) && len(rs.Fields()) == 2 {
			n.kind, cs.Type = kMapEntries, connect.Map
			var err error
			if n.key, err = r.field(rs.Fields()[0], path+"<key>"); err != nil {
				return nil, err
			}
			if n.elem, err = r.field(rs.Fields()[1], path+"[]"); err != nil {
				return nil, err
			}
			cs.Key, cs.Value = n.key.connect, n.elem.connect
			applyMeta(cs, props)
			return n, nil
		}
		n.kind, cs.Type = kArray, connect.Array
		var err error
		if n.elem, err = r.read(t.Items(), path+"[]"); err != nil {
			return nil, err
		}
		cs.Value = n.elem.connect
		applyMeta(cs, props)
		return n, nil
	case *avro.MapSchema:
		n.kind, cs.Type = kMap, connect.Map
		var err error
		if n.elem, err = r.read(t.Values(), path+"[]"); err != nil {
			return nil, err
		}
		cs.Key, cs.Value = connect.StringSchema, n.elem.connect
		applyMeta(cs, props)
		return n, nil
	case *avro.RecordSchema:
		if seen, ok := r.seen[t.FullName()]; ok {
			return seen, nil
		}
		n.kind, cs.Type = kRecord, connect.StructT
		r.seen[t.FullName()] = n
		cs.Name = t.FullName()
		if strings.HasPrefix(cs.Name, avroNamespace+"."+avroDefaultName) {
			cs.Name = ""
		}
		cs.Doc = t.Doc()
		applyMeta(cs, props)
		for i, f := range t.Fields() {
			fn, err := r.field(f, joinPath(path, f.Name()))
			if err != nil {
				return nil, err
			}
			n.fields = append(n.fields, avroField{name: f.Name(), node: fn})
			cs.Fields = append(cs.Fields, connect.Field{Name: f.Name(), Index: i, Schema: fn.connect})
		}
		return n, nil
	case *avro.UnionSchema:
		types := t.Types()
		if t.Nullable() {
			for _, bt := range types {
				if bt.Type() != avro.Null {
					inner, err := r.read(bt, path)
					if err != nil {
						return nil, err
					}
					cp := *inner
					sc := *inner.connect
					sc.Optional = true
					cp.connect = &sc
					cp.optional = true
					cp.branch = branchName(bt)
					return &cp, nil
				}
			}
		}
		n.kind, cs.Type, cs.Name = kUnion, connect.StructT, avroUnionName
		for _, bt := range types {
			if bt.Type() == avro.Null {
				cs.Optional = true
				continue
			}
			inner, err := r.read(bt, path)
			if err != nil {
				return nil, err
			}
			name := branchName(bt)
			fieldName := name
			if i := strings.LastIndexByte(fieldName, '.'); i >= 0 && derefSchema(bt).Type() != avro.Record && derefSchema(bt).Type() != avro.Enum {
				fieldName = string(derefSchema(bt).Type())
			} else if i >= 0 {
				fieldName = fieldName[i+1:]
			}
			sc := *inner.connect
			sc.Optional = true
			cp := *inner
			cp.connect = &sc
			n.branches = append(n.branches, avroField{name: name, node: &cp})
			cs.Fields = append(cs.Fields, connect.Field{Name: fieldName, Index: len(cs.Fields), Schema: &sc})
		}
		n.optional = cs.Optional
		return n, nil
	}
	return nil, dataErr(path, "Avro schema %s has no Connect mapping", s.Type())
}

func (r *schemaReader) field(f *avro.Field, path string) (*avroNode, error) {
	n, err := r.read(f.Type(), path)
	if err != nil {
		return nil, err
	}
	if f.HasDefault() && f.Default() != nil && n.kind != kRecord {
		cp := *n
		sc := *n.connect
		sc.Default = jsonDefaultToConnect(n, f.Default())
		cp.connect = &sc
		n = &cp
	}
	return n, nil
}

// jsonDefaultToConnect converts a default (as hamba or JSON gives it) to
// the node's Connect value; nil when it cannot.
func jsonDefaultToConnect(n *avroNode, d any) any {
	v, err := n.fromAvro(d, "")
	if err != nil {
		if s, ok := d.(string); ok && (n.kind == kBytes || n.kind == kDecimal) {
			b := make([]byte, 0, len(s))
			for _, r := range s {
				b = append(b, byte(r))
			}
			v, _ = n.fromAvro(b, "")
			return v
		}
		return nil
	}
	return v
}

var bigTen = big.NewInt(10)

func pow10(n int32) *big.Int { return new(big.Int).Exp(bigTen, big.NewInt(int64(n)), nil) }
