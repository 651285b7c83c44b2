package pool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Manager runs one connector on its own worker pool: it starts the pool's
// workers through a Provisioner, writes the connector's config to the
// pool's worker group, restarts crashed workers, and scales the pool by
// the capacity's rules, recording every change as an Operation.
type Manager struct {
	name    string
	prov    Provisioner
	policy  Policy
	signals []Signal
	log     *slog.Logger
	hc      *http.Client
	ops     *OperationLog
	now     func() time.Time

	handlerOnce sync.Once
	handler     http.Handler

	capReq  chan capRequest
	stop    chan struct{} // closed by Delete
	delOnce sync.Once

	mu           sync.Mutex
	cfg          map[string]string
	capacity     Capacity
	workers      map[int]Worker
	draining     map[int]bool
	desired      int
	tasksMax     int
	state        ConnectorState
	stateDesc    StateDescription
	cpu          map[int]float64 // last CPU% per worker index
	poolCPU      float64
	backlog      map[string]float64
	restarts     int
	scaleOut     int
	scaleIn      int
	connectState string
	started      time.Time
}

// Option configures a Manager.
type Option func(*Manager)

// WithPolicy sets the autoscaler timings (default DefaultPolicy).
func WithPolicy(p Policy) Option { return func(m *Manager) { m.policy = p } }

// WithSignals adds backlog signals that can scale the pool out.
func WithSignals(s ...Signal) Option {
	return func(m *Manager) { m.signals = append(m.signals, s...) }
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(m *Manager) { m.log = l } }

// WithHTTPClient sets the client used for the workers' REST APIs.
func WithHTTPClient(c *http.Client) Option { return func(m *Manager) { m.hc = c } }

type capRequest struct {
	c     Capacity
	reply chan string // operation id
}

// New returns a manager for the connector named by config["name"] (or
// name) with the given capacity.
func New(name string, config map[string]string, c Capacity, prov Provisioner, opts ...Option) (*Manager, error) {
	if name == "" {
		return nil, errors.New("pool: connector name is empty")
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("pool: capacity: %w", err)
	}
	if config["connector.class"] == "" {
		return nil, errors.New("pool: connector config has no connector.class")
	}
	m := &Manager{
		name: name, prov: prov, log: slog.Default(), hc: &http.Client{Timeout: 30 * time.Second},
		ops: NewOperationLog(name), now: time.Now,
		capReq: make(chan capRequest), stop: make(chan struct{}),
		cfg: maps.Clone(config), capacity: c, workers: map[int]Worker{}, draining: map[int]bool{},
		state: StateCreating, cpu: map[int]float64{}, backlog: map[string]float64{},
	}
	m.cfg["name"] = name
	for _, o := range opts {
		o(m)
	}
	m.policy = m.policy.withDefaults()
	m.log = m.log.With("pool", name)
	return m, nil
}

// Name returns the connector's name.
func (m *Manager) Name() string { return m.name }

// Operations returns the operation log.
func (m *Manager) Operations() *OperationLog { return m.ops }

// WorkerStatus describes one pool worker.
type WorkerStatus struct {
	Index int     `json:"index"`
	ID    string  `json:"workerId"`
	URL   string  `json:"url"`
	PID   int     `json:"pid,omitempty"`
	MCU   int     `json:"mcuCount"`
	CPU   float64 `json:"cpuUtilizationPercent"`
}

// Status is a snapshot of the pool.
type Status struct {
	Connector        string             `json:"connectorName"`
	State            ConnectorState     `json:"connectorState"`
	StateDescription StateDescription   `json:"stateDescription,omitzero"`
	ConnectState     string             `json:"kafkaConnectState,omitempty"`
	Capacity         Capacity           `json:"capacity"`
	DesiredWorkers   int                `json:"desiredWorkerCount"`
	Workers          []WorkerStatus     `json:"workers"`
	TasksMax         int                `json:"tasksMax,omitempty"`
	CPU              float64            `json:"cpuUtilizationPercent"`
	Backlog          map[string]float64 `json:"backlog,omitempty"`
	Restarts         int                `json:"workerRestarts"`
	ScaleOutEvents   int                `json:"scaleOutEvents"`
	ScaleInEvents    int                `json:"scaleInEvents"`
}

