package schemaregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hamba/avro/v2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Defaults, as in Confluent Schema Registry.
const (
	DefaultTopic   = "_schemas"
	DefaultGroupID = "schema-registry"
)

type options struct {
	brokers  []string
	topic    string
	group    string
	url      string
	log      *slog.Logger
	session  time.Duration
	compat   Compatibility
	kgoOpts  []kgo.Opt
	timeout  time.Duration
	httpDoer *http.Client
}

// Option configures a Registry.
type Option func(*options)

// WithBrokers sets the Kafka bootstrap servers (required).
func WithBrokers(addrs ...string) Option { return func(o *options) { o.brokers = addrs } }

// WithTopic sets the storage topic (default _schemas, like
// kafkastore.topic).
func WithTopic(t string) Option { return func(o *options) { o.topic = t } }

// WithGroupID sets the consumer group used for primary election (default
// schema-registry, like schema.registry.group.id).
func WithGroupID(g string) Option { return func(o *options) { o.group = g } }

// WithAdvertisedURL sets the URL other instances forward writes to
// (required when several instances share a topic).
func WithAdvertisedURL(u string) Option { return func(o *options) { o.url = u } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithElectionSessionTimeout sets the election group's session timeout
// (default 10s): how long a dead primary keeps the role.
func WithElectionSessionTimeout(d time.Duration) Option { return func(o *options) { o.session = d } }

// WithDefaultCompatibility sets the global level used until one is set
// through /config (default BACKWARD).
func WithDefaultCompatibility(c Compatibility) Option { return func(o *options) { o.compat = c } }

// WithKafkaOptions adds franz-go client options (TLS, SASL, ...).
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(o *options) { o.kgoOpts = append(o.kgoOpts, opts...) }
}

// WithTimeout bounds each write (default 30s, like kafkastore.timeout.ms
// and the forwarding timeout).
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Registry is one schema registry instance. Its Handler serves the REST API.
type Registry struct {
	o       options
	st      *state
	kl      *kafkaLog
	el      *election
	writeMu sync.Mutex
}

// New connects to Kafka, creates the storage topic if needed, reads it to
// the end and joins the primary election.
func New(ctx context.Context, opts ...Option) (*Registry, error) {
	o := options{topic: DefaultTopic, group: DefaultGroupID, session: 10 * time.Second, compat: Backward,
		timeout: 30 * time.Second, log: slog.New(slog.DiscardHandler)}
	for _, f := range opts {
		f(&o)
	}
	if len(o.brokers) == 0 {
		return nil, errors.New("schema registry: no Kafka bootstrap servers")
	}
	o.httpDoer = &http.Client{Timeout: o.timeout}
	r := &Registry{o: o, st: newState()}
	var err error
	if r.kl, err = openKafkaLog(ctx, o.brokers, o.topic, r.st, o.log, o.kgoOpts...); err != nil {
		return nil, err
	}
	if err := r.kl.catchUp(ctx); err != nil {
		r.kl.close()
		return nil, err
	}
	if r.el, err = startElection(o.brokers, o.group, o.topic, o.url, o.session, o.kgoOpts...); err != nil {
		r.kl.close()
		return nil, err
	}
	return r, nil
}

// Close leaves the election and stops reading.
func (r *Registry) Close() {
	r.el.close()
	r.kl.close()
}

// IsPrimary reports whether this instance currently accepts writes.
func (r *Registry) IsPrimary() bool { return r.el.isPrimary() }

// apiError is a Confluent-style error: an HTTP status and an error_code.
type apiError struct {
	status int
	code   int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

func errf(status, code int, format string, a ...any) *apiError {
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, a...)}
}

// Confluent's error codes.
const (
	codeSubjectNotFound       = 40401
	codeVersionNotFound       = 40402
	codeSchemaNotFound        = 40403
	codeSubjectSoftDeleted    = 40404
	codeSubjectNotSoftDeleted = 40405
	codeVersionSoftDeleted    = 40406
	codeVersionNotSoftDeleted = 40407
	codeInvalidSchema         = 42201
	codeInvalidVersion        = 42202
	codeInvalidCompatibility  = 42203
	codeInvalidMode           = 42204
	codeOperationNotPermitted = 42205
	codeStoreError            = 50001
	codeTimeout               = 50002
	codeForwardError          = 50003
	codeIncompatible          = 409
	codeReferenceExists       = 42206
)

