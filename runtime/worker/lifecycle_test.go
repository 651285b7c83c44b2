package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
)

func waitState(t *testing.T, w *Worker, name string, want api.State, tasks int) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%s %s", name, want), func() error {
		st, err := w.ConnectorStatus(context.Background(), name)
		if err != nil {
			return err
		}
		if st.Connector.State != want || len(st.Tasks) != tasks {
			return fmt.Errorf("connector %s with %d tasks", st.Connector.State, len(st.Tasks))
		}
		for _, ts := range st.Tasks {
			if ts.State != want {
				return fmt.Errorf("task %d %s", ts.ID, ts.State)
			}
		}
		return nil
	})
}

func TestPauseResumeStopAndOffsets(t *testing.T) {
	forEachBackend(t, testPauseResumeStopAndOffsets)
}

func testPauseResumeStopAndOffsets(t *testing.T, bs string) {
	prefix := testPrefix(t)
	col := newCollector()
	w := startWorker(t, testConfig(bs, prefix, 1), col)
	ctx := context.Background()
	topic := prefix + "-nums"
	const count = 100000
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: slowSource(topic, 1, count)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "sink", Config: map[string]string{
		"connector.class": collectSinkClass, "tasks.max": "1", "topics": topic,
		"consumer.override.group.id": prefix + "-sink",
	}}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "src", 1)
	waitFor(t, 20*time.Second, "records flowing", func() error {
		if _, n := col.stats(); n < 20 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
	if _, err := w.AlterOffsets(ctx, "src", api.ConnectorOffsets{Offsets: []api.ConnectorOffset{{Partition: map[string]any{"task": 0}, Offset: map[string]any{"n": 5}}}}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("AlterOffsets on a running connector: %v, want ErrBadRequest", err)
	}

	// Pause: everything PAUSED, no more records.
	if err := w.PauseConnector(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "src", api.Paused, 1)
	time.Sleep(300 * time.Millisecond)
	_, n1 := col.stats()
	time.Sleep(500 * time.Millisecond)
	if _, n2 := col.stats(); n2 != n1 {
		t.Fatalf("records kept flowing while paused: %d -> %d", n1, n2)
	}
	// Pause the sink too, then resume both.
	if err := w.PauseConnector(ctx, "sink"); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "sink", api.Paused, 1)
	if err := w.ResumeConnector(ctx, "sink"); err != nil {
		t.Fatal(err)
	}
	if err := w.ResumeConnector(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "src", api.Running, 1)
	waitState(t, w, "sink", api.Running, 1)
	waitFor(t, 20*time.Second, "records flowing after resume", func() error {
		if _, n := col.stats(); n < n1+20 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})

	// Stop: STOPPED, no tasks; then offsets can be altered and reset.
	for _, name := range []string{"src", "sink"} {
		if err := w.StopConnector(ctx, name); err != nil {
			t.Fatal(err)
		}
		waitState(t, w, name, api.Stopped, 0)
	}
	offs, err := w.Offsets(ctx, "src")
	if err != nil || len(offs.Offsets) != 1 {
		t.Fatalf("source offsets %+v, %v", offs, err)
	}
	if _, err := w.AlterOffsets(ctx, "src", api.ConnectorOffsets{Offsets: []api.ConnectorOffset{{Partition: map[string]any{"task": 0}, Offset: map[string]any{"n": 41}}}}); err != nil {
		t.Fatal(err)
	}
	offs, _ = w.Offsets(ctx, "src")
	if len(offs.Offsets) != 1 || offs.Offsets[0].Offset["n"] != int64(41) {
		t.Fatalf("altered offsets %+v", offs)
	}
	// No wait for the sink's consumer group to empty: the sink task's
	// consumer may still be leaving it, and AlterOffsets must cope.
	if _, err := w.AlterOffsets(ctx, "sink", api.ConnectorOffsets{Offsets: []api.ConnectorOffset{{Partition: map[string]any{"kafka_topic": topic, "kafka_partition": 0}, Offset: map[string]any{"kafka_offset": 3}}}}); err != nil {
		t.Fatal(err)
	}
	soffs, err := w.Offsets(ctx, "sink")
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, o := range soffs.Offsets {
		if o.Partition["kafka_topic"] == topic && o.Partition["kafka_partition"] == int64(0) {
			found = o.Offset["kafka_offset"] == int64(3)
		}
	}
	if !found {
		t.Fatalf("sink offsets after alter: %+v", soffs)
	}
	if _, err := w.AlterOffsets(ctx, "sink", api.ConnectorOffsets{Offsets: []api.ConnectorOffset{{Partition: map[string]any{"kafka_partition": 0}, Offset: map[string]any{"kafka_offset": 3}}}}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("alter without kafka_topic: %v", err)
	}
	for _, name := range []string{"src", "sink"} {
		if _, err := w.ResetOffsets(ctx, name); err != nil {
			t.Fatalf("reset %s: %v", name, err)
		}
		offs, err := w.Offsets(ctx, name)
		if err != nil || len(offs.Offsets) != 0 {
			t.Fatalf("%s offsets after reset: %+v, %v", name, offs, err)
		}
	}
	// Resume from STOPPED: tasks come back.
	if err := w.ResumeConnector(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "src", 1)
}

