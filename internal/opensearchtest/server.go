// Package opensearchtest is an in-memory HTTP server that answers the part
// of the OpenSearch 2.x REST API that sluice's OpenSearch sink uses, with
// the response shapes, statuses and error types of the real server, and
// with fault injection (429 storms, slow responses, connection resets).
//
// It is test support, not a search engine: there is no analysis, scoring
// or refresh interval (documents are searchable as soon as they are
// written), one shard per index, and only the queries match_all, term and
// ids. It records every write accepted with an external version so tests
// can check that no older version ever overwrote a newer one.
package opensearchtest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Version is the OpenSearch version the server reports on GET /.
const Version = "2.19.0"

// defaultGCDeletes is OpenSearch's default index.gc_deletes.
const defaultGCDeletes = 60 * time.Second

// Faults configures injected failures. The zero value injects nothing.
type Faults struct {
	// ItemReject429 is the probability that a bulk item is rejected with
	// status 429 rejected_execution_exception (a full write queue).
	ItemReject429 float64
	// Request429 is the probability that a whole _bulk request is rejected
	// with HTTP 429 (shard indexing backpressure).
	Request429 float64
	// Request503 is the probability that a whole _bulk request fails with
	// HTTP 503.
	Request503 float64
	// Reset is the probability that a _bulk connection is closed without
	// a response; ResetAfterApply closes it after the items were applied.
	Reset           float64
	ResetAfterApply bool
	// Delay is added before every _bulk response.
	Delay time.Duration
}

// Stats counts what the server did.
type Stats struct {
	BulkRequests, Items, Rejected429, RequestRejected, Resets int64
	Conflicts, MappingErrors                                  int64
}

type doc struct {
	source  map[string]any
	version int64
	seqNo   int64
	routing string
}

type tombstone struct {
	version int64
	at      time.Time
}

type index struct {
	name       string
	uuid       string
	mappings   map[string]any // {"dynamic":..., "properties":{...}}
	gcDeletes  time.Duration
	docs       map[string]*doc
	tombs      map[string]tombstone
	seqNo      int64
	dataStream bool
	// maxExternal is the highest external version ever accepted per id,
	// for the monotonicity check.
	maxExternal map[string]int64
}

// Server is the fake OpenSearch. Create it with New; it is an
// http.Handler. Start runs it on a loopback listener.
type Server struct {
	mu         sync.Mutex
	indices    map[string]*index
	templates  map[string][]string // data stream template name -> patterns
	faults     Faults
	rng        *rand.Rand
	stats      Stats
	violations []string
	now        func() time.Time

	httpSrv *httptest.Server
	// URL is the base URL once started.
	URL string
}

// Option configures a Server.
type Option func(*Server)

// WithFaults sets the initial faults.
func WithFaults(f Faults) Option { return func(s *Server) { s.faults = f } }

// WithSeed seeds the fault generator (default 1) so runs are repeatable.
func WithSeed(seed uint64) Option {
	return func(s *Server) { s.rng = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }
}

// WithClock replaces time.Now (for index.gc_deletes expiry).
func WithClock(now func() time.Time) Option { return func(s *Server) { s.now = now } }

// New returns a server with no indices.
func New(opts ...Option) *Server {
	s := &Server{indices: map[string]*index{}, templates: map[string][]string{}, now: time.Now}
	WithSeed(1)(s)
	for _, o := range opts {
		o(s)
	}
	return s
}

// Start runs a new server on 127.0.0.1 and returns it; Close stops it.
func Start(opts ...Option) *Server {
	s := New(opts...)
	s.httpSrv = httptest.NewServer(s)
	s.URL = s.httpSrv.URL
	return s
}

// Close stops a started server.
func (s *Server) Close() {
	if s.httpSrv != nil {
		s.httpSrv.CloseClientConnections()
		s.httpSrv.Close()
	}
}

// SetFaults replaces the injected faults.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Stats returns the counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Violations returns every accepted write whose external version was lower
// than a version accepted earlier for the same id (possible on a real
// server only after index.gc_deletes expired a delete tombstone).
func (s *Server) Violations() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.violations...)
}

