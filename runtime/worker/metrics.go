package worker

import (
	"fmt"
	"io"
	"sort"
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

func (m *metrics) recordIn(k taskKey)          { m.add(m.in, k, 1) }
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
}
