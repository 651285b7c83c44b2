package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// backend is a Kafka-protocol broker integration tests run against.
type backend struct {
	name string
	// start returns the bootstrap address of a broker that stays up
	// until the test ends.
	start func(t testing.TB) string
}

// testBackends lists the brokers integration tests run against: a fresh
// in-process kfake cluster and a fresh in-process sluice broker per test,
// or only the external broker SLUICE_TEST_BOOTSTRAP names when it is set.
func testBackends() []backend {
	if addr := os.Getenv("SLUICE_TEST_BOOTSTRAP"); addr != "" {
		return []backend{{name: "external", start: func(testing.TB) string { return addr }}}
	}
	return []backend{
		{name: "kfake", start: startKfake},
		{name: "sluice", start: func(t testing.TB) string {
			// Same partition count for auto-created topics as kfake.
			return testenv.StartBroker(t, broker.WithDefaultPartitions(3))
		}},
	}
}

// forEachBackend runs test as one subtest per backend, each with the
// bootstrap address of its own broker.
func forEachBackend(t *testing.T, test func(t *testing.T, bs string)) {
	t.Helper()
	for _, b := range testBackends() {
		t.Run(b.name, func(t *testing.T) { test(t, b.start(t)) })
	}
}

// startKfake starts an in-process kfake cluster for the test.
func startKfake(t testing.TB) string {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(3),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

var nonWord = regexp.MustCompile(`[^A-Za-z0-9]+`)

// testPrefix makes names unique per test so tests can share a broker.
func testPrefix(t testing.TB) string {
	return strings.ToLower(nonWord.ReplaceAllString(t.Name(), "-")) + fmt.Sprintf("-%d", time.Now().UnixNano()%1e6)
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SLUICE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// testSessionTimeout is the worker and sink-consumer session timeout of
// integration tests: 2s, or SLUICE_TEST_SESSION_TIMEOUT_MS for brokers
// with a higher group.min.session.timeout.ms (Kafka's default is 6s).
func testSessionTimeout() time.Duration {
	if v := os.Getenv("SLUICE_TEST_SESSION_TIMEOUT_MS"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return time.Duration(n) * time.Millisecond
		}
	}
	return 2 * time.Second
}

func testConfig(bootstrap, prefix string, n int) Config {
	c := DefaultConfig()
	c.BootstrapServers = []string{bootstrap}
	c.GroupID = prefix + "-workers"
	c.ConfigTopic = prefix + "-configs"
	c.OffsetTopic = prefix + "-offsets"
	c.StatusTopic = prefix + "-status"
	c.OffsetPartitions = 5
	c.StatusPartitions = 2
	c.KeyConverter = "string"
	c.ValueConverter = "string"
	c.OffsetFlushInterval = 200 * time.Millisecond
	c.SessionTimeout = testSessionTimeout()
	c.HeartbeatInterval = 200 * time.Millisecond
	c.RebalanceTimeout = 10 * time.Second
	c.TaskShutdownTimeout = 3 * time.Second
	c.AdvertisedURL = fmt.Sprintf("http://worker-%d:8083", n)
	return c
}

func startWorker(t testing.TB, cfg Config, col *collector) *Worker {
	t.Helper()
	return startWorkerWith(t, cfg, testPlugins(col))
}

// startWorkerWith starts a worker of plugins with the test logger and opts
// and closes it when the test ends.
func startWorkerWith(t testing.TB, cfg Config, plugins []connect.Plugin, opts ...Option) *Worker {
	t.Helper()
	w, err := New(cfg, plugins, append([]Option{WithLogger(testLogger(t))}, opts...)...)
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

// waitFor polls cond until it returns nil or the timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() error) {
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

// topicValues reads every record of topic (from the beginning up to the
// current end) and returns value counts.
func topicValues(t testing.TB, bootstrap, topic string) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Read up to the end offsets the topic has now (not until some idle
	// time passed, which a slow start of the client could end early).
	admCl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(admCl).ListEndOffsets(ctx, topic)
	admCl.Close()
	if err == nil {
		err = ends.Error()
	}
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return map[string]int{} // not created yet: nothing written
	}
	if err != nil {
		t.Fatalf("end offsets of %s: %v", topic, err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]int{}
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: still short of the end offsets %v after 60s", topic, remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[string(r.Value)]++
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
		})
	}
	return out
}

func expectedValues(tasks, count int) []string {
	var out []string
	for i := 0; i < tasks; i++ {
		for n := 0; n < count; n++ {
			out = append(out, fmt.Sprintf("t%d-%d", i, n))
		}
	}
	return out
}
