package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
)

func sourceConfig(topic string, tasks, count int) map[string]string {
	return map[string]string{
		"connector.class": numSourceClass,
		"tasks.max":       strconv.Itoa(tasks),
		"topic":           topic,
		"count":           strconv.Itoa(count),
	}
}

func waitRunning(t *testing.T, w *Worker, name string, tasks int) {
	t.Helper()
	waitFor(t, 30*time.Second, name+" running", func() error {
		st, err := w.ConnectorStatus(context.Background(), name)
		if err != nil {
			return err
		}
		if st.Connector.State != api.Running {
			return fmt.Errorf("connector %s: %s %s", name, st.Connector.State, st.Connector.Trace)
		}
		if len(st.Tasks) != tasks {
			return fmt.Errorf("%d tasks, want %d", len(st.Tasks), tasks)
		}
		for _, ts := range st.Tasks {
			if ts.State != api.Running {
				return fmt.Errorf("task %d: %s %s", ts.ID, ts.State, ts.Trace)
			}
		}
		return nil
	})
}

func TestSourceToSinkExactlyOnce(t *testing.T) {
	forEachBackend(t, testSourceToSinkExactlyOnce)
}

func testSourceToSinkExactlyOnce(t *testing.T, bs string) {
	prefix := testPrefix(t)
	col := newCollector()
	w := startWorker(t, testConfig(bs, prefix, 1), col)
	ctx := context.Background()
	topic := prefix + "-nums"
	const tasks, count = 2, 150

	info, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: sourceConfig(topic, tasks, count)})
	if err != nil {
		t.Fatal(err)
	}
	if info.Type != api.Source || info.Name != "src" {
		t.Fatalf("info = %+v", info)
	}
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: sourceConfig(topic, tasks, count)}); !errors.Is(err, api.ErrConflict) {
		t.Fatalf("duplicate create: %v, want ErrConflict", err)
	}
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "sink", Config: map[string]string{
		"connector.class": collectSinkClass, "tasks.max": "2", "topics": topic,
		"consumer.override.group.id": prefix + "-sink",
	}}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "src", tasks)
	waitRunning(t, w, "sink", 2)
	waitFor(t, 30*time.Second, "all records", func() error {
		if d, n := col.stats(); d != tasks*count || n != tasks*count {
			return fmt.Errorf("distinct %d total %d", d, n)
		}
		return nil
	})
	for _, v := range expectedValues(tasks, count) {
		if col.counts[v] != 1 {
			t.Fatalf("value %s seen %d times", v, col.counts[v])
		}
	}
	// Source offsets reach the last record of each task.
	waitFor(t, 10*time.Second, "source offsets", func() error {
		offs, err := w.Offsets(ctx, "src")
		if err != nil {
			return err
		}
		if len(offs.Offsets) != tasks {
			return fmt.Errorf("offsets %+v", offs)
		}
		for _, o := range offs.Offsets {
			if o.Offset["n"] != int64(count-1) {
				return fmt.Errorf("offset %+v", o)
			}
		}
		return nil
	})
	// Sink offsets committed through the consumer group.
	waitFor(t, 10*time.Second, "sink offsets", func() error {
		offs, err := w.Offsets(ctx, "sink")
		if err != nil {
			return err
		}
		var sum int64
		for _, o := range offs.Offsets {
			sum += o.Offset["kafka_offset"].(int64)
		}
		if sum != tasks*count {
			return fmt.Errorf("committed sum %d, offsets %+v", sum, offs.Offsets)
		}
		return nil
	})
	var buf bytesBuffer
	w.WriteMetrics(&buf)
	if !containsAll(buf.String(), `sluice_task_records_out_total{connector="src",task="0"} 150`, `# TYPE sluice_sink_task_lag gauge`) {
		t.Fatalf("metrics:\n%s", buf.String())
	}
	// Everything is committed: every partition's lag drops to 0.
	waitFor(t, 10*time.Second, "zero sink lag", func() error {
		var b bytesBuffer
		w.WriteMetrics(&b)
		n := 0
		for _, line := range strings.Split(b.String(), "\n") {
			if strings.HasPrefix(line, `sluice_sink_task_lag{connector="sink"`) {
				n++
				if !strings.HasSuffix(line, " 0") || !strings.Contains(line, `topic="`+topic+`"`) {
					return fmt.Errorf("lag line %q", line)
				}
			}
		}
		if n == 0 {
			return fmt.Errorf("no lag lines:\n%s", b.String())
		}
		return nil
	})
	names, err := w.Connectors(ctx)
	if err != nil || len(names) != 2 || names[0] != "sink" || names[1] != "src" {
		t.Fatalf("Connectors = %v, %v", names, err)
	}
	if err := w.DeleteConnector(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Connector(ctx, "src"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
}

func TestSinkLagCountsUncommittedPartitions(t *testing.T) {
	forEachBackend(t, testSinkLagCountsUncommittedPartitions)
}

// testSinkLagCountsUncommittedPartitions checks that partitions the sink
// group never committed report their whole log as lag, not nothing.
func testSinkLagCountsUncommittedPartitions(t *testing.T, bs string) {
	prefix := testPrefix(t)
	col := newCollector()
	w := startWorker(t, testConfig(bs, prefix, 1), col)
	ctx := context.Background()
	topic := prefix + "-nums"
	const tasks, count = 1, 40
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: sourceConfig(topic, tasks, count)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "held", Config: map[string]string{
		"connector.class": collectSinkClass, "tasks.max": "1", "topics": topic, "flush.hold": "true",
		"consumer.override.group.id": prefix + "-held",
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "records delivered", func() error {
		if _, n := col.stats(); n < tasks*count {
			return fmt.Errorf("delivered %d of %d", n, tasks*count)
		}
		return nil
	})
	waitFor(t, 10*time.Second, "lag of uncommitted partitions", func() error {
		var b bytesBuffer
		w.WriteMetrics(&b)
		var sum int64
		for _, line := range strings.Split(b.String(), "\n") {
			if !strings.HasPrefix(line, `sluice_sink_task_lag{connector="held"`) {
				continue
			}
			v, err := strconv.ParseInt(line[strings.LastIndexByte(line, ' ')+1:], 10, 64)
			if err != nil {
				return fmt.Errorf("lag line %q: %v", line, err)
			}
			sum += v
		}
		if sum != tasks*count {
			return fmt.Errorf("lag sum %d, want %d (nothing committed):\n%s", sum, tasks*count, b.String())
		}
		return nil
	})
}