// Status returns a snapshot of the pool.
func (m *Manager) Status() Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Status{Connector: m.name, State: m.state, StateDescription: m.stateDesc, ConnectState: m.connectState,
		Capacity: m.capacity, DesiredWorkers: m.desired, TasksMax: m.tasksMax, CPU: m.poolCPU,
		Backlog: maps.Clone(m.backlog), Restarts: m.restarts, ScaleOutEvents: m.scaleOut, ScaleInEvents: m.scaleIn,
		Workers: []WorkerStatus{}}
	for _, idx := range slices.Sorted(maps.Keys(m.workers)) {
		w := m.workers[idx]
		s.Workers = append(s.Workers, WorkerStatus{Index: idx, ID: w.ID(), URL: w.URL(), PID: w.PID(), MCU: w.Spec().MCU, CPU: m.cpu[idx]})
	}
	return s
}

func (m *Manager) setState(s ConnectorState, desc StateDescription) {
	m.mu.Lock()
	if m.state != s {
		m.log.Info("connector state", "state", s, "message", desc.Message)
	}
	m.state, m.stateDesc = s, desc
	m.mu.Unlock()
}

// UpdateCapacity asks the pool to move to a new capacity (a user's
// update-connector --capacity) and returns the operation id. Workers are
// added or drained; in provisioned mode the connector's config is not
// touched, so tasks that do not move keep running.
func (m *Manager) UpdateCapacity(ctx context.Context, c Capacity) (string, error) {
	if err := c.Validate(); err != nil {
		return "", err
	}
	r := capRequest{c: c, reply: make(chan string, 1)}
	select {
	case m.capReq <- r:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	select {
	case id := <-r.reply:
		return id, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// ErrDeleted is returned by Run after the connector was deleted.
var ErrDeleted = errors.New("pool: connector deleted")

// Delete deletes the connector from the pool's worker group and stops the
// pool (Run returns ErrDeleted).
func (m *Manager) Delete(ctx context.Context) error {
	m.setState(StateDeleting, StateDescription{})
	if w := m.anyWorker(); w != nil {
		if _, err := m.rest(ctx, w, http.MethodDelete, "/connectors/"+m.name, nil, nil); err != nil {
			return err
		}
	}
	m.delOnce.Do(func() { close(m.stop) })
	return nil
}

// UpdateConfig replaces the connector's configuration (keeping the
// capacity's tasks.max in autoscaled mode) and records an
// UPDATE_CONNECTOR_CONFIGURATION operation.
func (m *Manager) UpdateConfig(ctx context.Context, cfg map[string]string) (string, error) {
	if cfg["connector.class"] == "" {
		return "", errors.New("connector.class is required")
	}
	m.mu.Lock()
	old := maps.Clone(m.cfg)
	next := maps.Clone(cfg)
	next["name"] = m.name
	m.mu.Unlock()
	id := m.ops.Begin(OpUpdateConnectorConfiguration, "user", "update-connector configuration", nil, nil)
	m.ops.setConfigs(id, old, next)
	m.setState(StateUpdating, StateDescription{})
	m.mu.Lock()
	m.cfg = next
	m.mu.Unlock()
	err := m.writeConfig(ctx)
	m.ops.End(id, err)
	m.setState(StateRunning, StateDescription{})
	return id, err
}

// Run starts the pool, creates or updates the connector in the pool's
// worker group, and supervises and scales the pool until ctx ends (then
// it drains every worker; the connector stays defined, and a new Run
// resumes it) or Delete is called.
func (m *Manager) Run(ctx context.Context) error {
	// Delete cancels whatever the pool is doing (a scale event waiting for
	// tasks to settle, a config write).
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-m.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	err := m.run(ctx)
	if m.deleted() {
		return ErrDeleted
	}
	return err
}

func (m *Manager) deleted() bool {
	select {
	case <-m.stop:
		return true
	default:
		return false
	}
}

func (m *Manager) run(ctx context.Context) error {
	lo, _ := m.capacity.Bounds()
	m.mu.Lock()
	m.desired = lo
	m.started = m.now()
	m.mu.Unlock()
	defer m.drainAll()
	for i := range lo {
		if err := m.startWorker(ctx, i); err != nil {
			m.setState(StateFailed, StateDescription{Code: "WorkerStartFailed", Message: err.Error()})
			return err
		}
	}
	if err := m.writeConfig(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		m.setState(StateFailed, StateDescription{Code: "ConfigWriteFailed", Message: err.Error()})
		return err
	}
	var samples []Sample
	lastScale := m.now()
	prevCPU := map[int]cpuMark{}
	t := time.NewTicker(m.policy.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.stop:
			return ErrDeleted
		case r := <-m.capReq:
			id := m.changeCapacity(ctx, r.c)
			r.reply <- id
			samples, lastScale, prevCPU = nil, m.now(), map[int]cpuMark{}
			continue
		case <-t.C:
		}
		m.supervise(ctx)
		m.refreshConnectState(ctx)
		s, ok := m.sample(ctx, prevCPU)
		if !ok {
			continue
		}
		samples = append(samples, s)
		keep := max(m.policy.ScaleOutWindow, m.policy.ScaleInWindow) + 2*m.policy.Interval
		for len(samples) > 0 && s.At.Sub(samples[0].At) > keep {
			samples = samples[1:]
		}
		m.mu.Lock()
		c, current := m.capacity, m.desired
		m.mu.Unlock()
		d := Decide(m.policy, c, m.signals, current, samples, s.At, lastScale)
		if d.Target == current {
			continue
		}
		m.scale(ctx, d.Target, "autoscaler", d.Reason)
		samples, lastScale, prevCPU = nil, m.now(), map[int]cpuMark{}
	}
}

type cpuMark struct {
	at  time.Time
	sec float64
}

// sample measures every worker's CPU since the previous sample and the
// backlog signals. ok is false for the first sample of a worker set.
func (m *Manager) sample(ctx context.Context, prev map[int]cpuMark) (Sample, bool) {
	now := m.now()
	m.mu.Lock()
	ws := maps.Clone(m.workers)
	m.mu.Unlock()
	cpu := map[int]float64{}
	var sum float64
	n := 0
	for idx, w := range ws {
		sec, err := w.CPUSeconds()
		if err != nil {
			delete(prev, idx)
			continue
		}
		if p, ok := prev[idx]; ok && now.After(p.at) {
			pct := 100 * (sec - p.sec) / (now.Sub(p.at).Seconds() * float64(w.Spec().MCU))
			cpu[idx] = pct
			sum += pct
			n++
		}
		prev[idx] = cpuMark{now, sec}
	}
	for idx := range prev {
		if _, ok := ws[idx]; !ok {
			delete(prev, idx)
		}
	}
	backlog := map[string]float64{}
	for _, sig := range m.signals {
		sctx, cancel := context.WithTimeout(ctx, m.policy.Interval)
		v, err := sig.Value(sctx)
		cancel()
		if err != nil {
			m.log.Debug("backlog signal", "signal", sig.Name, "err", err)
			continue
		}
		backlog[sig.Name] = v
	}
	m.mu.Lock()
	m.cpu = cpu
	m.backlog = backlog
	if n > 0 {
		m.poolCPU = sum / float64(n)
	}
	m.mu.Unlock()
	if n == 0 || n < len(ws) {
		return Sample{}, false
	}
	return Sample{At: now, CPU: sum / float64(n), Backlog: backlog}, true
}

// supervise restarts workers that exited without being drained.
func (m *Manager) supervise(ctx context.Context) {
	m.mu.Lock()
	var dead []int
	for idx, w := range m.workers {
		select {
		case <-w.Done():
			if !m.draining[idx] {
				dead = append(dead, idx)
			}
		default:
		}
	}
	m.mu.Unlock()
	sort.Ints(dead)
	for _, idx := range dead {
		m.mu.Lock()
		w := m.workers[idx]
		delete(m.workers, idx)
		m.restarts++
		m.mu.Unlock()
		m.log.Warn("pool worker exited; restarting it", "index", idx, "pid", w.PID(), "err", w.Err())
		if err := m.startWorker(ctx, idx); err != nil {
			m.log.Error("restarting pool worker", "index", idx, "err", err)
		}
	}
}

func (m *Manager) startWorker(ctx context.Context, idx int) error {
	m.mu.Lock()
	mcu := m.capacity.MCU()
	m.mu.Unlock()
	w, err := m.prov.Start(ctx, WorkerSpec{Pool: m.name, Index: idx, MCU: mcu})
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.workers[idx] = w
	delete(m.draining, idx)
	m.mu.Unlock()
	m.log.Info("pool worker started", "index", idx, "pid", w.PID(), "url", w.URL(), "mcu", mcu)
	return nil
}

func (m *Manager) drainWorker(idx int) error {
	m.mu.Lock()
	w, ok := m.workers[idx]
	m.draining[idx] = true
	m.mu.Unlock()
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	err := w.Drain(ctx)
	m.mu.Lock()
	delete(m.workers, idx)
	delete(m.draining, idx)
	m.mu.Unlock()
	m.log.Info("pool worker drained", "index", idx, "pid", w.PID(), "err", err)
	return err
}

func (m *Manager) drainAll() {
	m.mu.Lock()
	idxs := slices.Collect(maps.Keys(m.workers))
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, idx := range idxs {
		wg.Go(func() { _ = m.drainWorker(idx) })
	}
	wg.Wait()
}

func (m *Manager) setting(workers int) *WorkerSetting {
	m.mu.Lock()
	defer m.mu.Unlock()
	ws := &WorkerSetting{Capacity: m.capacity, WorkerCount: workers}
	ws.TasksMax, _ = m.capacity.TasksMax(workers)
	return ws
}

// changeCapacity applies a user's new capacity as one operation.
func (m *Manager) changeCapacity(ctx context.Context, c Capacity) string {
	m.mu.Lock()
	current := len(m.workers)
	origin := &WorkerSetting{Capacity: m.capacity, WorkerCount: current, TasksMax: m.tasksMax}
	m.capacity = c
	m.mu.Unlock()
	lo, hi := c.Bounds()
	target := max(lo, min(hi, current))
	id := m.ops.Begin(OpUpdateWorkerSetting, "user", "update-connector capacity: "+c.String(), origin, m.setting(target))
	m.ops.End(id, m.resize(ctx, target))
	return id
}

// scale moves the pool to target workers as one operation.
func (m *Manager) scale(ctx context.Context, target int, initiator, reason string) {
	m.mu.Lock()
	current := m.desired
	m.mu.Unlock()
	m.log.Info("scaling pool", "from", current, "to", target, "by", initiator, "reason", reason)
	id := m.ops.Begin(OpUpdateWorkerSetting, initiator, reason, m.setting(current), m.setting(target))
	m.ops.End(id, m.resize(ctx, target))
}

// resize starts or drains workers (highest index first) to reach target,
// writes the new tasks.max in autoscaled mode, and waits for the tasks
// to run on the new worker set.
func (m *Manager) resize(ctx context.Context, target int) error {
	m.setState(StateUpdating, StateDescription{})
	m.mu.Lock()
	current := len(m.workers)
	if target > m.desired {
		m.scaleOut++
	} else if target < m.desired {
		m.scaleIn++
	}
	m.desired = target
	m.mu.Unlock()
	var errs []error
	for idx := current; idx < target; idx++ {
		if err := m.startWorker(ctx, idx); err != nil {
			errs = append(errs, err)
		}
	}
	for idx := current - 1; idx >= target; idx-- {
		if err := m.drainWorker(idx); err != nil {
			errs = append(errs, err)
		}
	}
	m.mu.Lock()
	tm, auto := m.capacity.TasksMax(target)
	changed := auto && tm != m.tasksMax
	m.mu.Unlock()
	if changed {
		if err := m.writeConfig(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.settle(ctx); err != nil {
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	switch {
	case m.deleted():
	case err != nil:
		m.setState(StateRunning, StateDescription{Code: "ScaleIncomplete", Message: err.Error()})
	default:
		m.setState(StateRunning, StateDescription{})
	}
	return err
}

// effectiveConfig is the config written to the worker group: the user's,
// with tasks.max from the capacity in autoscaled mode.
func (m *Manager) effectiveConfig() (map[string]string, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cfg := maps.Clone(m.cfg)
	tm, auto := m.capacity.TasksMax(m.desired)
	if auto {
		cfg["tasks.max"] = strconv.Itoa(tm)
	} else if v, err := strconv.Atoi(cfg["tasks.max"]); err == nil {
		tm = v
	} else {
		tm = 1
	}
	return cfg, tm
}

// writeConfig PUTs the effective config to a live worker, retrying while
// the worker group forms.
func (m *Manager) writeConfig(ctx context.Context) error {
	cfg, tm := m.effectiveConfig()
	deadline := m.now().Add(m.policy.SettleTimeout)
	var last error
	for m.now().Before(deadline) {
		if w := m.anyWorker(); w != nil {
			_, err := m.rest(ctx, w, http.MethodPut, "/connectors/"+m.name+"/config", cfg, nil)
			if err == nil {
				m.mu.Lock()
				m.tasksMax = tm
				m.mu.Unlock()
				return nil
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("writing connector config: %w", last)
}

type connectStatus struct {
	Connector struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
		Trace    string `json:"trace"`
	} `json:"connector"`
	Tasks []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"tasks"`
}

func (m *Manager) connectStatus(ctx context.Context) (connectStatus, error) {
	var st connectStatus
	w := m.anyWorker()
	if w == nil {
		return st, errors.New("no live worker")
	}
	_, err := m.rest(ctx, w, http.MethodGet, "/connectors/"+m.name+"/status", nil, &st)
	return st, err
}

// refreshConnectState mirrors Kafka Connect's connector state and moves
// CREATING to RUNNING (or FAILED) once the connector runs.
func (m *Manager) refreshConnectState(ctx context.Context) {
	st, err := m.connectStatus(ctx)
	m.mu.Lock()
	state, started := m.state, m.started
	m.mu.Unlock()
	if state == StateCreating && m.now().Sub(started) > m.policy.SettleTimeout {
		msg := fmt.Sprintf("connector not running %s after the pool started", m.policy.SettleTimeout)
		if err != nil {
			msg += ": " + err.Error()
		} else {
			msg += ": Kafka Connect state " + st.Connector.State + " (see the worker logs)"
		}
		m.setState(StateFailed, StateDescription{Code: "CreateTimeout", Message: msg})
	}
	if err != nil {
		return
	}
	m.mu.Lock()
	m.connectState = st.Connector.State
	m.mu.Unlock()
	switch {
	case st.Connector.State == "FAILED":
		m.setState(StateFailed, StateDescription{Code: "ConnectorFailed", Message: st.Connector.Trace})
	case state == StateCreating && st.Connector.State == "RUNNING":
		m.setState(StateRunning, StateDescription{})
	case state == StateFailed && st.Connector.State == "RUNNING":
		m.setState(StateRunning, StateDescription{})
	}
}

// settle waits until the connector's tasks (tasks.max of them, or fewer
// if the connector made fewer) all run on live pool workers.
func (m *Manager) settle(ctx context.Context) error {
	deadline := m.now().Add(m.policy.SettleTimeout)
	var last string
	for m.now().Before(deadline) {
		st, err := m.connectStatus(ctx)
		if err == nil {
			live := map[string]bool{}
			m.mu.Lock()
			for _, w := range m.workers {
				live[w.ID()] = true
			}
			tm := m.tasksMax
			m.mu.Unlock()
			ok := len(st.Tasks) > 0 && len(st.Tasks) <= max(tm, 1)
			for _, t := range st.Tasks {
				if t.State != "RUNNING" || !live[t.WorkerID] {
					ok = false
					last = fmt.Sprintf("task %d is %s on %s", t.ID, t.State, t.WorkerID)
				}
			}
			if ok {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("tasks did not settle within %s: %s", m.policy.SettleTimeout, last)
}

// anyWorker returns a live worker, lowest index first.
func (m *Manager) anyWorker() Worker {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, idx := range slices.Sorted(maps.Keys(m.workers)) {
		w := m.workers[idx]
		if m.draining[idx] {
			continue
		}
		select {
		case <-w.Done():
			continue
		default:
			return w
		}
	}
	return nil
}

// RESTError is a non-2xx answer from a worker's REST API.
type RESTError struct {
	Status int
	Body   string
}

// Error implements error.
func (e *RESTError) Error() string { return fmt.Sprintf("worker REST %d: %s", e.Status, e.Body) }

func (m *Manager) rest(ctx context.Context, w Worker, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, w.URL()+path, rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := m.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, &RESTError{resp.StatusCode, string(b)}
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

// Config returns the connector's configuration (without the tasks.max the
// capacity imposes).
func (m *Manager) Config() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.cfg)
}

// Capacity returns the pool's current capacity.
func (m *Manager) Capacity() Capacity {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.capacity
}
