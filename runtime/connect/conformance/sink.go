package conformance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/worker"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Sink describes a sink connector under test. The suite produces records
// with key "k<i>" and value {"n":<i>} (distinct i) to the topic it passes
// to Config and reads back what reached the external system with
// Delivered. Its subtests:
//
//   - lifecycle: RUNNING, PAUSED, RUNNING, STOPPED, deleted, each reached,
//     with records delivered
//   - flush before commit: committed consumer offsets never exceed what
//     the external system holds, and a new worker resumes from them
//   - stop while blocked: a task blocked delivering to a stalled system
//     stops within the graceful timeout, commits nothing it did not
//     deliver, and after release every record arrives
//   - bad config: validation and create refuse it naming the key
//   - restart: after a connector-and-tasks restart records flow again
type Sink struct {
	// Plugins are the plugins the worker gets; Class names the one tested.
	Plugins []connect.Plugin
	Class   string
	// Config returns a valid connector config consuming topic, with its
	// own external state (it is called once per subtest). It may set
	// key.converter/value.converter; the worker default is string.
	Config func(t *testing.T, topic string) map[string]string
	// Delivered returns how many distinct records (by value) the external
	// system holds for cfg, and how many writes it accepted in all
	// (counting redeliveries; equal to distinct if it cannot tell).
	Delivered func(t *testing.T, cfg map[string]string) (distinct, writes int)
	// Stall, if set, makes the external system stop answering cfg's
	// writes. It returns blocked, true once a write waits on the stall,
	// and release, which makes the system answer again. Without Stall
	// the stop-while-blocked subtest is skipped.
	Stall func(t *testing.T, cfg map[string]string) (blocked func() bool, release func())
	// BadConfig turns a valid config into one the connector refuses and
	// returns the key the error must name.
	BadConfig func(cfg map[string]string) (key string)
	// Timeout bounds each wait (default 60 s).
	Timeout time.Duration
}

// RunSink runs the sink suite as subtests of t.
func RunSink(t *testing.T, s Sink) {
	if s.Timeout == 0 {
		s.Timeout = 60 * time.Second
	}
	t.Run("lifecycle", func(t *testing.T) { s.lifecycle(t) })
	t.Run("flush before commit", func(t *testing.T) { s.flushBeforeCommit(t) })
	t.Run("stop while blocked", func(t *testing.T) {
		if s.Stall == nil {
			t.Skip("the connector's test offers no way to stall its external system (Sink.Stall)")
		}
		s.stopWhileBlocked(t)
	})
	t.Run("bad config", func(t *testing.T) { s.badConfig(t) })
	t.Run("restart", func(t *testing.T) { s.restart(t) })
}

// sinkEnv is one sink subtest: broker, worker settings, producer.
type sinkEnv struct {
	*env
	s     Sink
	topic string
	cfg   map[string]string
	next  int
	mu    sync.Mutex
}

func (s Sink) newEnv(t *testing.T) *sinkEnv {
	e := &sinkEnv{env: newEnv(t), s: s}
	e.topic = e.group + "-in"
	e.cfg = s.Config(t, e.topic)
	return e
}

func (e *sinkEnv) worker(n int) *worker.Worker {
	e.t.Helper()
	return e.newWorker(e.s.Plugins, e.s.Timeout, n)
}

// produce writes n records with values distinct from every earlier one.
func (e *sinkEnv) produce(n int) {
	e.t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.bootstrap), kgo.DefaultProduceTopic(e.topic), kgo.AllowAutoTopicCreation())
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Key: []byte(fmt.Sprintf("k%d", e.next)), Value: []byte(fmt.Sprintf(`{"n":%d}`, e.next))}
		e.next++
	}
	ctx, cancel := context.WithTimeout(context.Background(), e.s.Timeout)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
}

func (e *sinkEnv) waitDelivered(want int) {
	e.t.Helper()
	waitFor(e.t, e.s.Timeout, fmt.Sprintf("%d distinct records delivered", want), func() error {
		if got, _ := e.s.Delivered(e.t, e.cfg); got < want {
			return fmt.Errorf("%d delivered", got)
		}
		return nil
	})
}

// committed returns the sum of the connector's committed consumer offsets
// on the input topic (the number of records committed, as the topic has
// one partition starting at 0).
func committed(w *worker.Worker, name string) (int64, error) {
	offs, err := w.Offsets(context.Background(), name)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, o := range offs.Offsets {
		switch v := o.Offset["kafka_offset"].(type) {
		case int64:
			n += v
		case float64:
			n += int64(v)
		default:
			return 0, fmt.Errorf("offset %v: kafka_offset is %T", o.Offset, v)
		}
	}
	return n, nil
}