// Docs returns a copy of the documents of an index (nil if it does not
// exist), keyed by id.
func (s *Server) Docs(name string) map[string]map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	if ix == nil {
		return nil
	}
	out := make(map[string]map[string]any, len(ix.docs))
	for id, d := range ix.docs {
		out[id] = clone(d.source)
	}
	return out
}

// Doc returns one document's source and version.
func (s *Server) Doc(name, id string) (map[string]any, int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	if ix == nil || ix.docs[id] == nil {
		return nil, 0, false
	}
	return clone(ix.docs[id].source), ix.docs[id].version, true
}

// Routing returns the routing value a document was written with.
func (s *Server) Routing(name, id string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil && ix.docs[id] != nil {
		return ix.docs[id].routing
	}
	return ""
}

// Mapping returns an index's mappings (nil if it does not exist).
func (s *Server) Mapping(name string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ix := s.indices[name]; ix != nil {
		return clone(ix.mappings)
	}
	return nil
}

// IsDataStream reports whether name is a data stream.
func (s *Server) IsDataStream(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	return ix != nil && ix.dataStream
}

func clone(m map[string]any) map[string]any {
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "" {
		parts = nil
	}
	switch {
	case len(parts) == 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.root(w)
	case len(parts) == 1 && parts[0] == "_bulk" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.bulk(w, r, "")
	case len(parts) == 2 && parts[1] == "_bulk" && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		s.bulk(w, r, parts[0])
	case len(parts) == 2 && parts[0] == "_index_template" && r.Method == http.MethodPut:
		s.putTemplate(w, r, parts[1])
	case len(parts) == 2 && parts[0] == "_data_stream" && r.Method == http.MethodPut:
		s.createDataStream(w, parts[1])
	case len(parts) == 1 && strings.HasPrefix(parts[0], "_"):
		writeError(w, 400, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], must not start with '_'.", parts[0]), parts[0])
	case len(parts) == 1 && r.Method == http.MethodPut:
		s.createIndex(w, r, parts[0])
	case len(parts) == 1 && r.Method == http.MethodHead:
		s.mu.Lock()
		ok := s.indices[parts[0]] != nil
		s.mu.Unlock()
		if ok {
			w.WriteHeader(200)
		} else {
			w.WriteHeader(404)
		}
	case len(parts) == 1 && r.Method == http.MethodDelete:
		s.mu.Lock()
		_, ok := s.indices[parts[0]]
		delete(s.indices, parts[0])
		s.mu.Unlock()
		if !ok {
			indexNotFound(w, parts[0])
			return
		}
		writeJSON(w, 200, map[string]any{"acknowledged": true})
	case len(parts) == 2 && parts[1] == "_mapping" && r.Method == http.MethodGet:
		s.withIndex(w, parts[0], func(ix *index) {
			writeJSON(w, 200, map[string]any{ix.name: map[string]any{"mappings": ix.mappings}})
		})
	case len(parts) == 2 && parts[1] == "_refresh":
		s.withIndex(w, parts[0], func(*index) {
			writeJSON(w, 200, map[string]any{"_shards": map[string]any{"total": 1, "successful": 1, "failed": 0}})
		})
	case len(parts) == 2 && parts[1] == "_count":
		s.search(w, r, parts[0], true)
	case len(parts) == 2 && parts[1] == "_search":
		s.search(w, r, parts[0], false)
	case len(parts) == 3 && parts[1] == "_doc" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.getDoc(w, parts[0], parts[2])
	default:
		writeError(w, 405, "illegal_argument_exception", fmt.Sprintf("Incorrect HTTP method for uri [%s] and method [%s]", r.URL.Path, r.Method), "")
	}
}

func (s *Server) root(w http.ResponseWriter) {
	writeJSON(w, 200, map[string]any{
		"name": "opensearchtest", "cluster_name": "opensearchtest", "cluster_uuid": "c0ffee00000000000000aa",
		"version": map[string]any{"distribution": "opensearch", "number": Version, "build_type": "tar",
			"lucene_version": "9.12.1", "minimum_wire_compatibility_version": "7.10.0",
			"minimum_index_compatibility_version": "7.0.0"},
		"tagline": "The OpenSearch Project: https://opensearch.org/",
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errorBody(typ, reason, idx string) map[string]any {
	e := map[string]any{"type": typ, "reason": reason}
	if idx != "" {
		e["index"] = idx
		e["index_uuid"] = "_na_"
	}
	return e
}

func writeError(w http.ResponseWriter, status int, typ, reason, idx string) {
	e := errorBody(typ, reason, idx)
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"root_cause": []any{e}, "type": typ, "reason": reason}, "status": status})
}

