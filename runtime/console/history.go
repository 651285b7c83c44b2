package console

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// taskID names one task of one connector.
type taskID struct {
	conn string
	task int
}

// metricsSample is what one scrape of the workers' metrics holds, per task.
type metricsSample struct {
	in, out, errs map[taskID]float64
	lag           map[taskID]float64
	// gauges are task-reported gauges without extra labels (such as
	// sluice_postgres_snapshot_rows), by task and metric name.
	gauges map[taskID]map[string]float64
}

// builtinCounters are the worker's own per-task metrics the history reads.
const (
	metricIn   = "sluice_task_records_in_total"
	metricOut  = "sluice_task_records_out_total"
	metricErrs = "sluice_task_errors_total"
	metricLag  = "sluice_sink_task_lag"
)

// parseMetrics reads the Prometheus text the workers write. Samples
// without connector and task labels, and lines it cannot parse, are
// skipped: the text comes from the worker itself.
func parseMetrics(text string) metricsSample {
	s := metricsSample{
		in: map[taskID]float64{}, out: map[taskID]float64{}, errs: map[taskID]float64{},
		lag: map[taskID]float64{}, gauges: map[taskID]map[string]float64{},
	}
	for line := range strings.SplitSeq(text, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		name, labels, value, ok := parseLine(line)
		if !ok || !strings.HasPrefix(name, "sluice_") {
			continue
		}
		conn, hasConn := labels["connector"]
		task, err := strconv.Atoi(labels["task"])
		if !hasConn || err != nil {
			continue
		}
		k := taskID{conn, task}
		switch name {
		case metricIn:
			s.in[k] += value
		case metricOut:
			s.out[k] += value
		case metricErrs:
			s.errs[k] += value
		case metricLag:
			s.lag[k] += value
		default:
			if len(labels) != 2 {
				continue // per-table and other labelled gauges
			}
			g := s.gauges[k]
			if g == nil {
				g = map[string]float64{}
				s.gauges[k] = g
			}
			g[name] = value
		}
	}
	return s
}

// parseLine splits `name{a="b",c="d"} value` (labels optional).
func parseLine(line string) (name string, labels map[string]string, value float64, ok bool) {
	labels = map[string]string{}
	rest := line
	if i := strings.IndexAny(line, "{ "); i < 0 {
		return "", nil, 0, false
	} else {
		name, rest = line[:i], line[i:]
	}
	if strings.HasPrefix(rest, "{") {
		rest = rest[1:]
		for {
			rest = strings.TrimLeft(rest, ", ")
			if strings.HasPrefix(rest, "}") {
				rest = rest[1:]
				break
			}
			eq := strings.Index(rest, `="`)
			if eq < 0 {
				return "", nil, 0, false
			}
			key := rest[:eq]
			rest = rest[eq+2:]
			var b strings.Builder
			closed := false
			for i := 0; i < len(rest); i++ {
				c := rest[i]
				if c == '\\' && i+1 < len(rest) {
					i++
					switch rest[i] {
					case 'n':
						b.WriteByte('\n')
					default:
						b.WriteByte(rest[i])
					}
					continue
				}
				if c == '"' {
					rest = rest[i+1:]
					closed = true
					break
				}
				b.WriteByte(c)
			}
			if !closed {
				return "", nil, 0, false
			}
			labels[key] = b.String()
		}
	}
	fields := strings.Fields(rest)
	if len(fields) == 0 {
		return "", nil, 0, false
	}
	v, err := strconv.ParseFloat(fields[0], 64)
	if err != nil {
		return "", nil, 0, false
	}
	return name, labels, v, true
}

// connTotals are one connector's totals in one sample.
type connTotals struct {
	in, out, errs, lag float64
	hasLag             bool
}

// point is one sample in the ring.
type point struct {
	t     time.Time
	conns map[string]connTotals
}

// history is a fixed-size ring of samples plus the latest gauges.
type history struct {
	mu     sync.Mutex
	max    int
	points []point
	gauges map[taskID]map[string]float64
}

func newHistory(max int) *history {
	if max < 2 {
		max = 2
	}
	return &history{max: max}
}