func TestRestartResumesFromCommittedOffsets(t *testing.T) {
	forEachBackend(t, testRestartResumesFromCommittedOffsets)
}

func testRestartResumesFromCommittedOffsets(t *testing.T, bs string) {
	prefix := testPrefix(t)
	ctx := context.Background()
	topic := prefix + "-nums"
	w1 := startWorker(t, testConfig(bs, prefix, 1), newCollector())
	if _, err := w1.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: sourceConfig(topic, 2, 50)}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "first 100 records", func() error {
		offs, err := w1.Offsets(ctx, "src")
		if err != nil {
			return err
		}
		if len(offs.Offsets) != 2 || offs.Offsets[0].Offset["n"] != int64(49) || offs.Offsets[1].Offset["n"] != int64(49) {
			return fmt.Errorf("offsets %+v", offs.Offsets)
		}
		return nil
	})
	if err := w1.Close(); err != nil {
		t.Fatal(err)
	}
	// A new worker process of the same group continues where w1 stopped.
	w2 := startWorker(t, testConfig(bs, prefix, 2), newCollector())
	if _, _, err := w2.PutConnectorConfig(ctx, "src", sourceConfig(topic, 2, 80)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "160 records", func() error {
		offs, err := w2.Offsets(ctx, "src")
		if err != nil {
			return err
		}
		if len(offs.Offsets) != 2 || offs.Offsets[0].Offset["n"] != int64(79) || offs.Offsets[1].Offset["n"] != int64(79) {
			return fmt.Errorf("offsets %+v", offs.Offsets)
		}
		return nil
	})
	got := topicValues(t, bs, topic)
	if dups := checkAllDelivered(t, got, 2, 80); dups != 0 {
		t.Fatalf("%d duplicates after a clean restart", dups)
	}
}

func TestRestartConnectorAndTasks(t *testing.T) {
	forEachBackend(t, testRestartConnectorAndTasks)
}

func testRestartConnectorAndTasks(t *testing.T, bs string) {
	prefix := testPrefix(t)
	ctx := context.Background()
	w := startWorker(t, testConfig(bs, prefix, 1), newCollector())
	cfg := sourceConfig(prefix+"-nums", 2, 10)
	cfg["topic"] = "" // every record fails in the producer stage: task FAILED
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "failed tasks", func() error {
		st, err := w.ConnectorStatus(ctx, "src")
		if err != nil {
			return err
		}
		if len(st.Tasks) != 2 || st.Tasks[0].State != api.Failed || st.Tasks[1].State != api.Failed {
			return fmt.Errorf("%+v", st)
		}
		if st.Tasks[0].Trace == "" {
			return fmt.Errorf("no trace")
		}
		return nil
	})
	// Fix the config: tasks are reconfigured and run again.
	cfg["topic"] = prefix + "-nums"
	if _, created, err := w.PutConnectorConfig(ctx, "src", cfg); err != nil || created {
		t.Fatalf("put: created=%v err=%v", created, err)
	}
	waitRunning(t, w, "src", 2)
	st, err := w.RestartConnector(ctx, "src", true, false)
	if err != nil {
		t.Fatal(err)
	}
	if st.Connector.State != api.Restarting || st.Tasks[0].State != api.Restarting {
		t.Fatalf("restart response %+v", st)
	}
	waitRunning(t, w, "src", 2)
	if err := w.RestartTask(ctx, "src", 1); err != nil {
		t.Fatal(err)
	}
	if err := w.RestartTask(ctx, "src", 7); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("restart of unknown task: %v", err)
	}
	waitRunning(t, w, "src", 2)
}

func TestConnectorRequestsReconfiguration(t *testing.T) {
	forEachBackend(t, testConnectorRequestsReconfiguration)
}

func testConnectorRequestsReconfiguration(t *testing.T, bs string) {
	prefix := testPrefix(t)
	ctx := context.Background()
	started := make(chan *numSource, 16)
	plugins := testPlugins(newCollector())
	plugins[0].New = func() connect.Connector {
		return &numSource{hook: func(c *numSource) { started <- c }}
	}
	w, err := New(testConfig(bs, prefix, 1), plugins, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: slowSource(prefix+"-nums", 2, 1000)}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "src", 2)
	var inst *numSource
	for len(started) > 0 || inst == nil {
		inst = <-started
	}
	inst.bump()
	waitFor(t, 20*time.Second, "new task configs", func() error {
		tasks, err := w.Tasks(ctx, "src")
		if err != nil {
			return err
		}
		for _, ti := range tasks {
			if ti.Config["extra"] != "1" {
				return fmt.Errorf("task %d config %v", ti.ID.Task, ti.Config)
			}
		}
		return nil
	})
	waitFor(t, 20*time.Second, "tasks restarted with the new configs", func() error {
		for k, r := range w.taskSnapshot() {
			if r.raw["extra"] != "1" {
				return fmt.Errorf("task %v runs config %v", k, r.raw)
			}
		}
		return nil
	})
	waitRunning(t, w, "src", 2)
}
