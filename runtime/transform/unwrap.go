package transform

import (
	"fmt"
	"maps"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Delete/tombstone handling of ExtractNewRecordState.
const (
	// Current Debezium option delete.tombstone.handling.mode.
	modeDrop                 = "drop"
	modeTombstone            = "tombstone"
	modeRewrite              = "rewrite"
	modeRewriteWithTombstone = "rewrite-with-tombstone"
	modeDeleteToTombstone    = "delete-to-tombstone"

	deletedField = "__deleted"
)

// deleteAction says what happens to a delete event.
type deleteAction int

const (
	deleteDrop      deleteAction = iota // drop the event
	deleteTombstone                     // emit a tombstone (nil value and schema)
	deleteRewrite                       // emit "before" with __deleted=true
	deleteNone                          // emit the unwrapped "after" (nil) with its schema
)

// fieldRef is one add.fields/add.headers entry: "op", "table",
// "source.ts_ms", optionally renamed with ":new_name".
type fieldRef struct {
	structName string // "" (top level), "source" or "transaction"
	field      string
	newName    string
}

func parseFieldRef(spec, prefix string) (fieldRef, error) {
	parts := strings.Split(spec, ":")
	if len(parts) > 2 || parts[0] == "" {
		return fieldRef{}, fmt.Errorf("unexpected field name %q", spec)
	}
	var ref fieldRef
	path := strings.Split(parts[0], ".")
	switch len(path) {
	case 1:
		ref.field = path[0]
		switch ref.field {
		case "op", "ts_ms", "ts_us", "ts_ns":
		case "id", "total_order", "data_collection_order":
			ref.structName = "transaction"
		default:
			ref.structName = "source"
		}
		ref.newName = prefix + ref.field
	case 2:
		ref.structName, ref.field = path[0], path[1]
		ref.newName = prefix + ref.structName + "_" + ref.field
	default:
		return fieldRef{}, fmt.Errorf("unexpected field name %q", spec)
	}
	if len(parts) == 2 {
		if parts[1] == "" {
			return fieldRef{}, fmt.Errorf("empty new name in %q", spec)
		}
		ref.newName = prefix + parts[1]
	}
	return ref, nil
}

// schema returns the (optional) schema of the referenced field in an
// envelope schema, or nil when absent.
func (f fieldRef) schema(env *connect.Schema) *connect.Schema {
	s := env
	if f.structName != "" {
		sf := env.Field(f.structName)
		if sf == nil || sf.Schema.Type != connect.StructT {
			return nil
		}
		s = sf.Schema
	}
	ff := s.Field(f.field)
	if ff == nil {
		return nil
	}
	c := *ff.Schema
	c.Optional = true
	c.Default = nil
	return &c
}

func (f fieldRef) valueStruct(env *connect.Struct) any {
	st := env
	if f.structName != "" {
		v, _ := env.Get(f.structName).(*connect.Struct)
		if v == nil {
			return nil
		}
		st = v
	}
	if st.Schema().Field(f.field) == nil {
		return nil
	}
	return st.Get(f.field)
}

func (f fieldRef) valueMap(env map[string]any) any {
	m := env
	if f.structName != "" {
		sub, _ := env[f.structName].(map[string]any)
		if sub == nil {
			return nil
		}
		m = sub
	}
	return m[f.field]
}

// ExtractNewRecordState is Debezium's io.debezium.transforms.ExtractNewRecordState:
// it replaces a change event envelope with its "after" row state, handles
// deletes and tombstones per delete.tombstone.handling.mode (or the older
// delete.handling.mode + drop.tombstones), and can copy envelope metadata
// into fields (add.fields) and headers (add.headers) and route by a row
// field (route.by.field). Records that are not change event envelopes
// (value schema name not ending in ".Envelope", or for schemaless values a
// map without "op") pass through unchanged. Truncate events are dropped.
type ExtractNewRecordState struct {
	dropTombstones bool
	onDelete       deleteAction
	rewrite        bool // add __deleted to every unwrapped record
	fields         []fieldRef
	headers        []fieldRef
	routeByField   string
	replaceNull    bool
	cache          schemaCache
}

const unwrapName = "ExtractNewRecordState"

// extractNewRecordStateOptions is the configuration of ExtractNewRecordState.
type extractNewRecordStateOptions struct {
	connect.Given
	tombstoneMode, deleteMode   string
	dropTombstones              bool
	addFields, addHeaders       []string
	fieldsPrefix, headersPrefix string
	routeByField                string
	replaceNull                 bool
	fields, headers             []fieldRef // set by Check
}

func (o *extractNewRecordStateOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		enumKey("delete.tombstone.handling.mode", "tombstone", "How delete events and tombstones are handled.", &o.tombstoneMode,
			modeDrop, modeTombstone, modeRewrite, modeRewriteWithTombstone, modeDeleteToTombstone),
		enumKey("delete.handling.mode", "drop", "Deprecated: how delete events are handled.", &o.deleteMode, "drop", "rewrite", "none"),
		boolKey("drop.tombstones", "true", "Deprecated: drop tombstone records.", &o.dropTombstones),
		listKey("add.fields", "Envelope fields to add to the record value (op, table, lsn, source.ts_ms, field:new_name, ...).", &o.addFields),
		strKey("add.fields.prefix", "__", "Prefix of the added fields.", connect.IntoString(&o.fieldsPrefix)),
		listKey("add.headers", "Envelope fields to add as headers.", &o.addHeaders),
		strKey("add.headers.prefix", "__", "Prefix of the added headers.", connect.IntoString(&o.headersPrefix)),
		strKey("route.by.field", "", "Row field whose value becomes the topic name.", func(v string) error {
			o.routeByField = strings.TrimSpace(v)
			return nil
		}),
		replaceNullKey(&o.replaceNull),
	}
}

