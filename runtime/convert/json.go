package convert

import (
	"sync"

	"github.com/sluicehq/sluice/runtime/connect"
)

// JSON converter configuration keys, as in Kafka's JsonConverterConfig.
const (
	SchemasEnableConfig          = "schemas.enable"
	SchemasCacheSizeConfig       = "schemas.cache.size"
	DecimalFormatConfig          = "decimal.format"
	ReplaceNullWithDefaultConfig = "replace.null.with.default"
)

// DecimalFormat selects how Decimal values are written.
type DecimalFormat int

// Decimal formats (decimal.format).
const (
	// DecimalBase64 writes the unscaled two's-complement bytes as base64
	// (Kafka's default, "BASE64").
	DecimalBase64 DecimalFormat = iota
	// DecimalNumeric writes a JSON number ("NUMERIC").
	DecimalNumeric
)

// JSONConfigDef declares the JsonConverter's configuration keys.
func JSONConfigDef() connect.ConfigDef { return (&jsonOptions{}).Keys() }

// jsonOptions is the configuration of JsonConverter.
type jsonOptions struct {
	schemasEnabled bool
	cacheSize      int
	decimalFormat  string
	replaceNull    bool
}

func (o *jsonOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: SchemasEnableConfig, Type: connect.TypeBoolean, Default: "true", HasDefault: true, Importance: connect.High,
			Doc: "Include schemas within each of the serialized values and keys.", Into: connect.IntoBool(&o.schemasEnabled)},
		{Name: SchemasCacheSizeConfig, Type: connect.TypeInt, Default: "1000", HasDefault: true, Importance: connect.High,
			Doc: "Maximum number of schemas that can be cached in this converter instance.", Validate: connect.AtLeast(0), Into: connect.IntoInt(&o.cacheSize)},
		{Name: DecimalFormatConfig, Type: connect.TypeString, Default: "BASE64", HasDefault: true, Importance: connect.Low,
			Doc: "Serialization format for Connect Decimal values: BASE64 or NUMERIC.", Validate: connect.OneOf("BASE64", "NUMERIC"),
			Recommended: []string{"BASE64", "NUMERIC"}, Into: connect.IntoOneOf(&o.decimalFormat, "BASE64", "NUMERIC")},
		{Name: ReplaceNullWithDefaultConfig, Type: connect.TypeBoolean, Default: "true", HasDefault: true, Importance: connect.Low,
			Doc: "Whether to replace fields that have a default value and that are null to the default value.", Into: connect.IntoBool(&o.replaceNull)},
	}
}

func (o *jsonOptions) Check() error { return nil }

// JSON is Kafka Connect's JsonConverter
// (org.apache.kafka.connect.json.JsonConverter). With schemas.enable=true it
// writes the envelope {"schema":...,"payload":...} byte-for-byte as Kafka
// does; with false it writes the bare payload.
//
// Reading schemaless JSON (schemas.enable=false, or a null schema in the
// envelope) yields map[string]any for objects, []any for arrays, string,
// bool, nil, and for numbers int64 when the literal is integral (no
// fraction or exponent, like Jackson's int/long nodes) and fits in int64,
// float64 otherwise.
type JSON struct {
	schemasEnabled bool
	decimalFormat  DecimalFormat
	replaceNull    bool
	cacheSize      int
	isKey          bool
	mu             sync.Mutex
	enc            encCache // FromConnect's per-schema entries (jsonencode.go)
	toSchemaCache  map[string]*connect.Schema
	recent         recentSchemas // envelope schemas matched by prefix (jsonfast.go)
}

// NewJSON returns a JsonConverter configured from cfg (schemas.enable,
// schemas.cache.size, decimal.format, replace.null.with.default).
func NewJSON(cfg map[string]string, isKey bool) (*JSON, error) {
	o := &jsonOptions{}
	if _, err := connect.Bind(cfg, o); err != nil {
		return nil, err
	}
	return newJSON(o, isKey), nil
}

func newJSON(o *jsonOptions, isKey bool) *JSON {
	j := &JSON{
		schemasEnabled: o.schemasEnabled,
		replaceNull:    o.replaceNull,
		cacheSize:      o.cacheSize,
		isKey:          isKey,
		toSchemaCache:  map[string]*connect.Schema{},
	}
	if o.decimalFormat == "NUMERIC" {
		j.decimalFormat = DecimalNumeric
	}
	return j
}

// SchemasEnabled reports whether the converter writes and expects the
// schema envelope.
func (j *JSON) SchemasEnabled() bool { return j.schemasEnabled }

// FromConnect serializes v. A nil value yields nil bytes (a tombstone),
// whatever the schema.
func (j *JSON) FromConnect(topic string, s *connect.Schema, v any) ([]byte, error) {
	return j.AppendFromConnect(nil, topic, s, v)
}

// AppendFromConnect is FromConnect writing into dst[:0]'s storage when it
// is large enough (a buffer the caller reuses once the previous output is
// no longer referenced), else into a new buffer. A nil value yields nil
// (a tombstone) and leaves dst alone.
func (j *JSON) AppendFromConnect(dst []byte, _ string, s *connect.Schema, v any) (out []byte, err error) {
	if v == nil {
		return nil, nil
	}
	defer recoverData(&err)
	e := encoder{decimalFormat: j.decimalFormat, replaceNull: j.replaceNull}
	if s == nil {
		buf := dst[:0]
		if cap(buf) < 256 {
			buf = make([]byte, 0, 256)
		}
		if j.schemasEnabled {
			buf = append(buf, `{"schema":null,"payload":`...)
		}
		if buf, err = e.value(buf, nil, v); err != nil {
			return nil, err
		}
		if j.schemasEnabled {
			buf = append(buf, '}')
		}
		return buf, nil
	}
	en, err := j.entry(&e, s)
	if err != nil {
		return nil, err
	}
	buf := en.bufFor(dst, len(en.prefix)+1)
	buf = append(buf, en.prefix...)
	start := len(buf)
	if buf, err = e.planned(buf, en.plan, s, v); err != nil {
		return nil, err
	}
	en.last.Store(int64(len(buf) - start))
	if j.schemasEnabled {
		buf = append(buf, '}')
	}
	return buf, nil
}

// SchemaJSON returns the JSON form of a schema as Kafka writes it in the
// envelope's "schema" member.
func (j *JSON) SchemaJSON(s *connect.Schema) ([]byte, error) {
	e := encoder{decimalFormat: j.decimalFormat, replaceNull: j.replaceNull}
	if !j.schemasEnabled { // entries carry no schema text then
		return e.schema(nil, s, "", false, "")
	}
	en, err := j.entry(&e, s)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), en.schemaJSON()...), nil
}

func (j *JSON) cachedSchema(raw []byte) (*connect.Schema, bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	s, ok := j.toSchemaCache[string(raw)]
	return s, ok
}

func (j *JSON) cacheSchema(raw string, s *connect.Schema) {
	if j.cacheSize <= 0 {
		return
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if len(j.toSchemaCache) >= j.cacheSize {
		clear(j.toSchemaCache)
	}
	j.toSchemaCache[raw] = s
}

// recoverData turns a panic (a bug, never expected on any input) into a
// DataError so one bad record cannot crash the worker.
func recoverData(err *error) {
	if p := recover(); p != nil {
		*err = dataErr("", "internal error: %v", p)
	}
}
