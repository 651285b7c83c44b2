package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
)

// Handler serves the pool's REST API: the pool routes below, and every
// other Kafka Connect REST request proxied to a live pool worker.
//
//	GET  /connectors/{name}/pool                 Status
//	PUT  /connectors/{name}/capacity             {"capacity": Capacity} → {"connectorOperationArn": id}
//	GET  /connectors/{name}/operations           {"connectorOperations": [Operation]}
//	GET  /connectors/{name}/operations/{id}      Operation
//	PUT  /connectors/{name}/config               recorded as an operation, tasks.max kept
//	DELETE /connectors/{name}                    DELETING, then the pool stops
//	GET  /metrics                                pool metrics (Prometheus text)
func (m *Manager) Handler() http.Handler {
	m.handlerOnce.Do(func() { m.handler = m.newHandler() })
	return m.handler
}

func (m *Manager) newHandler() http.Handler {
	mux := http.NewServeMux()
	p := "/connectors/" + m.name
	mux.HandleFunc("GET "+p+"/pool", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, m.Status()) })
	mux.HandleFunc("PUT "+p+"/capacity", m.putCapacity)
	mux.HandleFunc("GET "+p+"/operations", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"connectorOperations": m.ops.List()})
	})
	mux.HandleFunc("GET "+p+"/operations/{id}", func(w http.ResponseWriter, r *http.Request) {
		op, ok := m.ops.Get(r.PathValue("id"))
		if !ok {
			writeError(w, 404, fmt.Errorf("operation %s not found", r.PathValue("id")))
			return
		}
		writeJSON(w, 200, op)
	})
	mux.HandleFunc("PUT "+p+"/config", m.putConfig)
	mux.HandleFunc("DELETE "+p, func(w http.ResponseWriter, r *http.Request) {
		if err := m.Delete(r.Context()); err != nil {
			writeError(w, 500, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		m.WriteMetrics(w)
	})
	mux.HandleFunc("/", m.proxy)
	return mux
}

func (m *Manager) putCapacity(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Capacity *Capacity `json:"capacity"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeError(w, 400, fmt.Errorf("capacity request: %w", err))
		return
	}
	if body.Capacity == nil {
		writeError(w, 400, errors.New(`capacity request: "capacity" is required`))
		return
	}
	if err := body.Capacity.Validate(); err != nil {
		writeError(w, 400, fmt.Errorf("capacity: %w", err))
		return
	}
	id, err := m.UpdateCapacity(r.Context(), *body.Capacity)
	if err != nil {
		writeError(w, 500, err)
		return
	}
	op, _ := m.ops.Get(id)
	writeJSON(w, 200, map[string]any{"connectorName": m.name, "connectorState": m.Status().State, "connectorOperationArn": id, "connectorOperationState": op.State})
}

func (m *Manager) putConfig(w http.ResponseWriter, r *http.Request) {
	var cfg map[string]string
	if err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&cfg); err != nil {
		writeError(w, 400, fmt.Errorf("connector config: %w", err))
		return
	}
	if n, ok := cfg["name"]; ok && n != m.name {
		writeError(w, 400, fmt.Errorf("config name %q differs from the pool's connector %q", n, m.name))
		return
	}
	delete(cfg, "sluice.capacity")
	id, err := m.UpdateConfig(r.Context(), cfg)
	if err != nil {
		var re *RESTError
		if errors.As(err, &re) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(re.Status)
			io.WriteString(w, re.Body)
			return
		}
		writeError(w, 500, err)
		return
	}
	// Answer like Kafka Connect: the connector info.
	wk := m.anyWorker()
	if wk == nil {
		writeJSON(w, 200, map[string]any{"name": m.name, "config": cfg, "connectorOperationArn": id})
		return
	}
	var info map[string]any
	if _, err := m.rest(r.Context(), wk, http.MethodGet, "/connectors/"+m.name, nil, &info); err != nil {
		writeJSON(w, 200, map[string]any{"name": m.name, "config": cfg, "connectorOperationArn": id})
		return
	}
	info["connectorOperationArn"] = id
	writeJSON(w, 200, info)
}

func (m *Manager) proxy(w http.ResponseWriter, r *http.Request) {
	wk := m.anyWorker()
	if wk == nil {
		writeError(w, 503, errors.New("no pool worker is running"))
		return
	}
	u, err := url.Parse(wk.URL())
	if err != nil {
		writeError(w, 500, err)
		return
	}
	httputil.NewSingleHostReverseProxy(u).ServeHTTP(w, r)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, err error) {
	writeJSON(w, code, map[string]any{"error_code": code, "message": err.Error()})
}

// WriteMetrics writes the pool's Prometheus metrics.
func (m *Manager) WriteMetrics(w io.Writer) {
	s := m.Status()
	c := fmt.Sprintf("connector=%q", m.name)
	fmt.Fprintf(w, "# HELP sluice_pool_workers Pool workers running.\n# TYPE sluice_pool_workers gauge\nsluice_pool_workers{%s} %d\n", c, len(s.Workers))
	fmt.Fprintf(w, "# HELP sluice_pool_desired_workers Pool workers the manager wants.\n# TYPE sluice_pool_desired_workers gauge\nsluice_pool_desired_workers{%s} %d\n", c, s.DesiredWorkers)
	fmt.Fprintf(w, "# HELP sluice_pool_cpu_utilization_percent Mean CPU of the pool's workers, percent of their MCUs.\n# TYPE sluice_pool_cpu_utilization_percent gauge\nsluice_pool_cpu_utilization_percent{%s} %g\n", c, s.CPU)
	fmt.Fprintf(w, "# HELP sluice_pool_worker_cpu_utilization_percent CPU of one worker, percent of its MCUs.\n# TYPE sluice_pool_worker_cpu_utilization_percent gauge\n")
	for _, wk := range s.Workers {
		fmt.Fprintf(w, "sluice_pool_worker_cpu_utilization_percent{%s,worker=%q,index=\"%d\"} %g\n", c, wk.ID, wk.Index, wk.CPU)
	}
	fmt.Fprintf(w, "# HELP sluice_pool_scale_events_total Scale events by direction.\n# TYPE sluice_pool_scale_events_total counter\n")
	fmt.Fprintf(w, "sluice_pool_scale_events_total{%s,direction=\"out\"} %d\nsluice_pool_scale_events_total{%s,direction=\"in\"} %d\n", c, s.ScaleOutEvents, c, s.ScaleInEvents)
	fmt.Fprintf(w, "# HELP sluice_pool_worker_restarts_total Crashed workers the manager restarted.\n# TYPE sluice_pool_worker_restarts_total counter\nsluice_pool_worker_restarts_total{%s} %d\n", c, s.Restarts)
	fmt.Fprintf(w, "# HELP sluice_pool_tasks_max tasks.max written to the connector.\n# TYPE sluice_pool_tasks_max gauge\nsluice_pool_tasks_max{%s} %d\n", c, s.TasksMax)
	fmt.Fprintf(w, "# HELP sluice_pool_backlog Backlog signal values (records of sink lag, bytes of source backlog).\n# TYPE sluice_pool_backlog gauge\n")
	names := make([]string, 0, len(s.Backlog))
	for n := range s.Backlog {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "sluice_pool_backlog{%s,signal=%q} %g\n", c, n, s.Backlog[n])
	}
	fmt.Fprintf(w, "# HELP sluice_pool_connector_state MSK Connect connector state (1 for the current one).\n# TYPE sluice_pool_connector_state gauge\n")
	for _, st := range []ConnectorState{StateCreating, StateRunning, StateUpdating, StateDeleting, StateFailed} {
		v := 0
		if s.State == st {
			v = 1
		}
		fmt.Fprintf(w, "sluice_pool_connector_state{%s,state=%q} %d\n", c, strings.ToUpper(string(st)), v)
	}
}
