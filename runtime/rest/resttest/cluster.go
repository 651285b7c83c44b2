// Package resttest provides an in-memory rest.Cluster for tests of the REST
// server and its clients (the CLI).
package resttest

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/sluicehq/sluice/runtime/api"
)

// Cluster is an in-memory rest.Cluster. Connector types come from
// connector.class (file-source/file-sink and their Kafka class names); a
// config with file=bad or without connector.class is invalid. Every
// connector has one task whose state follows the connector's.
type Cluster struct {
	mu      sync.Mutex
	conns   map[string]map[string]string
	states  map[string]api.State
	offsets map[string]api.ConnectorOffsets
	calls   []string
	block   chan struct{} // when set, Connectors blocks until closed or ctx ends
	lag     map[string]float64
	// worker ids reported in statuses
	connWorker, taskWorker string
}

// NewCluster returns an empty Cluster.
func NewCluster() *Cluster {
	return &Cluster{
		conns:      map[string]map[string]string{},
		states:     map[string]api.State{},
		offsets:    map[string]api.ConnectorOffsets{},
		connWorker: "w1:8083",
		taskWorker: "w2:8083",
	}
}

// SetWorkerIDs sets the worker ids reported for connectors and tasks
// (default "w1:8083" and "w2:8083").
func (f *Cluster) SetWorkerIDs(connector, task string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.connWorker, f.taskWorker = connector, task
}

func (f *Cluster) record(s string) { f.calls = append(f.calls, s) }

// Calls returns a log of create and restart calls ("create NAME STATE",
// "restart NAME includeTasks onlyFailed", "restart-task NAME ID").
func (f *Cluster) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Block makes Connectors wait until ch is closed or the request ends.
func (f *Cluster) Block(ch chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.block = ch
}

// SetConfig stores a connector config directly (state RUNNING).
func (f *Cluster) SetConfig(name string, cfg map[string]string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.conns[name] = cfg
	f.states[name] = api.Running
}

// StoredConfig returns the stored config of name, unmasked.
func (f *Cluster) StoredConfig(name string) map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.conns[name]
}

// SetState sets the state of a connector and its task.
func (f *Cluster) SetState(name string, s api.State) { f.setState(name, s) }

// SetLag sets the sluice_sink_task_lag reported for task 0 of name.
func (f *Cluster) SetLag(name string, lag float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lag == nil {
		f.lag = map[string]float64{}
	}
	f.lag[name] = lag
}

func (f *Cluster) typ(cfg map[string]string) api.ConnectorType {
	switch cfg["connector.class"] {
	case "file-source", "org.apache.kafka.connect.file.FileStreamSourceConnector":
		return api.Source
	case "file-sink", "org.apache.kafka.connect.file.FileStreamSinkConnector":
		return api.Sink
	}
	return api.Unknown
}

func (f *Cluster) validate(cfg map[string]string) error {
	if cfg["connector.class"] == "" {
		return &api.ValidationError{Infos: api.ConfigInfos{ErrorCount: 1, Configs: []api.ConfigInfo{{
			Value: api.ConfigValueInfo{Name: "connector.class", Errors: []string{"Missing required configuration \"connector.class\" which has no default value."}},
		}}}}
	}
	if cfg["file"] == "bad" {
		return &api.ValidationError{Infos: api.ConfigInfos{ErrorCount: 1, Configs: []api.ConfigInfo{{
			Value: api.ConfigValueInfo{Name: "file", Errors: []string{"Invalid value bad for configuration file: no"}},
		}}}}
	}
	return nil
}

func (f *Cluster) info(name string) api.ConnectorInfo {
	cfg := f.conns[name]
	return api.ConnectorInfo{Name: name, Config: cfg, Tasks: []api.TaskID{{Connector: name, Task: 0}}, Type: f.typ(cfg)}
}

// Connectors implements rest.Cluster.
func (f *Cluster) Connectors(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.conns {
		out = append(out, n)
	}
	return out, nil
}

// Connector implements rest.Cluster.
func (f *Cluster) Connector(ctx context.Context, name string) (api.ConnectorInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[name]; !ok {
		return api.ConnectorInfo{}, fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
	}
	return f.info(name), nil
}

