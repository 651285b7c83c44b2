package worker

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestSinkTaskPauseResumePartitions(t *testing.T) {
	forEachBackend(t, testSinkTaskPauseResumePartitions)
}

// testSinkTaskPauseResumePartitions checks that a partition the task paused
// is not fetched while another partition keeps flowing, and that Resume
// delivers what was produced meanwhile, exactly once.
func testSinkTaskPauseResumePartitions(t *testing.T, bs string) {
	prefix := testPrefix(t)
	col := newCollector()
	w := startWorker(t, testConfig(bs, prefix, 1), col)
	ctx := context.Background()
	a, b := prefix+"-a", prefix+"-b"
	produceRaw(t, bs, a, "a-0")
	produceRaw(t, bs, b, "b-0")
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "sink", Config: map[string]string{
		"connector.class": collectSinkClass, "tasks.max": "1", "topics": a + "," + b,
		"consumer.override.group.id": prefix + "-sink",
	}}); err != nil {
		t.Fatal(err)
	}
	seen := func(v string) func() error {
		return func() error {
			col.mu.Lock()
			defer col.mu.Unlock()
			if col.counts[v] == 0 {
				return fmt.Errorf("%s not delivered (have %v)", v, col.counts)
			}
			return nil
		}
	}
	waitFor(t, 30*time.Second, "first records", func() error {
		if err := seen("a-0")(); err != nil {
			return err
		}
		return seen("b-0")()
	})
	tctx := col.context()
	pa := connect.TopicPartition{Topic: a, Partition: 0}
	tctx.Pause(pa)
	// Two barriers on b: the poll returning the second one started after
	// the loop had applied the pause (it applies pauses before each poll).
	for _, v := range []string{"b-barrier-1", "b-barrier-2"} {
		produceRaw(t, bs, b, v)
		waitFor(t, 30*time.Second, v, seen(v))
	}
	var av, bv []string
	for i := 1; i <= 20; i++ {
		av = append(av, fmt.Sprintf("a-%d", i))
		bv = append(bv, fmt.Sprintf("b-%d", i))
	}
	produceRaw(t, bs, a, av...)
	produceRaw(t, bs, b, bv...)
	waitFor(t, 30*time.Second, "b while a is paused", seen("b-20"))
	// A few more polls of b give a's records every chance to show up.
	for i := 0; i < 3; i++ {
		v := fmt.Sprintf("b-after-%d", i)
		produceRaw(t, bs, b, v)
		waitFor(t, 30*time.Second, v, seen(v))
	}
	col.mu.Lock()
	for _, v := range av {
		if col.counts[v] != 0 {
			col.mu.Unlock()
			t.Fatalf("%s delivered while %v was paused", v, pa)
		}
	}
	col.mu.Unlock()
	if st, err := w.TaskStatus(ctx, "sink", 0); err != nil || st.State != api.Running {
		t.Fatalf("task while paused: %+v %v", st, err)
	}

	tctx.Resume(pa)
	waitFor(t, 30*time.Second, "a after resume", seen("a-20"))
	col.mu.Lock()
	defer col.mu.Unlock()
	for _, v := range append(av, bv...) {
		if col.counts[v] != 1 {
			t.Fatalf("%s delivered %d times", v, col.counts[v])
		}
	}
}

// TestApplyPauses checks how task pauses, the connector's pause and
// revocations combine into the consumer's paused partitions.
func TestApplyPauses(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"), kgo.ConsumeTopics("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c := newSinkContext(&taskRunner{})
	a0, a1, b0 := connect.TopicPartition{Topic: "a", Partition: 0}, connect.TopicPartition{Topic: "a", Partition: 1}, connect.TopicPartition{Topic: "b", Partition: 0}
	c.assigned[a0], c.assigned[a1] = true, true
	paused := func() string {
		m := cl.PauseFetchPartitions(nil)
		for _, ps := range m {
			slices.Sort(ps)
		}
		return fmt.Sprint(m) // fmt sorts map keys
	}
	c.Pause(a0, b0) // b0 is not assigned: ignored
	for _, step := range []struct {
		what       string
		do         func()
		connPaused bool
		want       string
	}{
		{"task pause", func() {}, false, "map[a:[0]]"},
		{"connector pause", func() {}, true, "map[a:[0 1]]"},
		{"connector resume keeps the task's pause", func() {}, false, "map[a:[0]]"},
		{"task resume", func() { c.Resume(a0) }, false, "map[]"},
		{"pause again", func() { c.Pause(a0, a1) }, false, "map[a:[0 1]]"},
		{"revoke drops the pause", func() { delete(c.assigned, a1); delete(c.paused, a1) }, false, "map[a:[0]]"},
		{"reassigned unpaused", func() { c.assigned[a1] = true }, false, "map[a:[0]]"},
	} {
		step.do()
		c.applyPauses(cl, step.connPaused)
		if got := paused(); got != step.want {
			t.Fatalf("%s: consumer paused %s, want %s", step.what, got, step.want)
		}
	}
}
