package worker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestMain(m *testing.M) {
	if bs := os.Getenv("SLUICE_WORKER_CHILD_BOOTSTRAP"); bs != "" {
		runChildWorker(bs, os.Getenv("SLUICE_WORKER_CHILD_PREFIX"))
		return
	}
	os.Exit(m.Run())
}

// runChildWorker runs worker 2 of a test in a separate process until it is
// killed.
func runChildWorker(bootstrap, prefix string) {
	w, err := New(testConfig(bootstrap, prefix, 2), testPlugins(newCollector()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := w.Start(ctx); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	cancel()
	select {}
}

func slowSource(topic string, tasks, count int) map[string]string {
	c := sourceConfig(topic, tasks, count)
	c["batch"] = "5"
	c["poll.delay.ms"] = "20"
	return c
}

// tasksOn counts the RUNNING tasks of name per worker id.
func tasksOn(w *Worker, name string) (map[string]int, error) {
	st, err := w.ConnectorStatus(context.Background(), name)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, ts := range st.Tasks {
		if ts.State == api.Running {
			out[ts.WorkerID]++
		}
	}
	return out, nil
}

func checkAllDelivered(t *testing.T, got map[string]int, tasks, count int) (dups int) {
	t.Helper()
	want := expectedValues(tasks, count)
	for _, v := range want {
		if got[v] == 0 {
			t.Fatalf("value %s missing", v)
		}
		dups += got[v] - 1
	}
	if len(got) != len(want) {
		t.Fatalf("%d distinct values, want %d", len(got), len(want))
	}
	return dups
}

func TestTwoWorkersShareAndCloseOne(t *testing.T) {
	forEachBackend(t, testTwoWorkersShareAndCloseOne)
}

func testTwoWorkersShareAndCloseOne(t *testing.T, bs string) {
	prefix := testPrefix(t)
	col := newCollector()
	w1 := startWorker(t, testConfig(bs, prefix, 1), col)
	w2 := startWorker(t, testConfig(bs, prefix, 2), col)
	ctx := context.Background()
	topic := prefix + "-nums"
	const tasks, count = 4, 300
	if _, err := w2.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: slowSource(topic, tasks, count)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w1.CreateConnector(ctx, api.CreateConnectorRequest{Name: "sink", Config: map[string]string{
		"connector.class": collectSinkClass, "tasks.max": "2", "topics": topic,
		"consumer.override.group.id": prefix + "-sink",
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "tasks on both workers", func() error {
		on, err := tasksOn(w1, "src")
		if err != nil {
			return err
		}
		if on[w1.ID()] == 0 || on[w2.ID()] == 0 || on[w1.ID()]+on[w2.ID()] != tasks {
			return fmt.Errorf("running tasks per worker: %v", on)
		}
		return nil
	})
	if err := w2.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "tasks moved to worker 1", func() error {
		on, err := tasksOn(w1, "src")
		if err != nil {
			return err
		}
		if on[w1.ID()] != tasks {
			return fmt.Errorf("running tasks per worker: %v", on)
		}
		return nil
	})
	waitFor(t, 60*time.Second, "all records delivered", func() error {
		if d, _ := col.stats(); d != tasks*count {
			return fmt.Errorf("%d distinct values", d)
		}
		return nil
	})
	inTopic := topicValues(t, bs, topic)
	srcDups := checkAllDelivered(t, inTopic, tasks, count)
	col.mu.Lock()
	sinkCounts := col.counts
	col.mu.Unlock()
	sinkDups := checkAllDelivered(t, sinkCounts, tasks, count)
	// Graceful handover commits everything: no duplicates at all.
	if srcDups != 0 || sinkDups != 0 {
		t.Fatalf("duplicates after graceful close: source %d, sink %d", srcDups, sinkDups)
	}
}

// TestKilledWorkerTasksTakenOver kill -9s a worker process (a re-exec of
// the test binary connecting to the broker this test started), once a
// follower and once the group leader that runs the connector instances.
func TestKilledWorkerTasksTakenOver(t *testing.T) {
	forEachBackend(t, func(t *testing.T, bs string) {
		for _, killLeader := range []bool{false, true} {
			t.Run(map[bool]string{false: "follower", true: "leader"}[killLeader], func(t *testing.T) {
				testKilledWorker(t, bs, killLeader)
			})
		}
	})
}

func testKilledWorker(t *testing.T, bs string, killLeader bool) {
	prefix := testPrefix(t)
	startChild := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), "SLUICE_WORKER_CHILD_BOOTSTRAP="+bs, "SLUICE_WORKER_CHILD_PREFIX="+prefix)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	var w1 *Worker
	var cmd *exec.Cmd
	if killLeader {
		// The first member to join leads: start the child first and wait
		// until it is alone and stable in the group.
		cmd = startChild()
		cl, err := kgo.NewClient(kgo.SeedBrokers(bs))
		if err != nil {
			t.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		waitFor(t, 30*time.Second, "child worker in the group", func() error {
			gs, err := adm.DescribeGroups(context.Background(), prefix+"-workers")
			if err != nil {
				return err
			}
			g := gs[prefix+"-workers"]
			if g.State != "Stable" || len(g.Members) != 1 {
				return fmt.Errorf("group %s with %d members", g.State, len(g.Members))
			}
			return nil
		})
		cl.Close()
		w1 = startWorker(t, testConfig(bs, prefix, 1), newCollector())
	} else {
		w1 = startWorker(t, testConfig(bs, prefix, 1), newCollector())
		cmd = startChild()
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	child := "worker-2:8083"
	ctx := context.Background()
	topic, out := prefix+"-nums", prefix+"-out"
	const tasks, count = 4, 400
	if _, err := w1.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: slowSource(topic, tasks, count)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w1.CreateConnector(ctx, api.CreateConnectorRequest{Name: "copy", Config: map[string]string{
		"connector.class": copySinkClass, "tasks.max": "2", "topics": topic, "out.topic": out, "bootstrap": bs,
		"consumer.override.group.id":           prefix + "-copy",
		"consumer.override.session.timeout.ms": strconv.Itoa(int(testSessionTimeout().Milliseconds())), "consumer.override.heartbeat.interval.ms": "200",
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 40*time.Second, "tasks on both workers", func() error {
		if killLeader {
			if st, err := w1.ConnectorStatus(ctx, "src"); err != nil || st.Connector.WorkerID != child {
				return fmt.Errorf("connector not on the child leader: %+v %v", st.Connector, err)
			}
		}
		on, err := tasksOn(w1, "src")
		if err != nil {
			return err
		}
		con, err := tasksOn(w1, "copy")
		if err != nil {
			return err
		}
		if on[w1.ID()] == 0 || on[child] == 0 || on[w1.ID()]+on[child] != tasks || con[w1.ID()]+con[child] != 2 {
			return fmt.Errorf("running source tasks %v, sink tasks %v", on, con)
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // let the child produce and commit some
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	killed = true
	start := time.Now()
	waitFor(t, 60*time.Second, "connectors and tasks taken over by worker 1", func() error {
		for _, name := range []string{"src", "copy"} {
			st, err := w1.ConnectorStatus(ctx, name)
			if err != nil {
				return err
			}
			if st.Connector.State != api.Running || st.Connector.WorkerID != w1.ID() {
				return fmt.Errorf("connector %s %s on %s", name, st.Connector.State, st.Connector.WorkerID)
			}
			on, err := tasksOn(w1, name)
			if err != nil {
				return err
			}
			if on[w1.ID()] != map[string]int{"src": tasks, "copy": 2}[name] {
				return fmt.Errorf("%s running tasks %v", name, on)
			}
		}
		return nil
	})
	t.Logf("takeover after %v", time.Since(start))
	var got map[string]int
	waitFor(t, 60*time.Second, "all records copied", func() error {
		got = topicValues(t, bs, out)
		n := 0
		for _, v := range expectedValues(tasks, count) {
			if got[v] > 0 {
				n++
			}
		}
		if n != tasks*count {
			return fmt.Errorf("%d of %d values copied", n, tasks*count)
		}
		return nil
	})
	inTopic := topicValues(t, bs, topic)
	srcDups := checkAllDelivered(t, inTopic, tasks, count)
	sinkDups := checkAllDelivered(t, got, tasks, count)
	total := 0
	for _, n := range inTopic {
		total += n
	}
	outTotal := 0
	for _, n := range got {
		outTotal += n
	}
	t.Logf("source duplicates %d, copied %d of %d records in the topic (sink duplicates %d)", srcDups, outTotal, total, sinkDups)
	// count in == count out, duplicates only from replays after the kill,
	// bounded by what a flush interval can leave uncommitted.
	if outTotal < total {
		t.Fatalf("copied %d records, topic has %d", outTotal, total)
	}
	if bound := tasks * count / 2; srcDups > bound || sinkDups > bound+srcDups {
		t.Fatalf("too many duplicates: source %d, sink %d (bound %d)", srcDups, sinkDups, bound)
	}
}

// TestJoiningWorkerDoesNotRestartStayingTasks checks the incremental
// cooperative protocol: tasks that stay on a worker keep running.
func TestJoiningWorkerDoesNotRestartStayingTasks(t *testing.T) {
	forEachBackend(t, testJoiningWorkerDoesNotRestartStayingTasks)
}

func testJoiningWorkerDoesNotRestartStayingTasks(t *testing.T, bs string) {
	prefix := testPrefix(t)
	ctx := context.Background()
	w1 := startWorker(t, testConfig(bs, prefix, 1), newCollector())
	if _, err := w1.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: slowSource(prefix+"-nums", 4, 100000)}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w1, "src", 4)
	before := w1.taskSnapshot()
	if len(before) != 4 {
		t.Fatalf("w1 runs %d tasks", len(before))
	}
	w2 := startWorker(t, testConfig(bs, prefix, 2), newCollector())
	waitFor(t, 30*time.Second, "two tasks on each worker", func() error {
		on, err := tasksOn(w1, "src")
		if err != nil {
			return err
		}
		if on[w1.ID()] != 2 || on[w2.ID()] != 2 {
			return fmt.Errorf("running tasks per worker: %v", on)
		}
		return nil
	})
	after := w1.taskSnapshot()
	if len(after) != 2 {
		t.Fatalf("w1 runs %d tasks", len(after))
	}
	for k, r := range after {
		if before[k] != r {
			t.Fatalf("task %v was restarted on worker 1", k)
		}
	}
}

func TestConcurrentCreateOneWins(t *testing.T) {
	forEachBackend(t, testConcurrentCreateOneWins)
}

func testConcurrentCreateOneWins(t *testing.T, bs string) {
	prefix := testPrefix(t)
	w1 := startWorker(t, testConfig(bs, prefix, 1), newCollector())
	w2 := startWorker(t, testConfig(bs, prefix, 2), newCollector())
	for round := 0; round < 5; round++ {
		name := fmt.Sprintf("c%d", round)
		errs := make(chan error, 2)
		for i, w := range []*Worker{w1, w2} {
			go func() {
				cfg := sourceConfig(prefix+"-nums", 1, 1)
				cfg["batch"] = strconv.Itoa(i + 1) // the two configs differ
				_, err := w.CreateConnector(context.Background(), api.CreateConnectorRequest{Name: name, Config: cfg})
				errs <- err
			}()
		}
		ok, conflict := 0, 0
		for range 2 {
			switch err := <-errs; {
			case err == nil:
				ok++
			case errors.Is(err, api.ErrConflict):
				conflict++
			default:
				t.Fatal(err)
			}
		}
		if ok != 1 || conflict != 1 {
			t.Fatalf("round %d: %d created, %d conflicts", round, ok, conflict)
		}
		// Both workers agree on one config.
		c1, err1 := w1.ConnectorConfig(context.Background(), name)
		c2, err2 := w2.ConnectorConfig(context.Background(), name)
		if err1 != nil || err2 != nil || c1["batch"] != c2["batch"] {
			t.Fatalf("configs differ: %v %v (%v %v)", c1, c2, err1, err2)
		}
	}
}

// TestLostMembershipStopsWork checks zombie prevention: a worker told by
// the coordinator that its membership is gone stops all its tasks before
// rejoining, then runs its new assignment.
func TestLostMembershipStopsWork(t *testing.T) {
	if os.Getenv("SLUICE_TEST_BOOTSTRAP") != "" {
		t.Skip("needs kfake fault injection")
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.AllowAutoTopicCreation(), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	bs := c.ListenAddrs()[0]
	prefix := testPrefix(t)
	ctx := context.Background()
	w := startWorker(t, testConfig(bs, prefix, 1), newCollector())
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: slowSource(prefix+"-nums", 2, 100000)}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "src", 2)
	before := w.taskSnapshot()
	group := prefix + "-workers"
	c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		hb := req.(*kmsg.HeartbeatRequest)
		if hb.Group != group {
			c.KeepControl()
			return nil, nil, false
		}
		resp := hb.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	waitFor(t, 20*time.Second, "tasks restarted after the lost membership", func() error {
		after := w.taskSnapshot()
		if len(after) != 2 {
			return fmt.Errorf("%d tasks", len(after))
		}
		for k, r := range after {
			if before[k] == r {
				return fmt.Errorf("task %v still the old instance", k)
			}
		}
		return nil
	})
	waitRunning(t, w, "src", 2)
}
