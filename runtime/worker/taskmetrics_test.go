package worker

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
)

// reportSourceClass is numSource whose tasks implement
// connect.MetricsReporter.
const reportSourceClass = "test.ReportSource"

type reportSource struct{ numSource }

func (c *reportSource) NewTask() connect.SourceTask {
	return &reportSourceTask{numSourceTask: &numSourceTask{}}
}

type reportSourceTask struct {
	*numSourceTask
	polled atomic.Int64
}

func (t *reportSourceTask) Poll(ctx context.Context) ([]*connect.Record, error) {
	rs, err := t.numSourceTask.Poll(ctx)
	t.polled.Add(int64(len(rs)))
	return rs, err
}

func (t *reportSourceTask) Metrics() []connect.Metric {
	return []connect.Metric{
		{Name: "sluice_test_polled_records", Help: "Records polled.", Value: float64(t.polled.Load())},
		{Name: "sluice_test_info", Help: "Info.", Labels: map[string]string{"kind": `a"b`, "b": "x"}, Value: 1},
		// Rejected: not sluice_, invalid name, reserved label, bad label, builtin name.
		{Name: "other_metric", Value: 1},
		{Name: "sluice_bad name", Value: 1},
		{Name: "sluice_test_reserved", Labels: map[string]string{"task": "9"}, Value: 1},
		{Name: "sluice_test_badlabel", Labels: map[string]string{"1x": "9"}, Value: 1},
		{Name: "sluice_task_errors_total", Value: 5},
	}
}

func TestTaskReportedMetrics(t *testing.T) {
	forEachBackend(t, testTaskReportedMetrics)
}

func testTaskReportedMetrics(t *testing.T, bs string) {
	prefix := testPrefix(t)
	plugins := append(testPlugins(newCollector()), connect.Plugin{
		Class: reportSourceClass, Type: "source", Version: "1", New: func() connect.Connector { return &reportSource{} },
	})
	w, err := New(testConfig(bs, prefix, 1), plugins, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	cfg := sourceConfig(prefix+"-rep", 2, 30)
	cfg["connector.class"] = reportSourceClass
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "rep", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "rep", 2)
	var out string
	waitFor(t, 30*time.Second, "task metrics", func() error {
		var b bytesBuffer
		w.WriteMetrics(&b)
		out = b.String()
		for id := 0; id < 2; id++ {
			want := fmt.Sprintf(`sluice_test_polled_records{connector="rep",task="%d"} 30`+"\n", id)
			if !strings.Contains(out, want) {
				return fmt.Errorf("missing %q in:\n%s", want, out)
			}
		}
		return nil
	})
	for _, want := range []string{
		"# HELP sluice_test_polled_records Records polled.\n# TYPE sluice_test_polled_records gauge\n",
		"# TYPE sluice_test_info gauge\n",
		`sluice_test_info{connector="rep",task="0",b="x",kind="a\"b"} 1` + "\n",
		`sluice_test_info{connector="rep",task="1",b="x",kind="a\"b"} 1` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "# TYPE sluice_test_info "); n != 1 {
		t.Errorf("TYPE sluice_test_info written %d times", n)
	}
	if n := strings.Count(out, "# TYPE sluice_task_errors_total "); n != 1 {
		t.Errorf("TYPE sluice_task_errors_total written %d times", n)
	}
	for _, bad := range []string{"other_metric", "sluice_bad name", "sluice_test_reserved", "sluice_test_badlabel", `sluice_task_errors_total{connector="rep",task="0"} 5`} {
		if strings.Contains(out, bad) {
			t.Errorf("invalid metric %q exported:\n%s", bad, out)
		}
	}
	if err := w.DeleteConnector(ctx, "rep"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "task metrics gone", func() error {
		var b bytesBuffer
		w.WriteMetrics(&b)
		if strings.Contains(b.String(), "sluice_test_polled_records") {
			return fmt.Errorf("still exported after delete:\n%s", b.String())
		}
		return nil
	})
}
