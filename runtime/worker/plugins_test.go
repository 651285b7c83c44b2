package worker

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Test-only connectors: numSource emits numbered records, collectSink
// collects records in memory, copySink copies records to another topic.

const (
	numSourceClass   = "test.NumSource"
	collectSinkClass = "test.CollectSink"
	copySinkClass    = "test.CopySink"
)

type numSource struct {
	cfg     map[string]string
	mu      sync.Mutex
	request func()
	extra   int // bumped by tests to change task configs
	hook    func(*numSource)
}

func (c *numSource) SetRequestReconfiguration(f func()) {
	c.mu.Lock()
	c.request = f
	c.mu.Unlock()
	if c.hook != nil {
		c.hook(c)
	}
}

// bump changes the task configs and asks for reconfiguration.
func (c *numSource) bump() {
	c.mu.Lock()
	c.extra++
	f := c.request
	c.mu.Unlock()
	f()
}

func (c *numSource) ConfigDef() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "topic", Type: connect.TypeString, Importance: connect.High},
		{Name: "count", Type: connect.TypeInt, Importance: connect.High, Validate: connect.AtLeast(0)},
		{Name: "batch", Type: connect.TypeInt, Default: "10", HasDefault: true},
		{Name: "poll.delay.ms", Type: connect.TypeInt, Default: "0", HasDefault: true},
		{Name: "db.password", Type: connect.TypePassword, Default: "", HasDefault: true},
	}
}
func (c *numSource) Start(_ context.Context, cfg map[string]string) error { c.cfg = cfg; return nil }
func (c *numSource) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		m := map[string]string{}
		for k, v := range c.cfg {
			m[k] = v
		}
		m["task.index"] = strconv.Itoa(i)
		c.mu.Lock()
		if c.extra > 0 {
			m["extra"] = strconv.Itoa(c.extra)
		}
		c.mu.Unlock()
		out[i] = m
	}
	return out, nil
}
func (c *numSource) Stop() error                 { return nil }
func (c *numSource) NewTask() connect.SourceTask { return &numSourceTask{} }

type numSourceTask struct {
	topic string
	task  int
	next  int64
	count int64
	batch int
	delay time.Duration
}

func (t *numSourceTask) Open(ctx context.Context, cfg map[string]string, tctx connect.SourceTaskContext) error {
	c := connect.Config(cfg)
	t.topic, t.task, t.count, t.batch = c.String("topic"), c.Int("task.index"), c.Int64("count"), c.Int("batch")
	t.delay = time.Duration(c.Int("poll.delay.ms")) * time.Millisecond
	if t.batch <= 0 {
		t.batch = 10
	}
	off, err := tctx.Offsets().Offset(ctx, map[string]any{"task": int64(t.task)})
	if err != nil {
		return err
	}
	if off != nil {
		n, ok := off["n"].(int64)
		if !ok {
			return fmt.Errorf("offset n has type %T", off["n"])
		}
		t.next = n + 1
	}
	return nil
}

func (t *numSourceTask) Poll(ctx context.Context) ([]*connect.Record, error) {
	if t.delay > 0 {
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(t.delay):
		}
	}
	if t.next >= t.count {
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
		return nil, nil
	}
	var out []*connect.Record
	for i := 0; i < t.batch && t.next < t.count; i++ {
		v := fmt.Sprintf("t%d-%d", t.task, t.next)
		out = append(out, &connect.Record{
			Topic: t.topic, Partition: -1, Key: v, Value: v,
			SourcePartition: map[string]any{"task": int64(t.task)},
			SourceOffset:    map[string]any{"n": t.next},
		})
		t.next++
	}
	return out, nil
}
func (t *numSourceTask) Commit(context.Context, []connect.SourceOffset) error { return nil }
func (t *numSourceTask) Close() error                                         { return nil }

// collector gathers what sink tasks received.
type collector struct {
	mu     sync.Mutex
	counts map[string]int
	total  int
	recs   []*connect.Record
	tctx   connect.SinkTaskContext // of the last opened collectTask
}

// context returns the task context of the last opened collectTask.
func (c *collector) context() connect.SinkTaskContext {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tctx
}

func newCollector() *collector { return &collector{counts: map[string]int{}} }

func (c *collector) add(rs []*connect.Record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range rs {
		c.counts[fmt.Sprint(r.Value)]++
		c.total++
		c.recs = append(c.recs, r)
	}
}

func (c *collector) stats() (distinct, total int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.counts), c.total
}

type collectSink struct {
	col *collector
	cfg map[string]string
}