func indexNotFound(w http.ResponseWriter, name string) {
	writeError(w, 404, "index_not_found_exception", "no such index ["+name+"]", name)
}

func (s *Server) withIndex(w http.ResponseWriter, name string, f func(*index)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ix := s.indices[name]
	if ix == nil {
		indexNotFound(w, name)
		return
	}
	f(ix)
}

func validIndexName(name string) string {
	switch {
	case name != strings.ToLower(name):
		return "must be lowercase"
	case strings.HasPrefix(name, "_") || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "+"):
		return "must not start with '_', '-', or '+'"
	case strings.ContainsAny(name, "\\/*?\"<>| ,#:"):
		return `must not contain the following characters [ , ", *, \, <, |, ,, >, /, ?]`
	case len(name) > 255:
		return "index name is too long"
	}
	return ""
}

func (s *Server) newIndex(name string) *index {
	ix := &index{name: name, uuid: fmt.Sprintf("uuid-%s", name), gcDeletes: defaultGCDeletes,
		mappings: map[string]any{}, docs: map[string]*doc{}, tombs: map[string]tombstone{},
		maxExternal: map[string]int64{}}
	s.indices[name] = ix
	return ix
}

func (s *Server) createIndex(w http.ResponseWriter, r *http.Request, name string) {
	if msg := validIndexName(name); msg != "" {
		writeError(w, 400, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], %s", name, msg), name)
		return
	}
	var body struct {
		Settings map[string]any `json:"settings"`
		Mappings map[string]any `json:"mappings"`
	}
	if b, _ := io.ReadAll(r.Body); len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			writeError(w, 400, "parse_exception", "Failed to parse content to map: "+err.Error(), "")
			return
		}
	}
	gc := defaultGCDeletes
	if v := settingString(body.Settings, "gc_deletes"); v != "" {
		d, err := parseTimeValue(v)
		if err != nil {
			writeError(w, 400, "illegal_argument_exception", fmt.Sprintf("failed to parse setting [index.gc_deletes] with value [%s]", v), name)
			return
		}
		gc = d
	}
	if err := checkMappings(body.Mappings); err != "" {
		writeError(w, 400, "mapper_parsing_exception", err, name)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.indices[name] != nil {
		writeError(w, 400, "resource_already_exists_exception", fmt.Sprintf("index [%s/%s] already exists", name, s.indices[name].uuid), name)
		return
	}
	ix := s.newIndex(name)
	ix.gcDeletes = gc
	if body.Mappings != nil {
		ix.mappings = body.Mappings
	}
	writeJSON(w, 200, map[string]any{"acknowledged": true, "shards_acknowledged": true, "index": name})
}

// settingString finds index.<name> in settings given flat
// ("index.gc_deletes") or nested ({"index":{"gc_deletes":...}}).
func settingString(settings map[string]any, name string) string {
	if v, ok := settings["index."+name]; ok {
		return fmt.Sprint(v)
	}
	if ix, ok := settings["index"].(map[string]any); ok {
		if v, ok := ix[name]; ok {
			return fmt.Sprint(v)
		}
	}
	return ""
}

func parseTimeValue(v string) (time.Duration, error) {
	for _, u := range []struct {
		suf string
		d   time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}, {"d", 24 * time.Hour}} {
		if n, ok := strings.CutSuffix(v, u.suf); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil {
				return 0, err
			}
			return time.Duration(f * float64(u.d)), nil
		}
	}
	return 0, fmt.Errorf("missing unit")
}

var knownTypes = map[string]bool{"text": true, "keyword": true, "long": true, "integer": true, "short": true, "byte": true,
	"double": true, "float": true, "half_float": true, "scaled_float": true, "boolean": true, "date": true, "binary": true,
	"geo_point": true, "object": true, "nested": true, "ip": true}

