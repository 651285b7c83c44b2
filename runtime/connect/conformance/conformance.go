// Package conformance is a test suite every connector's tests can run
// (RunSource for sources, RunSink for sinks, see Sink for its subtests): it
// starts the connector in a real worker against an in-process Kafka
// (kfake) and checks the behaviours the runtime relies on:
//
//   - lifecycle: RUNNING, PAUSED, RUNNING, STOPPED, deleted, each reached
//   - offsets resume: a new worker continues from the committed offsets,
//     delivering every record at least once
//   - stop while blocked: a task waiting for data stops within the
//     graceful shutdown timeout (it is not fenced)
//   - bad config: validation and create refuse it naming the key
//   - restart: after a connector-and-tasks restart records flow again
//
// A source connector supplies a Source describing how to configure it and
// how to make its external system hold more records; a sink connector a
// Sink describing how to configure it and read back what it delivered.
package conformance

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/worker"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Source describes a source connector under test.
type Source struct {
	// Plugins are the plugins the worker gets; Class names the one tested.
	Plugins []connect.Plugin
	Class   string
	// Config returns a valid connector config whose records go to topic.
	// It is called once per subtest, so each gets its own external state.
	Config func(t *testing.T, topic string) map[string]string
	// Add makes the external system hold n more records for cfg, with
	// values distinct from every earlier one.
	Add func(t *testing.T, cfg map[string]string, n int)
	// BadConfig turns a valid config into one the connector refuses and
	// returns the key the error must name. A rule across keys (what a
	// connect.Options Check or a ConfigValidator enforces) tests more than
	// a malformed value, which the ConfigDef alone already refuses.
	BadConfig func(cfg map[string]string) (key string)
	// Timeout bounds each wait (default 60 s).
	Timeout time.Duration
}

// RunSource runs the suite as subtests of t.
func RunSource(t *testing.T, s Source) {
	if s.Timeout == 0 {
		s.Timeout = 60 * time.Second
	}
	t.Run("lifecycle", func(t *testing.T) { s.lifecycle(t) })
	t.Run("offsets resume", func(t *testing.T) { s.offsetsResume(t) })
	t.Run("stop while blocked", func(t *testing.T) { s.stopWhileBlocked(t) })
	t.Run("bad config", func(t *testing.T) { s.badConfig(t) })
	t.Run("restart", func(t *testing.T) { s.restart(t) })
}

// env is one subtest's broker and worker settings.
type env struct {
	t         *testing.T
	bootstrap string
	group     string
	logs      *logCounter
}

func newEnv(t *testing.T) *env {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	name := strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
	return &env{t: t, bootstrap: c.ListenAddrs()[0], group: name, logs: &logCounter{}}
}

func (e *env) worker(s Source, n int) *worker.Worker {
	e.t.Helper()
	return e.newWorker(s.Plugins, s.Timeout, n)
}

// newWorker starts worker n of the subtest's group with plugins.
func (e *env) newWorker(plugins []connect.Plugin, timeout time.Duration, n int) *worker.Worker {
	e.t.Helper()
	cfg := worker.DefaultConfig()
	cfg.BootstrapServers = []string{e.bootstrap}
	cfg.GroupID = e.group
	cfg.ConfigTopic, cfg.OffsetTopic, cfg.StatusTopic = e.group+"-configs", e.group+"-offsets", e.group+"-status"
	cfg.OffsetPartitions, cfg.StatusPartitions = 1, 1
	cfg.KeyConverter, cfg.ValueConverter = "string", "string"
	cfg.OffsetFlushInterval = 200 * time.Millisecond
	cfg.SessionTimeout, cfg.HeartbeatInterval = 2*time.Second, 200*time.Millisecond
	cfg.RebalanceTimeout = 10 * time.Second
	cfg.TaskShutdownTimeout = 3 * time.Second
	cfg.AdvertisedURL = fmt.Sprintf("http://worker-%d:8083", n)
	w, err := worker.New(cfg, plugins, worker.WithLogger(slog.New(e.logs)))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = w.Close() })
	return w
}

