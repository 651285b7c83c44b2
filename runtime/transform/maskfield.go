package transform

import (
	"maps"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// MaskField is MaskField$Key / MaskField$Value: it replaces the listed
// fields with the type's zero value (false, 0, "", empty array/map, the
// epoch for dates, zero for decimals) or, when replacement is set, with
// that replacement parsed as the field's type (numbers and strings only).
type MaskField struct {
	side        side
	fields      []string
	replacement *string
	replaceNull bool
}

const maskName = "MaskField"

// maskFieldOptions is the configuration of MaskField.
type maskFieldOptions struct {
	connect.Given
	fields      []string
	replacement string
	replaceNull bool
}

func (o *maskFieldOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "fields", Type: connect.TypeList, Importance: connect.High, Doc: "Names of fields to mask.", Into: connect.IntoList(&o.fields)},
		strKey("replacement", "", "Custom value replacement applied to all fields (numbers and strings only).", connect.IntoString(&o.replacement)),
		replaceNullKey(&o.replaceNull),
	}
}

func (o *maskFieldOptions) Check() error {
	if len(o.fields) == 0 {
		return connect.Errorf("fields", "missing required configuration: at least one field to mask")
	}
	if o.Has("replacement") && o.replacement == "" {
		return connect.Errorf("replacement", "must not be empty when set")
	}
	return nil
}

func newMaskField(o *maskFieldOptions, s side) *MaskField {
	t := &MaskField{side: s, fields: o.fields, replaceNull: o.replaceNull}
	if o.Has("replacement") {
		rep := o.replacement
		t.replacement = &rep
	}
	return t
}

// Apply implements Transformation.
func (t *MaskField) Apply(r *connect.Record) (*connect.Record, error) {
	v := t.side.value(r)
	if v == nil {
		return r, nil
	}
	s := t.side.schema(r)
	if s == nil {
		m, err := requireMap(maskName, t.side, v)
		if err != nil {
			return nil, err
		}
		out := maps.Clone(m)
		for _, f := range t.fields {
			x, ok := out[f]
			if !ok {
				continue
			}
			mv, err := t.mask(f, nil, x)
			if err != nil {
				return nil, err
			}
			out[f] = mv
		}
		return t.side.with(r, nil, out), nil
	}
	st, err := requireStruct(maskName, t.side, v)
	if err != nil {
		return nil, err
	}
	out := connect.NewStructValue(st.Schema())
	for i, f := range st.Schema().Fields {
		x := fieldValue(st, i, f, t.replaceNull)
		if slices.Contains(t.fields, f.Name) {
			if x, err = t.mask(f.Name, f.Schema, x); err != nil {
				return nil, err
			}
		}
		out.SetAt(i, x)
	}
	return t.side.with(r, st.Schema(), out), nil
}

func (t *MaskField) mask(field string, s *connect.Schema, v any) (any, error) {
	if v == nil {
		return nil, nil
	}
	if t.replacement != nil {
		return t.replace(field, v)
	}
	switch x := v.(type) {
	case bool:
		return false, nil
	case int8:
		return int8(0), nil
	case int16:
		return int16(0), nil
	case int32:
		return int32(0), nil
	case int64:
		return int64(0), nil
	case int:
		return 0, nil
	case float32:
		return float32(0), nil
	case float64:
		return float64(0), nil
	case string:
		return "", nil
	case []byte:
		return []byte{}, nil
	case connect.Decimal:
		return connect.Decimal{Unscaled: new(big.Int), Scale: x.Scale}, nil
	case time.Time:
		return time.Unix(0, 0).UTC(), nil
	case []any:
		return []any{}, nil
	case map[string]any:
		return map[string]any{}, nil
	case map[any]any:
		return map[any]any{}, nil
	}
	return nil, dataErr(maskName, "field %q: cannot mask value of type %T", field, v)
}

func (t *MaskField) replace(field string, v any) (any, error) {
	rep := *t.replacement
	bad := func(err error) error {
		return dataErr(maskName, "field %q: unable to convert replacement %q to %T: %v", field, rep, v, err)
	}
	trim := strings.TrimSpace(rep)
	switch x := v.(type) {
	case string:
		return rep, nil
	case int8:
		n, err := strconv.ParseInt(trim, 10, 8)
		if err != nil {
			return nil, bad(err)
		}
		return int8(n), nil
	case int16:
		n, err := strconv.ParseInt(trim, 10, 16)
		if err != nil {
			return nil, bad(err)
		}
		return int16(n), nil
	case int32:
		n, err := strconv.ParseInt(trim, 10, 32)
		if err != nil {
			return nil, bad(err)
		}
		return int32(n), nil
	case int64:
		n, err := strconv.ParseInt(trim, 10, 64)
		if err != nil {
			return nil, bad(err)
		}
		return n, nil
	case int:
		n, err := strconv.Atoi(trim)
		if err != nil {
			return nil, bad(err)
		}
		return n, nil
	case float32:
		f, err := strconv.ParseFloat(trim, 32)
		if err != nil {
			return nil, bad(err)
		}
		return float32(f), nil
	case float64:
		f, err := strconv.ParseFloat(trim, 64)
		if err != nil {
			return nil, bad(err)
		}
		return f, nil
	case connect.Decimal:
		d, err := connect.ParseDecimal(trim)
		if err != nil {
			return nil, bad(err)
		}
		if d.Scale != x.Scale {
			return nil, dataErr(maskName, "field %q: replacement %q has scale %d, the value's scale is %d", field, rep, d.Scale, x.Scale)
		}
		return d, nil
	}
	return nil, dataErr(maskName, "field %q: cannot mask value of type %T with a custom replacement", field, v)
}
