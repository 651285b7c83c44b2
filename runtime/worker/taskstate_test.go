package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

const scriptSourceClass = "test.ScriptSource"

// script drives scriptSource tasks from a test and records what the
// instances did.
type script struct {
	// openErr returns the error of Open attempt n (1-based) or nil.
	openErr func(n int) error
	// startErr returns the error of connector Start attempt n or nil.
	startErr func(n int) error
	starts   int
	// poll is a task instance's Poll (inst counts successful opens).
	poll func(ctx context.Context, inst int) ([]*connect.Record, error)

	mu        sync.Mutex
	opens     int // Open calls
	instances int // successful opens
	active    int // opened and not closed
	maxActive int
	polls     int // for poll funcs that count their calls
	events    []string
}

func (s *script) log(ev string) {
	s.events = append(s.events, ev)
}

func (s *script) snapshot() (opens, active, maxActive int, events []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opens, s.active, s.maxActive, append([]string(nil), s.events...)
}

type scriptSource struct {
	s   *script
	cfg map[string]string
}

func (c *scriptSource) ConfigDef() connect.ConfigDef { return nil }
func (c *scriptSource) Start(_ context.Context, cfg map[string]string) error {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	c.s.starts++
	if c.s.startErr != nil {
		if err := c.s.startErr(c.s.starts); err != nil {
			return err
		}
	}
	c.cfg = cfg
	return nil
}
func (c *scriptSource) TaskConfigs(max int) ([]map[string]string, error) {
	return []map[string]string{{"topic": c.cfg["topic"]}}, nil
}
func (c *scriptSource) Stop() error                 { return nil }
func (c *scriptSource) NewTask() connect.SourceTask { return &scriptTask{s: c.s} }

type scriptTask struct {
	s      *script
	inst   int
	opened bool
}

func (t *scriptTask) Open(context.Context, map[string]string, connect.SourceTaskContext) error {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	t.s.opens++
	if t.s.openErr != nil {
		if err := t.s.openErr(t.s.opens); err != nil {
			t.s.log(fmt.Sprintf("open %d failed", t.s.opens))
			return err
		}
	}
	t.s.instances++
	t.inst = t.s.instances
	t.opened = true
	t.s.active++
	t.s.maxActive = max(t.s.maxActive, t.s.active)
	t.s.log(fmt.Sprintf("open %d", t.inst))
	return nil
}

func (t *scriptTask) Poll(ctx context.Context) ([]*connect.Record, error) {
	if t.s.poll == nil {
		<-ctx.Done()
		return nil, nil
	}
	return t.s.poll(ctx, t.inst)
}

func (t *scriptTask) Commit(context.Context, []connect.SourceOffset) error { return nil }

func (t *scriptTask) Close() error {
	t.s.mu.Lock()
	defer t.s.mu.Unlock()
	if t.opened {
		t.s.active--
		t.s.log(fmt.Sprintf("close %d", t.inst))
	}
	return nil
}

// logCapture is a slog.Handler keeping the messages logged.
type logCapture struct {
	mu   *sync.Mutex
	msgs *[]string
}

func newLogCapture() logCapture { return logCapture{mu: &sync.Mutex{}, msgs: new([]string)} }

func (l logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l logCapture) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	l.mu.Lock()
	*l.msgs = append(*l.msgs, b.String())
	l.mu.Unlock()
	return nil
}
func (l logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l logCapture) WithGroup(string) slog.Handler      { return l }

func (l logCapture) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range *l.msgs {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}

