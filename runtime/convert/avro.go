package convert

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"sync"

	"github.com/hamba/avro/v2"

	"github.com/sluicehq/sluice/runtime/connect"
)

// AvroClass is the class name of Confluent's AvroConverter.
const AvroClass = "io.confluent.connect.avro.AvroConverter"

// AvroConverter configuration keys, as in Confluent's.
const (
	SchemaRegistryURLConfig      = "schema.registry.url"
	AutoRegisterSchemasConfig    = "auto.register.schemas"
	UseLatestVersionConfig       = "use.latest.version"
	KeySubjectNameStrategyConfig = "key.subject.name.strategy"
	ValSubjectNameStrategyConfig = "value.subject.name.strategy"
	ConnectMetaDataConfig        = "connect.meta.data"
	AvroSchemasCacheConfig       = "schemas.cache.config"
	BasicAuthSourceConfig        = "basic.auth.credentials.source"
	BasicAuthUserInfoConfig      = "basic.auth.user.info"
)

// Subject name strategies (key/value.subject.name.strategy).
const (
	TopicNameStrategy       = "io.confluent.kafka.serializers.subject.TopicNameStrategy"
	RecordNameStrategy      = "io.confluent.kafka.serializers.subject.RecordNameStrategy"
	TopicRecordNameStrategy = "io.confluent.kafka.serializers.subject.TopicRecordNameStrategy"
)

// AvroConfigDef declares the AvroConverter's configuration keys.
func AvroConfigDef() connect.ConfigDef { return (&avroOptions{}).Keys() }

// avroOptions is the configuration of AvroConverter.
type avroOptions struct {
	url                      string
	autoRegister, useLatest  bool
	keyStrategy, valStrategy string
	metadata                 bool
	cacheSize                int
	authSource, userInfo     string
}

func (o *avroOptions) Keys() connect.ConfigDef {
	strategies := []string{TopicNameStrategy, RecordNameStrategy, TopicRecordNameStrategy, "TopicNameStrategy", "RecordNameStrategy", "TopicRecordNameStrategy"}
	return connect.ConfigDef{
		{Name: SchemaRegistryURLConfig, Type: connect.TypeList, Importance: connect.High,
			Doc: "Comma-separated list of URLs for Schema Registry instances.", Into: connect.IntoString(&o.url)},
		{Name: AutoRegisterSchemasConfig, Type: connect.TypeBoolean, Default: "true", HasDefault: true, Importance: connect.Medium,
			Doc: "Specify if the Serializer should attempt to register the Schema with Schema Registry.", Into: connect.IntoBool(&o.autoRegister)},
		{Name: UseLatestVersionConfig, Type: connect.TypeBoolean, Default: "false", HasDefault: true, Importance: connect.Low,
			Doc: "Specify if the Serializer should use the latest subject version for serialization.", Into: connect.IntoBool(&o.useLatest)},
		{Name: KeySubjectNameStrategyConfig, Type: connect.TypeString, Default: TopicNameStrategy, HasDefault: true, Importance: connect.Medium,
			Doc: "Determines how to construct the subject name under which the key schema is registered.", Validate: connect.OneOf(strategies...), Into: intoStrategy(&o.keyStrategy)},
		{Name: ValSubjectNameStrategyConfig, Type: connect.TypeString, Default: TopicNameStrategy, HasDefault: true, Importance: connect.Medium,
			Doc: "Determines how to construct the subject name under which the value schema is registered.", Validate: connect.OneOf(strategies...), Into: intoStrategy(&o.valStrategy)},
		{Name: ConnectMetaDataConfig, Type: connect.TypeBoolean, Default: "true", HasDefault: true, Importance: connect.Low,
			Doc: "Toggle for enabling/disabling connect converter to add its meta data to the output schema or not.", Into: connect.IntoBool(&o.metadata)},
		{Name: AvroSchemasCacheConfig, Type: connect.TypeInt, Default: "1000", HasDefault: true, Importance: connect.Low,
			Doc: "Size of the converted schemas cache.", Validate: connect.AtLeast(1), Into: connect.IntoInt(&o.cacheSize)},
		{Name: BasicAuthSourceConfig, Type: connect.TypeString, Default: "URL", HasDefault: true, Importance: connect.Medium,
			Doc: "Specify how to pick the credentials for the Basic Auth header: URL or USER_INFO.", Validate: connect.OneOf("URL", "USER_INFO", "SASL_INHERIT"),
			Into: connect.IntoOneOf(&o.authSource, "URL", "USER_INFO", "SASL_INHERIT")},
		{Name: BasicAuthUserInfoConfig, Type: connect.TypePassword, HasDefault: true, Importance: connect.Medium,
			Doc: "Basic Auth user info in the form user:password (with basic.auth.credentials.source=USER_INFO).", Into: connect.IntoString(&o.userInfo)},
	}
}