// parsed is a schema parsed with its references resolved.
func (r *Registry) parse(schema, schemaType string, refs []Reference) (avro.Schema, error) {
	if schemaType != "" && schemaType != "AVRO" {
		return nil, errf(422, codeInvalidSchema, "schema type %s is not supported (AVRO only)", schemaType)
	}
	cache := &avro.SchemaCache{}
	r.st.mu.RLock()
	err := r.loadRefs(cache, refs, 0)
	r.st.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	s, err := avro.ParseWithCache(schema, "", cache)
	if err != nil {
		return nil, errf(422, codeInvalidSchema, "Invalid schema: %v", err)
	}
	return s, nil
}

// loadRefs parses referenced schemas (depth first) into cache. The state
// read lock is held.
func (r *Registry) loadRefs(cache *avro.SchemaCache, refs []Reference, depth int) error {
	if depth > 32 {
		return errf(422, codeInvalidSchema, "schema references nest deeper than 32")
	}
	for _, ref := range refs {
		v := r.st.subjects[ref.Subject][ref.Version]
		if ref.Version == -1 {
			if vs := r.st.versions(ref.Subject, false); len(vs) > 0 {
				v = vs[len(vs)-1]
			}
		}
		if v == nil {
			return errf(422, codeInvalidSchema, "Invalid schema: reference %q: subject %q version %d not found", ref.Name, ref.Subject, ref.Version)
		}
		if err := r.loadRefs(cache, v.References, depth+1); err != nil {
			return err
		}
		if _, err := avro.ParseWithCache(v.Schema, "", cache); err != nil {
			return errf(422, codeInvalidSchema, "Invalid schema: reference %q: %v", ref.Name, err)
		}
	}
	return nil
}

// canonical compacts the schema text so that whitespace differences map
// to the same id.
func canonical(schema string) (string, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(schema)); err != nil {
		// A bare primitive name such as string is not JSON.
		if s := strings.TrimSpace(schema); s != "" && !strings.ContainsAny(s, "{}[]\"") {
			return `"` + s + `"`, nil
		}
		return "", errf(422, codeInvalidSchema, "Invalid schema: %v", err)
	}
	return b.String(), nil
}

// registerResult is what a successful registration returns.
type registerResult struct {
	ID      int
	Version int
}