// Check parses the envelope field references, which depend on their
// prefix keys.
func (o *extractNewRecordStateOptions) Check() error {
	o.fields, o.headers = nil, nil
	for _, spec := range o.addFields {
		ref, err := parseFieldRef(spec, o.fieldsPrefix)
		if err != nil {
			return connect.Errorf("add.fields", "%v", err)
		}
		o.fields = append(o.fields, ref)
	}
	for _, spec := range o.addHeaders {
		ref, err := parseFieldRef(spec, o.headersPrefix)
		if err != nil {
			return connect.Errorf("add.headers", "%v", err)
		}
		o.headers = append(o.headers, ref)
	}
	return nil
}

// newExtractNewRecordState applies delete.tombstone.handling.mode when it
// is set, else the deprecated delete.handling.mode and drop.tombstones
// when either is set, else the tombstone mode (Debezium's precedence).
func newExtractNewRecordState(o *extractNewRecordStateOptions) Transformation {
	t := &ExtractNewRecordState{fields: o.fields, headers: o.headers, routeByField: o.routeByField, replaceNull: o.replaceNull}
	switch {
	case o.Has("delete.tombstone.handling.mode"):
		switch o.tombstoneMode {
		case modeDrop:
			t.dropTombstones, t.onDelete = true, deleteDrop
		case modeTombstone, modeDeleteToTombstone:
			t.dropTombstones, t.onDelete = true, deleteTombstone
		case modeRewrite:
			t.dropTombstones, t.onDelete, t.rewrite = true, deleteRewrite, true
		case modeRewriteWithTombstone:
			t.dropTombstones, t.onDelete, t.rewrite = false, deleteRewrite, true
		}
	case o.Has("delete.handling.mode") || o.Has("drop.tombstones"):
		switch o.deleteMode {
		case "drop":
			t.onDelete = deleteDrop
		case "rewrite":
			t.onDelete, t.rewrite = deleteRewrite, true
		case "none":
			t.onDelete = deleteNone
		}
		t.dropTombstones = o.dropTombstones
	default:
		t.dropTombstones, t.onDelete = true, deleteTombstone
	}
	return t
}

func isEnvelopeSchema(s *connect.Schema) bool {
	return s != nil && s.Type == connect.StructT && strings.HasSuffix(s.Name, ".Envelope")
}

