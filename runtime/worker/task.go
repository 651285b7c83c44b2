package worker

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// taskRunner runs one source or sink task.
type taskRunner struct {
	w       *Worker
	key     taskKey
	raw     map[string]string // task config as stored
	connRaw map[string]string // connector config as stored
	log     *slog.Logger
	gen     int32

	cancel context.CancelFunc
	done   chan struct{}
	stopCh chan struct{}
	once   sync.Once

	mu      sync.Mutex
	st      string
	paused  bool
	pauseCh chan struct{} // closed when paused changes
	// reporter is the running connect task when it reports its own
	// metrics; nil otherwise.
	reporter connect.MetricsReporter
	// phase is the instance's lifecycle state (lifecycle.go); released is
	// closed once it reached phaseFenced or phaseStopped.
	phase       taskPhase
	released    chan struct{}
	releaseOnce sync.Once

	fenceMu sync.RWMutex // held (read) while writing offsets
	fenced  bool
	fenceFn func()
}

func (w *Worker) startTask(k taskKey, connRaw, taskRaw map[string]string, paused bool, gen int32) *taskRunner {
	ctx, cancel := context.WithCancel(context.Background())
	t := &taskRunner{
		w: w, key: k, raw: maps.Clone(taskRaw), connRaw: maps.Clone(connRaw),
		log:    w.log.With("connector", k.conn, "task", k.id),
		gen:    gen,
		cancel: cancel, done: make(chan struct{}), stopCh: make(chan struct{}),
		paused: paused, pauseCh: make(chan struct{}),
		released: make(chan struct{}),
	}
	go func() {
		defer close(t.done)
		defer t.moveTo(phaseStopped)
		if !t.moveTo(phaseStarting) {
			return // stopped before it began
		}
		t.run(ctx)
	}()
	return t
}

func (t *taskRunner) state() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.st
}

func (t *taskRunner) setState(s connectState, trace string) {
	t.mu.Lock()
	if t.st == string(stateFailed) && s != stateFailed {
		t.mu.Unlock()
		return
	}
	t.st = string(s)
	t.mu.Unlock()
	t.w.writeTaskStatus(t.key.conn, t.key.id, string(s), trace)
}

func (t *taskRunner) fail(err error) {
	if t.stopping() {
		// Errors while being stopped (rebalance, shutdown) are not failures.
		t.log.Info("task stopped with error", "err", err)
		return
	}
	msg := redact(trace(err), t.secrets())
	t.log.Error("task failed", "err", msg)
	t.w.metrics.taskError(t.key)
	t.setState(stateFailed, msg)
}

// secrets returns the secret values of the task's and connector's configs,
// to redact them from traces.
func (t *taskRunner) secrets() []string {
	s := t.w.secretValues(t.connRaw)
	return append(s, t.w.secretValues(withClass(t.raw, t.connRaw))...)
}

// withClass returns task with the connector's class, to find its ConfigDef.
func withClass(task, conn map[string]string) map[string]string {
	m := maps.Clone(task)
	if m == nil {
		m = map[string]string{}
	}
	if _, ok := m["connector.class"]; !ok {
		m["connector.class"] = conn["connector.class"]
	}
	return m
}

func trace(err error) string {
	return fmt.Sprintf("%T: %v", err, err)
}

func (t *taskRunner) stopping() bool {
	select {
	case <-t.stopCh:
		return true
	default:
		return false
	}
}

func (t *taskRunner) setPaused(p bool) {
	t.mu.Lock()
	if t.paused == p {
		t.mu.Unlock()
		return
	}
	t.paused = p
	close(t.pauseCh)
	t.pauseCh = make(chan struct{})
	failed := t.st == string(stateFailed)
	t.mu.Unlock()
	if failed {
		return
	}
	if p {
		t.setState(statePaused, "")
	} else {
		t.setState(stateRunning, "")
	}
}

// setReporter records task as the metrics reporter when it implements
// connect.MetricsReporter, and clears it otherwise.
func (t *taskRunner) setReporter(task any) {
	r, _ := task.(connect.MetricsReporter)
	t.mu.Lock()
	t.reporter = r
	t.mu.Unlock()
}

// metricsReporter returns the running task's reporter, or nil.
func (t *taskRunner) metricsReporter() connect.MetricsReporter {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reporter
}

func (t *taskRunner) isPaused() (bool, <-chan struct{}) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.paused, t.pauseCh
}

// stop asks the task to stop and waits up to
// task.shutdown.graceful.timeout.ms (plus the flush timeout) for it. An
// instance still running then is fenced: its producer is closed and its
// offset writes refused, so when stop returns the instance is stopped or
// fenced and a new instance of the task may start.
//
// Delivery invariant 7 (DESIGN.md): one live instance per task.
func (t *taskRunner) stop() {
	t.once.Do(func() { close(t.stopCh) })
	t.moveTo(phaseStopping)
	t.cancel()
	select {
	case <-t.done:
		return
	case <-time.After(t.w.cfg.TaskShutdownTimeout + t.w.cfg.OffsetFlushTimeout):
	}
	t.log.Warn("task did not stop in time; fencing it (producer closed, offset writes refused)", "phase", t.currentPhase().String())
	t.fence()
	t.moveTo(phaseFenced)
}

func (t *taskRunner) run(ctx context.Context) {
	conn, err := resolveConfig(t.connRaw)
	if err != nil {
		t.fail(err)
		return
	}
	tcfg, err := resolveConfig(t.raw)
	if err != nil {
		t.fail(err)
		return
	}
	class := conn["connector.class"]
	p, ok := t.w.plugin(class)
	if !ok {
		t.fail(fmt.Errorf("no plugin for connector.class %q", class))
		return
	}
	pipe, err := t.w.newPipeline(t.key, conn)
	if err != nil {
		t.fail(err)
		return
	}
	c := p.New()
	switch p.Type {
	case "source":
		sc, ok := c.(connect.SourceConnector)
		if !ok {
			t.fail(fmt.Errorf("plugin %s is not a source connector", p.Class))
			return
		}
		st := sc.NewTask()
		t.setReporter(st)
		defer t.setReporter(nil)
		t.runSource(ctx, st, tcfg, conn, pipe)
	default:
		sc, ok := c.(connect.SinkConnector)
		if !ok {
			t.fail(fmt.Errorf("plugin %s is not a sink connector", p.Class))
			return
		}
		st := sc.NewTask()
		t.setReporter(st)
		defer t.setReporter(nil)
		t.runSink(ctx, st, tcfg, conn, pipe)
	}
}

// waitUnpaused blocks while the task is paused; false when ctx ended.
func (t *taskRunner) waitUnpaused(ctx context.Context) bool {
	for {
		p, ch := t.isPaused()
		if !p {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-ch:
		}
	}
}

type connectState = apiState

func isTrue(s string) bool { return strings.EqualFold(strings.TrimSpace(s), "true") }