func checkMappings(m map[string]any) string {
	props, _ := m["properties"].(map[string]any)
	for name, p := range props {
		pm, _ := p.(map[string]any)
		t, _ := pm["type"].(string)
		if t == "" {
			if _, ok := pm["properties"]; ok {
				t = "object"
			} else {
				return fmt.Sprintf("No type specified for field [%s]", name)
			}
		}
		if !knownTypes[t] {
			return fmt.Sprintf("No handler for type [%s] declared on field [%s]", t, name)
		}
		if t == "object" || t == "nested" {
			if e := checkMappings(pm); e != "" {
				return e
			}
		}
	}
	return ""
}

func (s *Server) putTemplate(w http.ResponseWriter, r *http.Request, name string) {
	var body struct {
		IndexPatterns []string       `json:"index_patterns"`
		DataStream    map[string]any `json:"data_stream"`
	}
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &body); err != nil || len(body.IndexPatterns) == 0 {
		writeError(w, 400, "action_request_validation_exception", "Validation Failed: 1: index patterns are missing;", "")
		return
	}
	s.mu.Lock()
	if body.DataStream != nil {
		s.templates[name] = body.IndexPatterns
	}
	s.mu.Unlock()
	writeJSON(w, 200, map[string]any{"acknowledged": true})
}

func (s *Server) dataStreamTemplate(name string) bool {
	for _, pats := range s.templates {
		for _, p := range pats {
			if p == name || strings.HasSuffix(p, "*") && strings.HasPrefix(name, strings.TrimSuffix(p, "*")) {
				return true
			}
		}
	}
	return false
}

func (s *Server) createDataStream(w http.ResponseWriter, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dataStreamTemplate(name) {
		writeError(w, 400, "illegal_argument_exception", "no matching index template found for data stream ["+name+"]", "")
		return
	}
	if s.indices[name] != nil {
		writeError(w, 400, "resource_already_exists_exception", "data_stream ["+name+"] already exists", name)
		return
	}
	ix := s.newIndex(name)
	ix.dataStream = true
	writeJSON(w, 200, map[string]any{"acknowledged": true})
}

func (s *Server) getDoc(w http.ResponseWriter, name, id string) {
	s.withIndex(w, name, func(ix *index) {
		d := ix.docs[id]
		if d == nil {
			writeJSON(w, 404, map[string]any{"_index": name, "_id": id, "found": false})
			return
		}
		writeJSON(w, 200, map[string]any{"_index": name, "_id": id, "_version": d.version, "_seq_no": d.seqNo,
			"_primary_term": 1, "found": true, "_source": d.source})
	})
}

func (s *Server) search(w http.ResponseWriter, r *http.Request, name string, count bool) {
	var body struct {
		Query map[string]map[string]any `json:"query"`
		Size  *int                      `json:"size"`
		From  int                       `json:"from"`
	}
	if b, _ := io.ReadAll(r.Body); len(bytes.TrimSpace(b)) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			writeError(w, 400, "parsing_exception", "request body is malformed: "+err.Error(), "")
			return
		}
	}
	size := 10
	if body.Size != nil {
		size = *body.Size
	}
	if v := r.URL.Query().Get("size"); v != "" {
		size, _ = strconv.Atoi(v)
	}
	match := func(string, *doc) bool { return true }
	for typ, q := range body.Query {
		switch typ {
		case "match_all":
		case "term":
			if len(q) != 1 {
				writeError(w, 400, "parsing_exception", "[term] query doesn't support multiple fields", "")
				return
			}
			for f, v := range q {
				if m, ok := v.(map[string]any); ok {
					v = m["value"]
				}
				want := fmt.Sprint(v)
				match = func(_ string, d *doc) bool {
					got, ok := lookup(d.source, strings.TrimSuffix(f, ".keyword"))
					return ok && fmt.Sprint(got) == want
				}
			}
		case "ids":
			vals, _ := q["values"].([]any)
			set := map[string]bool{}
			for _, v := range vals {
				set[fmt.Sprint(v)] = true
			}
			match = func(id string, _ *doc) bool { return set[id] }
		default:
			writeError(w, 400, "parsing_exception", "unknown query ["+typ+"] (opensearchtest supports match_all, term, ids)", "")
			return
		}
	}
	s.withIndex(w, name, func(ix *index) {
		ids := make([]string, 0, len(ix.docs))
		for id, d := range ix.docs {
			if match(id, d) {
				ids = append(ids, id)
			}
		}
		shards := map[string]any{"total": 1, "successful": 1, "skipped": 0, "failed": 0}
		if count {
			writeJSON(w, 200, map[string]any{"count": len(ids), "_shards": shards})
			return
		}
		sort.Strings(ids)
		hits := []any{}
		for i := body.From; i < len(ids) && len(hits) < size; i++ {
			d := ix.docs[ids[i]]
			hits = append(hits, map[string]any{"_index": name, "_id": ids[i], "_score": 1.0, "_source": d.source})
		}
		writeJSON(w, 200, map[string]any{"took": 1, "timed_out": false, "_shards": shards,
			"hits": map[string]any{"total": map[string]any{"value": len(ids), "relation": "eq"}, "max_score": 1.0, "hits": hits}})
	})
}

