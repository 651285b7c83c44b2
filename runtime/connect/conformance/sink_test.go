package conformance

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

// memStore is the "external system" of memSink.
type memStore struct {
	mu      sync.Mutex
	vals    []string
	stalled chan struct{} // non-nil while stalled; closed on release
	waiting atomic.Int32
}

// memSink is an in-memory sink. Put buffers, Flush appends the buffer to
// the store; lossy makes Flush drop it while still reporting every offset
// as safe, the bug the suite must catch.
type memSink struct {
	mu     sync.Mutex
	stores map[string]*memStore
	lossy  bool
}

func (m *memSink) store(id string) *memStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stores[id]
}

func (m *memSink) plugin() connect.Plugin {
	return connect.Plugin{Class: "test.MemSink", Type: "sink", Version: "1",
		New: func() connect.Connector { return &memConn{m: m} }}
}

type memConn struct {
	m   *memSink
	cfg map[string]string
}

func (c *memConn) ConfigDef() connect.ConfigDef {
	return connect.ConfigDef{{Name: "mem.store", Type: connect.TypeString, Importance: connect.High, Doc: "store id",
		Validate: func(v string) error {
			if c.m.store(v) == nil {
				return fmt.Errorf("no store %q", v)
			}
			return nil
		}}}
}
func (c *memConn) Start(_ context.Context, cfg map[string]string) error { c.cfg = cfg; return nil }
func (c *memConn) TaskConfigs(int) ([]map[string]string, error) {
	return []map[string]string{c.cfg}, nil
}
func (c *memConn) Stop() error               { return nil }
func (c *memConn) NewTask() connect.SinkTask { return &memTask{m: c.m} }

type memTask struct {
	m   *memSink
	st  *memStore
	buf []string
}

func (t *memTask) Open(_ context.Context, cfg map[string]string, _ connect.SinkTaskContext) error {
	t.st = t.m.store(cfg["mem.store"])
	return nil
}
func (t *memTask) Assign(context.Context, []connect.TopicPartition) error { return nil }
func (t *memTask) Put(ctx context.Context, recs []*connect.Record) error {
	t.st.mu.Lock()
	stall := t.st.stalled
	t.st.mu.Unlock()
	if stall != nil && len(recs) > 0 {
		t.st.waiting.Add(1)
		defer t.st.waiting.Add(-1)
		select {
		case <-stall:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, r := range recs {
		t.buf = append(t.buf, fmt.Sprint(r.Value))
	}
	return nil
}
func (t *memTask) Flush(_ context.Context, cur map[connect.TopicPartition]int64) (map[connect.TopicPartition]int64, error) {
	if !t.m.lossy {
		t.st.mu.Lock()
		t.st.vals = append(t.st.vals, t.buf...)
		t.st.mu.Unlock()
	}
	t.buf = nil
	return cur, nil
}
func (t *memTask) Revoke(context.Context, []connect.TopicPartition) error { t.buf = nil; return nil }
func (t *memTask) Close() error                                           { return nil }

func memSuite(m *memSink) Sink {
	return Sink{
		Plugins: []connect.Plugin{m.plugin()},
		Class:   "test.MemSink",
		Config: func(t *testing.T, topic string) map[string]string {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.stores[topic] = &memStore{}
			return map[string]string{"connector.class": "test.MemSink", "topics": topic, "mem.store": topic}
		},
		Delivered: func(t *testing.T, cfg map[string]string) (int, int) {
			st := m.store(cfg["mem.store"])
			st.mu.Lock()
			defer st.mu.Unlock()
			seen := map[string]bool{}
			for _, v := range st.vals {
				seen[v] = true
			}
			return len(seen), len(st.vals)
		},
		Stall: func(t *testing.T, cfg map[string]string) (func() bool, func()) {
			st := m.store(cfg["mem.store"])
			st.mu.Lock()
			ch := make(chan struct{})
			st.stalled = ch
			st.mu.Unlock()
			return func() bool { return st.waiting.Load() > 0 }, func() {
				st.mu.Lock()
				st.stalled = nil
				st.mu.Unlock()
				close(ch)
			}
		},
		BadConfig: func(cfg map[string]string) string {
			cfg["mem.store"] = "missing"
			return "mem.store"
		},
	}
}

// TestSinkSuite runs the sink suite against a correct in-memory sink
// (which SLUICE_CONFORMANCE_LOSSY=1 turns lossy, for TestSinkSuiteCatchesLoss).
func TestSinkSuite(t *testing.T) {
	m := &memSink{stores: map[string]*memStore{}, lossy: os.Getenv("SLUICE_CONFORMANCE_LOSSY") == "1"}
	RunSink(t, memSuite(m))
}

// TestSinkSuiteCatchesLoss runs the flush-before-commit subtest against a
// sink whose Flush loses data but reports every offset as safe, in a
// child process, and expects it to fail naming the premature commit.
func TestSinkSuiteCatchesLoss(t *testing.T) {
	if os.Getenv("SLUICE_CONFORMANCE_LOSSY") == "1" {
		t.Skip("child process")
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSinkSuite$/^flush_before_commit$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SLUICE_CONFORMANCE_LOSSY=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the suite passed a sink that loses flushed data:\n%s", out)
	}
	if !strings.Contains(string(out), "committed before the data was flushed") {
		t.Errorf("the suite failed, but not on the premature commit:\n%s", out)
	}
}