// startScriptWorker starts a worker whose plugins include scriptSource.
func startScriptWorker(t *testing.T, cfg Config, s *script, log *slog.Logger) *Worker {
	t.Helper()
	plugins := append(testPlugins(newCollector()), connect.Plugin{
		Class: scriptSourceClass, Type: "source", Version: "1",
		New: func() connect.Connector { return &scriptSource{s: s} },
	})
	if log == nil {
		log = testLogger(t)
	}
	w, err := New(cfg, plugins, WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

func TestTaskPhaseTransitions(t *testing.T) {
	tests := []struct {
		from, to taskPhase
		ok       bool
	}{
		{phaseCreated, phaseStarting, true},
		{phaseStarting, phaseRunning, true},
		{phaseRunning, phaseStopping, true},
		{phaseStopping, phaseFenced, true},
		{phaseStopping, phaseStopped, true},
		{phaseFenced, phaseStopped, true},
		{phaseStopping, phaseRunning, false}, // a stopping task never runs again
		{phaseFenced, phaseRunning, false},
		{phaseStopped, phaseStarting, false}, // instances are not reused
		{phaseStopped, phaseStopping, false},
		{phaseRunning, phaseFenced, false}, // only a stop that timed out fences
	}
	for _, tc := range tests {
		if got := canMove(tc.from, tc.to); got != tc.ok {
			t.Errorf("%s -> %s: allowed=%v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
}

func TestStartRetryPolicy(t *testing.T) {
	tests := []struct {
		name   string
		conn   map[string]string
		max    int
		delays []time.Duration // delays of retries 1..n
		err    string
	}{
		{"debezium defaults", nil, -1, []time.Duration{300 * time.Millisecond, 600 * time.Millisecond, 1200 * time.Millisecond, 2400 * time.Millisecond, 4800 * time.Millisecond, 9600 * time.Millisecond, 10 * time.Second, 10 * time.Second}, ""},
		{"configured", map[string]string{"errors.max.retries": "3", "errors.retry.delay.initial.ms": "100", "errors.retry.delay.max.ms": "250"}, 3, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond}, ""},
		{"disabled", map[string]string{"errors.max.retries": "0"}, 0, nil, ""},
		{"initial above max", map[string]string{"errors.retry.delay.initial.ms": "5000", "errors.retry.delay.max.ms": "1000"}, -1, []time.Duration{time.Second, time.Second}, ""},
		{"bad retries", map[string]string{"errors.max.retries": "-2"}, 0, nil, "errors.max.retries"},
		{"bad delay", map[string]string{"errors.retry.delay.initial.ms": "x"}, 0, nil, "errors.retry.delay.initial.ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := parseStartRetry(tc.conn)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.max != tc.max {
				t.Errorf("max %d, want %d", r.max, tc.max)
			}
			for i, want := range tc.delays {
				if got := r.delay(i + 1); got != want {
					t.Errorf("delay of retry %d = %s, want %s", i+1, got, want)
				}
			}
		})
	}
}

// TestRetriableStartRetried checks that a task whose Open fails with a
// retriable error is retried with backoff (status RESTARTING with the
// error, a log line per retry) and FAILED only when the retries are used
// up or the error is not retriable.
func TestRetriableStartRetried(t *testing.T) {
	retriable := connect.Retriable(errors.New("connection refused"))
	tests := []struct {
		name      string
		failures  int   // failing Open attempts before one succeeds
		err       error // the failing attempts' error
		retries   string
		wantState api.State
		wantOpens int
		wantTrace string
	}{
		{"recovers", 2, retriable, "5", api.Running, 3, ""},
		{"exhausted", 10, retriable, "2", api.Failed, 3, "giving up after 3 attempts (errors.max.retries=2)"},
		{"not retriable", 10, errors.New("bad password"), "5", api.Failed, 1, "bad password"},
		{"retries disabled", 10, retriable, "0", api.Failed, 1, "errors.max.retries=0"},
	}
	bs := startKfake(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{openErr: func(n int) error {
				if n <= tc.failures {
					return tc.err
				}
				return nil
			}}
			logs := newLogCapture()
			w := startScriptWorker(t, testConfig(bs, testPrefix(t), 1), s, slog.New(logs))
			ctx := context.Background()
			_, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "flaky", Config: map[string]string{
				"connector.class": scriptSourceClass, "topic": testPrefix(t),
				"errors.max.retries": tc.retries, "errors.retry.delay.initial.ms": "10", "errors.retry.delay.max.ms": "40",
			}})
			if err != nil {
				t.Fatal(err)
			}
			var st api.TaskState
			waitFor(t, 30*time.Second, "task "+string(tc.wantState), func() error {
				cs, err := w.ConnectorStatus(ctx, "flaky")
				if err != nil {
					return err
				}
				if len(cs.Tasks) != 1 || cs.Tasks[0].State != tc.wantState {
					return fmt.Errorf("%+v", cs.Tasks)
				}
				st = cs.Tasks[0]
				return nil
			})
			opens, _, _, _ := s.snapshot()
			if opens != tc.wantOpens {
				t.Errorf("%d Open attempts, want %d", opens, tc.wantOpens)
			}
			if !strings.Contains(st.Trace, tc.wantTrace) {
				t.Errorf("trace %q does not contain %q", st.Trace, tc.wantTrace)
			}
			if got, want := logs.count("retrying"), tc.wantOpens-1; got != want {
				t.Errorf("%d retry log lines, want %d", got, want)
			}
		})
	}
}

