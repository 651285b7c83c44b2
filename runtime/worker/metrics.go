package worker

import (
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/sluicehq/sluice/runtime/connect"
)

// metrics holds per-task counters exposed by WriteMetrics.
type metrics struct {
	mu       sync.Mutex
	in       map[taskKey]uint64
	out      map[taskKey]uint64
	errs     map[taskKey]uint64
	polls    map[taskKey]uint64
	pollRecs map[taskKey]uint64
	sinks    map[taskKey]*sinkState
}

func newMetrics() *metrics {
	return &metrics{
		in: map[taskKey]uint64{}, out: map[taskKey]uint64{}, errs: map[taskKey]uint64{},
		polls: map[taskKey]uint64{}, pollRecs: map[taskKey]uint64{}, sinks: map[taskKey]*sinkState{},
	}
}

func (m *metrics) recordOut(k taskKey)         { m.add(m.out, k, 1) }
func (m *metrics) recordsOut(k taskKey, n int) { m.add(m.out, k, uint64(n)) }
func (m *metrics) taskError(k taskKey)         { m.add(m.errs, k, 1) }
func (m *metrics) pollBatch(k taskKey, n int) {
	m.mu.Lock()
	m.polls[k]++
	m.pollRecs[k] += uint64(n)
	m.mu.Unlock()
}

func (m *metrics) add(c map[taskKey]uint64, k taskKey, n uint64) {
	m.mu.Lock()
	c[k] += n
	m.mu.Unlock()
}

func (m *metrics) registerSink(k taskKey, s *sinkState) {
	m.mu.Lock()
	m.sinks[k] = s
	m.mu.Unlock()
}

func (m *metrics) unregisterSink(k taskKey) {
	m.mu.Lock()
	delete(m.sinks, k)
	m.mu.Unlock()
}

func sortedTaskKeys[V any](ms ...map[taskKey]V) []taskKey {
	set := map[taskKey]bool{}
	for _, m := range ms {
		for k := range m {
			set[k] = true
		}
	}
	out := make([]taskKey, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].conn != out[j].conn {
			return out[i].conn < out[j].conn
		}
		return out[i].id < out[j].id
	})
	return out
}

// promLabel escapes a Prometheus label value.
func promLabel(s string) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			b = append(b, '\\', '\\')
		case '"':
			b = append(b, '\\', '"')
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, s[i])
		}
	}
	return string(b)
}

func labels(k taskKey) string {
	return fmt.Sprintf(`connector="%s",task="%d"`, promLabel(k.conn), k.id)
}

// WriteMetrics writes the worker's metrics in the Prometheus text
// exposition format.
func (w *Worker) WriteMetrics(wr io.Writer) {
	m := w.metrics
	m.mu.Lock()
	counters := []struct {
		name, help string
		c          map[taskKey]uint64
	}{
		{"sluice_task_records_in_total", "Records a task received (polled from the source or consumed from Kafka).", m.in},
		{"sluice_task_records_out_total", "Records a task delivered (acknowledged by Kafka or handed to the sink task).", m.out},
		{"sluice_task_errors_total", "Record and task errors, tolerated or not.", m.errs},
		{"sluice_source_task_poll_batches_total", "Non-empty poll batches of source tasks.", m.polls},
		{"sluice_source_task_poll_records_total", "Records returned by source task polls.", m.pollRecs},
	}
	for _, c := range counters {
		fmt.Fprintf(wr, "# HELP %s %s\n# TYPE %s counter\n", c.name, c.help, c.name)
		for _, k := range sortedTaskKeys(c.c) {
			fmt.Fprintf(wr, "%s{%s} %d\n", c.name, labels(k), c.c[k])
		}
	}
	sinks := make(map[taskKey]*sinkState, len(m.sinks))
	for k, v := range m.sinks {
		sinks[k] = v
	}
	m.mu.Unlock()
	fmt.Fprintf(wr, "# HELP sluice_sink_task_lag Records not yet committed per partition: high watermark minus committed offset.\n# TYPE sluice_sink_task_lag gauge\n")
	for _, k := range sortedTaskKeys(sinks) {
		lp := sinks[k].lag.Load()
		if lp == nil {
			continue
		}
		tps := make([]connect.TopicPartition, 0, len(*lp))
		for tp := range *lp {
			tps = append(tps, tp)
		}
		sort.Slice(tps, func(i, j int) bool {
			if tps[i].Topic != tps[j].Topic {
				return tps[i].Topic < tps[j].Topic
			}
			return tps[i].Partition < tps[j].Partition
		})
		for _, tp := range tps {
			fmt.Fprintf(wr, "sluice_sink_task_lag{%s,topic=\"%s\",partition=\"%d\"} %d\n", labels(k), promLabel(tp.Topic), tp.Partition, (*lp)[tp])
		}
	}
	w.writeTaskMetrics(wr)
}

