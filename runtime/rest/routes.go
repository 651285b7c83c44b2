package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
)

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.root)
	mux.HandleFunc("GET /connectors", s.listConnectors)
	mux.HandleFunc("GET /connectors/{$}", s.listConnectors)
	mux.HandleFunc("POST /connectors", s.createConnector)
	mux.HandleFunc("POST /connectors/{$}", s.createConnector)
	mux.HandleFunc("GET /connectors/{name}", s.getConnector)
	mux.HandleFunc("DELETE /connectors/{name}", s.deleteConnector)
	mux.HandleFunc("GET /connectors/{name}/config", s.getConfig)
	mux.HandleFunc("PUT /connectors/{name}/config", s.putConfig)
	mux.HandleFunc("PATCH /connectors/{name}/config", s.patchConfig)
	mux.HandleFunc("GET /connectors/{name}/status", s.status)
	mux.HandleFunc("GET /connectors/{name}/tasks", s.tasks)
	mux.HandleFunc("GET /connectors/{name}/tasks/{task}/status", s.taskStatus)
	mux.HandleFunc("POST /connectors/{name}/restart", s.restart)
	mux.HandleFunc("POST /connectors/{name}/tasks/{task}/restart", s.restartTask)
	mux.HandleFunc("PUT /connectors/{name}/pause", s.pause)
	mux.HandleFunc("PUT /connectors/{name}/resume", s.resume)
	mux.HandleFunc("PUT /connectors/{name}/stop", s.stop)
	mux.HandleFunc("GET /connectors/{name}/offsets", s.getOffsets)
	mux.HandleFunc("PATCH /connectors/{name}/offsets", s.alterOffsets)
	mux.HandleFunc("DELETE /connectors/{name}/offsets", s.resetOffsets)
	mux.HandleFunc("GET /connectors/{name}/topics", s.topics)
	mux.HandleFunc("PUT /connectors/{name}/topics/reset", s.resetTopics)
	mux.HandleFunc("GET /connector-plugins", s.plugins)
	mux.HandleFunc("GET /connector-plugins/{$}", s.plugins)
	mux.HandleFunc("GET /connector-plugins/{plugin}/config", s.pluginConfig)
	mux.HandleFunc("PUT /connector-plugins/{plugin}/config/validate", s.validate)
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /health", s.health)
	s.adminRoutes(mux)

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := mux.Handler(r); pattern == "" {
			// No route: let the mux decide between 404 and 405 (it sets
			// Allow for 405) but answer in Kafka Connect's JSON shape.
			mux.ServeHTTP(&jsonErrorWriter{ResponseWriter: w}, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// jsonErrorWriter turns the mux's plain-text 404/405 answers into JSON
// error bodies; anything else (such as a path-cleaning redirect) passes
// through.
type jsonErrorWriter struct {
	http.ResponseWriter
	wrote       bool
	passThrough bool
}

func (w *jsonErrorWriter) WriteHeader(code int) {
	if w.wrote {
		return
	}
	w.wrote = true
	if code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
		w.passThrough = true
		w.ResponseWriter.WriteHeader(code)
		return
	}
	h := w.ResponseWriter.Header()
	h.Del("X-Content-Type-Options")
	writeJSON(w.ResponseWriter, code, api.ErrorResponse{
		ErrorCode: code,
		Message:   fmt.Sprintf("HTTP %d %s", code, http.StatusText(code)),
	})
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusNotFound)
	}
	if w.passThrough {
		return w.ResponseWriter.Write(b)
	}
	return len(b), nil // the mux's plain-text body is dropped
}

// ctx returns the request context bounded by the request timeout.
func (s *Server) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	if s.o.requestTimeout <= 0 {
		return context.WithCancel(r.Context())
	}
	return context.WithTimeout(r.Context(), s.o.requestTimeout)
}

func (s *Server) root(w http.ResponseWriter, r *http.Request) {
	id := s.o.clusterID
	if ci, ok := s.c.(ClusterIDer); ok {
		if v := ci.KafkaClusterID(); v != "" {
			id = v
		}
	}
	writeJSON(w, http.StatusOK, ServerInfo{Version: s.o.version, Commit: s.o.commit, KafkaClusterID: id})
}

