package convert

import (
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/sluicehq/sluice/runtime/connect"
)

// encEntry is what FromConnect keeps per schema (by pointer; schemas are
// immutable once built): the envelope text up to the payload, the schema's
// struct field names already encoded, and the size of the last payload, so
// that the next output buffer is allocated once at about the right size.
type encEntry struct {
	prefix []byte      // {"schema":<schema JSON>,"payload": (schemas.enable=true only)
	plan   *structPlan // nil unless the schema is a struct
	last   atomic.Int64
}

// schemaJSON returns the schema's JSON text inside prefix.
func (en *encEntry) schemaJSON() []byte {
	return en.prefix[len(envelopeSchemaPrefix) : len(en.prefix)-len(envelopePayloadPrefix)]
}

// bufFor returns a buffer for one output: extra bytes plus room for a
// payload a little larger than the last one; dst's storage when it has
// room for a payload as large as the last one (append grows it in the
// rare case that is not enough). A reused buffer that is too small is
// replaced by one with room for twice the last payload, so that buffers
// kept by the caller soon cover the payloads' spread in size.
func (en *encEntry) bufFor(dst []byte, extra int) []byte {
	last := int(en.last.Load())
	if cap(dst) >= extra+last {
		return dst[:0]
	}
	if cap(dst) > 0 {
		return make([]byte, 0, extra+2*last+64)
	}
	return make([]byte, 0, extra+last+last/8+32)
}

// structPlan is a struct schema's field names as they are written: `"a":`
// for the first field, `,"b":` for the others, and the plans of fields that
// are structs themselves.
type structPlan struct {
	names  [][]byte
	fields []*structPlan
	kinds  []fieldKind
}

// fieldKind is how planned writes a field's non-nil value of the expected
// Go type directly; anything else (nil, another type, logical types, other
// schema types) goes through value(), which gives the same bytes.
type fieldKind uint8

const (
	kindOther fieldKind = iota
	kindString
	kindInt8
	kindInt16
	kindInt32
	kindInt64
	kindBool
)

func kindOf(s *connect.Schema) fieldKind {
	if s == nil {
		return kindOther
	}
	switch s.Name {
	case connect.DecimalName, connect.DateName, connect.TimeName, connect.TimestampName:
		return kindOther
	}
	switch s.Type {
	case connect.String:
		return kindString
	case connect.Int8:
		return kindInt8
	case connect.Int16:
		return kindInt16
	case connect.Int32:
		return kindInt32
	case connect.Int64:
		return kindInt64
	case connect.Boolean:
		return kindBool
	}
	return kindOther
}

func newStructPlan(s *connect.Schema) *structPlan {
	if s == nil || s.Type != connect.StructT {
		return nil
	}
	switch s.Name {
	case connect.DecimalName, connect.DateName, connect.TimeName, connect.TimestampName:
		return nil // value() rejects these names on a struct; leave it to it
	}
	pl := &structPlan{names: make([][]byte, len(s.Fields)), fields: make([]*structPlan, len(s.Fields)), kinds: make([]fieldKind, len(s.Fields))}
	for i, f := range s.Fields {
		var b []byte
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, f.Name)
		pl.names[i] = append(b, ':')
		pl.fields[i] = newStructPlan(f.Schema)
		pl.kinds[i] = kindOf(f.Schema)
	}
	return pl
}

// encCache maps schemas to their entries, bounded by schemas.cache.size
// (cleared when full, like the read side's cache).
type encCache struct {
	m sync.Map // *connect.Schema -> *encEntry
	n atomic.Int64
}

// entry returns s's entry, building it on first use.
func (j *JSON) entry(e *encoder, s *connect.Schema) (*encEntry, error) {
	if v, ok := j.enc.m.Load(s); ok {
		return v.(*encEntry), nil
	}
	en := &encEntry{}
	if j.cacheSize > 0 { // a plan pays off only when it is kept
		en.plan = newStructPlan(s)
	}
	if j.schemasEnabled {
		buf := append([]byte(nil), envelopeSchemaPrefix...)
		buf, err := e.schema(buf, s, "", false, "")
		if err != nil {
			return nil, err
		}
		en.prefix = append(buf, envelopePayloadPrefix...)
	}
	if j.cacheSize > 0 {
		if j.enc.n.Add(1) > int64(j.cacheSize) {
			j.enc.m.Clear()
			j.enc.n.Store(1)
		}
		if v, loaded := j.enc.m.LoadOrStore(s, en); loaded {
			return v.(*encEntry), nil
		}
	}
	return en, nil
}

// planned is value() for a struct with a plan: the same bytes and errors,
// without escaping the field names again. Everything that is not a
// non-nil struct value of schema s goes to value().
func (e *encoder) planned(buf []byte, pl *structPlan, s *connect.Schema, v any) ([]byte, error) {
	if pl == nil || v == nil {
		return e.value(buf, s, v)
	}
	st, ok := v.(*connect.Struct)
	if !ok || st == nil || st.Schema() != s && !st.Schema().Equal(s) {
		return e.value(buf, s, v)
	}
	buf = append(buf, '{')
	var err error
	for i, f := range s.Fields {
		buf = append(buf, pl.names[i]...)
		fv := st.At(i)
		switch pl.kinds[i] {
		case kindString:
			if x, ok := fv.(string); ok {
				buf = appendString(buf, x)
				continue
			}
		case kindInt64:
			if x, ok := fv.(int64); ok {
				buf = strconv.AppendInt(buf, x, 10)
				continue
			}
		case kindInt32:
			if x, ok := fv.(int32); ok {
				buf = strconv.AppendInt(buf, int64(x), 10)
				continue
			}
		case kindInt16:
			if x, ok := fv.(int16); ok {
				buf = strconv.AppendInt(buf, int64(x), 10)
				continue
			}
		case kindInt8:
			if x, ok := fv.(int8); ok {
				buf = strconv.AppendInt(buf, int64(x), 10)
				continue
			}
		case kindBool:
			if x, ok := fv.(bool); ok {
				buf = strconv.AppendBool(buf, x)
				continue
			}
		}
		if buf, err = e.planned(buf, pl.fields[i], f.Schema, fv); err != nil {
			return nil, wrapPath(err, f.Name)
		}
	}
	return append(buf, '}'), nil
}