// waitFor polls cond until it returns nil or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s: %v", what, err)
}

func (s Source) waitState(t *testing.T, w *worker.Worker, name string, want api.State) {
	t.Helper()
	waitState(t, w, name, want, s.Timeout)
}

// waitState waits until the connector and all its tasks are in state want.
func waitState(t *testing.T, w *worker.Worker, name string, want api.State, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, fmt.Sprintf("%s %s", name, want), func() error {
		st, err := w.ConnectorStatus(context.Background(), name)
		if err != nil {
			return err
		}
		if st.Connector.State != want {
			return fmt.Errorf("connector %s, tasks %+v", st.Connector.State, st.Tasks)
		}
		if want == api.Stopped {
			if len(st.Tasks) != 0 {
				return fmt.Errorf("stopped with tasks %+v", st.Tasks)
			}
			return nil
		}
		if len(st.Tasks) == 0 {
			return errors.New("no tasks")
		}
		for _, ts := range st.Tasks {
			if ts.State != want {
				return fmt.Errorf("task %d %s %s", ts.ID, ts.State, ts.Trace)
			}
		}
		return nil
	})
}

// distinct reads topic from the start up to its current end and returns
// the number of distinct values and of records.
func (e *env) distinct(topic string) (int, int) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.bootstrap), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	seen := map[string]bool{}
	total := 0
	idle := 0
	for idle < 3 && ctx.Err() == nil {
		pctx, pcancel := context.WithTimeout(ctx, 300*time.Millisecond)
		fs := cl.PollFetches(pctx)
		pcancel()
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)] = true
			total++
			n++
		})
		if n == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return len(seen), total
}

func (e *env) waitDistinct(s Source, topic string, want int) {
	e.t.Helper()
	waitFor(e.t, s.Timeout, fmt.Sprintf("%d distinct records in %s", want, topic), func() error {
		if got, _ := e.distinct(topic); got < want {
			return fmt.Errorf("%d distinct records", got)
		}
		return nil
	})
}

func (s Source) create(t *testing.T, w *worker.Worker, name string, cfg map[string]string) {
	t.Helper()
	if _, err := w.CreateConnector(context.Background(), api.CreateConnectorRequest{Name: name, Config: cfg}); err != nil {
		t.Fatal(err)
	}
}

