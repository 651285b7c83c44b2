package transform

import (
	"maps"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// insertSpec is one field name with its optionality suffix: "name!" is
// required, "name?" and plain "name" are optional.
type insertSpec struct {
	name     string
	optional bool
}

func parseInsertSpec(s string) *insertSpec {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	switch {
	case strings.HasSuffix(s, "!"):
		return &insertSpec{name: s[:len(s)-1], optional: false}
	case strings.HasSuffix(s, "?"):
		return &insertSpec{name: s[:len(s)-1], optional: true}
	}
	return &insertSpec{name: s, optional: true}
}

// InsertField is InsertField$Key / InsertField$Value: it adds the record's
// topic, partition, offset (sink records only), timestamp and/or a static
// string to a struct or map.
type InsertField struct {
	side                                 side
	topic, partition, offset, ts, static *insertSpec
	staticValue                          string
	replaceNull                          bool
	cache                                schemaCache
}

// insertFieldOptions is the configuration of InsertField.
type insertFieldOptions struct {
	connect.Given
	topic, partition, offset, ts, static string
	staticValue                          string
	replaceNull                          bool
}

func (o *insertFieldOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		strKey("topic.field", "", "Field name for Kafka topic. Suffix with ! to make this a required field, or ? to keep it optional (the default).", connect.IntoString(&o.topic)),
		strKey("partition.field", "", "Field name for Kafka partition (same suffixes).", connect.IntoString(&o.partition)),
		strKey("offset.field", "", "Field name for Kafka offset, only for sink connectors (same suffixes).", connect.IntoString(&o.offset)),
		strKey("timestamp.field", "", "Field name for record timestamp (same suffixes).", connect.IntoString(&o.ts)),
		strKey("static.field", "", "Field name for static data field (same suffixes).", connect.IntoString(&o.static)),
		strKey("static.value", "", "Static field value, if field name configured.", connect.IntoString(&o.staticValue)),
		replaceNullKey(&o.replaceNull),
	}
}

func (o *insertFieldOptions) Check() error {
	if parseInsertSpec(o.static) != nil && !o.Has("static.value") {
		return connect.Errorf("static.value", "missing required configuration when static.field is set")
	}
	return nil
}

func newInsertField(o *insertFieldOptions, s side) *InsertField {
	return &InsertField{
		side:        s,
		topic:       parseInsertSpec(o.topic),
		partition:   parseInsertSpec(o.partition),
		offset:      parseInsertSpec(o.offset),
		ts:          parseInsertSpec(o.ts),
		static:      parseInsertSpec(o.static),
		staticValue: o.staticValue,
		replaceNull: o.replaceNull,
	}
}

const insertName = "InsertField"

// Apply implements Transformation.
func (t *InsertField) Apply(r *connect.Record) (*connect.Record, error) {
	v := t.side.value(r)
	if v == nil {
		return r, nil
	}
	if t.offset != nil && isSourceRecord(r) {
		return nil, dataErr(insertName, "offset.field %q: only sink records have a Kafka offset", t.offset.name)
	}
	s := t.side.schema(r)
	if s == nil {
		m, err := requireMap(insertName, t.side, v)
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		if t.topic != nil {
			out[t.topic.name] = r.Topic
		}
		if t.partition != nil {
			if r.Partition >= 0 {
				out[t.partition.name] = r.Partition
			} else {
				out[t.partition.name] = nil
			}
		}
		if t.offset != nil {
			out[t.offset.name] = r.Offset
		}
		if t.ts != nil {
			if r.Timestamp.IsZero() {
				out[t.ts.name] = nil
			} else {
				out[t.ts.name] = r.Timestamp.UnixMilli()
			}
		}
		if t.static != nil {
			out[t.static.name] = t.staticValue
		}
		return t.side.with(r, nil, out), nil
	}
	st, err := requireStruct(insertName, t.side, v)
	if err != nil {
		return nil, err
	}
	ns, err := t.cache.get(st.Schema(), t.buildSchema)
	if err != nil {
		return nil, err
	}
	out := connect.NewStructValue(ns)
	for i, f := range st.Schema().Fields {
		out.SetAt(i, fieldValue(st, i, f, t.replaceNull))
	}
	set := func(spec *insertSpec, val any) error {
		if spec == nil {
			return nil
		}
		if val == nil && !spec.optional {
			return dataErr(insertName, "required field %q has no value for this record", spec.name)
		}
		out.Set(spec.name, val)
		return nil
	}
	var partition, ts any
	if r.Partition >= 0 {
		partition = r.Partition
	}
	if !r.Timestamp.IsZero() {
		ts = r.Timestamp.UTC()
	}
	for _, e := range []struct {
		spec *insertSpec
		val  any
	}{{t.topic, r.Topic}, {t.partition, partition}, {t.offset, r.Offset}, {t.ts, ts}, {t.static, t.staticValue}} {
		if err := set(e.spec, e.val); err != nil {
			return nil, err
		}
	}
	return t.side.with(r, ns, out), nil
}

func (t *InsertField) buildSchema(in *connect.Schema) (*connect.Schema, error) {
	if in.Type != connect.StructT {
		return nil, dataErr(insertName, "record %s schema is %v, not a struct", t.side, in)
	}
	out := copySchemaBasics(in)
	for _, f := range in.Fields {
		addField(out, f.Name, f.Schema)
	}
	pick := func(spec *insertSpec, req, opt *connect.Schema) error {
		if spec == nil {
			return nil
		}
		if out.Field(spec.name) != nil {
			return dataErr(insertName, "field %q already exists in %v", spec.name, in)
		}
		if spec.optional {
			addField(out, spec.name, opt)
		} else {
			addField(out, spec.name, req)
		}
		return nil
	}
	for _, e := range []struct {
		spec     *insertSpec
		req, opt *connect.Schema
	}{
		{t.topic, connect.StringSchema, connect.OptionalStringSchema},
		{t.partition, connect.Int32Schema, connect.OptionalInt32Schema},
		{t.offset, connect.Int64Schema, connect.OptionalInt64Schema},
		{t.ts, connect.TimestampSchema().Build(), connect.TimestampSchema().Optional().Build()},
		{t.static, connect.StringSchema, connect.OptionalStringSchema},
	} {
		if err := pick(e.spec, e.req, e.opt); err != nil {
			return nil, err
		}
	}
	return out, nil
}