func (o *avroOptions) Check() error { return nil }

// intoStrategy stores a subject name strategy, expanding a simple name to
// Confluent's class name.
func intoStrategy(dst *string) func(string) error {
	return func(v string) error {
		v = strings.TrimSpace(v)
		if v != "" && !strings.Contains(v, ".") {
			v = "io.confluent.kafka.serializers.subject." + v
		}
		if v == "" {
			v = TopicNameStrategy
		}
		*dst = v
		return nil
	}
}

// Avro is Confluent's AvroConverter (io.confluent.connect.avro.AvroConverter):
// Connect data to and from Confluent's wire format (magic byte 0, 4-byte
// big-endian schema id, Avro binary) with schemas kept in a schema
// registry. Schemas are mapped as Confluent's AvroData maps them, and the
// mapping and the registry's ids are cached in both directions, so a
// steady stream does not call the registry.
type Avro struct {
	client       *registryClient
	isKey        bool
	autoRegister bool
	useLatest    bool
	strategy     string
	metadata     bool
	cacheSize    int
	api          avro.API
	writers      sync.Pool // *avro.Writer scratch buffers for FromConnect
	readers      sync.Pool // *avro.Reader for ToConnect

	mu   sync.RWMutex
	enc  map[encKey]*avroEnc
	encS map[string]*avroEnc // by subject + "\x00" + Avro schema text
	dec  map[int]*avroDec
}

type encKey struct {
	topic  string
	schema *connect.Schema
}

type avroEnc struct {
	node   *avroNode
	schema avro.Schema
	plan   *encOp // nil: the reflection path (avro_typed.go)
	header [5]byte
}

// maxPooledWriter bounds the buffer a pooled writer keeps, so one huge
// record does not pin its memory.
const maxPooledWriter = 1 << 20

type avroDec struct {
	node   *avroNode
	schema avro.Schema
	plan   *decOp // nil: hamba's generic decoding, then fromAvro
}

// NewAvro returns an AvroConverter configured from cfg.
func NewAvro(cfg map[string]string, isKey bool) (*Avro, error) {
	o := &avroOptions{}
	if _, err := connect.Bind(cfg, o); err != nil {
		return nil, err
	}
	return newAvro(o, isKey), nil
}

func newAvro(o *avroOptions, isKey bool) *Avro {
	a := &Avro{
		isKey:        isKey,
		autoRegister: o.autoRegister,
		useLatest:    o.useLatest,
		metadata:     o.metadata,
		cacheSize:    o.cacheSize,
		strategy:     o.valStrategy,
		api:          avro.Config{BlockLength: avroBlockLength}.Freeze(),
		enc:          map[encKey]*avroEnc{},
		encS:         map[string]*avroEnc{},
		dec:          map[int]*avroDec{},
	}
	if isKey {
		a.strategy = o.keyStrategy
	}
	auth := ""
	if o.authSource == "USER_INFO" {
		auth = o.userInfo
	}
	a.client = newRegistryClient(o.url, auth)
	return a
}

