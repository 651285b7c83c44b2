package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

func produceRaw(t *testing.T, bs, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, v := range values {
		recs = append(recs, &kgo.Record{Value: []byte(v), Partition: 0})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestSinkDeadLetterQueueAndTransforms(t *testing.T) {
	forEachBackend(t, testSinkDeadLetterQueueAndTransforms)
}

func testSinkDeadLetterQueueAndTransforms(t *testing.T, bs string) {
	prefix := testPrefix(t)
	col := newCollector()
	w := startWorker(t, testConfig(bs, prefix, 1), col)
	ctx := context.Background()
	in, dlq := prefix+"-in", prefix+"-dlq"
	var vals []string
	bad := map[string]bool{}
	for i := 0; i < 30; i++ {
		if i%5 == 2 {
			v := fmt.Sprintf("not json %d", i)
			bad[v] = true
			vals = append(vals, v)
		} else {
			vals = append(vals, fmt.Sprintf(`{"n":%d}`, i))
		}
	}
	produceRaw(t, bs, in, vals...)
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "sink", Config: map[string]string{
		"connector.class":                                 collectSinkClass,
		"consumer.override.group.id":                      prefix + "-sink",
		"topics":                                          in,
		"value.converter":                                 "org.apache.kafka.connect.json.JsonConverter",
		"value.converter.schemas.enable":                  "false",
		"errors.tolerance":                                "all",
		"errors.log.enable":                               "true",
		"errors.deadletterqueue.topic.name":               dlq,
		"errors.deadletterqueue.topic.replication.factor": "1",
		"errors.deadletterqueue.context.headers.enable":   "true",
		"transforms":                                      "route",
		"transforms.route.type":                           "org.apache.kafka.connect.transforms.RegexRouter",
		"transforms.route.regex":                          "(.*)",
		"transforms.route.replacement":                    "routed-$1",
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "good records", func() error {
		if d, n := col.stats(); d != 24 || n != 24 {
			return fmt.Errorf("distinct %d total %d", d, n)
		}
		return nil
	})
	col.mu.Lock()
	for _, r := range col.recs {
		tp, off := r.KafkaCoordinates()
		if r.Topic != "routed-"+in || tp.Topic != in || off != r.OriginalOffset {
			t.Fatalf("record topic %q coordinates %v/%d", r.Topic, tp, off)
		}
		if _, ok := r.Value.(map[string]any); !ok {
			t.Fatalf("value %T %v", r.Value, r.Value)
		}
	}
	col.mu.Unlock()
	// The DLQ holds the 6 bad records with the error context headers.
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.ConsumeTopics(dlq), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got []*kgo.Record
	deadline := time.Now().Add(20 * time.Second)
	for len(got) < 6 && time.Now().Before(deadline) {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) { got = append(got, r) })
		cancel()
	}
	if len(got) != 6 {
		t.Fatalf("%d DLQ records, want 6", len(got))
	}
	for _, r := range got {
		if !bad[string(r.Value)] {
			t.Fatalf("unexpected DLQ record %q", r.Value)
		}
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		for k, want := range map[string]string{
			"__connect.errors.topic":          in,
			"__connect.errors.partition":      "0",
			"__connect.errors.connector.name": "sink",
			"__connect.errors.task.id":        "0",
			"__connect.errors.stage":          "VALUE_CONVERTER",
			"__connect.errors.class.name":     "org.apache.kafka.connect.json.JsonConverter",
		} {
			if h[k] != want {
				t.Fatalf("header %s = %q, want %q (all: %v)", k, h[k], want, h)
			}
		}
		if h["__connect.errors.offset"] == "" || h["__connect.errors.exception.message"] == "" || h["__connect.errors.exception.class.name"] == "" || h["__connect.errors.exception.stacktrace"] == "" {
			t.Fatalf("missing error headers: %v", h)
		}
	}
	waitFor(t, 10*time.Second, "offsets committed past the bad records", func() error {
		offs, err := w.Offsets(ctx, "sink")
		if err != nil {
			return err
		}
		if len(offs.Offsets) != 1 || offs.Offsets[0].Offset["kafka_offset"] != int64(30) {
			return fmt.Errorf("offsets %+v", offs.Offsets)
		}
		return nil
	})
	var buf strings.Builder
	w.WriteMetrics(&buf)
	if !strings.Contains(buf.String(), `sluice_task_errors_total{connector="sink",task="0"} 6`) {
		t.Fatalf("metrics:\n%s", buf.String())
	}
}