func (c *collectSink) ConfigDef() connect.ConfigDef                         { return nil }
func (c *collectSink) Start(_ context.Context, cfg map[string]string) error { c.cfg = cfg; return nil }
func (c *collectSink) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		out[i] = map[string]string{"task.index": strconv.Itoa(i), "seek.offset": c.cfg["seek.offset"], "flush.hold": c.cfg["flush.hold"]}
	}
	return out, nil
}
func (c *collectSink) Stop() error               { return nil }
func (c *collectSink) NewTask() connect.SinkTask { return &collectTask{col: c.col} }

// collectTask seeks every assigned partition to seek.offset when set;
// with flush.hold=true its Flush reports nothing durable, so nothing is
// ever committed.
type collectTask struct {
	col  *collector
	tctx connect.SinkTaskContext
	seek string
	hold bool
}

func (t *collectTask) Open(_ context.Context, cfg map[string]string, tctx connect.SinkTaskContext) error {
	t.tctx, t.seek, t.hold = tctx, cfg["seek.offset"], cfg["flush.hold"] == "true"
	t.col.mu.Lock()
	t.col.tctx = tctx
	t.col.mu.Unlock()
	return nil
}
func (t *collectTask) Assign(_ context.Context, tps []connect.TopicPartition) error {
	if t.seek == "" {
		return nil
	}
	n, err := strconv.ParseInt(t.seek, 10, 64)
	if err != nil {
		return err
	}
	m := map[connect.TopicPartition]int64{}
	for _, tp := range tps {
		m[tp] = n
	}
	t.tctx.Seek(m)
	return nil
}
func (t *collectTask) Put(_ context.Context, rs []*connect.Record) error {
	t.col.add(rs)
	return nil
}
func (t *collectTask) Flush(_ context.Context, cur map[connect.TopicPartition]int64) (map[connect.TopicPartition]int64, error) {
	if t.hold {
		return nil, nil
	}
	return cur, nil
}
func (t *collectTask) Revoke(context.Context, []connect.TopicPartition) error { return nil }
func (t *collectTask) Close() error                                           { return nil }

// copySink writes every record's value synchronously to out.topic, so
// results survive a worker process.
type copySink struct{ cfg map[string]string }

func (c *copySink) ConfigDef() connect.ConfigDef {
	return connect.ConfigDef{{Name: "out.topic", Type: connect.TypeString, Importance: connect.High}, {Name: "bootstrap", Type: connect.TypeString, Importance: connect.High}}
}
func (c *copySink) Start(_ context.Context, cfg map[string]string) error { c.cfg = cfg; return nil }
func (c *copySink) TaskConfigs(max int) ([]map[string]string, error) {
	out := make([]map[string]string, max)
	for i := range out {
		out[i] = map[string]string{"out.topic": c.cfg["out.topic"], "bootstrap": c.cfg["bootstrap"]}
	}
	return out, nil
}
func (c *copySink) Stop() error               { return nil }
func (c *copySink) NewTask() connect.SinkTask { return &copyTask{} }

type copyTask struct {
	cl    *kgo.Client
	topic string
}

func (t *copyTask) Open(_ context.Context, cfg map[string]string, _ connect.SinkTaskContext) error {
	t.topic = cfg["out.topic"]
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg["bootstrap"]), kgo.AllowAutoTopicCreation())
	t.cl = cl
	return err
}
func (t *copyTask) Assign(context.Context, []connect.TopicPartition) error { return nil }
func (t *copyTask) Put(ctx context.Context, rs []*connect.Record) error {
	var krs []*kgo.Record
	for _, r := range rs {
		krs = append(krs, &kgo.Record{Topic: t.topic, Value: []byte(fmt.Sprint(r.Value))})
	}
	return t.cl.ProduceSync(ctx, krs...).FirstErr()
}
func (t *copyTask) Flush(_ context.Context, cur map[connect.TopicPartition]int64) (map[connect.TopicPartition]int64, error) {
	return cur, nil
}
func (t *copyTask) Revoke(context.Context, []connect.TopicPartition) error { return nil }
func (t *copyTask) Close() error {
	t.cl.Close()
	return nil
}

func testPlugins(col *collector) []connect.Plugin {
	return []connect.Plugin{
		{Class: numSourceClass, Aliases: []string{"NumSource"}, Type: "source", Version: "1", New: func() connect.Connector { return &numSource{} }},
		{Class: collectSinkClass, Type: "sink", Version: "1", New: func() connect.Connector { return &collectSink{col: col} }},
		{Class: copySinkClass, Type: "sink", Version: "1", New: func() connect.Connector { return &copySink{} }},
	}
}