// checkCommitted fails when the committed offsets cover records the
// external system does not hold: offsets must advance only after Flush
// made the data durable. Offsets are read first, deliveries second, so a
// correct connector always passes.
func (e *sinkEnv) checkCommitted(w *worker.Worker, name string) int64 {
	e.t.Helper()
	c, err := committed(w, name)
	if err != nil {
		e.t.Fatal(err)
	}
	if d, _ := e.s.Delivered(e.t, e.cfg); int64(d) < c {
		e.t.Fatalf("committed offsets cover %d records, the external system holds %d: offsets were committed before the data was flushed", c, d)
	}
	return c
}

func (s Sink) create(t *testing.T, w *worker.Worker, name string, cfg map[string]string) {
	t.Helper()
	if _, err := w.CreateConnector(context.Background(), api.CreateConnectorRequest{Name: name, Config: cfg}); err != nil {
		t.Fatal(err)
	}
}

func (s Sink) lifecycle(t *testing.T) {
	e := s.newEnv(t)
	w := e.worker(1)
	ctx := context.Background()
	e.produce(5)
	s.create(t, w, "c", e.cfg)
	waitState(t, w, "c", api.Running, s.Timeout)
	e.waitDelivered(5)
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
		waitState(t, w, "c", st.want, s.Timeout)
	}
	e.produce(5)
	e.waitDelivered(10)
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

func (s Sink) flushBeforeCommit(t *testing.T) {
	e := s.newEnv(t)
	w := e.worker(1)
	s.create(t, w, "c", e.cfg)
	waitState(t, w, "c", api.Running, s.Timeout)
	// Sample offsets against deliveries while records flow.
	for range 5 {
		e.produce(20)
		e.checkCommitted(w, "c")
	}
	waitFor(t, s.Timeout, "all 100 records committed", func() error {
		if c := e.checkCommitted(w, "c"); c < 100 {
			return fmt.Errorf("%d committed", c)
		}
		return nil
	})
	e.waitDelivered(100)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	_, before := s.Delivered(t, e.cfg)
	w2 := e.worker(2)
	waitState(t, w2, "c", api.Running, s.Timeout)
	e.produce(20)
	e.waitDelivered(120)
	// Resumed from the committed offsets rather than the start: a replay
	// would write the first 100 records again.
	if _, after := s.Delivered(t, e.cfg); after-before >= 100 {
		t.Errorf("%d writes after the new worker started for 20 new records: the task did not resume from its committed offsets", after-before)
	}
	e.checkCommitted(w2, "c")
}

func (s Sink) stopWhileBlocked(t *testing.T) {
	e := s.newEnv(t)
	w := e.worker(1)
	s.create(t, w, "c", e.cfg)
	waitState(t, w, "c", api.Running, s.Timeout)
	e.produce(10)
	e.waitDelivered(10)
	waitFor(t, s.Timeout, "the first records committed", func() error {
		if c := e.checkCommitted(w, "c"); c < 10 {
			return fmt.Errorf("%d committed", c)
		}
		return nil
	})
	blocked, release := s.Stall(t, e.cfg)
	released := false
	defer func() {
		if !released {
			release()
		}
	}()
	e.produce(50)
	waitFor(t, s.Timeout, "a write blocked on the stalled system", func() error {
		if !blocked() {
			return errors.New("no write waiting")
		}
		return nil
	})
	start := time.Now()
	if err := w.StopConnector(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "c", api.Stopped, s.Timeout)
	if n := e.logs.count("fencing it"); n > 0 {
		t.Errorf("the blocked task did not stop within the graceful timeout (fenced %d times, %s)", n, time.Since(start))
	}
	// Nothing the stalled system did not take may be committed.
	c := e.checkCommitted(w, "c")
	release()
	released = true
	if err := w.ResumeConnector(context.Background(), "c"); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "c", api.Running, s.Timeout)
	e.waitDelivered(60)
	waitFor(t, s.Timeout, "all 60 records committed", func() error {
		if c := e.checkCommitted(w, "c"); c < 60 {
			return fmt.Errorf("%d committed", c)
		}
		return nil
	})
	t.Logf("committed at stop: %d of 60", c)
}

func (s Sink) badConfig(t *testing.T) {
	e := s.newEnv(t)
	w := e.worker(1)
	cfg := e.cfg
	key := s.BadConfig(cfg)
	checkBadConfig(t, w, s.Class, cfg, key)
}

func (s Sink) restart(t *testing.T) {
	e := s.newEnv(t)
	w := e.worker(1)
	s.create(t, w, "c", e.cfg)
	waitState(t, w, "c", api.Running, s.Timeout)
	e.produce(3)
	e.waitDelivered(3)
	if _, err := w.RestartConnector(context.Background(), "c", true, false); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "c", api.Running, s.Timeout)
	e.produce(3)
	e.waitDelivered(6)
}