func TestSinkToleranceNoneFails(t *testing.T) {
	forEachBackend(t, testSinkToleranceNoneFails)
}

func testSinkToleranceNoneFails(t *testing.T, bs string) {
	prefix := testPrefix(t)
	col := newCollector()
	w := startWorker(t, testConfig(bs, prefix, 1), col)
	ctx := context.Background()
	in := prefix + "-in"
	produceRaw(t, bs, in, `{"n":1}`, `broken`, `{"n":3}`)
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "sink", Config: map[string]string{
		"connector.class": collectSinkClass, "topics": in,
		"consumer.override.group.id": prefix + "-sink",
		"value.converter":            "json", "value.converter.schemas.enable": "false",
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "failed task", func() error {
		st, err := w.TaskStatus(ctx, "sink", 0)
		if err != nil {
			return err
		}
		if st.State != api.Failed || !strings.Contains(st.Trace, "VALUE_CONVERTER") {
			return fmt.Errorf("%+v", st)
		}
		return nil
	})
	// Nothing of the failed batch is committed.
	offs, err := w.Offsets(ctx, "sink")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range offs.Offsets {
		if o.Offset["kafka_offset"].(int64) > 1 {
			t.Fatalf("committed past the failure: %+v", offs)
		}
	}
	// Restart only failed tasks.
	if _, err := w.RestartConnector(ctx, "sink", true, true); err != nil {
		t.Fatal(err)
	}
	if _, err := w.TaskStatus(ctx, "nope", 0); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unknown connector: %v", err)
	}
}

func TestSinkTopicsRegexAndSeek(t *testing.T) {
	forEachBackend(t, testSinkTopicsRegexAndSeek)
}

func testSinkTopicsRegexAndSeek(t *testing.T, bs string) {
	prefix := testPrefix(t)
	col := newCollector()
	w := startWorker(t, testConfig(bs, prefix, 1), col)
	ctx := context.Background()
	for _, name := range []string{"a", "b"} {
		var vals []string
		for i := 0; i < 10; i++ {
			vals = append(vals, fmt.Sprintf("%s-%d", name, i))
		}
		produceRaw(t, bs, prefix+"-rx-"+name, vals...)
	}
	produceRaw(t, bs, prefix+"-other", "x")
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "sink", Config: map[string]string{
		"connector.class": collectSinkClass, "topics.regex": prefix + "-rx-.*", "seek.offset": "4",
		"consumer.override.group.id": prefix + "-sink",
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "records from offset 4 of both topics", func() error {
		if d, n := col.stats(); d != 12 || n != 12 {
			return fmt.Errorf("distinct %d total %d", d, n)
		}
		return nil
	})
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, name := range []string{"a", "b"} {
		for i := 4; i < 10; i++ {
			if v := fmt.Sprintf("%s-%d", name, i); col.counts[v] != 1 {
				t.Fatalf("%s seen %d times (all %v)", v, col.counts[v], col.counts)
			}
		}
	}
}

func TestRetryBackoff(t *testing.T) {
	h := &errHandler{retryTO: 2 * time.Second, maxDelay: 5 * time.Millisecond, log: testLogger(t)}
	calls := 0
	err := h.retry(context.Background(), func() error {
		calls++
		if calls < 4 {
			return connect.Retriable(errors.New("transient"))
		}
		return nil
	})
	if err != nil || calls != 4 {
		t.Fatalf("err %v after %d calls", err, calls)
	}
	calls = 0
	h.retryTO = 0
	if err := h.retry(context.Background(), func() error { calls++; return connect.Retriable(errors.New("x")) }); err == nil || calls != 1 {
		t.Fatalf("no-retry: err %v calls %d", err, calls)
	}
	calls = 0
	h.retryTO = 20 * time.Millisecond
	start := time.Now()
	if err := h.retry(context.Background(), func() error { calls++; return connect.Retriable(errors.New("x")) }); err == nil || time.Since(start) > time.Second || calls < 2 {
		t.Fatalf("bounded retry: err %v calls %d in %v", err, calls, time.Since(start))
	}
	calls = 0
	if err := h.retry(context.Background(), func() error { calls++; return errors.New("fatal") }); err == nil || calls != 1 {
		t.Fatalf("non-retriable retried: %d", calls)
	}
}
