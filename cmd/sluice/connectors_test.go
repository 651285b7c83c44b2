package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/rest"
	"github.com/sluicehq/sluice/runtime/rest/resttest"
)

// cli runs the sluice command against endpoint and returns exit code,
// stdout and stderr.
func cli(t *testing.T, endpoint string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{args[0], "--endpoint", endpoint}, args[1:]...)
	code := run(context.Background(), full, &out, &errb)
	return code, out.String(), errb.String()
}

func startAPI(t *testing.T) (*resttest.Cluster, string) {
	t.Helper()
	fc := resttest.NewCluster()
	srv := httptest.NewServer(rest.New(fc))
	t.Cleanup(srv.Close)
	return fc, srv.URL
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCreateConnectorForms(t *testing.T) {
	wrapped := writeFile(t, "w.json", `{"name":"src","config":{"connector.class":"file-source","file":"/tmp/in","topic":"t","tasks.max":1}}`)
	bare := writeFile(t, "b.json", `{"name":"snk","connector.class":"file-sink","file":"/tmp/out","topics":"t"}`)
	msk := writeFile(t, "m.json", `{"connectorName":"mskc","connectorConfiguration":{"connector.class":"file-sink","file":"f"},"capacity":{"provisionedCapacity":{"mcuCount":2,"workerCount":3}},"kafkaConnectVersion":"3.7.x"}`)
	badJSON := writeFile(t, "x.json", "{\"name\": \"a\",\n ,}")
	nested := writeFile(t, "n.json", `{"name":"a","connector.class":{"x":1}}`)
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
		check  func(t *testing.T, fc *resttest.Cluster)
	}{
		{"wrapped file", []string{"create-connector", "--file", wrapped}, 0, "Created source connector src (1 task(s))", "", func(t *testing.T, fc *resttest.Cluster) {
			if c := fc.StoredConfig("src"); c["tasks.max"] != "1" || c["name"] != "src" || c["file"] != "/tmp/in" {
				t.Errorf("stored %v", c)
			}
		}},
		{"bare file", []string{"create-connector", "--file", bare}, 0, "Created sink connector snk", "", nil},
		{"msk input file", []string{"create-connector", "--file", msk}, 0, "Created sink connector mskc", "", func(t *testing.T, fc *resttest.Cluster) {
			c := fc.StoredConfig("mskc")
			if _, set := c["tasks.max"]; set || !strings.Contains(c["sluice.capacity"], `"workerCount":3`) {
				t.Errorf("stored %v", c)
			}
		}},
		{"msk flags", []string{"create-connector", "--connector-name", "kv",
			"--connector-configuration", "connector.class=file-sink,topics=a,b,transforms.r.regex=(.*)=x,file=/tmp/o",
			"--capacity", `{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":4,"mcuCount":1,"maxAutoscalingTaskCount":5,"scaleInPolicy":{"cpuUtilizationPercentage":20}}}`}, 0, "Created sink connector kv", "",
			func(t *testing.T, fc *resttest.Cluster) {
				c := fc.StoredConfig("kv")
				want := map[string]string{"connector.class": "file-sink", "topics": "a,b", "transforms.r.regex": "(.*)=x", "file": "/tmp/o", "tasks.max": "2", "name": "kv"}
				for k, v := range want {
					if c[k] != v {
						t.Errorf("%s = %q, want %q (all %v)", k, c[k], v, c)
					}
				}
			}},
		{"json configuration and explicit tasks.max", []string{"create-connector", "--connector-name", "js", "--connector-configuration", `{"connector.class":"file-sink","tasks.max":3,"file":"x"}`,
			"--capacity", `{"provisionedCapacity":{"mcuCount":1,"workerCount":1}}`, "--output", "json"}, 0, `"name": "js"`, "", func(t *testing.T, fc *resttest.Cluster) {
			if c := fc.StoredConfig("js"); c["tasks.max"] != "3" {
				t.Errorf("tasks.max overridden: %v", c)
			}
		}},
		{"autoscaled capacity overrides tasks.max (MSK)", []string{"create-connector", "--connector-name", "as", "--connector-configuration", `{"connector.class":"file-sink","tasks.max":7,"file":"x"}`,
			"--capacity", `{"autoScaling":{"minWorkerCount":2,"maxWorkerCount":4,"mcuCount":2}}`}, 0, "", "", func(t *testing.T, fc *resttest.Cluster) {
			if c := fc.StoredConfig("as"); c["tasks.max"] != "8" {
				t.Errorf("tasks.max = %q, want 2 workers x 2 MCU x 2 = 8", c["tasks.max"])
			}
		}},
		{"file plus override", []string{"create-connector", "--file", bare, "--connector-name", "snk2", "--connector-configuration", "file=/tmp/other"}, 2, "", `differs from the name "snk"`, nil},
		{"positional name", []string{"create-connector", "pos", "--connector-configuration", "connector.class=file-sink,file=f"}, 0, "Created sink connector pos", "", nil},
		{"initial state", []string{"create-connector", "--connector-name", "paused", "--connector-configuration", "connector.class=file-sink,file=f", "--initial-state", "paused"}, 0, "", "", func(t *testing.T, fc *resttest.Cluster) {
			found := false
			for _, c := range fc.Calls() {
				found = found || c == "create paused PAUSED"
			}
			if !found {
				t.Errorf("calls %v", fc.Calls())
			}
		}},
		{"duplicate is API error", []string{"create-connector", "--file", wrapped, "--connector-name", "src"}, 0, "", "", nil},
		{"invalid config is API error", []string{"create-connector", "--connector-name", "bad", "--connector-configuration", "connector.class=file-sink,file=bad"}, 1, "", "Invalid value bad for configuration file", nil},
		{"no config", []string{"create-connector", "--connector-name", "x"}, 2, "", "no configuration", nil},
		{"no name", []string{"create-connector", "--connector-configuration", "a=b"}, 2, "", "missing connector name", nil},
		{"bad kv", []string{"create-connector", "--connector-name", "x", "--connector-configuration", "nokey"}, 2, "", `piece 1 "nokey" is not key=value`, nil},
		{"bad capacity mcu", []string{"create-connector", "--connector-name", "x", "--connector-configuration", "a=b", "--capacity", `{"provisionedCapacity":{"mcuCount":3,"workerCount":1}}`}, 2, "", "mcuCount 3 must be 1, 2, 4 or 8", nil},
		{"bad capacity both", []string{"create-connector", "--connector-name", "x", "--connector-configuration", "a=b", "--capacity", `{"provisionedCapacity":{"mcuCount":1,"workerCount":1},"autoScaling":{"mcuCount":1,"minWorkerCount":1,"maxWorkerCount":1}}`}, 2, "", "only one", nil},
		{"bad capacity unknown field", []string{"create-connector", "--connector-name", "x", "--connector-configuration", "a=b", "--capacity", `{"provisioned":{}}`}, 2, "", `unknown field "provisioned"`, nil},
		{"bad capacity min>max", []string{"create-connector", "--connector-name", "x", "--connector-configuration", "a=b", "--capacity", `{"autoScaling":{"mcuCount":1,"minWorkerCount":3,"maxWorkerCount":2}}`}, 2, "", "maxWorkerCount 2 must be between minWorkerCount (3) and 10", nil},
		{"bad json file", []string{"create-connector", "--file", badJSON}, 2, "", "invalid JSON at byte offset 15", nil},
		{"nested value", []string{"create-connector", "--file", nested}, 2, "", `value of "connector.class" must be a string`, nil},
		{"missing file", []string{"create-connector", "--file", "/nonexistent.json"}, 2, "", "no such file", nil},
		{"bad output", []string{"create-connector", "--file", wrapped, "--output", "yaml"}, 2, "", "invalid --output", nil},
	}
	fc, url := startAPI(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "duplicate is API error" {
				tt.code, tt.stderr = 1, "Connector src already exists (HTTP 409)"
			}
			code, out, errs := cli(t, url, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tt.code, out, errs)
			}
			if !strings.Contains(out, tt.stdout) || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("stdout %q (want %q) stderr %q (want %q)", out, tt.stdout, errs, tt.stderr)
			}
			if tt.check != nil {
				tt.check(t, fc)
			}
		})
	}
}

