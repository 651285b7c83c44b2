package console

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP sluice_task_records_in_total Records a task received.
# TYPE sluice_task_records_in_total counter
sluice_task_records_in_total{connector="a",task="0"} 10
sluice_task_records_in_total{connector="a",task="1"} 5
sluice_task_records_out_total{connector="a",task="0"} 9
sluice_task_errors_total{connector="we\"ird\\name",task="0"} 2
sluice_sink_task_lag{connector="s",task="0",topic="t",partition="0"} 3
sluice_sink_task_lag{connector="s",task="0",topic="t",partition="1"} 4
sluice_postgres_snapshot_rows{connector="pg",task="0"} 1.2e+06
sluice_postgres_snapshot_table_rows{connector="pg",task="0",table="public.t"} 7
go_goroutines 12
sluice_task_records_in_total{connector="broken",task="x"} 1
sluice_task_records_in_total{connector="unterminated} 1
not a metric line
`
	s := parseMetrics(text)
	tests := []struct {
		name string
		got  float64
		want float64
	}{
		{"in a/0", s.in[taskID{"a", 0}], 10},
		{"in a/1", s.in[taskID{"a", 1}], 5},
		{"out a/0", s.out[taskID{"a", 0}], 9},
		{"errors with escaped name", s.errs[taskID{`we"ird\name`, 0}], 2},
		{"lag summed over partitions", s.lag[taskID{"s", 0}], 7},
		{"unlabelled task gauge", s.gauges[taskID{"pg", 0}]["sluice_postgres_snapshot_rows"], 1.2e6},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
	if _, ok := s.gauges[taskID{"pg", 0}]["sluice_postgres_snapshot_table_rows"]; ok {
		t.Error("a per-table gauge was kept as a task gauge")
	}
	if len(s.in) != 2 {
		t.Errorf("in has %d tasks, want 2 (bad lines skipped): %v", len(s.in), s.in)
	}
}

// fakeSource writes whatever metrics text the test sets.
type fakeSource struct {
	mu   sync.Mutex
	text string
}

func (f *fakeSource) set(s string) { f.mu.Lock(); f.text = s; f.mu.Unlock() }
func (f *fakeSource) WriteMetrics(w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	io.WriteString(w, f.text)
}

func getJSON(t *testing.T, h http.Handler, path string, code int, v any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != code {
		t.Fatalf("GET %s = %d, want %d: %s", path, rec.Code, code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s Content-Type = %q", path, ct)
	}
	if v != nil {
		if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, rec.Body)
		}
	}
}

func TestHistory(t *testing.T) {
	a, b := &fakeSource{}, &fakeSource{}
	c := New(WithMetrics(a, b), WithSampleInterval(time.Second), WithHistoryWindow(3*time.Second))
	t0 := time.Unix(1_700_000_000, 0)
	steps := []struct {
		a, b string
	}{
		{`sluice_task_records_out_total{connector="src",task="0"} 100`, `sluice_task_records_out_total{connector="src",task="1"} 0`},
		{`sluice_task_records_out_total{connector="src",task="0"} 120`, `sluice_task_records_out_total{connector="src",task="1"} 10`},
		// Task 0 moved away and restarted from zero on this worker.
		{`sluice_task_records_out_total{connector="src",task="0"} 4`, `sluice_task_records_out_total{connector="src",task="1"} 20`},
		{`sluice_task_records_out_total{connector="src",task="0"} 8
sluice_sink_task_lag{connector="snk",task="0",topic="t",partition="0"} 5
sluice_postgres_snapshot_tables_total{connector="src",task="0"} 4`, `sluice_task_records_out_total{connector="src",task="1"} 20`},
		{`sluice_task_records_out_total{connector="src",task="0"} 12`, `sluice_task_records_out_total{connector="src",task="1"} 22`},
	}
	for i, s := range steps {
		a.set(s.a)
		b.set(s.b)
		c.sample(t0.Add(time.Duration(i) * 2 * time.Second))
	}
	var h History
	getJSON(t, c.Handler(), "/ui/api/history", http.StatusOK, &h)
	if h.Sources != 2 || h.IntervalMillis != 1000 || h.WindowMillis != 3000 {
		t.Errorf("history header = %+v", h)
	}
	src := h.Connectors["src"]
	// The window keeps 4 samples (steps 1..4), so 3 rate points; at step 2
	// the total fell from 130 to 24, which counts as a restart: 24/2 s.
	want := []float64{12, 4.0 / 2, 6.0 / 2}
	if len(src.Points) != len(want) {
		t.Fatalf("src has %d points, want %d: %+v", len(src.Points), len(want), src.Points)
	}
	for i, p := range src.Points {
		if p.OutRate != want[i] {
			t.Errorf("point %d out_rate = %v, want %v", i, p.OutRate, want[i])
		}
	}
	if src.RecordsOut != 34 {
		t.Errorf("records_out = %v, want 34", src.RecordsOut)
	}
	if src.Lag != nil {
		t.Errorf("source has lag %v", *src.Lag)
	}
	if snk := h.Connectors["snk"]; snk.Lag != nil {
		t.Errorf("snk still reports lag %v after its metrics went away", *snk.Lag)
	}
	if src.Tasks != nil {
		t.Errorf("gauges of a past sample were kept: %v", src.Tasks)
	}

	a.set(`sluice_postgres_snapshot_tables_total{connector="src",task="0"} 4
sluice_sink_task_lag{connector="snk",task="0",topic="t",partition="0"} 5
sluice_task_records_out_total{connector="late",task="0"} 60`)
	c.sample(t0.Add(20 * time.Second))
	getJSON(t, c.Handler(), "/ui/api/history", http.StatusOK, &h)
	if g := h.Connectors["src"].Tasks["0"]["sluice_postgres_snapshot_tables_total"]; g != 4 {
		t.Errorf("snapshot gauge = %v, want 4", g)
	}
	if l := h.Connectors["snk"].Lag; l == nil || *l != 5 {
		t.Errorf("snk lag = %v, want 5", l)
	}
	// A connector first seen in this sample sent its records since the
	// previous one, 12 s earlier.
	if late := h.Connectors["late"]; len(late.Points) != 1 || late.Points[0].OutRate != 5 {
		t.Errorf("late = %+v, want one point at 60/12 = 5/s", late)
	}
}

