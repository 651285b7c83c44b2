package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/plugin"
	"github.com/sluicehq/sluice/runtime/pool"
)

// upPools runs the connectors of `sluice up` that were created with a
// capacity (the sluice.capacity config key that create-connector
// --capacity sets) on worker pools of their own: child `sluice worker`
// processes in a group sluice-pool-<name> on the embedded broker. Other
// connectors stay on up's in-process workers. Pool definitions are kept
// in <data-dir>/pools/<name>.json so a restart resumes them.
type upPools struct {
	ctx       context.Context
	dir       string
	bootstrap string
	binary    string
	props     map[string]string // worker properties from up's --set
	log       *slog.Logger

	mu   sync.Mutex
	pool map[string]*upPool
	wg   sync.WaitGroup
}

type upPool struct {
	m           *pool.Manager
	cancel      context.CancelFunc
	settings    map[string]string
	workerProps map[string]string
}

// upPoolFile is a pool's definition on disk.
type upPoolFile struct {
	Name     string            `json:"name"`
	Config   map[string]string `json:"config"`
	Capacity pool.Capacity     `json:"capacity"`
	// Settings are the pool's sluice.pool.* keys (prefix removed): scaling
	// timings and backlog signals, per connector.
	Settings map[string]string `json:"settings,omitempty"`
	// WorkerProps are worker properties for this pool's workers (an MSK
	// worker configuration), over up's own; the pool's group and internal
	// topics cannot be overridden.
	WorkerProps map[string]string `json:"workerProperties,omitempty"`
}

func newUpPools(ctx context.Context, dataDir, bootstrap string, props map[string]string, log *slog.Logger) (*upPools, error) {
	bin, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &upPools{ctx: ctx, dir: filepath.Join(dataDir, "pools"), bootstrap: bootstrap, binary: bin, props: props, log: log, pool: map[string]*upPool{}}
	if err := os.MkdirAll(p.dir, 0o755); err != nil {
		return nil, err
	}
	files, _ := filepath.Glob(filepath.Join(p.dir, "*.json"))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var pf upPoolFile
		if err := json.Unmarshal(b, &pf); err != nil {
			return nil, fmt.Errorf("pool definition %s: %w", f, err)
		}
		if err := p.start(pf); err != nil {
			return nil, fmt.Errorf("pool %s: %w", pf.Name, err)
		}
	}
	return p, nil
}