func lookup(m map[string]any, path string) (any, bool) {
	var cur any = m
	for _, p := range strings.Split(path, ".") {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[p]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// roll returns true with probability p.
func (s *Server) roll(p float64) bool { return p > 0 && s.rng.Float64() < p }

func (s *Server) reset(w http.ResponseWriter) {
	s.stats.Resets++
	if hj, ok := w.(http.Hijacker); ok {
		if c, _, err := hj.Hijack(); err == nil {
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST rather than FIN
			}
			_ = c.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) bulk(w http.ResponseWriter, r *http.Request, defIndex string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	s.mu.Lock()
	f := s.faults
	s.stats.BulkRequests++
	reset := s.roll(f.Reset)
	rej429, rej503 := s.roll(f.Request429), s.roll(f.Request503)
	s.mu.Unlock()
	if f.Delay > 0 {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	if reset && !f.ResetAfterApply {
		s.mu.Lock()
		s.reset(w)
		s.mu.Unlock()
		return
	}
	if rej429 {
		s.mu.Lock()
		s.stats.RequestRejected++
		s.mu.Unlock()
		writeError(w, 429, "rejected_execution_exception",
			"rejected execution of coordinating operation [shard_detail=[opensearchtest][0][C]], shard_coordinating_and_primary_bytes=0, shard_operation_bytes=104857600, shard_max_coordinating_and_primary_bytes=104857600", "")
		return
	}
	if rej503 {
		writeError(w, 503, "unavailable_shards_exception", "[opensearchtest][0] primary shard is not active Timeout: [1m]", "")
		return
	}
	items, perr := s.applyBulk(body, defIndex, r.URL.Query().Get("routing"))
	if perr != "" {
		writeError(w, 400, "illegal_argument_exception", perr, "")
		return
	}
	if reset {
		s.mu.Lock()
		s.reset(w)
		s.mu.Unlock()
		return
	}
	errs := false
	for _, it := range items {
		for _, v := range it {
			if v.(map[string]any)["error"] != nil {
				errs = true
			}
		}
	}
	writeJSON(w, 200, map[string]any{"took": 3, "errors": errs, "items": items})
}

type action struct {
	Index       string `json:"_index"`
	ID          string `json:"_id"`
	Routing     string `json:"routing"`
	Version     *int64 `json:"version"`
	VersionType string `json:"version_type"`
	IfSeqNo     *int64 `json:"if_seq_no"`
}

// applyBulk parses the NDJSON body and applies each action in order. A
// malformed action line fails the whole request, as in OpenSearch.
func (s *Server) applyBulk(body []byte, defIndex, defRouting string) ([]map[string]any, string) {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), 100<<20)
	type op struct {
		name string
		a    action
		src  []byte
	}
	var ops []op
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var m map[string]action
		if err := json.Unmarshal(b, &m); err != nil || len(m) != 1 {
			return nil, fmt.Sprintf("Malformed action/metadata line [%d], expected START_OBJECT or END_OBJECT but found [VALUE_STRING]", line)
		}
		var o op
		for k, v := range m {
			o.name, o.a = k, v
		}
		switch o.name {
		case "index", "create", "update":
			if !sc.Scan() {
				return nil, "The bulk request must be terminated by a newline [\\n]"
			}
			line++
			o.src = append([]byte(nil), bytes.TrimSpace(sc.Bytes())...)
		case "delete":
		default:
			return nil, fmt.Sprintf("Malformed action/metadata line [%d], expected field [create], [delete], [index] or [update] but found [%s]", line, o.name)
		}
		if o.a.Index == "" {
			o.a.Index = defIndex
		}
		if o.a.Routing == "" {
			o.a.Routing = defRouting
		}
		ops = append(ops, o)
	}
	if len(ops) == 0 {
		return nil, "Validation Failed: 1: no requests added;"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	items := make([]map[string]any, 0, len(ops))
	for _, o := range ops {
		s.stats.Items++
		var res map[string]any
		if s.roll(s.faults.ItemReject429) {
			s.stats.Rejected429++
			res = itemError(o.a.Index, o.a.ID, 429, "rejected_execution_exception",
				"rejected execution of org.opensearch.common.util.concurrent.TimedRunnable@1 on OpenSearchThreadPoolExecutor[name = opensearchtest/write, queue capacity = 10000]")
		} else {
			res = s.applyOne(o.name, o.a, o.src)
		}
		items = append(items, map[string]any{o.name: res})
	}
	return items, ""
}

func itemError(idx, id string, status int, typ, reason string) map[string]any {
	e := map[string]any{"type": typ, "reason": reason, "index": idx, "shard": "0", "index_uuid": "uuid-" + idx}
	return map[string]any{"_index": idx, "_id": id, "status": status, "error": e}
}

func (s *Server) applyOne(name string, a action, src []byte) map[string]any {
	if a.Index == "" {
		return itemError("", a.ID, 400, "action_request_validation_exception", "Validation Failed: 1: index is missing;")
	}
	if msg := validIndexName(a.Index); msg != "" {
		return itemError(a.Index, a.ID, 400, "invalid_index_name_exception", fmt.Sprintf("Invalid index name [%s], %s", a.Index, msg))
	}
	if len(a.ID) > 512 {
		return itemError(a.Index, a.ID, 400, "action_request_validation_exception",
			fmt.Sprintf("Validation Failed: 1: id [%s] is too long, must be no longer than 512 bytes but was: %d;", a.ID, len(a.ID)))
	}
	ix := s.indices[a.Index]
	if ix == nil {
		if name == "delete" {
			return map[string]any{"_index": a.Index, "_id": a.ID, "status": 404, "error": errorBody("index_not_found_exception", "no such index ["+a.Index+"]", a.Index)}
		}
		ix = s.newIndex(a.Index) // action.auto_create_index
		if s.dataStreamTemplate(a.Index) {
			ix.dataStream = true
		}
	}
	external := a.VersionType == "external" || a.VersionType == "external_gte"
	if external && a.Version == nil {
		return itemError(a.Index, a.ID, 400, "action_request_validation_exception", "Validation Failed: 1: an external version is required;")
	}
	if ix.dataStream && name != "create" {
		return itemError(a.Index, a.ID, 400, "illegal_argument_exception",
			"only write ops with an op_type of create are allowed in data streams")
	}
	if a.ID == "" {
		if name != "index" && name != "create" {
			return itemError(a.Index, a.ID, 400, "action_request_validation_exception", "Validation Failed: 1: id is missing;")
		}
		ix.seqNo++
		a.ID = fmt.Sprintf("auto-%d", ix.seqNo)
	}
	cur := ix.docs[a.ID]
	var curVersion int64
	exists := cur != nil
	if exists {
		curVersion = cur.version
	} else if t, ok := ix.tombs[a.ID]; ok {
		if s.now().Sub(t.at) < ix.gcDeletes {
			curVersion = t.version
		} else {
			delete(ix.tombs, a.ID) // the tombstone expired: the delete is forgotten
		}
	}
	if external {
		v := *a.Version
		conflict := v <= curVersion
		if a.VersionType == "external_gte" {
			conflict = v < curVersion
		}
		if (exists || curVersion > 0) && conflict {
			s.stats.Conflicts++
			word := "higher or equal to"
			if a.VersionType == "external_gte" {
				word = "higher than"
			}
			return itemError(a.Index, a.ID, 409, "version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, current version [%d] is %s the one provided [%d]", a.ID, curVersion, word, v))
		}
	}
	if a.IfSeqNo != nil && (!exists || cur.seqNo != *a.IfSeqNo) {
		var have int64 = -2
		if exists {
			have = cur.seqNo
		}
		s.stats.Conflicts++
		return itemError(a.Index, a.ID, 409, "version_conflict_engine_exception",
			fmt.Sprintf("[%s]: version conflict, required seqNo [%d], primary term [1]. current document has seqNo [%d] and primary term [1]", a.ID, *a.IfSeqNo, have))
	}
	newVersion := curVersion + 1
	if external {
		newVersion = *a.Version
		if prev, ok := ix.maxExternal[a.ID]; ok && newVersion < prev {
			s.violations = append(s.violations, fmt.Sprintf("%s/%s: %s with external version %d accepted after version %d", a.Index, a.ID, name, newVersion, prev))
		}
		ix.maxExternal[a.ID] = max(ix.maxExternal[a.ID], newVersion)
	}
	ok := func(result string, status int, version int64) map[string]any {
		ix.seqNo++
		return map[string]any{"_index": a.Index, "_id": a.ID, "_version": version, "result": result,
			"_shards": map[string]any{"total": 2, "successful": 1, "failed": 0}, "_seq_no": ix.seqNo, "_primary_term": 1, "status": status}
	}
	switch name {
	case "delete":
		if !exists {
			ix.tombs[a.ID] = tombstone{version: newVersion, at: s.now()}
			r := ok("not_found", 404, newVersion)
			return r
		}
		delete(ix.docs, a.ID)
		ix.tombs[a.ID] = tombstone{version: newVersion, at: s.now()}
		return ok("deleted", 200, newVersion)
	case "create":
		if exists {
			s.stats.Conflicts++
			return itemError(a.Index, a.ID, 409, "version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, document already exists (current version [%d])", a.ID, cur.version))
		}
		fallthrough
	case "index":
		m, e := s.parseSource(ix, a.ID, src)
		if e != nil {
			return e
		}
		if ix.dataStream {
			if _, ok := m["@timestamp"]; !ok {
				// OpenSearch names the configured timestamp field; the
				// default is @timestamp.
				s.stats.MappingErrors++
				return itemError(a.Index, a.ID, 400, "mapper_parsing_exception", "documents must contain a single-valued timestamp field '@timestamp' of date type")
			}
		}
		d := &doc{source: m, version: newVersion, routing: a.Routing}
		ix.docs[a.ID] = d
		delete(ix.tombs, a.ID)
		r := ok("created", 201, newVersion)
		if exists {
			r = ok("updated", 200, newVersion)
		}
		d.seqNo = ix.seqNo
		return r
	default: // update
		var u struct {
			Doc         map[string]any `json:"doc"`
			DocAsUpsert bool           `json:"doc_as_upsert"`
			Upsert      map[string]any `json:"upsert"`
		}
		if err := json.Unmarshal(src, &u); err != nil || u.Doc == nil {
			return itemError(a.Index, a.ID, 400, "action_request_validation_exception", "Validation Failed: 1: script or doc is missing;")
		}
		var merged map[string]any
		switch {
		case exists:
			merged = clone(cur.source)
			for k, v := range u.Doc {
				merged[k] = v
			}
		case u.DocAsUpsert:
			merged = u.Doc
		case u.Upsert != nil:
			merged = u.Upsert
		default:
			return itemError(a.Index, a.ID, 404, "document_missing_exception", fmt.Sprintf("[%s]: document missing", a.ID))
		}
		b, _ := json.Marshal(merged)
		m, e := s.parseSource(ix, a.ID, b)
		if e != nil {
			return e
		}
		ix.docs[a.ID] = &doc{source: m, version: newVersion, routing: a.Routing}
		delete(ix.tombs, a.ID)
		r := ok("created", 201, newVersion)
		if exists {
			r = ok("updated", 200, newVersion)
		}
		ix.docs[a.ID].seqNo = ix.seqNo
		return r
	}
}