func (h *history) add(t time.Time, s metricsSample) {
	conns := map[string]connTotals{}
	for k, v := range s.in {
		c := conns[k.conn]
		c.in += v
		conns[k.conn] = c
	}
	for k, v := range s.out {
		c := conns[k.conn]
		c.out += v
		conns[k.conn] = c
	}
	for k, v := range s.errs {
		c := conns[k.conn]
		c.errs += v
		conns[k.conn] = c
	}
	for k, v := range s.lag {
		c := conns[k.conn]
		c.lag += v
		c.hasLag = true
		conns[k.conn] = c
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.points = append(h.points, point{t: t, conns: conns})
	if len(h.points) > h.max {
		h.points = append(h.points[:0], h.points[len(h.points)-h.max:]...)
	}
	h.gauges = s.gauges
}

// SeriesPoint is one point of a connector's history: record rates per
// second since the previous sample and the lag at the sample.
type SeriesPoint struct {
	Time    int64    `json:"t"` // Unix milliseconds
	InRate  float64  `json:"in_rate"`
	OutRate float64  `json:"out_rate"`
	Lag     *float64 `json:"lag,omitempty"`
}

// ConnectorHistory is one connector's history and latest totals.
type ConnectorHistory struct {
	RecordsIn  float64               `json:"records_in"`
	RecordsOut float64               `json:"records_out"`
	Errors     float64               `json:"errors"`
	Lag        *float64              `json:"lag,omitempty"`
	Points     []SeriesPoint         `json:"points"`
	Tasks      map[string]TaskGauges `json:"tasks,omitempty"`
}

// TaskGauges are the latest gauges a running task reported, by metric name.
type TaskGauges map[string]float64

// History is the body of GET /ui/api/history.
type History struct {
	IntervalMillis int64                       `json:"interval_ms"`
	WindowMillis   int64                       `json:"window_ms"`
	Sources        int                         `json:"sources"`
	Connectors     map[string]ConnectorHistory `json:"connectors"`
}

// snapshot renders the history. Counters that went down (a task moved to
// another worker) count as a restart from zero.
func (h *history) snapshot() map[string]ConnectorHistory {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]ConnectorHistory{}
	names := map[string]bool{}
	for _, p := range h.points {
		for n := range p.conns {
			names[n] = true
		}
	}
	for n := range names {
		ch := ConnectorHistory{Points: []SeriesPoint{}}
		// A connector missing from a sample had no counters on these
		// workers yet (counters are never removed), so it counts as zero:
		// records a new task sent before its first sample still show.
		var prev *connTotals
		var prevT time.Time
		for i, p := range h.points {
			c, ok := p.conns[n]
			if !ok {
				prev, prevT = &connTotals{}, p.t
				continue
			}
			if prev == nil && i > 0 {
				prev, prevT = &connTotals{}, h.points[i-1].t
			}
			if prev != nil {
				dt := p.t.Sub(prevT).Seconds()
				sp := SeriesPoint{Time: p.t.UnixMilli()}
				if dt > 0 {
					sp.InRate = rate(prev.in, c.in, dt)
					sp.OutRate = rate(prev.out, c.out, dt)
				}
				if c.hasLag {
					l := c.lag
					sp.Lag = &l
				}
				ch.Points = append(ch.Points, sp)
			}
			cc := c
			prev, prevT = &cc, p.t
		}
		if c, ok := h.points[len(h.points)-1].conns[n]; ok {
			ch.RecordsIn, ch.RecordsOut, ch.Errors = c.in, c.out, c.errs
			if c.hasLag {
				l := c.lag
				ch.Lag = &l
			}
		}
		out[n] = ch
	}
	ids := make([]taskID, 0, len(h.gauges))
	for k := range h.gauges {
		ids = append(ids, k)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i].task < ids[j].task })
	for _, k := range ids {
		ch, ok := out[k.conn]
		if !ok {
			ch = ConnectorHistory{Points: []SeriesPoint{}}
		}
		if ch.Tasks == nil {
			ch.Tasks = map[string]TaskGauges{}
		}
		ch.Tasks[strconv.Itoa(k.task)] = h.gauges[k]
		out[k.conn] = ch
	}
	return out
}

func rate(prev, cur, dt float64) float64 {
	if cur < prev {
		return cur / dt
	}
	return (cur - prev) / dt
}

func (c *Console) getHistory(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, History{
		IntervalMillis: c.o.interval.Milliseconds(),
		WindowMillis:   c.o.window.Milliseconds(),
		Sources:        len(c.o.sources),
		Connectors:     c.hist.snapshot(),
	})
}