func TestDescribeListUpdateDelete(t *testing.T) {
	fc, url := startAPI(t)
	if code, _, errs := cli(t, url, "create-connector", "--connector-name", "snk", "--connector-configuration", "connector.class=file-sink,file=/tmp/o,db.password=hunter2"); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := cli(t, url, "create-connector", "--connector-name", "src", "--connector-configuration", "connector.class=file-source,file=/tmp/i,topic=t"); code != 0 {
		t.Fatal(errs)
	}
	fc.SetLag("snk", 42)
	fc.SetState("src", api.Paused)

	code, out, errs := cli(t, url, "describe-connector", "snk")
	if code != 0 {
		t.Fatalf("describe: %d %s", code, errs)
	}
	for _, want := range []string{"Name:", "snk", "Type:", "sink", "RUNNING", "w1:8083", "Lag:", "42", "file", "/tmp/o", "db.password", "[hidden]", "ID", "WORKER", "w2:8083"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Errorf("describe shows the secret:\n%s", out)
	}

	code, out, _ = cli(t, url, "describe-connector", "--connector-name", "snk", "--output", "json")
	var d connectorDescription
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("describe json: %d %s", code, out)
	}
	if d.Lag == nil || *d.Lag != 42 || len(d.Tasks) != 1 || d.Tasks[0].Lag == nil || *d.Tasks[0].Lag != 42 || d.Tasks[0].WorkerID != "w2:8083" || d.Config["db.password"] != "[hidden]" {
		t.Fatalf("describe json %+v", d)
	}
	// MSK Connect's field names too.
	if d.ConnectorName != "snk" || d.ConnectorState == "" || d.ConnectorState != string(d.Connector.State) || d.ConnectorConfiguration["db.password"] != "[hidden]" || d.ConnectorConfiguration["name"] != "" {
		t.Fatalf("describe json MSK fields: %+v", d)
	}

	code, out, _ = cli(t, url, "list-connectors")
	if code != 0 {
		t.Fatal(out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[1], "snk") || !strings.Contains(lines[1], "1/1 RUNNING") ||
		!strings.Contains(lines[2], "src") || !strings.Contains(lines[2], "PAUSED") || !strings.Contains(lines[2], "0/1 RUNNING, 1 PAUSED") {
		t.Fatalf("list:\n%s", out)
	}
	code, out, _ = cli(t, url, "list-connectors", "--output", "json")
	var list struct {
		Connectors []connectorSummary `json:"connectors"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil {
		t.Fatalf("list json: %s", out)
	}
	rows := list.Connectors
	if len(rows) != 2 || rows[1].State != api.Paused || rows[0].Type != api.Sink ||
		rows[1].ConnectorName != rows[1].Name || rows[1].ConnectorState != "PAUSED" {
		t.Fatalf("list json: %s", out)
	}

	if code, out, errs = cli(t, url, "update-connector", "--connector-name", "snk", "--connector-configuration", "connector.class=file-sink,file=/tmp/new"); code != 0 || !strings.Contains(out, "Updated connector snk") {
		t.Fatalf("update: %d %s %s", code, out, errs)
	}
	if c := fc.StoredConfig("snk"); c["file"] != "/tmp/new" || c["db.password"] != "" {
		t.Fatalf("after update %v", c)
	}
	if code, _, errs = cli(t, url, "update-connector", "--connector-name", "nope", "--connector-configuration", "connector.class=file-sink"); code != 1 || !strings.Contains(errs, "does not exist") {
		t.Fatalf("update missing: %d %s", code, errs)
	}
	if code, _, errs = cli(t, url, "update-connector", "--connector-name", "snk", "--connector-configuration", "file=bad,connector.class=file-sink"); code != 1 || !strings.Contains(errs, "Invalid value bad") {
		t.Fatalf("update invalid: %d %s", code, errs)
	}

	if code, out, _ = cli(t, url, "delete-connector", "snk"); code != 0 || !strings.Contains(out, "Deleted connector snk") {
		t.Fatalf("delete: %d %s", code, out)
	}
	if code, _, errs = cli(t, url, "delete-connector", "snk"); code != 1 || !strings.Contains(errs, "Connector snk not found (HTTP 404)") {
		t.Fatalf("delete again: %d %s", code, errs)
	}
	if code, _, errs = cli(t, url, "describe-connector", "snk"); code != 1 || !strings.Contains(errs, "not found") {
		t.Fatalf("describe deleted: %d %s", code, errs)
	}
	if code, _, errs = cli(t, url, "describe-connector"); code != 2 || !strings.Contains(errs, "missing connector name") {
		t.Fatalf("describe no name: %d %s", code, errs)
	}
	if code, _, errs = cli(t, url, "delete-connector", "a", "b"); code != 2 {
		t.Fatalf("delete two names: %d %s", code, errs)
	}
}

func TestEndpointErrors(t *testing.T) {
	// Nothing listens on port 1.
	code, _, errs := cli(t, "http://127.0.0.1:1", "list-connectors")
	if code != 1 || !strings.Contains(errs, "cannot reach the sluice REST API") {
		t.Fatalf("unreachable: %d %s", code, errs)
	}
	code, _, errs = cli(t, "ftp://x", "list-connectors")
	if code != 2 || !strings.Contains(errs, "invalid --endpoint") {
		t.Fatalf("bad endpoint: %d %s", code, errs)
	}
	t.Setenv("SLUICE_ENDPOINT", "http://127.0.0.1:1")
	var out, eb bytes.Buffer
	if code := run(context.Background(), []string{"list-connectors"}, &out, &eb); code != 1 || !strings.Contains(eb.String(), "127.0.0.1:1") {
		t.Fatalf("env endpoint: %d %s", code, eb.String())
	}
}

func TestParseConfiguration(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"a=1,b=2", map[string]string{"a": "1", "b": "2"}, ""},
		{"a=x=y", map[string]string{"a": "x=y"}, ""},
		{"topics=a,b,c,tasks.max=2", map[string]string{"topics": "a,b,c", "tasks.max": "2"}, ""},
		{"query=select a, b from t", map[string]string{"query": "select a, b from t"}, ""},
		{"a=", map[string]string{"a": ""}, ""},
		{` {"a": 1, "b": true} `, map[string]string{"a": "1", "b": "true"}, ""},
		{`{"a": [1]}`, nil, `value of "a" must be a string`},
		{`{"a": `, nil, "not valid JSON"},
		{"=x", nil, "not key=value"},
	}
	for _, tt := range tests {
		got, err := parseConfiguration(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("%q: %v %v", tt.in, got, err)
			continue
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("%q: %s=%q want %q", tt.in, k, got[k], v)
			}
		}
	}
}

func TestParseLag(t *testing.T) {
	data := []byte(`# HELP sluice_sink_task_lag lag
# TYPE sluice_sink_task_lag gauge
sluice_sink_task_lag{connector="a",task="0",topic="t",partition="0"} 5
sluice_sink_task_lag{connector="a",task="0",topic="t",partition="1"} 2
sluice_sink_task_lag{connector="a",task="1",topic="t",partition="2"} 1e1
sluice_sink_task_lag{connector="a\"b",task="0"} 100
sluice_sink_task_lag_total{connector="a"} 99
sluice_sink_task_lag{connector="b",task="0"} 7
`)
	got := parseLag(data, "a")
	var t0, t1 float64
	for k, v := range got {
		switch k.task {
		case 0:
			t0 += v
		case 1:
			t1 += v
		}
	}
	if t0 != 7 || t1 != 10 || len(got) != 3 {
		t.Fatalf("lag %v", got)
	}
	if q := parseLag(data, `a"b`); len(q) != 1 {
		t.Fatalf("escaped label: %v", q)
	}
}

// Each worker reports only its own tasks' lag: describe-connector asks the
// worker running the task.
func TestDescribeLagFromTaskWorker(t *testing.T) {
	other := httptest.NewServer(rest.New(lagOnly{resttest.NewCluster()}))
	defer other.Close()
	fc, url := startAPI(t)
	if code, _, errs := cli(t, url, "create-connector", "--connector-name", "snk", "--connector-configuration", "connector.class=file-sink,file=/tmp/o"); code != 0 {
		t.Fatal(errs)
	}
	fc.SetWorkerIDs("w1:8083", strings.TrimPrefix(other.URL, "http://"))
	code, out, errs := cli(t, url, "describe-connector", "snk", "--output", "json")
	var d connectorDescription
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("%d %s %s", code, out, errs)
	}
	if d.Lag == nil || *d.Lag != 3 || d.Tasks[0].Lag == nil || *d.Tasks[0].Lag != 3 {
		t.Fatalf("lag not read from the task's worker: %s", out)
	}
}

