package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
)

// defaultEndpoint is the REST API the CLI talks to without --endpoint or
// SLUICE_ENDPOINT.
const defaultEndpoint = "http://127.0.0.1:8083"

// apiError is a non-2xx answer from the REST API.
type apiError struct {
	Status  int
	Message string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status)
}

// client calls sluice's Kafka Connect-compatible REST API.
type client struct {
	base *url.URL
	http *http.Client
	auth *basicAuth // HTTP basic credentials (clientsec.go), or nil
}

func newClient(endpoint string) (*client, error) {
	if !strings.Contains(endpoint, "://") {
		endpoint = "http://" + endpoint
	}
	u, err := url.Parse(strings.TrimRight(endpoint, "/"))
	if err != nil {
		return nil, fmt.Errorf("invalid --endpoint %q: %v", endpoint, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("invalid --endpoint %q: want http(s)://host:port", endpoint)
	}
	return &client{base: u, http: &http.Client{Timeout: 120 * time.Second}}, nil
}

// do sends a request with an optional JSON body and decodes a JSON answer
// into out (when non-nil). It returns the status code.
func (c *client) do(ctx context.Context, method, path string, query url.Values, body, out any) (int, error) {
	target := strings.TrimRight(c.base.String(), "/") + escapePath(path)
	if len(query) > 0 {
		target += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	c.auth.apply(req)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("cannot reach the sluice REST API at %s: %w", c.base, unwrapURLError(err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("reading response from %s: %w", target, err)
	}
	if resp.StatusCode >= 300 {
		var e api.ErrorResponse
		if json.Unmarshal(data, &e) == nil && e.Message != "" {
			return resp.StatusCode, &apiError{Status: resp.StatusCode, Message: e.Message}
		}
		msg := strings.TrimSpace(string(data))
		if msg == "" {
			msg = http.StatusText(resp.StatusCode)
		}
		return resp.StatusCode, &apiError{Status: resp.StatusCode, Message: msg}
	}
	if out != nil && len(bytes.TrimSpace(data)) > 0 {
		if w, ok := out.(*[]byte); ok {
			*w = data
			return resp.StatusCode, nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("unexpected response from %s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// escapePath escapes each segment of an API path so connector names with
// spaces, '%' or '?' survive.
func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func connPath(name string, rest ...string) string {
	return "/connectors/" + name + strings.Join(rest, "")
}

func (c *client) createConnector(ctx context.Context, req api.CreateConnectorRequest) (api.ConnectorInfo, error) {
	var info api.ConnectorInfo
	_, err := c.do(ctx, http.MethodPost, "/connectors", nil, req, &info)
	return info, err
}

func (c *client) putConfig(ctx context.Context, name string, cfg map[string]string) (api.ConnectorInfo, bool, error) {
	var info api.ConnectorInfo
	code, err := c.do(ctx, http.MethodPut, connPath(name, "/config"), nil, cfg, &info)
	return info, code == http.StatusCreated, err
}

func (c *client) connector(ctx context.Context, name string) (api.ConnectorInfo, error) {
	var info api.ConnectorInfo
	_, err := c.do(ctx, http.MethodGet, connPath(name), nil, nil, &info)
	return info, err
}

func (c *client) status(ctx context.Context, name string) (api.ConnectorStateInfo, error) {
	var st api.ConnectorStateInfo
	_, err := c.do(ctx, http.MethodGet, connPath(name, "/status"), nil, nil, &st)
	return st, err
}

func (c *client) expanded(ctx context.Context) (map[string]api.ConnectorExpanded, error) {
	var out map[string]api.ConnectorExpanded
	q := url.Values{"expand": {"status", "info"}}
	_, err := c.do(ctx, http.MethodGet, "/connectors", q, nil, &out)
	return out, err
}

func (c *client) deleteConnector(ctx context.Context, name string) error {
	_, err := c.do(ctx, http.MethodDelete, connPath(name), nil, nil, nil)
	return err
}

// lag is a consumer lag sample from /metrics.
type lagKey struct {
	task      int
	topic     string
	partition string
}

// taskMetrics is what describe-connector reads from /metrics for one
// connector: sink lag and source snapshot progress per task.
type taskMetrics struct {
	lag  map[lagKey]float64
	snap map[int]*snapshotProgress
}

// snapshotProgress is a task's initial snapshot progress, read from the
// sluice_postgres_snapshot_* gauges.
type snapshotProgress struct {
	// State is running, completed, skipped or pending.
	State       string `json:"state"`
	TablesDone  int64  `json:"tables_done"`
	TablesTotal int64  `json:"tables_total"`
	Rows        int64  `json:"rows"`
}

func (p *snapshotProgress) String() string {
	return fmt.Sprintf("%d/%d tables, %d rows, %s", p.TablesDone, p.TablesTotal, p.Rows, p.State)
}

// taskMetrics reads the connector's task metrics from /metrics. It
// returns empty maps (no error) when the server exposes none.
func (c *client) taskMetrics(ctx context.Context, connector string) (taskMetrics, error) {
	var raw []byte
	if _, err := c.do(ctx, http.MethodGet, "/metrics", nil, nil, &raw); err != nil {
		return taskMetrics{}, err
	}
	return taskMetrics{lag: parseLag(raw, connector), snap: parseSnapshot(raw, connector)}, nil
}

// taskMetricsAll reads the connector's task metrics from the endpoint and
// from every worker running one of its tasks (each worker reports only its
// own tasks). Worker ids are host:port of the workers' REST listeners.
// Workers that cannot be reached are skipped; the error is returned only
// when no source answered.
func (c *client) taskMetricsAll(ctx context.Context, connector string, workerIDs []string) (taskMetrics, error) {
	out := taskMetrics{lag: map[lagKey]float64{}, snap: map[int]*snapshotProgress{}}
	merge := func(m taskMetrics) {
		for k, v := range m.lag {
			out.lag[k] = v
		}
		for k, v := range m.snap {
			out.snap[k] = v
		}
	}
	seen := map[string]bool{c.base.Host: true}
	m, firstErr := c.taskMetrics(ctx, connector)
	answered := firstErr == nil
	merge(m)
	for _, id := range workerIDs {
		host := id
		if u, err := url.Parse(id); err == nil && u.Host != "" {
			host = u.Host
		}
		if host == "" || seen[host] {
			continue
		}
		seen[host] = true
		wc := &client{base: &url.URL{Scheme: c.base.Scheme, Host: host}, http: &http.Client{Timeout: 5 * time.Second, Transport: c.http.Transport}, auth: c.auth}
		m, err := wc.taskMetrics(ctx, connector)
		if err != nil {
			continue
		}
		answered = true
		merge(m)
	}
	if !answered {
		return taskMetrics{}, firstErr
	}
	return out, nil
}

// parseSnapshot extracts the connector-level sluice_postgres_snapshot_*
// (or sluice_mysql_snapshot_*) gauges of connector's tasks from the
// Prometheus text format.
func parseSnapshot(data []byte, connector string) map[int]*snapshotProgress {
	prefix := "sluice_postgres_snapshot_"
	type flags struct{ running, completed, skipped bool }
	out := map[int]*snapshotProgress{}
	fl := map[int]*flags{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "sluice_mysql_snapshot_") {
			prefix = "sluice_mysql_snapshot_"
		} else if strings.HasPrefix(line, "sluice_postgres_snapshot_") {
			prefix = "sluice_postgres_snapshot_"
		} else {
			continue
		}
		name, labels, v, ok := parseSample(line)
		if !ok || labels["connector"] != connector {
			continue
		}
		task, err := strconv.Atoi(labels["task"])
		if err != nil {
			continue
		}
		p, f := out[task], fl[task]
		if p == nil {
			p, f = &snapshotProgress{}, &flags{}
		}
		switch strings.TrimPrefix(name, prefix) {
		case "running":
			f.running = v == 1
		case "completed":
			f.completed = v == 1
		case "skipped":
			f.skipped = v == 1
		case "tables_total":
			p.TablesTotal = int64(v)
		case "tables_done":
			p.TablesDone = int64(v)
		case "rows":
			p.Rows = int64(v)
		default:
			continue
		}
		out[task], fl[task] = p, f
	}
	for task, p := range out {
		switch f := fl[task]; {
		case f.running:
			p.State = "running"
		case f.completed:
			p.State = "completed"
		case f.skipped:
			p.State = "skipped"
		default:
			p.State = "pending"
		}
	}
	return out
}

// parseSample parses one `name{labels} value` sample line.
func parseSample(line string) (name string, labels map[string]string, v float64, ok bool) {
	end := strings.IndexAny(line, "{ ")
	if end <= 0 {
		return "", nil, 0, false
	}
	name, rest := line[:end], line[end:]
	labels = map[string]string{}
	if strings.HasPrefix(rest, "{") {
		rb := strings.LastIndex(rest, "}")
		if rb < 0 {
			return "", nil, 0, false
		}
		labels = parseLabels(rest[1:rb])
		rest = rest[rb+1:]
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

// parseLag extracts sluice_sink_task_lag{connector=...,task=...} samples
// from the Prometheus text format.
func parseLag(data []byte, connector string) map[lagKey]float64 {
	out := map[lagKey]float64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "sluice_sink_task_lag") {
			continue
		}
		rest := strings.TrimPrefix(line, "sluice_sink_task_lag")
		labels := map[string]string{}
		if strings.HasPrefix(rest, "{") {
			end := strings.LastIndex(rest, "}")
			if end < 0 {
				continue
			}
			labels = parseLabels(rest[1:end])
			rest = rest[end+1:]
		} else if !strings.HasPrefix(rest, " ") {
			continue // another metric with this prefix
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 || labels["connector"] != connector {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		task, err := strconv.Atoi(labels["task"])
		if err != nil {
			task = -1
		}
		out[lagKey{task: task, topic: labels["topic"], partition: labels["partition"]}] += v
	}
	return out
}

// parseLabels parses `a="x",b="y\"z"`.
func parseLabels(s string) map[string]string {
	out := map[string]string{}
	for len(s) > 0 {
		eq := strings.IndexByte(s, '=')
		if eq < 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return out
		}
		name := strings.TrimSpace(strings.TrimLeft(s[:eq], ", "))
		var val strings.Builder
		i := eq + 2
		for ; i < len(s); i++ {
			ch := s[i]
			if ch == '\\' && i+1 < len(s) {
				i++
				switch s[i] {
				case 'n':
					val.WriteByte('\n')
				default:
					val.WriteByte(s[i])
				}
				continue
			}
			if ch == '"' {
				break
			}
			val.WriteByte(ch)
		}
		out[name] = val.String()
		if i+1 >= len(s) {
			break
		}
		s = s[i+1:]
	}
	return out
}