// taskSample is one task-reported gauge sample with rendered labels.
type taskSample struct {
	labels string
	value  float64
}

// writeTaskMetrics writes the gauges of running tasks that implement
// connect.MetricsReporter, grouped by name with the connector and task
// labels added. Samples with invalid names or labels are skipped.
func (w *Worker) writeTaskMetrics(wr io.Writer) {
	tasks := w.taskSnapshot()
	keys := sortedTaskKeys(tasks)
	help := map[string]string{}
	samples := map[string][]taskSample{}
	for _, k := range keys {
		r := tasks[k].metricsReporter()
		if r == nil {
			continue
		}
		for _, m := range r.Metrics() {
			if !strings.HasPrefix(m.Name, "sluice_") || !validMetricName(m.Name) || builtinMetric(m.Name) {
				continue
			}
			lbl, ok := taskMetricLabels(k, m.Labels)
			if !ok {
				continue
			}
			if _, seen := help[m.Name]; !seen {
				help[m.Name] = m.Help
			}
			samples[m.Name] = append(samples[m.Name], taskSample{lbl, m.Value})
		}
	}
	names := make([]string, 0, len(samples))
	for n := range samples {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		h := strings.NewReplacer("\\", "\\\\", "\n", "\\n").Replace(help[n])
		fmt.Fprintf(wr, "# HELP %s %s\n# TYPE %s gauge\n", n, h, n)
		ss := samples[n]
		// Tasks come in key order; sort each task's samples by labels.
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].labels < ss[j].labels })
		for _, s := range ss {
			fmt.Fprintf(wr, "%s{%s} %s\n", n, s.labels, promValue(s.value))
		}
	}
}

// builtinMetric reports whether name is one of the worker's own metrics,
// which tasks may not report.
func builtinMetric(name string) bool {
	switch name {
	case "sluice_task_records_in_total", "sluice_task_records_out_total", "sluice_task_errors_total",
		"sluice_source_task_poll_batches_total", "sluice_source_task_poll_records_total", "sluice_sink_task_lag":
		return true
	}
	return false
}

// promValue formats v, without an exponent for whole numbers below 2^53.
func promValue(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1<<53 {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// taskMetricLabels renders the connector and task labels followed by extra
// sorted by name; false when a name is invalid or reserved.
func taskMetricLabels(k taskKey, extra map[string]string) (string, bool) {
	names := make([]string, 0, len(extra))
	for n := range extra {
		if n == "connector" || n == "task" || !validLabelName(n) {
			return "", false
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString(labels(k))
	for _, n := range names {
		fmt.Fprintf(&b, ",%s=\"%s\"", n, promLabel(extra[n]))
	}
	return b.String(), true
}

// validMetricName reports whether s matches [a-zA-Z_:][a-zA-Z0-9_:]*.
func validMetricName(s string) bool {
	return validName(s, true)
}

// validLabelName reports whether s matches [a-zA-Z_][a-zA-Z0-9_]* and is
// not reserved (leading "__").
func validLabelName(s string) bool {
	return !strings.HasPrefix(s, "__") && validName(s, false)
}

func validName(s string, colon bool) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c == ':' && colon:
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