// AvroSchema returns the Avro schema text the converter registers for a
// Connect schema (Confluent's AvroData mapping).
func (a *Avro) AvroSchema(s *connect.Schema) (string, error) {
	text, _, err := a.avroSchema(s)
	return text, err
}

func (a *Avro) avroSchema(s *connect.Schema) (string, *avroNode, error) {
	w := &schemaWriter{metadata: a.metadata, defined: map[string]*avroNode{}}
	var b bytes.Buffer
	n, err := w.optional(&b, s, "", false)
	if err != nil {
		return "", nil, err
	}
	return b.String(), n, nil
}

// subject names the registry subject for a schema on topic.
func (a *Avro) subject(topic string, s avro.Schema) string {
	recordName := branchName(s)
	if u, ok := s.(*avro.UnionSchema); ok {
		for _, t := range u.Types() {
			if t.Type() != avro.Null {
				recordName = branchName(t)
			}
		}
	}
	switch a.strategy {
	case RecordNameStrategy:
		return recordName
	case TopicRecordNameStrategy:
		return topic + "-" + recordName
	}
	if a.isKey {
		return topic + "-key"
	}
	return topic + "-value"
}

// FromConnect serializes v in Confluent's wire format. A nil value yields
// nil bytes (a tombstone).
func (a *Avro) FromConnect(topic string, s *connect.Schema, v any) ([]byte, error) {
	if v == nil {
		return nil, nil
	}
	if s == nil {
		return nil, dataErr("", "the AvroConverter needs a schema (got a schemaless value of Go type %T)", v)
	}
	e, err := a.encoder(topic, s)
	if err != nil {
		return nil, err
	}
	if e.plan != nil {
		w, _ := a.writers.Get().(*avro.Writer)
		if w == nil {
			w = avro.NewWriter(nil, 1024, avro.WithWriterConfig(a.api))
		}
		w.Reset(nil)
		_, _ = w.Write(e.header[:])
		var out []byte
		if err = e.plan.encode(w, v); err == nil {
			out = append([]byte(nil), w.Buffer()...)
		}
		if cap(w.Buffer()) <= maxPooledWriter {
			a.writers.Put(w)
		}
		return out, err
	}
	root := reflect.New(e.node.fieldType()).Elem()
	if err := e.node.fill(root, v); err != nil {
		return nil, err
	}
	body, err := a.api.Marshal(e.schema, root.Interface())
	if err != nil {
		return nil, dataErr("", "avro encoding: %v", err)
	}
	out := make([]byte, 5+len(body))
	copy(out, e.header[:])
	copy(out[5:], body)
	return out, nil
}

func (a *Avro) encoder(topic string, s *connect.Schema) (*avroEnc, error) {
	k := encKey{topic: topic, schema: s}
	a.mu.RLock()
	e := a.enc[k]
	a.mu.RUnlock()
	if e != nil {
		return e, nil
	}
	text, node, err := a.avroSchema(s)
	if err != nil {
		return nil, err
	}
	parsed, err := avro.Parse(text)
	if err != nil {
		return nil, dataErr("", "schema %v maps to an invalid Avro schema: %v", s, err)
	}
	fillBranches(node, parsed)
	subject := a.subject(topic, parsed)
	a.mu.RLock()
	e = a.encS[subject+"\x00"+text]
	a.mu.RUnlock()
	if e == nil {
		e = &avroEnc{node: node, schema: parsed}
		ctx := context.Background()
		var id int
		switch {
		case a.useLatest && !a.autoRegister:
			latest, lerr := a.client.latest(ctx, subject)
			if lerr != nil {
				return nil, fmt.Errorf("avro: latest schema of subject %q: %w", subject, lerr)
			}
			ls, perr := avro.Parse(latest.Schema)
			if perr != nil {
				return nil, fmt.Errorf("avro: latest schema of subject %q: %w", subject, perr)
			}
			id, e.schema = latest.ID, ls
			fillBranches(node, ls)
		case a.autoRegister:
			id, err = a.client.register(ctx, subject, text)
		default:
			id, err = a.client.lookup(ctx, subject, text)
		}
		if err != nil {
			return nil, fmt.Errorf("avro: schema for subject %q: %w", subject, err)
		}
		e.header[0] = 0
		binary.BigEndian.PutUint32(e.header[1:], uint32(id))
		if plan, perr := compileEnc(node, e.schema); perr == nil {
			e.plan = plan
		} else {
			node.fieldType() // build the Go types now, before the node is shared
		}
	}
	a.mu.Lock()
	if len(a.enc) >= a.cacheSize {
		clear(a.enc)
		clear(a.encS)
	}
	a.enc[k] = e
	a.encS[subject+"\x00"+text] = e
	a.mu.Unlock()
	return e, nil
}