// parseSource decodes a document and checks it against the mapping,
// adding dynamic fields like OpenSearch's default dynamic mapping.
func (s *Server) parseSource(ix *index, id string, src []byte) (map[string]any, map[string]any) {
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		s.stats.MappingErrors++
		return nil, itemError(ix.name, id, 400, "mapper_parsing_exception", "failed to parse")
	}
	if e := checkObject(ix.mappings, m, "", id); e != "" {
		s.stats.MappingErrors++
		typ := "mapper_parsing_exception"
		if strings.HasPrefix(e, "mapping set to strict") {
			typ = "strict_dynamic_mapping_exception"
		}
		return nil, itemError(ix.name, id, 400, typ, e)
	}
	b, _ := json.Marshal(m)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return out, nil
}

func checkObject(mapping, obj map[string]any, prefix, id string) string {
	props, _ := mapping["properties"].(map[string]any)
	if props == nil {
		props = map[string]any{}
		mapping["properties"] = props
	}
	strict := fmt.Sprint(mapping["dynamic"]) == "strict"
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := obj[k]
		full := prefix + k
		pm, ok := props[k].(map[string]any)
		if !ok {
			if strict {
				p := strings.TrimSuffix(prefix, ".")
				if p == "" {
					p = "_doc"
				}
				return fmt.Sprintf("mapping set to strict, dynamic introduction of [%s] within [%s] is not allowed", k, p)
			}
			if v == nil {
				continue
			}
			pm = dynamicMapping(v)
			props[k] = pm
		}
		if v == nil {
			continue
		}
		t, _ := pm["type"].(string)
		if t == "" || t == "object" {
			sub, ok := v.(map[string]any)
			if !ok {
				return fmt.Sprintf("object mapping for [%s] tried to parse field [%s] as object, but found a concrete value", full, full)
			}
			if e := checkObject(pm, sub, full+".", id); e != "" {
				return e
			}
			continue
		}
		if arr, ok := v.([]any); ok {
			for _, el := range arr {
				if e := checkValue(t, el, full, id); e != "" {
					return e
				}
			}
			continue
		}
		if e := checkValue(t, v, full, id); e != "" {
			return e
		}
	}
	return ""
}