func TestRoutes(t *testing.T) {
	c := New()
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	h := c.Mount(next)
	tests := []struct {
		method, path string
		code         int
		body         string // substring
	}{
		{"GET", "/ui/", 200, `<script src="/ui/app.js"`},
		{"GET", "/ui/app.js", 200, "confirmAction"},
		{"GET", "/ui/app.css", 200, "--accent"},
		{"GET", "/ui", http.StatusFound, ""},
		{"POST", "/ui/", http.StatusMethodNotAllowed, "read-only"},
		{"GET", "/ui/api/nope", http.StatusNotFound, "no such console endpoint"},
		{"GET", "/ui/api/topics", http.StatusServiceUnavailable, "no Kafka bootstrap servers"},
		{"GET", "/connectors", 299, ""},
		{"GET", "/uix", 299, ""},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.path, nil))
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s %s = %d %.80q, want %d containing %q", tt.method, tt.path, rec.Code, rec.Body, tt.code, tt.body)
		}
		if strings.HasPrefix(tt.path, "/ui/") && !strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
			t.Errorf("%s %s has no CSP", tt.method, tt.path)
		}
	}
}

func TestDecode(t *testing.T) {
	long := strings.Repeat("x", MaxShownBytes+10)
	tests := []struct {
		name      string
		in        []byte
		null      bool
		enc       string
		value     any
		truncated bool
	}{
		{"null", nil, true, "null", nil, false},
		{"json object", []byte(`{"a":1}`), false, "json", json.RawMessage(`{"a":1}`), false},
		{"json string", []byte(`"hi"`), false, "json", json.RawMessage(`"hi"`), false},
		{"text", []byte("order 1"), false, "text", "order 1", false},
		{"empty", []byte{}, false, "text", "", false},
		{"binary", []byte{0xff, 0x00, 0xfe}, false, "base64", "/wD+", false},
		{"long text", []byte(long), false, "text", long[:MaxShownBytes], true},
	}
	for _, tt := range tests {
		d := decode(tt.in, tt.null)
		if d.Encoding != tt.enc || d.Truncated != tt.truncated || fmt.Sprint(d.Value) != fmt.Sprint(tt.value) {
			t.Errorf("%s: decode = {%s %.40v %v}, want {%s %.40v %v}", tt.name, d.Encoding, d.Value, d.Truncated, tt.enc, tt.value, tt.truncated)
		}
	}
}