// TestStopBlockedInProduceNoZombie stops (restarts) a source task whose
// loop is blocked in Produce (buffer full, the broker holding the produce
// request): the old instance is closed before the new one opens.
func TestStopBlockedInProduceNoZombie(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.DefaultNumPartitions(1),
		kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	bs := c.ListenAddrs()[0]
	prefix := testPrefix(t)
	topic := prefix + "-data"
	adm, err := kgo.NewClient(kgo.SeedBrokers(bs))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	created, err := kadm.NewClient(adm).CreateTopic(ctx, 1, 1, nil, topic)
	adm.Close()
	if err == nil {
		err = created.Err
	}
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var releaseOnce sync.Once
	unhold := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unhold)
	held := make(chan struct{}, 1)
	c.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		for _, tp := range req.(*kmsg.ProduceRequest).Topics {
			if tp.Topic == topic || tp.TopicID == created.ID {
				select {
				case held <- struct{}{}:
				default:
				}
				c.SleepControl(func() { <-release })
			}
		}
		return nil, nil, false
	})

	s := &script{}
	polled := make(chan int, 1000)
	s.poll = func(ctx context.Context, inst int) ([]*connect.Record, error) {
		select {
		case polled <- inst:
		default:
		}
		n := len(polled)
		v := fmt.Sprintf("i%d-%d", inst, n)
		return []*connect.Record{{Topic: topic, Partition: -1, Value: v,
			SourcePartition: map[string]any{"p": "x"}, SourceOffset: map[string]any{"n": int64(n)}}}, nil
	}
	cfg := testConfig(bs, prefix, 1)
	cfg.OffsetFlushTimeout = time.Second
	w := startScriptWorker(t, cfg, s, nil)
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "blocked", Config: map[string]string{
		"connector.class": scriptSourceClass, "topic": topic,
		// Room for one record: the loop blocks in Produce on the next.
		"producer.override.buffer.memory": "60", "producer.override.linger.ms": "0",
	}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-held:
	case <-ctx.Done():
		t.Fatal("no produce request reached the broker")
	}
	// The first record is held by the broker; polls go on until the loop
	// blocks in Produce for want of buffer space.
	waitFor(t, 30*time.Second, "task blocked in Produce", func() error {
		if n := len(polled); n < 3 {
			return fmt.Errorf("%d polls", n)
		}
		return nil
	})
	if err := w.RestartTask(ctx, "blocked", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "second instance open", func() error {
		if _, _, _, ev := s.snapshot(); !strings.Contains(strings.Join(ev, ","), "open 2") {
			return fmt.Errorf("events %v", ev)
		}
		return nil
	})
	_, _, maxActive, ev := s.snapshot()
	if maxActive != 1 {
		t.Errorf("%d instances were open at once (events %v), want 1", maxActive, ev)
	}
	if i1, i2 := indexOf(ev, "close 1"), indexOf(ev, "open 2"); i1 < 0 || i1 > i2 {
		t.Errorf("instance 1 not closed before instance 2 opened: %v", ev)
	}
	unhold()
}