func dynamicMapping(v any) map[string]any {
	switch x := v.(type) {
	case bool:
		return map[string]any{"type": "boolean"}
	case json.Number:
		if _, err := x.Int64(); err == nil {
			return map[string]any{"type": "long"}
		}
		return map[string]any{"type": "float"}
	case string:
		if _, err := parseDate(x); err == nil {
			return map[string]any{"type": "date"}
		}
		return map[string]any{"type": "text", "fields": map[string]any{"keyword": map[string]any{"type": "keyword", "ignore_above": 256}}}
	case map[string]any:
		return map[string]any{"properties": map[string]any{}}
	case []any:
		if len(x) > 0 {
			return dynamicMapping(x[0])
		}
	}
	return map[string]any{"type": "text"}
}

func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("not a date")
}

func checkValue(t string, v any, field, id string) string {
	bad := func(cause string) string {
		return fmt.Sprintf("failed to parse field [%s] of type [%s] in document with id '%s'. Preview of field's value: '%v'%s", field, t, id, v, cause)
	}
	switch t {
	case "long", "integer", "short", "byte":
		switch x := v.(type) {
		case json.Number:
			if _, err := x.Float64(); err != nil { // coerce: 1.5 is truncated
				return bad("")
			}
		case string:
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				return bad("")
			}
		default:
			return bad("")
		}
	case "double", "float", "half_float", "scaled_float":
		switch x := v.(type) {
		case json.Number:
		case string:
			if _, err := strconv.ParseFloat(x, 64); err != nil {
				return bad("")
			}
		default:
			return bad("")
		}
	case "boolean":
		switch x := v.(type) {
		case bool:
		case string:
			if x != "true" && x != "false" && x != "" {
				return bad("")
			}
		default:
			return bad("")
		}
	case "date":
		switch x := v.(type) {
		case json.Number:
		case string:
			if _, err := parseDate(x); err != nil {
				return bad("")
			}
		default:
			return bad("")
		}
	case "geo_point":
		switch x := v.(type) {
		case map[string]any:
			lat, ok1 := x["lat"].(json.Number)
			lon, ok2 := x["lon"].(json.Number)
			if !ok1 || !ok2 {
				return bad("")
			}
			la, _ := lat.Float64()
			lo, _ := lon.Float64()
			if la < -90 || la > 90 || lo < -180 || lo > 180 {
				return bad("")
			}
		case string:
		default:
			return bad("")
		}
	case "keyword", "text":
		switch v.(type) {
		case map[string]any:
			return bad("")
		}
	}
	return ""
}
