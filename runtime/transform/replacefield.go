package transform

import (
	"slices"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

// ReplaceField is ReplaceField$Key / ReplaceField$Value: it keeps only the
// included fields, drops the excluded ones and renames fields
// ("from:to,..."). The deprecated whitelist/blacklist keys are accepted as
// include/exclude.
type ReplaceField struct {
	side             side
	include, exclude []string
	renames          map[string]string
	reverse          map[string]string
	replaceNull      bool
	cache            schemaCache
}

const replaceName = "ReplaceField"

// replaceFieldOptions is the configuration of ReplaceField.
type replaceFieldOptions struct {
	connect.Given
	include, exclude, renames []string
	replaceNull               bool
}

func (o *replaceFieldOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		listKey("exclude", "Fields to exclude. This takes precedence over the fields to include.", &o.exclude),
		listKey("include", "Fields to include. If specified, only these fields will be used.", &o.include),
		listKey("renames", "Field rename mappings, e.g. foo:bar,abc:xyz.", &o.renames),
		replaceNullKey(&o.replaceNull),
	}
}

// Check validates the rename mappings and, like Kafka, takes the
// deprecated whitelist/blacklist keys when include/exclude are not set.
func (o *replaceFieldOptions) Check() error {
	for _, rn := range o.renames {
		if _, _, err := parseRename(rn); err != nil {
			return err
		}
	}
	if v, ok := o.Raw("whitelist"); ok && !o.Has("include") {
		o.include = connect.SplitList(v)
	}
	if v, ok := o.Raw("blacklist"); ok && !o.Has("exclude") {
		o.exclude = connect.SplitList(v)
	}
	return nil
}

func parseRename(rn string) (from, to string, err error) {
	from, to, ok := strings.Cut(rn, ":")
	from, to = strings.TrimSpace(from), strings.TrimSpace(to)
	if !ok || from == "" || to == "" || strings.Contains(to, ":") {
		return "", "", connect.Errorf("renames", "invalid rename mapping %q: expected from:to", rn)
	}
	return from, to, nil
}

func newReplaceField(o *replaceFieldOptions, s side) *ReplaceField {
	t := &ReplaceField{side: s, include: o.include, exclude: o.exclude, replaceNull: o.replaceNull,
		renames: map[string]string{}, reverse: map[string]string{}}
	for _, rn := range o.renames {
		from, to, _ := parseRename(rn) // checked by Check
		t.renames[from] = to
		t.reverse[to] = from
	}
	return t
}

func (t *ReplaceField) keep(name string) bool {
	return !slices.Contains(t.exclude, name) && (len(t.include) == 0 || slices.Contains(t.include, name))
}

func (t *ReplaceField) renamed(name string) string {
	if n, ok := t.renames[name]; ok {
		return n
	}
	return name
}

// Apply implements Transformation.
func (t *ReplaceField) Apply(r *connect.Record) (*connect.Record, error) {
	v := t.side.value(r)
	if v == nil {
		return r, nil
	}
	s := t.side.schema(r)
	if s == nil {
		m, err := requireMap(replaceName, t.side, v)
		if err != nil {
			return nil, err
		}
		out := make(map[string]any, len(m))
		for k, x := range m {
			if t.keep(k) {
				out[t.renamed(k)] = x
			}
		}
		return t.side.with(r, nil, out), nil
	}
	st, err := requireStruct(replaceName, t.side, v)
	if err != nil {
		return nil, err
	}
	ns, err := t.cache.get(st.Schema(), t.buildSchema)
	if err != nil {
		return nil, err
	}
	out := connect.NewStructValue(ns)
	in := st.Schema()
	for i, f := range ns.Fields {
		orig := f.Name
		if o, ok := t.reverse[f.Name]; ok {
			orig = o
		}
		of := in.Field(orig)
		out.SetAt(i, fieldValue(st, of.Index, *of, t.replaceNull))
	}
	return t.side.with(r, ns, out), nil
}

func (t *ReplaceField) buildSchema(in *connect.Schema) (*connect.Schema, error) {
	if in.Type != connect.StructT {
		return nil, dataErr(replaceName, "record %s schema is %v, not a struct", t.side, in)
	}
	out := copySchemaBasics(in)
	for _, f := range in.Fields {
		if !t.keep(f.Name) {
			continue
		}
		name := t.renamed(f.Name)
		if out.Field(name) != nil {
			return nil, dataErr(replaceName, "renaming %q to %q duplicates a field of %v", f.Name, name, in)
		}
		addField(out, name, f.Schema)
	}
	return out, nil
}