// TestStuckTaskFencedBeforeSuccessor stops a source task whose Poll
// ignores its context: after the shutdown timeout the instance is fenced,
// and what it returns afterwards never reaches Kafka.
func TestStuckTaskFencedBeforeSuccessor(t *testing.T) {
	bs := startKfake(t)
	prefix := testPrefix(t)
	topic := prefix + "-data"
	unblock := make(chan struct{})
	var unblockOnce sync.Once
	t.Cleanup(func() { unblockOnce.Do(func() { close(unblock) }) })
	zombieDone := make(chan struct{})
	s := &script{}
	s.poll = func(ctx context.Context, inst int) ([]*connect.Record, error) {
		if inst == 1 {
			select {
			case <-unblock: // ignores ctx, like a task stuck in a driver call
				defer close(zombieDone)
				return []*connect.Record{{Topic: topic, Partition: -1, Value: "zombie",
					SourcePartition: map[string]any{"p": "x"}, SourceOffset: map[string]any{"n": int64(99)}}}, nil
			case <-time.After(time.Hour):
				return nil, nil
			}
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(20 * time.Millisecond):
		}
		return []*connect.Record{{Topic: topic, Partition: -1, Value: fmt.Sprintf("i%d", inst),
			SourcePartition: map[string]any{"p": "x"}, SourceOffset: map[string]any{"n": int64(inst)}}}, nil
	}
	cfg := testConfig(bs, prefix, 1)
	cfg.TaskShutdownTimeout = 500 * time.Millisecond
	cfg.OffsetFlushTimeout = 500 * time.Millisecond
	w := startScriptWorker(t, cfg, s, nil)
	ctx := context.Background()
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "stuck", Config: map[string]string{
		"connector.class": scriptSourceClass, "topic": topic,
	}}); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "stuck", api.Running, 1)
	var old *taskRunner
	waitFor(t, 10*time.Second, "task runner", func() error {
		old = w.taskSnapshot()[taskKey{"stuck", 0}]
		if old == nil {
			return errors.New("no runner")
		}
		return nil
	})
	if err := w.RestartTask(ctx, "stuck", 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "second instance producing", func() error {
		if topicValues(t, bs, topic)["i2"] == 0 {
			return errors.New("no record of instance 2 yet")
		}
		return nil
	})
	if p := old.currentPhase(); p != phaseFenced {
		t.Errorf("old instance is %s, want fenced", p)
	}
	unblockOnce.Do(func() { close(unblock) })
	<-zombieDone
	<-old.done
	if n := topicValues(t, bs, topic)["zombie"]; n != 0 {
		t.Errorf("the fenced instance wrote %d records", n)
	}
	if off, _ := w.offsets.get("stuck", map[string]any{"p": "x"}); off != nil && off["n"] == int64(99) {
		t.Errorf("the fenced instance committed its offset %v", off)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestProduceErrorWithoutSourceOffset checks that a record without a
// source partition/offset that Kafka rejects fails the task with
// errors.tolerance=none and is logged and skipped with all, instead of
// being dropped silently.
func TestProduceErrorWithoutSourceOffset(t *testing.T) {
	bs := startKfake(t)
	tests := []struct {
		tolerance string
		want      api.State
	}{
		{"none", api.Failed},
		{"all", api.Running},
	}
	for _, tc := range tests {
		t.Run(tc.tolerance, func(t *testing.T) {
			topic := testPrefix(t)
			s := &script{}
			s.poll = func(ctx context.Context, inst int) ([]*connect.Record, error) {
				s.mu.Lock()
				s.polls++
				n := s.polls
				s.mu.Unlock()
				if n == 1 { // first poll: a record too large for the producer
					return []*connect.Record{{Topic: topic, Partition: -1, Value: strings.Repeat("x", 2<<20)}}, nil
				}
				select {
				case <-ctx.Done():
					return nil, nil
				case <-time.After(20 * time.Millisecond):
				}
				return []*connect.Record{{Topic: topic, Partition: -1, Value: "small"}}, nil
			}
			logs := newLogCapture()
			w := startScriptWorker(t, testConfig(bs, testPrefix(t), 1), s, slog.New(logs))
			ctx := context.Background()
			if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "nooff", Config: map[string]string{
				"connector.class": scriptSourceClass, "topic": topic,
				"errors.tolerance": tc.tolerance, "errors.log.enable": "true",
			}}); err != nil {
				t.Fatal(err)
			}
			if tc.want == api.Failed {
				waitFor(t, 30*time.Second, "task FAILED", func() error {
					cs, err := w.ConnectorStatus(ctx, "nooff")
					if err != nil {
						return err
					}
					if len(cs.Tasks) != 1 || cs.Tasks[0].State != api.Failed {
						return fmt.Errorf("%+v", cs.Tasks)
					}
					if tr := cs.Tasks[0].Trace; !strings.Contains(tr, "MESSAGE_TOO_LARGE") || !strings.Contains(tr, "topic "+topic) {
						t.Errorf("trace %q does not name the error and the record's topic", tr)
					}
					return nil
				})
				return
			}
			waitFor(t, 30*time.Second, "later records delivered", func() error {
				if topicValues(t, bs, topic)["small"] < 3 {
					return errors.New("too few records")
				}
				return nil
			})
			if logs.count("error tolerated") == 0 || logs.count("MESSAGE_TOO_LARGE") == 0 {
				t.Error("the tolerated produce error was not logged")
			}
			waitState(t, w, "nooff", api.Running, 1)
		})
	}
}

// TestRetriableConnectorStartRetried checks that a connector whose Start
// fails with a retriable error is retried with backoff (RESTARTING with
// the error meanwhile) and FAILED once errors.max.retries is used up.
func TestRetriableConnectorStartRetried(t *testing.T) {
	bs := startKfake(t)
	tests := []struct {
		name      string
		failures  int
		retries   string
		want      api.State
		wantTries int
	}{
		{"recovers", 2, "5", api.Running, 3},
		{"exhausted", 10, "1", api.Failed, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{startErr: func(n int) error {
				if n <= tc.failures {
					return connect.Retriable(errors.New("source system unreachable"))
				}
				return nil
			}}
			w := startScriptWorker(t, testConfig(bs, testPrefix(t), 1), s, nil)
			ctx := context.Background()
			if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "c", Config: map[string]string{
				"connector.class": scriptSourceClass, "topic": testPrefix(t),
				"errors.max.retries": tc.retries, "errors.retry.delay.initial.ms": "10", "errors.retry.delay.max.ms": "20",
			}}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "connector "+string(tc.want), func() error {
				st, err := w.ConnectorStatus(ctx, "c")
				if err != nil {
					return err
				}
				if st.Connector.State != tc.want {
					return fmt.Errorf("%+v", st.Connector)
				}
				if tc.want == api.Failed && !strings.Contains(st.Connector.Trace, "giving up after 2 attempts") {
					return fmt.Errorf("trace %q", st.Connector.Trace)
				}
				return nil
			})
			s.mu.Lock()
			starts := s.starts
			s.mu.Unlock()
			if starts != tc.wantTries {
				t.Errorf("%d Start attempts, want %d", starts, tc.wantTries)
			}
		})
	}
}