// TestBrokerView reads topics, records and groups from a real sluice
// broker.
func TestBrokerView(t *testing.T) {
	addr := testenv.StartBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, "connect-configs"); err != nil {
		t.Fatal(err)
	}
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: "orders", Partition: 0, Key: []byte(fmt.Sprintf("k%d", i)),
			Value: []byte(fmt.Sprintf(`{"n":%d}`, i)), Headers: []kgo.RecordHeader{{Key: "h", Value: []byte{0xff}}}})
	}
	recs = append(recs, &kgo.Record{Topic: "orders", Partition: 1, Value: []byte("plain")},
		&kgo.Record{Topic: "connect-configs", Value: []byte(`{"secret":"s3cr3t"}`)})
	pcl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	if err := pcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "orders", Partition: 0, At: 2, LeaderEpoch: -1})
	if _, err := adm.CommitOffsets(ctx, "readers", offs); err != nil {
		t.Fatal(err)
	}

	c := New(WithBootstrapServers(addr), WithProtectedTopics("connect-configs"))
	defer c.Close()
	h := c.Handler()

	var cluster Cluster
	getJSON(t, h, "/ui/api/cluster", http.StatusOK, &cluster)
	if len(cluster.Brokers) != 1 {
		t.Errorf("cluster = %+v", cluster)
	}

	var topics []Topic
	getJSON(t, h, "/ui/api/topics", http.StatusOK, &topics)
	byName := map[string]Topic{}
	for _, tp := range topics {
		byName[tp.Name] = tp
	}
	o := byName["orders"]
	if len(o.Partitions) != 2 || o.Partitions[0].EndOffset != 5 || o.Partitions[1].EndOffset != 1 || o.Records != 6 {
		t.Errorf("orders = %+v", o)
	}
	if o.Partitions[0].SizeBytes <= 0 {
		t.Errorf("orders/0 size = %d, want > 0", o.Partitions[0].SizeBytes)
	}
	if !byName["connect-configs"].Protected {
		t.Error("connect-configs is not flagged protected")
	}

	var one Topic
	getJSON(t, h, "/ui/api/topics/orders", http.StatusOK, &one)
	if one.Name != "orders" || len(one.Partitions) != 2 {
		t.Errorf("topic = %+v", one)
	}
	getJSON(t, h, "/ui/api/topics/missing", http.StatusNotFound, nil)

	var msgs struct {
		Messages []struct {
			Offset  int64
			Key     Data
			Value   Data
			Headers []struct {
				Key   string
				Value Data
			}
		}
		EndOffset int64 `json:"end_offset"`
	}
	getJSON(t, h, "/ui/api/topics/orders/messages?partition=0&limit=2", http.StatusOK, &msgs)
	if len(msgs.Messages) != 2 || msgs.Messages[0].Offset != 4 || msgs.Messages[1].Offset != 3 || msgs.EndOffset != 5 {
		t.Fatalf("messages = %+v", msgs)
	}
	m := msgs.Messages[0]
	if m.Key.Encoding != "text" || m.Key.Value != "k4" || m.Value.Encoding != "json" || fmt.Sprint(m.Value.Value) != "map[n:4]" {
		t.Errorf("newest record = %+v", m)
	}
	if len(m.Headers) != 1 || m.Headers[0].Key != "h" || m.Headers[0].Value.Encoding != "base64" {
		t.Errorf("headers = %+v", m.Headers)
	}
	getJSON(t, h, "/ui/api/topics/orders/messages?partition=1", http.StatusOK, &msgs)
	if len(msgs.Messages) != 1 || msgs.Messages[0].Value.Value != "plain" {
		t.Errorf("partition 1 = %+v", msgs)
	}
	for _, bad := range []struct {
		path string
		code int
	}{
		{"/ui/api/topics/orders/messages?limit=0", http.StatusBadRequest},
		{"/ui/api/topics/orders/messages?limit=201", http.StatusBadRequest},
		{"/ui/api/topics/orders/messages?partition=-1", http.StatusBadRequest},
		{"/ui/api/topics/orders/messages?partition=9", http.StatusNotFound},
		{"/ui/api/topics/connect-configs/messages", http.StatusForbidden},
	} {
		var e ErrorBody
		getJSON(t, h, bad.path, bad.code, &e)
		if e.ErrorCode != bad.code || e.Message == "" {
			t.Errorf("GET %s body = %+v", bad.path, e)
		}
	}

	var groups []Group
	getJSON(t, h, "/ui/api/groups", http.StatusOK, &groups)
	var g *Group
	for i := range groups {
		if groups[i].Group == "readers" {
			g = &groups[i]
		}
	}
	if g == nil {
		t.Fatalf("group readers missing: %+v", groups)
	}
	// kadm counts the uncommitted orders/1 from its start offset: 3 + 1.
	if g.Lag != 4 || len(g.Partitions) != 2 || g.Partitions[0].Committed != 2 || g.Partitions[0].Lag != 3 {
		t.Errorf("readers = %+v, want lag 3 on orders/0 and 1 on orders/1", g)
	}
}
