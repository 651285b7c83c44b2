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

func newReplaceField(p params, key bool) (*ReplaceField, error) {
	t := &ReplaceField{side: side(key), renames: map[string]string{}, reverse: map[string]string{}}
	t.include = p.list("include")
	if !p.has("include") {
		t.include = p.list("whitelist")
	}
	t.exclude = p.list("exclude")
	if !p.has("exclude") {
		t.exclude = p.list("blacklist")
	}
	for _, rn := range p.list("renames") {
		from, to, ok := strings.Cut(rn, ":")
		from, to = strings.TrimSpace(from), strings.TrimSpace(to)
		if !ok || from == "" || to == "" || strings.Contains(to, ":") {
			return nil, p.errf("renames", "invalid rename mapping %q: expected from:to", rn)
		}
		t.renames[from] = to
		t.reverse[to] = from
	}
	var err error
	if t.replaceNull, err = p.boolean("replace.null.with.default", true); err != nil {
		return nil, err
	}
	return t, nil
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