// ServerInfo is the body of GET /.
type ServerInfo = api.ServerInfo

func (s *Server) listConnectors(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	var expandStatus, expandInfo bool
	// Any expand parameter selects the map form, as in Kafka Connect (which
	// ignores unknown expansion types).
	expand := r.URL.Query().Has("expand")
	for _, v := range r.URL.Query()["expand"] {
		for _, e := range strings.Split(v, ",") {
			switch strings.TrimSpace(e) {
			case "status":
				expandStatus = true
			case "info":
				expandInfo = true
			}
		}
	}
	names, err := s.c.Connectors(ctx)
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	names = slices.Clone(names)
	slices.Sort(names)
	if !expand {
		if names == nil {
			names = []string{}
		}
		writeJSON(w, http.StatusOK, names)
		return
	}
	out := make(map[string]api.ConnectorExpanded, len(names))
	for _, n := range names {
		var e api.ConnectorExpanded
		if expandInfo {
			info, err := s.c.Connector(ctx, n)
			if errors.Is(err, api.ErrNotFound) {
				continue // deleted meanwhile
			}
			if err != nil {
				s.fail(w, r, ctx, err)
				return
			}
			info.Config = s.mask(info.Config)
			e.Info = &info
		}
		if expandStatus {
			st, err := s.c.ConnectorStatus(ctx, n)
			if errors.Is(err, api.ErrNotFound) {
				continue
			}
			if err != nil {
				s.fail(w, r, ctx, err)
				return
			}
			e.Status = &st
		}
		out[n] = e
	}
	writeJSON(w, http.StatusOK, out)
}

// createBody is POST /connectors, decoded leniently: config values may be
// JSON numbers or booleans, as Kafka Connect (Jackson) accepts.
type createBody struct {
	Name         *string        `json:"name"`
	Config       map[string]any `json:"config"`
	InitialState string         `json:"initial_state"`
}

func (s *Server) createConnector(w http.ResponseWriter, r *http.Request) {
	var body createBody
	if !s.decode(w, r, &body) {
		return
	}
	if body.Config == nil {
		s.badRequest(w, r, "Request body must contain a \"config\" object")
		return
	}
	cfg, err := stringConfig(body.Config, "config.")
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	name := ""
	if body.Name != nil {
		name = strings.TrimSpace(*body.Name)
	} else {
		name = strings.TrimSpace(cfg["name"])
	}
	if err := checkName(name); err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	if cn, ok := cfg["name"]; ok && cn != name {
		s.badRequest(w, r, fmt.Sprintf("Connector name configuration (%s) doesn't match connector name in the request (%s)", cn, name))
		return
	}
	cfg["name"] = name
	state := api.State(strings.ToUpper(strings.TrimSpace(body.InitialState)))
	switch state {
	case "", api.Running, api.Paused, api.Stopped:
	default:
		s.badRequest(w, r, fmt.Sprintf("Invalid initial_state %q: must be RUNNING, PAUSED or STOPPED", body.InitialState))
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	info, err := s.c.CreateConnector(ctx, api.CreateConnectorRequest{Name: name, Config: cfg, InitialState: state})
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	info.Config = s.mask(info.Config)
	w.Header().Set("Location", "/connectors/"+url.PathEscape(name))
	writeJSON(w, http.StatusCreated, info)
}

// checkName rejects connector names the REST paths cannot carry.
func checkName(name string) error {
	if name == "" {
		return errors.New("Connector name is required: set \"name\" in the request body or in \"config\"")
	}
	if strings.Contains(name, "/") {
		return fmt.Errorf("Connector name %q must not contain '/'", name)
	}
	for i, c := range name {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("Connector name %q contains a control character at byte %d", name, i)
		}
	}
	return nil
}

