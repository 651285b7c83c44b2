package opensearch

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/worker"
)

// trackedConnector is the OpenSearch connector whose tasks the test can
// inspect.
type trackedConnector struct {
	*Connector
	mu    *sync.Mutex
	tasks *[]*Task
}

func (c trackedConnector) NewTask() connect.SinkTask { return trackedTask{NewTask(), c} }

// trackedTask registers its Task once it is open.
type trackedTask struct {
	*Task
	c trackedConnector
}

func (t trackedTask) Open(ctx context.Context, cfg map[string]string, tctx connect.SinkTaskContext) error {
	if err := t.Task.Open(ctx, cfg, tctx); err != nil {
		return err
	}
	t.c.mu.Lock()
	*t.c.tasks = append(*t.c.tasks, t.Task)
	t.c.mu.Unlock()
	return nil
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() error) {
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

// TestBackpressurePausesAndKeepsPolling runs the sink in a worker against
// the sluice broker while every _bulk request is rejected with 429. The
// task must pause its partitions at max.buffered.records instead of
// blocking Put, so the consumer keeps polling: another member joining the
// sink's consumer group completes its rebalance during the storm (a
// blocked Put would hold it for the 60 s rebalance timeout). After the
// storm every record is indexed with its latest value.
func TestBackpressurePausesAndKeepsPolling(t *testing.T) {
	bs := testenv.StartBroker(t, broker.WithDefaultPartitions(3))
	srv := opensearchtest.Start(opensearchtest.WithFaults(opensearchtest.Faults{Request429: 1}))
	defer srv.Close()
	topic := "bp-in"
	const count, maxBuffered = 600, 60

	prod, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var recs []*kgo.Record
	for i := range count {
		recs = append(recs, &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i)), Value: []byte(fmt.Sprintf(`{"n":%d}`, i))})
	}
	if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var tasks []*Task
	plugin := Plugin()
	plugin.Class, plugin.Aliases = "test.TrackedOpenSearch", nil
	plugin.New = func() connect.Connector { return trackedConnector{&Connector{}, &mu, &tasks} }
	cfg := worker.DefaultConfig()
	cfg.BootstrapServers = []string{bs}
	cfg.GroupID, cfg.ConfigTopic, cfg.OffsetTopic, cfg.StatusTopic = "bp-workers", "bp-configs", "bp-offsets", "bp-status"
	cfg.OffsetPartitions, cfg.StatusPartitions = 3, 1
	cfg.KeyConverter, cfg.ValueConverter = "string", "json"
	cfg.ValueConverterConfig = map[string]string{"schemas.enable": "false"}
	cfg.OffsetFlushInterval = 200 * time.Millisecond
	cfg.SessionTimeout, cfg.HeartbeatInterval = 6*time.Second, 200*time.Millisecond
	cfg.RebalanceTimeout, cfg.TaskShutdownTimeout = 10*time.Second, 3*time.Second
	w, err := worker.New(cfg, []connect.Plugin{plugin}, worker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Start(sctx); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	group := "bp-sink-group"
	if _, err := w.CreateConnector(context.Background(), api.CreateConnectorRequest{Name: "os", Config: map[string]string{
		"connector.class": plugin.Class, "tasks.max": "1", "topics": topic,
		"consumer.override.group.id": group, "consumer.override.max.poll.records": "20",
		KeyURL: srv.URL, KeyBatchSize: "10", KeyMaxBuffered: fmt.Sprint(maxBuffered), KeyLinger: "1",
		KeyMaxRetries: "100000", KeyRetryBackoff: "5", KeyFlushTimeout: "300", KeyMaxInFlight: "2",
		"schema.ignore": "true",
	}}); err != nil {
		t.Fatal(err)
	}

	task := func() *Task {
		mu.Lock()
		defer mu.Unlock()
		if len(tasks) == 0 {
			return nil
		}
		return tasks[len(tasks)-1]
	}
	state := func(tk *Task) (unresolved int, pausing bool) {
		tk.pauseMu.Lock()
		pausing = tk.pausing
		tk.pauseMu.Unlock()
		tk.mu.Lock()
		defer tk.mu.Unlock()
		return tk.unresolved, pausing
	}
	waitUntil(t, 30*time.Second, "the task pausing at max.buffered.records", func() error {
		tk := task()
		if tk == nil {
			return fmt.Errorf("task not open")
		}
		n, p := state(tk)
		if !p || n < maxBuffered {
			return fmt.Errorf("unresolved %d, pausing %v", n, p)
		}
		return nil
	})

	// A second member joins the sink's group during the storm; its
	// rebalance completes only if the sink task's consumer keeps polling.
	assigned := make(chan struct{}, 1)
	other, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(200*time.Millisecond),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			if len(m[topic]) > 0 {
				select {
				case assigned <- struct{}{}:
				default:
				}
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	pctx, pcancel := context.WithCancel(context.Background())
	polled := make(chan struct{})
	go func() { // poll (and drop) so the member takes part; it never commits
		defer close(polled)
		for pctx.Err() == nil {
			other.PollFetches(pctx)
		}
	}()
	select {
	case <-assigned:
	case <-time.After(30 * time.Second):
		t.Fatal("the second group member got no partitions during the storm: the sink consumer stopped polling")
	}
	if st, err := w.TaskStatus(context.Background(), "os", 0); err != nil || st.State != api.Running {
		t.Fatalf("task during the storm: %+v %v", st, err)
	}
	if n, _ := state(task()); n >= 2*maxBuffered {
		t.Fatalf("unresolved %d records, beyond the hard cap %d", n, 2*maxBuffered)
	}
	if len(srv.Docs(topic)) != 0 {
		t.Fatalf("documents indexed while every request was rejected")
	}
	pcancel()
	<-polled
	other.Close() // leaves the group; its partitions go back to the sink

	srv.SetFaults(opensearchtest.Faults{})
	waitUntil(t, 60*time.Second, "every record indexed after the storm", func() error {
		docs := srv.Docs(topic)
		if len(docs) != count {
			return fmt.Errorf("%d of %d documents", len(docs), count)
		}
		for i := range count {
			d := docs[fmt.Sprintf("k%d", i)]
			if d == nil || fmt.Sprint(d["n"]) != fmt.Sprint(i) {
				return fmt.Errorf("document k%d is %v", i, d)
			}
		}
		return nil
	})
	if v := srv.Violations(); len(v) > 0 {
		t.Fatalf("server violations: %v", v)
	}
	waitUntil(t, 20*time.Second, "resumed and drained", func() error {
		if n, p := state(task()); n != 0 || p {
			return fmt.Errorf("unresolved %d, pausing %v", n, p)
		}
		return nil
	})
	if st := srv.Stats(); st.RequestRejected == 0 {
		t.Fatalf("the storm rejected nothing: %+v", st)
	}
}

// pauseCtx is a SinkTaskContext recording pauses.
type pauseCtx struct {
	mu      sync.Mutex
	assign  []connect.TopicPartition
	paused  map[connect.TopicPartition]bool
	resumes int
}

func (c *pauseCtx) Assignment() []connect.TopicPartition  { return c.assign }
func (c *pauseCtx) Seek(map[connect.TopicPartition]int64) {}
func (c *pauseCtx) RequestCommit()                        {}
func (c *pauseCtx) Logger() *slog.Logger                  { return slog.New(slog.DiscardHandler) }
func (c *pauseCtx) ConnectorName() string                 { return "os" }
func (c *pauseCtx) TaskID() int                           { return 0 }
func (c *pauseCtx) Pause(tps ...connect.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range tps {
		c.paused[tp] = true
	}
}
func (c *pauseCtx) Resume(tps ...connect.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.resumes++
	for _, tp := range tps {
		delete(c.paused, tp)
	}
}
func (c *pauseCtx) state() (paused, resumes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.paused), c.resumes
}