func (s Source) lifecycle(t *testing.T) {
	e := newEnv(t)
	w := e.worker(s, 1)
	ctx := context.Background()
	topic := e.group + "-out"
	cfg := s.Config(t, topic)
	s.create(t, w, "c", cfg)
	s.waitState(t, w, "c", api.Running)
	s.Add(t, cfg, 5)
	e.waitDistinct(s, topic, 5)
	steps := []struct {
		op   func(context.Context, string) error
		want api.State
	}{
		{w.PauseConnector, api.Paused},
		{w.ResumeConnector, api.Running},
		{w.StopConnector, api.Stopped},
		{w.ResumeConnector, api.Running},
	}
	for _, st := range steps {
		if err := st.op(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		s.waitState(t, w, "c", st.want)
	}
	if err := w.DeleteConnector(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.Timeout, "connector deleted", func() error {
		if _, err := w.ConnectorStatus(ctx, "c"); !errors.Is(err, api.ErrNotFound) {
			return fmt.Errorf("status after delete: %v", err)
		}
		return nil
	})
}

func (s Source) offsetsResume(t *testing.T) {
	e := newEnv(t)
	w := e.worker(s, 1)
	topic := e.group + "-out"
	cfg := s.Config(t, topic)
	s.create(t, w, "c", cfg)
	s.waitState(t, w, "c", api.Running)
	s.Add(t, cfg, 10)
	e.waitDistinct(s, topic, 10)
	// Let an offset flush happen, then replace the worker.
	waitFor(t, s.Timeout, "committed offsets", func() error {
		offs, err := w.Offsets(context.Background(), "c")
		if err != nil {
			return err
		}
		if len(offs.Offsets) == 0 {
			return errors.New("no committed offsets")
		}
		return nil
	})
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, before := e.distinct(topic)
	w2 := e.worker(s, 2)
	s.waitState(t, w2, "c", api.Running)
	s.Add(t, cfg, 10)
	e.waitDistinct(s, topic, 20)
	// At least once, and resumed rather than started over: far fewer
	// duplicates than a full replay would write.
	if _, total := e.distinct(topic); total-before >= 20 {
		t.Errorf("%d records after the new worker started for 10 new values: the task did not resume from its offsets", total-before)
	}
}

func (s Source) stopWhileBlocked(t *testing.T) {
	e := newEnv(t)
	w := e.worker(s, 1)
	topic := e.group + "-out"
	cfg := s.Config(t, topic)
	s.create(t, w, "c", cfg)
	s.waitState(t, w, "c", api.Running)
	// No data: the task waits in Poll. Stopping must not need fencing.
	start := time.Now()
	if err := w.StopConnector(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, w, "c", api.Stopped)
	if n := e.logs.count("fencing it"); n > 0 {
		t.Errorf("the task did not stop within the graceful timeout (fenced %d times, %s)", n, time.Since(start))
	}
}

func (s Source) badConfig(t *testing.T) {
	e := newEnv(t)
	w := e.worker(s, 1)
	cfg := s.Config(t, e.group+"-out")
	key := s.BadConfig(cfg)
	checkBadConfig(t, w, s.Class, cfg, key)
}

// checkBadConfig asserts that validation reports an error on key and that
// creating the connector is a bad request naming key. The validated config
// carries the connector name, as a REST client's does: without it the
// worker reports the missing name and skips the connector's own
// ValidateConfig, so a rule across keys would go unchecked.
func checkBadConfig(t *testing.T, w *worker.Worker, class string, cfg map[string]string, key string) {
	t.Helper()
	named := maps.Clone(cfg)
	if named["name"] == "" {
		named["name"] = "bad"
	}
	infos, err := w.ValidateConfig(context.Background(), class, named)
	if err != nil {
		t.Fatal(err)
	}
	onKey := false
	for _, c := range infos.Configs {
		if c.Definition.Name == key && len(c.Value.Errors) > 0 {
			onKey = true
		}
	}
	if infos.ErrorCount == 0 || !onKey {
		t.Errorf("validation: %d errors, none on %s", infos.ErrorCount, key)
	}
	_, err = w.CreateConnector(context.Background(), api.CreateConnectorRequest{Name: "bad", Config: cfg})
	if !errors.Is(err, api.ErrBadRequest) || !strings.Contains(err.Error(), key) {
		t.Errorf("create: %v, want a bad request naming %s", err, key)
	}
}

func (s Source) restart(t *testing.T) {
	e := newEnv(t)
	w := e.worker(s, 1)
	topic := e.group + "-out"
	cfg := s.Config(t, topic)
	s.create(t, w, "c", cfg)
	s.waitState(t, w, "c", api.Running)
	s.Add(t, cfg, 3)
	e.waitDistinct(s, topic, 3)
	if _, err := w.RestartConnector(context.Background(), "c", true, false); err != nil {
		t.Fatal(err)
	}
	s.waitState(t, w, "c", api.Running)
	s.Add(t, cfg, 3)
	e.waitDistinct(s, topic, 6)
}

// logCounter is a slog.Handler counting messages, to detect fencing.
type logCounter struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCounter) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCounter) Handle(_ context.Context, r slog.Record) error {
	l.mu.Lock()
	l.msgs = append(l.msgs, r.Message)
	l.mu.Unlock()
	return nil
}
func (l *logCounter) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCounter) WithGroup(string) slog.Handler      { return l }

func (l *logCounter) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}