func (s *Server) getConnector(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	info, err := s.c.Connector(ctx, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	info.Config = s.mask(info.Config)
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) deleteConnector(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := s.c.DeleteConnector(ctx, r.PathValue("name")); err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) getConfig(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	cfg, err := s.c.ConnectorConfig(ctx, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	writeJSON(w, http.StatusOK, s.mask(cfg))
}

func (s *Server) putConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if err := checkName(name); err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	var raw map[string]any
	if !s.decode(w, r, &raw) {
		return
	}
	if raw == nil {
		s.badRequest(w, r, "Request body must be a JSON object of configuration keys")
		return
	}
	cfg, err := stringConfig(raw, "")
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	if cn, ok := cfg["name"]; ok && cn != name {
		s.badRequest(w, r, fmt.Sprintf("Connector name configuration (%s) doesn't match connector name in the URL (%s)", cn, name))
		return
	}
	cfg["name"] = name
	ctx, cancel := s.ctx(r)
	defer cancel()
	info, created, err := s.c.PutConnectorConfig(ctx, name, cfg)
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	info.Config = s.mask(info.Config)
	code := http.StatusOK
	if created {
		code = http.StatusCreated
		w.Header().Set("Location", "/connectors/"+url.PathEscape(name))
	}
	writeJSON(w, code, info)
}

// hidden is how secrets appear in responses.
const hidden = "[hidden]"

func (s *Server) patchConfig(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	var raw map[string]any
	if !s.decode(w, r, &raw) {
		return
	}
	if raw == nil {
		s.badRequest(w, r, "Request body must be a JSON object of configuration keys")
		return
	}
	patch := make(map[string]*string, len(raw))
	for k, v := range raw {
		if v == nil {
			patch[k] = nil
			continue
		}
		sv, err := configString(k, v, "")
		if err != nil {
			s.badRequest(w, r, err.Error())
			return
		}
		patch[k] = &sv
	}
	if p, ok := patch["name"]; ok && (p == nil || *p != name) {
		s.badRequest(w, r, fmt.Sprintf("Connector name configuration in the patch must be absent or equal the connector name in the URL (%s)", name))
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if cp, ok := s.c.(ConfigPatcher); ok {
		info, err := cp.PatchConnectorConfig(ctx, name, patch)
		if err != nil {
			s.fail(w, r, ctx, err)
			return
		}
		info.Config = s.mask(info.Config)
		writeJSON(w, http.StatusOK, info)
		return
	}
	cur, err := s.c.ConnectorConfig(ctx, name)
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	merged := make(map[string]string, len(cur)+len(patch))
	for k, v := range cur {
		merged[k] = v
	}
	for k, v := range patch {
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = *v
		}
	}
	// The read config may carry masked secrets; writing them back would
	// replace the real values with the mask.
	var masked []string
	for k, v := range merged {
		if v == hidden {
			masked = append(masked, k)
		}
	}
	if len(masked) > 0 {
		slices.Sort(masked)
		s.badRequest(w, r, fmt.Sprintf("Cannot patch: the stored value of %s is hidden; include the real value(s) in the patch or use PUT /connectors/%s/config", strings.Join(masked, ", "), name))
		return
	}
	merged["name"] = name
	info, _, err := s.c.PutConnectorConfig(ctx, name, merged)
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	info.Config = s.mask(info.Config)
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	st, err := s.c.ConnectorStatus(ctx, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	if st.Tasks == nil {
		st.Tasks = []api.TaskState{}
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) tasks(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	ts, err := s.c.Tasks(ctx, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	if ts == nil {
		ts = []api.TaskInfo{}
	}
	for i := range ts {
		ts[i].Config = s.mask(ts[i].Config)
	}
	writeJSON(w, http.StatusOK, ts)
}

// taskID parses the {task} path segment; like Kafka Connect a non-numeric
// id is 404.
func (s *Server) taskID(w http.ResponseWriter, r *http.Request) (int, bool) {
	raw := r.PathValue("task")
	id, err := strconv.Atoi(raw)
	if err != nil || id < 0 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Task %q not found: task ids are non-negative integers", raw))
		return 0, false
	}
	return id, true
}

func (s *Server) taskStatus(w http.ResponseWriter, r *http.Request) {
	id, ok := s.taskID(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	st, err := s.c.TaskStatus(ctx, r.PathValue("name"), id)
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// boolParam reads an optional boolean query parameter.
func boolParam(r *http.Request, name string) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("Invalid value %q for query parameter %s: expected true or false", v, name)
	}
	return b, nil
}

func (s *Server) restart(w http.ResponseWriter, r *http.Request) {
	includeTasks, err := boolParam(r, "includeTasks")
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	onlyFailed, err := boolParam(r, "onlyFailed")
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	st, err := s.c.RestartConnector(ctx, r.PathValue("name"), includeTasks, onlyFailed)
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	if !includeTasks && !onlyFailed {
		// Kafka Connect's pre-KIP-745 behaviour: connector only, no body.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if st.Tasks == nil {
		st.Tasks = []api.TaskState{}
	}
	writeJSON(w, http.StatusAccepted, st)
}

func (s *Server) restartTask(w http.ResponseWriter, r *http.Request) {
	id, ok := s.taskID(w, r)
	if !ok {
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := s.c.RestartTask(ctx, r.PathValue("name"), id); err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) lifecycle(w http.ResponseWriter, r *http.Request, f func(context.Context, string) error, code int) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := f(ctx, r.PathValue("name")); err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	w.WriteHeader(code)
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	s.lifecycle(w, r, s.c.PauseConnector, http.StatusAccepted)
}

func (s *Server) resume(w http.ResponseWriter, r *http.Request) {
	s.lifecycle(w, r, s.c.ResumeConnector, http.StatusAccepted)
}

func (s *Server) stop(w http.ResponseWriter, r *http.Request) {
	s.lifecycle(w, r, s.c.StopConnector, http.StatusNoContent)
}

func (s *Server) getOffsets(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	offs, err := s.c.Offsets(ctx, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	if offs.Offsets == nil {
		offs.Offsets = []api.ConnectorOffset{}
	}
	writeJSON(w, http.StatusOK, offs)
}

func (s *Server) alterOffsets(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Offsets *[]api.ConnectorOffset `json:"offsets"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.Offsets == nil {
		s.badRequest(w, r, "Request body must contain an \"offsets\" array")
		return
	}
	if len(*body.Offsets) == 0 {
		s.badRequest(w, r, "\"offsets\" must contain at least one partition/offset pair")
		return
	}
	for i, o := range *body.Offsets {
		if o.Partition == nil {
			s.badRequest(w, r, fmt.Sprintf("offsets[%d].partition must be a non-null object", i))
			return
		}
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	msg, err := s.c.AlterOffsets(ctx, r.PathValue("name"), api.ConnectorOffsets{Offsets: *body.Offsets})
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	writeJSON(w, http.StatusOK, msg)
}

func (s *Server) resetOffsets(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := s.ctx(r)
	defer cancel()
	msg, err := s.c.ResetOffsets(ctx, r.PathValue("name"))
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	writeJSON(w, http.StatusOK, msg)
}

func (s *Server) topics(w http.ResponseWriter, r *http.Request) {
	tt, ok := s.c.(TopicTracker)
	if !ok {
		writeError(w, http.StatusForbidden, "Topic tracking is disabled.")
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	name := r.PathValue("name")
	ts, err := tt.ConnectorTopics(ctx, name)
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	if ts == nil {
		ts = []string{}
	}
	writeJSON(w, http.StatusOK, map[string]api.ActiveTopics{name: {Topics: ts}})
}

func (s *Server) resetTopics(w http.ResponseWriter, r *http.Request) {
	tt, ok := s.c.(TopicTracker)
	if !ok {
		writeError(w, http.StatusForbidden, "Topic tracking reset is disabled.")
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	if err := tt.ResetConnectorTopics(ctx, r.PathValue("name")); err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (s *Server) plugins(w http.ResponseWriter, r *http.Request) {
	connectorsOnly := true
	if v := r.URL.Query().Get("connectorsOnly"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			s.badRequest(w, r, fmt.Sprintf("Invalid value %q for query parameter connectorsOnly: expected true or false", v))
			return
		}
		connectorsOnly = b
	}
	out := []api.PluginInfo{}
	for _, p := range s.c.Plugins() {
		if connectorsOnly && p.Type != string(api.Source) && p.Type != string(api.Sink) {
			continue
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b api.PluginInfo) int { return strings.Compare(a.Class, b.Class) })
	writeJSON(w, http.StatusOK, out)
}

// resolvePlugin finds the plugin class that name refers to: the class
// itself, its simple name, or its simple name without "Connector".
func (s *Server) resolvePlugin(name string) (string, bool) {
	norm := func(n string) string { return strings.TrimSuffix(n, "Connector") }
	for _, p := range s.c.Plugins() {
		simple := p.Class[strings.LastIndex(p.Class, ".")+1:]
		if name == p.Class || name == simple || norm(name) == norm(simple) {
			return p.Class, true
		}
	}
	return "", false
}

func (s *Server) pluginConfig(w http.ResponseWriter, r *http.Request) {
	plugin := r.PathValue("plugin")
	ctx, cancel := s.ctx(r)
	defer cancel()
	if pd, ok := s.c.(PluginConfigDescriber); ok {
		defs, err := pd.PluginConfig(ctx, plugin)
		if err != nil {
			s.fail(w, r, ctx, err)
			return
		}
		writeJSON(w, http.StatusOK, defs)
		return
	}
	if _, ok := s.resolvePlugin(plugin); !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Unknown plugin %s.", plugin))
		return
	}
	infos, err := s.c.ValidateConfig(ctx, plugin, map[string]string{"connector.class": plugin})
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	defs := make([]api.ConfigKeyInfo, 0, len(infos.Configs))
	for _, c := range infos.Configs {
		defs = append(defs, c.Definition)
	}
	writeJSON(w, http.StatusOK, defs)
}

func (s *Server) validate(w http.ResponseWriter, r *http.Request) {
	plugin := r.PathValue("plugin")
	var raw map[string]any
	if !s.decode(w, r, &raw) {
		return
	}
	if raw == nil {
		s.badRequest(w, r, "Request body must be a JSON object of configuration keys")
		return
	}
	cfg, err := stringConfig(raw, "")
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	if inc, ok := cfg["connector.class"]; ok && inc != plugin {
		a, okA := s.resolvePlugin(inc)
		b, okB := s.resolvePlugin(plugin)
		if okA && okB && a != b {
			s.badRequest(w, r, fmt.Sprintf("Included connector type %s does not match request type %s", inc, plugin))
			return
		}
	} else if !ok {
		// Kafka Connect refuses a config without its connector type.
		s.badRequest(w, r, fmt.Sprintf("Connector config %s contains no connector type", javaMap(cfg)))
		return
	}
	ctx, cancel := s.ctx(r)
	defer cancel()
	infos, err := s.c.ValidateConfig(ctx, plugin, cfg)
	if err != nil {
		s.fail(w, r, ctx, err)
		return
	}
	for i := range infos.Configs {
		v := infos.Configs[i].Value.Value
		if v != nil && *v != "" && (infos.Configs[i].Definition.Type == "PASSWORD" || isSecretKey(infos.Configs[i].Value.Name)) {
			h := hidden
			infos.Configs[i].Value.Value = &h
		}
	}
	if infos.Groups == nil {
		infos.Groups = []string{}
	}
	if infos.Configs == nil {
		infos.Configs = []api.ConfigInfo{}
	}
	writeJSON(w, http.StatusOK, infos)
}

// health answers KIP-1017's GET /health: 200 when the worker answers a
// cluster read, 503 otherwise.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	if _, err := s.c.Connectors(ctx); err != nil {
		writeJSON(w, http.StatusServiceUnavailable, api.HealthStatus{Status: "unhealthy", Message: "Worker is not ready: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, api.HealthStatus{Status: "healthy", Message: "Worker has completed startup and is ready to handle requests."})
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	s.c.WriteMetrics(w)
}