// Apply implements Transformation.
func (t *ExtractNewRecordState) Apply(r *connect.Record) (*connect.Record, error) {
	if r.Value == nil {
		if t.dropTombstones {
			return nil, nil
		}
		// Like Debezium, a kept tombstone gets the "op" header as "d".
		var out *connect.Record
		for _, ref := range t.headers {
			if ref.structName == "" && ref.field == "op" {
				if out == nil {
					out = r.Clone()
				}
				out.Headers = append(out.Headers, connect.Header{Key: ref.newName, Schema: connect.StringSchema, Value: "d"})
			}
		}
		if out != nil {
			return out, nil
		}
		return r, nil
	}
	if r.ValueSchema == nil {
		if m, ok := r.Value.(map[string]any); ok {
			if _, isEnv := m["op"]; isEnv {
				return t.applyMap(r, m)
			}
		}
		return r, nil
	}
	if !isEnvelopeSchema(r.ValueSchema) {
		return r, nil
	}
	env, err := requireStruct(unwrapName, valueSide, r.Value)
	if err != nil {
		return nil, err
	}
	afterF, beforeF := r.ValueSchema.Field("after"), r.ValueSchema.Field("before")
	if afterF == nil || beforeF == nil {
		return nil, dataErr(unwrapName, "envelope schema %s has no before/after fields", r.ValueSchema.Name)
	}
	op, _ := env.Get("op").(string)
	rowSchema, row, before := afterF.Schema, env.Get("after"), env.Get("before")
	if op == "t" || (row == nil && before == nil) {
		return nil, nil // truncate (or an event without row state)
	}
	deleted := row == nil
	routeTo := ""
	if t.routeByField != "" {
		src := row
		if deleted {
			src = before
		}
		if st, ok := src.(*connect.Struct); ok && st != nil {
			routeTo, _ = st.Get(t.routeByField).(string)
		}
	}
	route := func(out *connect.Record) *connect.Record {
		if routeTo != "" {
			out.Topic = routeTo
		}
		return out
	}
	if deleted {
		switch t.onDelete {
		case deleteDrop:
			return nil, nil
		case deleteTombstone:
			out := r.Clone()
			out.ValueSchema, out.Value = nil, nil
			return t.withHeaders(route(out), env, nil)
		case deleteNone:
			return t.withHeaders(route(valueSide.with(r, rowSchema, nil)), env, nil)
		case deleteRewrite:
			row = before
		}
	}
	rowStruct, err := requireStruct(unwrapName, valueSide, row)
	if err != nil {
		return nil, err
	}
	rowSchema = rowStruct.Schema()
	if len(t.fields) > 0 || t.rewrite {
		ns, err := t.cache.get(rowSchema, func(row *connect.Schema) (*connect.Schema, error) {
			return t.buildSchema(r.ValueSchema, row)
		})
		if err != nil {
			return nil, err
		}
		out := connect.NewStructValue(ns)
		for i, f := range rowSchema.Fields {
			out.SetAt(i, fieldValue(rowStruct, i, f, t.replaceNull))
		}
		i := len(rowSchema.Fields)
		for _, ref := range t.fields {
			if i < len(ns.Fields) && ns.Fields[i].Name == ref.newName {
				out.SetAt(i, ref.valueStruct(env))
				i++
			}
		}
		if t.rewrite {
			if deleted {
				out.Set(deletedField, "true")
			} else {
				out.Set(deletedField, "false")
			}
		}
		rowSchema, rowStruct = ns, out
	}
	return t.withHeaders(route(valueSide.with(r, rowSchema, rowStruct)), env, nil)
}

// buildSchema derives the unwrapped row schema with the added fields. The
// before and after schemas of an envelope are the same row schema.
func (t *ExtractNewRecordState) buildSchema(env, row *connect.Schema) (*connect.Schema, error) {
	out := copySchemaBasics(row)
	for _, f := range row.Fields {
		addField(out, f.Name, f.Schema)
	}
	for _, ref := range t.fields {
		fs := ref.schema(env)
		if fs == nil {
			continue // Debezium skips fields the envelope does not have
		}
		if out.Field(ref.newName) != nil {
			return nil, dataErr(unwrapName, "add.fields: field %q already exists in %s", ref.newName, row.Name)
		}
		addField(out, ref.newName, fs)
	}
	if t.rewrite {
		if out.Field(deletedField) != nil {
			return nil, dataErr(unwrapName, "field %q already exists in %s", deletedField, row.Name)
		}
		addField(out, deletedField, connect.OptionalStringSchema)
	}
	return out, nil
}

func (t *ExtractNewRecordState) withHeaders(out *connect.Record, env *connect.Struct, envMap map[string]any) (*connect.Record, error) {
	for _, ref := range t.headers {
		h := connect.Header{Key: ref.newName}
		if env != nil {
			h.Schema = ref.schema(env.Schema())
			if h.Schema == nil {
				continue
			}
			h.Value = ref.valueStruct(env)
		} else {
			h.Value = ref.valueMap(envMap)
		}
		out.Headers = append(out.Headers, h)
	}
	return out, nil
}

// applyMap unwraps a schemaless envelope (a map with op/before/after).
func (t *ExtractNewRecordState) applyMap(r *connect.Record, env map[string]any) (*connect.Record, error) {
	op, _ := env["op"].(string)
	row, _ := env["after"].(map[string]any)
	before, _ := env["before"].(map[string]any)
	if op == "t" || (row == nil && before == nil) {
		return nil, nil
	}
	deleted := row == nil
	route := func(out *connect.Record) *connect.Record {
		src := row
		if deleted {
			src = before
		}
		if t.routeByField != "" {
			if topic, ok := src[t.routeByField].(string); ok && topic != "" {
				out.Topic = topic
			}
		}
		return out
	}
	if deleted {
		switch t.onDelete {
		case deleteDrop:
			return nil, nil
		case deleteTombstone:
			out := r.Clone()
			out.ValueSchema, out.Value = nil, nil
			return t.withHeaders(route(out), nil, env)
		case deleteNone:
			return t.withHeaders(route(valueSide.with(r, nil, nil)), nil, env)
		case deleteRewrite:
			row = before
		}
	}
	out := maps.Clone(row)
	for _, ref := range t.fields {
		out[ref.newName] = ref.valueMap(env)
	}
	if t.rewrite {
		out[deletedField] = fmt.Sprint(deleted)
	}
	return t.withHeaders(route(valueSide.with(r, nil, out)), nil, env)
}