// ToConnect deserializes Confluent's wire format. Nil or empty data yields
// a nil schema and value.
func (a *Avro) ToConnect(_ string, data []byte) (*connect.Schema, any, error) {
	if len(data) == 0 {
		return nil, nil, nil
	}
	if data[0] != 0 {
		return nil, nil, dataErr("", "unknown magic byte %d at byte 0 (Confluent's wire format starts with 0)", data[0])
	}
	if len(data) < 5 {
		return nil, nil, dataErr("", "%d bytes: too short for Confluent's wire format (magic byte and 4-byte schema id)", len(data))
	}
	id := int(binary.BigEndian.Uint32(data[1:5]))
	d, err := a.decoder(id)
	if err != nil {
		return nil, nil, err
	}
	if d.plan != nil {
		r, _ := a.readers.Get().(*avro.Reader)
		if r == nil {
			r = avro.NewReader(nil, 0, avro.WithReaderConfig(a.api))
		}
		r.Reset(data[5:])
		r.Error = nil
		v, err := d.plan.decode(r)
		r.Reset(nil) // do not keep the caller's bytes
		a.readers.Put(r)
		if err != nil {
			return nil, nil, avroDecodeErr(id, err)
		}
		return d.node.connect, v, nil
	}
	var gv any
	if err := a.api.Unmarshal(d.schema, data[5:], &gv); err != nil {
		return nil, nil, dataErr("", "avro decoding with schema id %d: %v", id, err)
	}
	v, err := d.node.fromAvro(gv, "")
	if err != nil {
		return nil, nil, err
	}
	return d.node.connect, v, nil
}

func (a *Avro) decoder(id int) (*avroDec, error) {
	a.mu.RLock()
	d := a.dec[id]
	a.mu.RUnlock()
	if d != nil {
		return d, nil
	}
	text, err := a.client.byID(context.Background(), id)
	if err != nil {
		return nil, fmt.Errorf("avro: schema id %d: %w", id, err)
	}
	parsed, err := avro.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("avro: schema id %d: %w", id, err)
	}
	r := &schemaReader{seen: map[string]*avroNode{}}
	node, err := r.read(parsed, "")
	if err != nil {
		return nil, err
	}
	d = &avroDec{node: node, schema: parsed}
	if plan, perr := compileDec(node, parsed); perr == nil {
		d.plan = plan
	}
	a.mu.Lock()
	if len(a.dec) >= a.cacheSize {
		clear(a.dec)
	}
	a.dec[id] = d
	a.mu.Unlock()
	return d, nil
}

// avroDecodeErr names the schema id in a decoding error, keeping the
// field path of a *DataError.
func avroDecodeErr(id int, err error) error {
	if de, ok := err.(*DataError); ok {
		return &DataError{Path: de.Path, Msg: fmt.Sprintf("avro decoding with schema id %d: %s", id, de.Msg)}
	}
	return dataErr("", "avro decoding with schema id %d: %v", id, err)
}