// CreateConnector implements rest.Cluster.
func (f *Cluster) CreateConnector(ctx context.Context, req api.CreateConnectorRequest) (api.ConnectorInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.record("create " + req.Name + " " + string(req.InitialState))
	if _, ok := f.conns[req.Name]; ok {
		return api.ConnectorInfo{}, fmt.Errorf("Connector %s already exists: %w", req.Name, api.ErrConflict)
	}
	if err := f.validate(req.Config); err != nil {
		return api.ConnectorInfo{}, err
	}
	f.conns[req.Name] = req.Config
	f.states[req.Name] = api.Running
	if req.InitialState != "" {
		f.states[req.Name] = req.InitialState
	}
	return f.info(req.Name), nil
}

// PutConnectorConfig implements rest.Cluster.
func (f *Cluster) PutConnectorConfig(ctx context.Context, name string, cfg map[string]string) (api.ConnectorInfo, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.validate(cfg); err != nil {
		return api.ConnectorInfo{}, false, err
	}
	_, exists := f.conns[name]
	f.conns[name] = cfg
	if !exists {
		f.states[name] = api.Running
	}
	return f.info(name), !exists, nil
}

// DeleteConnector implements rest.Cluster.
func (f *Cluster) DeleteConnector(ctx context.Context, name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[name]; !ok {
		return fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
	}
	delete(f.conns, name)
	return nil
}

// ConnectorConfig implements rest.Cluster.
func (f *Cluster) ConnectorConfig(ctx context.Context, name string) (map[string]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg, ok := f.conns[name]
	if !ok {
		return nil, fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
	}
	out := map[string]string{}
	for k, v := range cfg {
		out[k] = v
	}
	return out, nil
}

// ConnectorStatus implements rest.Cluster.
func (f *Cluster) ConnectorStatus(ctx context.Context, name string) (api.ConnectorStateInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg, ok := f.conns[name]
	if !ok {
		return api.ConnectorStateInfo{}, fmt.Errorf("No status found for connector %s: %w", name, api.ErrNotFound)
	}
	st := f.states[name]
	return api.ConnectorStateInfo{
		Name:      name,
		Connector: api.ConnectorState{State: st, WorkerID: f.connWorker},
		Tasks:     []api.TaskState{{ID: 0, State: st, WorkerID: f.taskWorker}},
		Type:      f.typ(cfg),
	}, nil
}

// Tasks implements rest.Cluster.
func (f *Cluster) Tasks(ctx context.Context, name string) ([]api.TaskInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	cfg, ok := f.conns[name]
	if !ok {
		return nil, fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
	}
	return []api.TaskInfo{{ID: api.TaskID{Connector: name, Task: 0}, Config: cfg}}, nil
}

// TaskStatus implements rest.Cluster.
func (f *Cluster) TaskStatus(ctx context.Context, name string, task int) (api.TaskState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[name]; !ok || task != 0 {
		return api.TaskState{}, fmt.Errorf("No status found for task %s-%d: %w", name, task, api.ErrNotFound)
	}
	return api.TaskState{ID: 0, State: f.states[name], WorkerID: f.taskWorker}, nil
}

// RestartConnector implements rest.Cluster.
func (f *Cluster) RestartConnector(ctx context.Context, name string, includeTasks, onlyFailed bool) (api.ConnectorStateInfo, error) {
	f.mu.Lock()
	f.record(fmt.Sprintf("restart %s %v %v", name, includeTasks, onlyFailed))
	f.mu.Unlock()
	st, err := f.ConnectorStatus(ctx, name)
	if err != nil {
		return st, err
	}
	st.Connector.State = api.Restarting
	if includeTasks {
		st.Tasks[0].State = api.Restarting
	}
	return st, nil
}

// RestartTask implements rest.Cluster.
func (f *Cluster) RestartTask(ctx context.Context, name string, task int) error {
	_, err := f.TaskStatus(ctx, name, task)
	f.mu.Lock()
	f.record(fmt.Sprintf("restart-task %s %d", name, task))
	f.mu.Unlock()
	return err
}

func (f *Cluster) setState(name string, s api.State) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[name]; !ok {
		return fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
	}
	f.states[name] = s
	return nil
}

// PauseConnector implements rest.Cluster.
func (f *Cluster) PauseConnector(ctx context.Context, name string) error {
	return f.setState(name, api.Paused)
}