// lagOnly is a cluster whose metrics report lag 3 for task 0 of "snk".
type lagOnly struct{ *resttest.Cluster }

func (lagOnly) WriteMetrics(w io.Writer) {
	io.WriteString(w, "sluice_sink_task_lag{connector=\"snk\",task=\"0\"} 3\n")
}

// Source tasks that report sluice_postgres_snapshot_* show their snapshot
// progress per task, in table and JSON output.
func TestDescribeSnapshotProgress(t *testing.T) {
	fc := resttest.NewCluster()
	srv := httptest.NewServer(rest.New(snapshotMetrics{fc}))
	defer srv.Close()
	if code, _, errs := cli(t, srv.URL, "create-connector", "--connector-name", "pg", "--connector-configuration", "connector.class=file-source,file=/tmp/i,topic=t"); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := cli(t, srv.URL, "describe-connector", "pg")
	if code != 0 {
		t.Fatalf("describe: %d %s", code, errs)
	}
	if !strings.Contains(out, "\nSnapshot:\n  task 0: 3/5 tables, 120000 rows, running\n") {
		t.Errorf("describe output lacks the snapshot line:\n%s", out)
	}
	code, out, errs = cli(t, srv.URL, "describe-connector", "pg", "--output", "json")
	var d connectorDescription
	if code != 0 || json.Unmarshal([]byte(out), &d) != nil {
		t.Fatalf("%d %s %s", code, out, errs)
	}
	want := snapshotProgress{State: "running", TablesDone: 3, TablesTotal: 5, Rows: 120000}
	if len(d.Tasks) != 1 || d.Tasks[0].Snapshot == nil || *d.Tasks[0].Snapshot != want {
		t.Fatalf("snapshot in json: %s", out)
	}
	if !strings.Contains(out, `"snapshot": {`) && !strings.Contains(out, `"snapshot":{`) {
		t.Errorf("json lacks the snapshot field: %s", out)
	}
}