// TestPutPausesAtLimitAndResumes checks the task side: Put returns at
// max.buffered.records having paused every assigned partition, Flush
// reports nothing unacknowledged, and once the rejections stop the
// partitions are resumed and every offset becomes committable.
func TestPutPausesAtLimitAndResumes(t *testing.T) {
	srv := opensearchtest.Start(opensearchtest.WithFaults(opensearchtest.Faults{Request429: 1}))
	defer srv.Close()
	p0, p1 := connect.TopicPartition{Topic: "bp", Partition: 0}, connect.TopicPartition{Topic: "bp", Partition: 1}
	pc := &pauseCtx{assign: []connect.TopicPartition{p0, p1}, paused: map[connect.TopicPartition]bool{}}
	task := NewTask()
	task.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() }
	cfg := map[string]string{KeyURL: srv.URL, KeyBatchSize: "10", KeyMaxBuffered: "20", KeyMaxRetries: "1000000",
		KeyFlushTimeout: "50", KeyLinger: "1", KeyMaxInFlight: "2"}
	if err := task.Open(context.Background(), cfg, pc); err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	ctx := context.Background()
	var recs []*connect.Record
	for i := range 30 {
		recs = append(recs, record("bp", int32(i%2), int64(i/2), int64(i), fmt.Sprintf("n%d", i)))
	}
	done := make(chan error, 1)
	go func() { done <- task.Put(ctx, recs) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Put blocked at max.buffered.records instead of pausing")
	}
	if n, _ := pc.state(); n != 2 {
		t.Fatalf("%d partitions paused, want both", n)
	}
	cur := map[connect.TopicPartition]int64{p0: 15, p1: 15}
	got, err := task.Flush(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	for tp, o := range got {
		if o > 0 {
			t.Fatalf("flush offered %v=%d for unacknowledged records", tp, o)
		}
	}
	srv.SetFaults(opensearchtest.Faults{})
	waitUntil(t, 30*time.Second, "resume and commit", func() error {
		got, err := task.Flush(ctx, cur)
		if err != nil {
			return err
		}
		if n, r := pc.state(); n != 0 || r == 0 {
			return fmt.Errorf("%d partitions paused, %d resumes", n, r)
		}
		if got[p0] != 15 || got[p1] != 15 {
			return fmt.Errorf("flush returned %v", got)
		}
		return nil
	})
	if n := len(srv.Docs("bp")); n != 30 {
		t.Fatalf("%d documents, want 30", n)
	}
}