// ResumeConnector implements rest.Cluster.
func (f *Cluster) ResumeConnector(ctx context.Context, name string) error {
	return f.setState(name, api.Running)
}

// StopConnector implements rest.Cluster.
func (f *Cluster) StopConnector(ctx context.Context, name string) error {
	return f.setState(name, api.Stopped)
}

// Offsets implements rest.Cluster.
func (f *Cluster) Offsets(ctx context.Context, name string) (api.ConnectorOffsets, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[name]; !ok {
		return api.ConnectorOffsets{}, fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
	}
	return f.offsets[name], nil
}

// AlterOffsets implements rest.Cluster.
func (f *Cluster) AlterOffsets(ctx context.Context, name string, offs api.ConnectorOffsets) (api.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[name]; !ok {
		return api.Message{}, fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
	}
	if f.states[name] != api.Stopped {
		return api.Message{}, fmt.Errorf("Connectors must be in the STOPPED state before their offsets can be modified. This can be done for the specified connector by issuing a 'PUT' request to the '/connectors/%s/stop' endpoint: %w", name, api.ErrBadRequest)
	}
	f.offsets[name] = offs
	return api.Message{Message: "The offsets for this connector have been altered successfully"}, nil
}

// ResetOffsets implements rest.Cluster.
func (f *Cluster) ResetOffsets(ctx context.Context, name string) (api.Message, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.conns[name]; !ok {
		return api.Message{}, fmt.Errorf("Connector %s not found: %w", name, api.ErrNotFound)
	}
	if f.states[name] != api.Stopped {
		return api.Message{}, fmt.Errorf("connector %s is not STOPPED: %w", name, api.ErrBadRequest)
	}
	delete(f.offsets, name)
	return api.Message{Message: "The offsets for this connector have been reset successfully"}, nil
}

// Plugins implements rest.Cluster.
func (f *Cluster) Plugins() []api.PluginInfo {
	return []api.PluginInfo{
		{Class: "org.apache.kafka.connect.file.FileStreamSourceConnector", Type: "source", Version: "1"},
		{Class: "org.apache.kafka.connect.file.FileStreamSinkConnector", Type: "sink", Version: "1"},
		{Class: "org.apache.kafka.connect.transforms.InsertField", Type: "transformation"},
	}
}

// ValidateConfig implements rest.Cluster.
func (f *Cluster) ValidateConfig(ctx context.Context, class string, cfg map[string]string) (api.ConfigInfos, error) {
	if !slices.ContainsFunc(f.Plugins(), func(p api.PluginInfo) bool { return p.Class == class || class == "file-source" }) {
		return api.ConfigInfos{}, fmt.Errorf("Failed to find any class that implements Connector and which name matches %s: %w", class, api.ErrBadRequest)
	}
	def := func(name, typ string) api.ConfigKeyInfo {
		return api.ConfigKeyInfo{Name: name, Type: typ, Required: true, Importance: "HIGH", Dependents: []string{}}
	}
	val := func(name string, errs ...string) api.ConfigValueInfo {
		var v *string
		if s, ok := cfg[name]; ok {
			v = &s
		}
		if errs == nil {
			errs = []string{}
		}
		return api.ConfigValueInfo{Name: name, Value: v, Errors: errs, Visible: true, RecommendedValues: []string{}}
	}
	infos := api.ConfigInfos{Name: class, Groups: []string{"Common"}}
	fileErrs := []string(nil)
	if cfg["file"] == "" {
		fileErrs = []string{"Missing required configuration \"file\" which has no default value."}
	}
	infos.Configs = []api.ConfigInfo{
		{Definition: def("file", "STRING"), Value: val("file", fileErrs...)},
		{Definition: def("db.password", "PASSWORD"), Value: val("db.password")},
	}
	infos.ErrorCount = len(fileErrs)
	return infos, nil
}

// WriteMetrics implements rest.Cluster.
func (f *Cluster) WriteMetrics(w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	io.WriteString(w, "# TYPE sluice_sink_task_lag gauge\n")
	for n, l := range f.lag {
		fmt.Fprintf(w, "sluice_sink_task_lag{connector=%q,task=\"0\",topic=\"t\",partition=\"0\"} %g\n", n, l)
	}
}