// snapshotMetrics is a cluster whose metrics report snapshot progress for
// task 0 of "pg" (and a completed snapshot of another connector).
type snapshotMetrics struct{ *resttest.Cluster }

func (snapshotMetrics) WriteMetrics(w io.Writer) {
	io.WriteString(w, `# TYPE sluice_postgres_snapshot_running gauge
sluice_postgres_snapshot_running{connector="pg",task="0"} 1
sluice_postgres_snapshot_completed{connector="pg",task="0"} 0
sluice_postgres_snapshot_tables_total{connector="pg",task="0"} 5
sluice_postgres_snapshot_tables_done{connector="pg",task="0"} 3
sluice_postgres_snapshot_rows{connector="pg",task="0"} 120000
sluice_postgres_snapshot_table_rows{connector="pg",task="0",table="public.a"} 7
sluice_postgres_snapshot_rows{connector="other",task="0"} 9
sluice_postgres_snapshot_completed{connector="other",task="0"} 1
`)
}

func TestParseSnapshot(t *testing.T) {
	data := []byte(`sluice_postgres_snapshot_completed{connector="a",task="1"} 1
sluice_postgres_snapshot_running{connector="a",task="1"} 0
sluice_postgres_snapshot_rows{connector="a",task="1"} 1.5e+06
sluice_postgres_snapshot_tables_total{connector="a",task="1"} 2
sluice_postgres_snapshot_tables_done{connector="a",task="1"} 2
sluice_postgres_snapshot_skipped{connector="a",task="2"} 1
sluice_postgres_snapshot_rows{connector="a",task="x"} 4
sluice_postgres_snapshot_rows{connector="b",task="0"} 4
sluice_postgres_snapshot_rows{connector="a",task="3"} notanumber
`)
	got := parseSnapshot(data, "a")
	want := map[int]snapshotProgress{
		1: {State: "completed", TablesDone: 2, TablesTotal: 2, Rows: 1500000},
		2: {State: "skipped"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tasks: %v", len(got), got)
	}
	for k, w := range want {
		if g := got[k]; g == nil || *g != w {
			t.Errorf("task %d: %+v, want %+v", k, g, w)
		}
	}
}

func TestParseSnapshotMySQL(t *testing.T) {
	data := []byte(`sluice_mysql_snapshot_running{connector="m",task="0"} 1
sluice_mysql_snapshot_rows{connector="m",task="0"} 42
sluice_mysql_snapshot_tables_total{connector="m",task="0"} 3
sluice_mysql_snapshot_tables_done{connector="m",task="0"} 1
sluice_mysql_streamed_rows{connector="m",task="0"} 7
`)
	got := parseSnapshot(data, "m")
	if g := got[0]; g == nil || *g != (snapshotProgress{State: "running", TablesDone: 1, TablesTotal: 3, Rows: 42}) {
		t.Fatalf("mysql snapshot progress: %+v", g)
	}
}