// register adds schema to subject (or finds it there). Only the primary
// calls it.
func (r *Registry) register(ctx context.Context, subject, schema, schemaType string, refs []Reference, normalizeType bool) (registerResult, error) {
	if schemaType == "AVRO" && normalizeType {
		schemaType = ""
	}
	canon, err := canonical(schema)
	if err != nil {
		return registerResult{}, err
	}
	parsed, err := r.parse(canon, schemaType, refs)
	if err != nil {
		return registerResult{}, err
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	if err := r.kl.catchUp(ctx); err != nil {
		return registerResult{}, errf(500, codeStoreError, "%v", err)
	}
	r.st.mu.RLock()
	mode := r.st.modeOf(subject)
	all := r.st.versions(subject, true)
	live := r.st.versions(subject, false)
	level := r.compat(subject)
	id := r.st.idFor(canon, schemaType, refs)
	maxID := r.st.maxID
	r.st.mu.RUnlock()
	if mode == "READONLY" {
		return registerResult{}, errf(422, codeOperationNotPermitted, "Subject %s is in read-only mode", subject)
	}
	for _, v := range live {
		if v.Schema == canon && v.SchemaType == schemaType {
			return registerResult{ID: v.ID, Version: v.Version}, nil
		}
	}
	var existing []avro.Schema
	for _, v := range live {
		s, err := r.parse(v.Schema, v.SchemaType, v.References)
		if err != nil {
			return registerResult{}, errf(500, codeStoreError, "stored schema %s/%d: %v", subject, v.Version, err)
		}
		existing = append(existing, s)
	}
	if msgs := CheckCompatibility(level, parsed, existing); len(msgs) > 0 {
		return registerResult{}, errf(409, codeIncompatible,
			"Schema being registered is incompatible with an earlier schema for subject %q (%s): %s", subject, level, strings.Join(msgs, "; "))
	}
	version := 1
	if len(all) > 0 {
		version = all[len(all)-1].Version + 1
	}
	if id == 0 {
		id = maxID + 1
	}
	v := schemaValue{Subject: subject, Version: version, ID: id, Schema: canon, SchemaType: schemaType, References: refs}
	if err := r.writeSchema(ctx, v); err != nil {
		return registerResult{}, err
	}
	return registerResult{ID: id, Version: version}, nil
}

// compat returns the level in force for subject ("" = global); the state
// read lock is held.
func (r *Registry) compat(subject string) Compatibility {
	if c, ok := r.st.config[subject]; ok {
		return c
	}
	if c, ok := r.st.config[""]; ok {
		return c
	}
	return r.o.compat
}

func (r *Registry) writeSchema(ctx context.Context, v schemaValue) error {
	subj := v.Subject
	key, _ := json.Marshal(recordKey{KeyType: keySchema, Subject: &subj, Version: v.Version, Magic: 1})
	val, _ := json.Marshal(v)
	if err := r.kl.append(ctx, key, val); err != nil {
		return errf(500, codeStoreError, "%v", err)
	}
	return nil
}

func (r *Registry) writeKey(ctx context.Context, keyType, subject string, value any) error {
	k := recordKey{KeyType: keyType}
	if subject != "" {
		k.Subject = &subject
	}
	key, _ := json.Marshal(k)
	var val []byte
	if value != nil {
		val, _ = json.Marshal(value)
	}
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	if err := r.kl.append(ctx, key, val); err != nil {
		return errf(500, codeStoreError, "%v", err)
	}
	return nil
}

func (r *Registry) hardDelete(ctx context.Context, subject string, version int) error {
	key, _ := json.Marshal(recordKey{KeyType: keySchema, Subject: &subject, Version: version, Magic: 1})
	ctx, cancel := context.WithTimeout(ctx, r.o.timeout)
	defer cancel()
	if err := r.kl.append(ctx, key, nil); err != nil {
		return errf(500, codeStoreError, "%v", err)
	}
	return nil
}

// forward sends a write request to the primary and copies its answer.
// local serves the write here when this instance became primary while
// waiting for one.
func (r *Registry) forward(w http.ResponseWriter, req *http.Request, body []byte, local http.HandlerFunc) {
	ctx, cancel := context.WithTimeout(req.Context(), r.o.timeout)
	defer cancel()
	var target string
	for {
		u, err := r.el.primaryURL(ctx)
		if err == nil && u != "" && u != r.o.url {
			target = u
			break
		}
		if r.el.isPrimary() {
			req.Body = io.NopCloser(bytes.NewReader(body))
			local(w, req)
			return
		}
		select {
		case <-ctx.Done():
			writeErr(w, errf(500, codeForwardError, "Error while forwarding the request to the primary: no primary elected (%v)", err))
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	freq, err := http.NewRequestWithContext(ctx, req.Method, strings.TrimRight(target, "/")+req.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeErr(w, errf(500, codeForwardError, "Error while forwarding the request to the primary %s: %v", target, err))
		return
	}
	freq.Header.Set("Content-Type", req.Header.Get("Content-Type"))
	freq.Header.Set(forwardedHeader, r.o.url)
	resp, err := r.o.httpDoer.Do(freq)
	if err != nil {
		writeErr(w, errf(500, codeForwardError, "Error while forwarding the request to the primary %s: %v", target, err))
		return
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	// Read your own write: wait until this instance has applied it.
	if resp.StatusCode < 300 {
		_ = r.kl.catchUp(ctx)
	}
	w.Header().Set("Content-Type", resp.Header.Get("Content-Type"))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

const forwardedHeader = "X-Sluice-Forwarded-By"