func (p *upPools) start(pf upPoolFile) error {
	props := map[string]string{}
	for k, v := range p.props {
		props[k] = v
	}
	for k, v := range pf.WorkerProps {
		props[k] = v
	}
	props["bootstrap.servers"] = p.bootstrap
	props["group.id"] = "sluice-pool-" + pf.Name
	props["config.storage.topic"] = "sluice-pool-" + pf.Name + "-configs"
	props["offset.storage.topic"] = "sluice-pool-" + pf.Name + "-offsets"
	props["status.storage.topic"] = "sluice-pool-" + pf.Name + "-status"
	logDir := filepath.Join(p.dir, pf.Name+".logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	prov := &pool.LocalProvisioner{Binary: p.binary, Props: props, LogDir: logDir}
	opts, cleanup, err := poolOptions(pf.Name, pf.Settings, pf.Config, p.bootstrap)
	if err != nil {
		return err
	}
	m, err := pool.New(pf.Name, pf.Config, pf.Capacity, prov, append(opts, pool.WithLogger(p.log.With("component", "pool")))...)
	if err != nil {
		cleanup()
		return err
	}
	if err := p.save(pf); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(p.ctx)
	p.mu.Lock()
	p.pool[pf.Name] = &upPool{m: m, cancel: cancel, settings: pf.Settings, workerProps: pf.WorkerProps}
	p.mu.Unlock()
	p.wg.Go(func() {
		defer cleanup()
		err := m.Run(ctx)
		if errors.Is(err, pool.ErrDeleted) {
			p.mu.Lock()
			delete(p.pool, pf.Name)
			p.mu.Unlock()
			_ = os.Remove(filepath.Join(p.dir, pf.Name+".json"))
			return
		}
		if err != nil {
			p.log.Error("pool stopped", "connector", pf.Name, "err", err)
		}
	})
	return nil
}

// saveCurrent saves a running pool's definition as it is now: its
// manager's config and capacity, with the settings and worker properties
// it was started with.
func (p *upPools) saveCurrent(name string, m *pool.Manager) error {
	p.mu.Lock()
	var settings, wp map[string]string
	if up, ok := p.pool[name]; ok {
		settings, wp = up.settings, up.workerProps
	}
	p.mu.Unlock()
	return p.save(upPoolFile{Name: name, Config: m.Config(), Capacity: m.Capacity(), Settings: settings, WorkerProps: wp})
}

func (p *upPools) save(pf upPoolFile) error {
	b, err := json.MarshalIndent(pf, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(p.dir, pf.Name+".json")
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// close stops every pool (each drains its workers).
func (p *upPools) close() {
	p.mu.Lock()
	for _, up := range p.pool {
		up.cancel()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *upPools) get(name string) *pool.Manager {
	p.mu.Lock()
	defer p.mu.Unlock()
	if up, ok := p.pool[name]; ok {
		return up.m
	}
	return nil
}

func (p *upPools) names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for n := range p.pool {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// wrap routes pool connectors' requests to their managers, creates pools
// for new connectors with a capacity, and adds pool connectors to the
// connector list; everything else goes to base (up's worker REST API).
func (p *upPools) wrap(base http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimSuffix(r.URL.Path, "/")
		if path == "/connectors" {
			switch r.Method {
			case http.MethodPost:
				p.create(w, r, base)
			case http.MethodGet:
				p.list(w, r, base)
			default:
				base.ServeHTTP(w, r)
			}
			return
		}
		if rest, ok := strings.CutPrefix(path, "/connectors/"); ok {
			name, sub, _ := strings.Cut(rest, "/")
			if m := p.get(name); m == nil && sub == "config" && r.Method == http.MethodPut {
				// PUT .../config creates a connector when it does not exist.
				body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
				if err != nil {
					writeRESTError(w, 400, err)
					return
				}
				var cfg map[string]string
				if json.Unmarshal(body, &cfg) == nil && cfg[capacityConfig] != "" && !exists(r.Context(), base, name) {
					b, _ := json.Marshal(api.CreateConnectorRequest{Name: name, Config: cfg})
					cr := r.Clone(r.Context())
					cr.Body = io.NopCloser(bytes.NewReader(b))
					p.create(w, cr, base)
					return
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
			if m := p.get(name); m != nil {
				m.Handler().ServeHTTP(w, r)
				if r.Method != http.MethodGet && r.Method != http.MethodDelete {
					_ = p.saveCurrent(name, m)
				}
				return
			}
		}
		base.ServeHTTP(w, r)
	})
}

func (p *upPools) create(w http.ResponseWriter, r *http.Request, base http.Handler) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
	if err != nil {
		writeRESTError(w, 400, err)
		return
	}
	var req api.CreateConnectorRequest
	if json.Unmarshal(body, &req) != nil || req.Config[capacityConfig] == "" {
		r.Body = io.NopCloser(bytes.NewReader(body))
		base.ServeHTTP(w, r)
		return
	}
	c, err := parseCapacity(req.Config[capacityConfig])
	if err != nil {
		writeRESTError(w, 400, err)
		return
	}
	if req.Name == "" {
		req.Name = req.Config["name"]
	}
	if p.get(req.Name) != nil {
		writeRESTError(w, 409, fmt.Errorf("connector %s already exists", req.Name))
		return
	}
	if exists(r.Context(), base, req.Name) {
		writeRESTError(w, 409, fmt.Errorf("connector %s already exists", req.Name))
		return
	}
	cfg := map[string]string{}
	for k, v := range req.Config {
		cfg[k] = v
	}
	delete(cfg, capacityConfig)
	cfg["name"] = req.Name
	settings := splitPoolSettings(cfg)
	if err := p.start(upPoolFile{Name: req.Name, Config: cfg, Capacity: c, Settings: settings}); err != nil {
		writeRESTError(w, 400, err)
		return
	}
	typ := api.ConnectorType("")
	if reg, err := registry(); err == nil {
		if s, ok := reg.Lookup(plugin.Source, cfg["connector.class"]); ok {
			typ = api.ConnectorType(s.Kind)
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(api.ConnectorInfo{Name: req.Name, Config: cfg, Tasks: []api.TaskID{}, Type: typ})
}

// exists reports whether up's in-process workers have the connector.
func exists(ctx context.Context, base http.Handler, name string) bool {
	rec := httptest.NewRecorder()
	base.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, "/connectors/"+name, nil))
	return rec.Code == 200
}

func (p *upPools) list(w http.ResponseWriter, r *http.Request, base http.Handler) {
	rec := httptest.NewRecorder()
	base.ServeHTTP(rec, r)
	names := p.names()
	if rec.Code != 200 || len(names) == 0 {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	var out any
	if len(r.URL.Query()["expand"]) == 0 {
		var list []string
		_ = json.Unmarshal(rec.Body.Bytes(), &list)
		out = append(list, names...)
	} else {
		all := map[string]map[string]json.RawMessage{}
		_ = json.Unmarshal(rec.Body.Bytes(), &all)
		expand := strings.Join(r.URL.Query()["expand"], ",")
		for _, n := range names {
			e := map[string]json.RawMessage{}
			for _, part := range []struct{ key, path string }{{"info", ""}, {"status", "/status"}} {
				if !strings.Contains(expand, part.key) {
					continue
				}
				pr := httptest.NewRecorder()
				p.get(n).Handler().ServeHTTP(pr, httptest.NewRequestWithContext(r.Context(), http.MethodGet, "/connectors/"+n+part.path, nil))
				if pr.Code == 200 {
					e[part.key] = json.RawMessage(bytes.TrimSpace(pr.Body.Bytes()))
				}
			}
			all[n] = e
		}
		out = all
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

func writeRESTError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": code, "message": err.Error()})
}
