package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/rest/resttest"
)

type step struct {
	name     string
	method   string
	path     string
	body     string
	code     int
	contains []string // substrings the response body must contain
	absent   []string // substrings it must not contain
}

func do(t *testing.T, h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := httptest.NewRequest(method, path, rd)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func runSteps(t *testing.T, h http.Handler, steps []step) {
	t.Helper()
	for _, st := range steps {
		rec := do(t, h, st.method, st.path, st.body)
		body := rec.Body.String()
		if rec.Code != st.code {
			t.Fatalf("%s: %s %s = %d, want %d; body %s", st.name, st.method, st.path, rec.Code, st.code, body)
		}
		for _, c := range st.contains {
			if !strings.Contains(body, c) {
				t.Errorf("%s: body %s lacks %q", st.name, body, c)
			}
		}
		for _, c := range st.absent {
			if strings.Contains(body, c) {
				t.Errorf("%s: body %s contains %q", st.name, body, c)
			}
		}
		if rec.Code >= 400 {
			var e api.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.ErrorCode != rec.Code || e.Message == "" {
				t.Errorf("%s: error body %q is not {error_code:%d,message}", st.name, body, rec.Code)
			}
		}
		if rec.Body.Len() > 0 && rec.Code != http.StatusOK || strings.HasPrefix(st.path, "/connectors") && rec.Body.Len() > 0 {
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s: Content-Type %q", st.name, ct)
			}
		}
	}
}

func TestConnectorLifecycle(t *testing.T) {
	fc := resttest.NewCluster()
	s := New(fc, WithVersion("1.2.3", "abc"), WithKafkaClusterID("kc1"))
	runSteps(t, s, []step{
		{"root", "GET", "/", "", 200, []string{`"version":"1.2.3"`, `"commit":"abc"`, `"kafka_cluster_id":"kc1"`}, nil},
		{"empty list", "GET", "/connectors", "", 200, []string{`[]`}, nil},
		{"create", "POST", "/connectors", `{"name":"src","config":{"connector.class":"file-source","file":"/tmp/x","tasks.max":1,"db.password":"s3cret","enabled":true}}`, 201,
			[]string{`"name":"src"`, `"type":"source"`, `"tasks.max":"1"`, `"enabled":"true"`, `"db.password":"[hidden]"`, `"tasks":[{"connector":"src","task":0}]`}, []string{"s3cret"}},
		{"create duplicate", "POST", "/connectors", `{"name":"src","config":{"connector.class":"file-source"}}`, 409, []string{"Connector src already exists"}, nil},
		{"create name in config only", "POST", "/connectors/", `{"config":{"name":"snk","connector.class":"file-sink","file":"/tmp/y"}}`, 201, []string{`"name":"snk"`, `"type":"sink"`}, nil},
		{"create invalid config", "POST", "/connectors", `{"name":"bad","config":{"connector.class":"file-sink","file":"bad"}}`, 400, []string{"contains the following 1 error(s)", "Invalid value bad for configuration file"}, nil},
		{"create name mismatch", "POST", "/connectors", `{"name":"a","config":{"name":"b","connector.class":"file-sink"}}`, 400, []string{"(b)", "(a)"}, nil},
		{"create without name", "POST", "/connectors", `{"config":{"connector.class":"file-sink"}}`, 400, []string{"name is required"}, nil},
		{"create without config", "POST", "/connectors", `{"name":"x"}`, 400, []string{`must contain a \"config\" object`}, nil},
		{"create slash name", "POST", "/connectors", `{"name":"a/b","config":{}}`, 400, []string{"must not contain '/'"}, nil},
		{"create null value", "POST", "/connectors", `{"name":"n","config":{"file":null}}`, 400, []string{"config.file", "null"}, nil},
		{"create object value", "POST", "/connectors", `{"name":"n","config":{"file":{"a":1}}}`, 400, []string{"config.file", "object"}, nil},
		{"create bad initial state", "POST", "/connectors", `{"name":"n","config":{"connector.class":"file-sink"},"initial_state":"DANCING"}`, 400, []string{"initial_state"}, nil},
		{"create paused", "POST", "/connectors", `{"name":"p","config":{"connector.class":"file-sink","file":"f"},"initial_state":"paused"}`, 201, nil, nil},
		{"list", "GET", "/connectors", "", 200, []string{`["p","snk","src"]`}, nil},
		{"list expanded", "GET", "/connectors?expand=status&expand=info", "", 200, []string{`"src":{"status":{"name":"src"`, `"info":{"name":"src"`, `"worker_id":"w1:8083"`, `"state":"PAUSED"`}, []string{"s3cret"}},
		{"list expand status only", "GET", "/connectors?expand=status", "", 200, []string{`"status"`}, []string{`"info"`}},
		{"get", "GET", "/connectors/src", "", 200, []string{`"name":"src"`}, []string{"s3cret"}},
		{"get missing", "GET", "/connectors/nope", "", 404, []string{`"message":"Connector nope not found"`}, nil},
		{"config", "GET", "/connectors/src/config", "", 200, []string{`"file":"/tmp/x"`, `"db.password":"[hidden]"`}, nil},
		{"status", "GET", "/connectors/src/status", "", 200, []string{`"connector":{"state":"RUNNING","worker_id":"w1:8083"}`, `"tasks":[{"id":0,"state":"RUNNING","worker_id":"w2:8083"}]`, `"type":"source"`}, nil},
		{"tasks", "GET", "/connectors/src/tasks", "", 200, []string{`"id":{"connector":"src","task":0}`}, []string{"s3cret"}},
		{"task status", "GET", "/connectors/src/tasks/0/status", "", 200, []string{`"id":0`, `"state":"RUNNING"`}, nil},
		{"task status missing", "GET", "/connectors/src/tasks/3/status", "", 404, nil, nil},
		{"task status bad id", "GET", "/connectors/src/tasks/x/status", "", 404, []string{`Task \"x\"`}, nil},
		{"put config update", "PUT", "/connectors/snk/config", `{"connector.class":"file-sink","file":"/tmp/z"}`, 200, []string{`"file":"/tmp/z"`, `"name":"snk"`}, nil},
		{"put config create", "PUT", "/connectors/new/config", `{"connector.class":"file-sink","file":"/tmp/n"}`, 201, []string{`"name":"new"`}, nil},
		{"put config name mismatch", "PUT", "/connectors/new/config", `{"name":"other","connector.class":"file-sink"}`, 400, []string{"doesn't match"}, nil},
		{"put config invalid", "PUT", "/connectors/new/config", `{"file":"x"}`, 400, []string{"connector.class"}, nil},
		{"put config array body", "PUT", "/connectors/new/config", `["a"]`, 400, []string{"must be an object", "array"}, nil},
		{"patch config", "PATCH", "/connectors/snk/config", `{"file":"/tmp/p","extra":"1"}`, 200, []string{`"file":"/tmp/p"`, `"extra":"1"`, `"connector.class":"file-sink"`}, nil},
		{"patch config delete key", "PATCH", "/connectors/snk/config", `{"extra":null}`, 200, nil, []string{`"extra"`}},
		{"patch missing", "PATCH", "/connectors/nope/config", `{"a":"b"}`, 404, nil, nil},
		{"patch rename", "PATCH", "/connectors/snk/config", `{"name":"zzz"}`, 400, nil, nil},
		{"pause", "PUT", "/connectors/src/pause", "", 202, nil, nil},
		{"status paused", "GET", "/connectors/src/status", "", 200, []string{`"state":"PAUSED"`}, nil},
		{"resume", "PUT", "/connectors/src/resume", "", 202, nil, nil},
		{"pause missing", "PUT", "/connectors/nope/pause", "", 404, nil, nil},
		{"restart plain", "POST", "/connectors/src/restart", "", 204, nil, nil},
		{"restart explicit false", "POST", "/connectors/src/restart?includeTasks=false&onlyFailed=false", "", 204, nil, nil},
		{"restart with tasks", "POST", "/connectors/src/restart?includeTasks=true", "", 202, []string{`"state":"RESTARTING"`, `"tasks":[{"id":0,"state":"RESTARTING"`}, nil},
		{"restart only failed", "POST", "/connectors/src/restart?onlyFailed=true", "", 202, []string{`"connector":{"state":"RESTARTING"`}, nil},
		{"restart bad param", "POST", "/connectors/src/restart?includeTasks=maybe", "", 400, []string{"includeTasks"}, nil},
		{"restart missing", "POST", "/connectors/nope/restart", "", 404, nil, nil},
		{"restart task", "POST", "/connectors/src/tasks/0/restart", "", 204, nil, nil},
		{"restart task missing", "POST", "/connectors/src/tasks/9/restart", "", 404, nil, nil},
		{"offsets empty", "GET", "/connectors/src/offsets", "", 200, []string{`{"offsets":[]}`}, nil},
		{"alter offsets running", "PATCH", "/connectors/src/offsets", `{"offsets":[{"partition":{"filename":"/tmp/x"},"offset":{"position":10}}]}`, 400, []string{"STOPPED"}, nil},
		{"reset offsets running", "DELETE", "/connectors/src/offsets", "", 400, []string{"STOPPED"}, nil},
		{"stop", "PUT", "/connectors/src/stop", "", 204, nil, nil},
		{"status stopped", "GET", "/connectors/src/status", "", 200, []string{`"state":"STOPPED"`}, nil},
		{"alter offsets", "PATCH", "/connectors/src/offsets", `{"offsets":[{"partition":{"filename":"/tmp/x"},"offset":{"position":10}}]}`, 200, []string{"altered successfully"}, nil},
		{"offsets altered", "GET", "/connectors/src/offsets", "", 200, []string{`"partition":{"filename":"/tmp/x"}`, `"offset":{"position":10}`}, nil},
		{"alter offsets no body field", "PATCH", "/connectors/src/offsets", `{}`, 400, []string{`\"offsets\" array`}, nil},
		{"alter offsets null partition", "PATCH", "/connectors/src/offsets", `{"offsets":[{"offset":{"position":1}}]}`, 400, []string{"offsets[0].partition"}, nil},
		{"reset offsets", "DELETE", "/connectors/src/offsets", "", 200, []string{"reset successfully"}, nil},
		{"topics disabled", "GET", "/connectors/src/topics", "", 403, []string{"Topic tracking is disabled"}, nil},
		{"delete", "DELETE", "/connectors/src", "", 204, nil, nil},
		{"delete again", "DELETE", "/connectors/src", "", 404, nil, nil},
		{"get deleted", "GET", "/connectors/src/status", "", 404, nil, nil},
	})
	got := fc.Calls()
	want := []string{"create p PAUSED", "restart src false false", "restart src true false"}
	for _, w := range want {
		found := false
		for _, g := range got {
			if g == w {
				found = true
			}
		}
		if !found {
			t.Errorf("cluster calls %q lack %q", got, w)
		}
	}
}

func TestLocationHeader(t *testing.T) {
	s := New(resttest.NewCluster())
	rec := do(t, s, "POST", "/connectors", `{"name":"a b","config":{"connector.class":"file-sink"}}`)
	if rec.Code != 201 || rec.Header().Get("Location") != "/connectors/a%20b" {
		t.Fatalf("code %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	// Names with escaped characters reach the cluster unescaped.
	if rec := do(t, s, "GET", "/connectors/a%20b/status", ""); rec.Code != 200 {
		t.Fatalf("GET escaped name: %d %s", rec.Code, rec.Body)
	}
}

func TestPluginsAndValidate(t *testing.T) {
	s := New(resttest.NewCluster())
	runSteps(t, s, []step{
		{"plugins", "GET", "/connector-plugins", "", 200, []string{`"class":"org.apache.kafka.connect.file.FileStreamSinkConnector","type":"sink"`}, []string{"InsertField"}},
		{"plugins all", "GET", "/connector-plugins?connectorsOnly=false", "", 200, []string{"InsertField"}, nil},
		{"plugins bad param", "GET", "/connector-plugins?connectorsOnly=perhaps", "", 400, nil, nil},
		{"validate ok", "PUT", "/connector-plugins/org.apache.kafka.connect.file.FileStreamSourceConnector/config/validate", `{"connector.class":"org.apache.kafka.connect.file.FileStreamSourceConnector","file":"/tmp/x","db.password":"pw"}`, 200,
			[]string{`"error_count":0`, `"name":"file"`, `"value":"[hidden]"`}, []string{`"pw"`}},
		{"validate errors", "PUT", "/connector-plugins/org.apache.kafka.connect.file.FileStreamSourceConnector/config/validate", `{"connector.class":"FileStreamSource","topic":"t"}`, 200,
			[]string{`"error_count":1`, `Missing required configuration \"file\"`}, nil},
		{"validate class mismatch", "PUT", "/connector-plugins/FileStreamSourceConnector/config/validate", `{"connector.class":"FileStreamSink"}`, 400, []string{"does not match"}, nil},
		{"validate unknown plugin", "PUT", "/connector-plugins/com.example.Nope/config/validate", `{"connector.class":"com.example.Nope"}`, 400, []string{"Failed to find"}, nil},
		{"validate malformed", "PUT", "/connector-plugins/x/config/validate", `{"file": }`, 400, []string{"byte offset 9", "line 1, column 10"}, nil},
		{"plugin config", "GET", "/connector-plugins/org.apache.kafka.connect.file.FileStreamSourceConnector/config", "", 200, []string{`"name":"file"`, `"type":"PASSWORD"`}, nil},
	})
}

func TestMalformedRequests(t *testing.T) {
	s := New(resttest.NewCluster(), WithMaxBodyBytes(64))
	runSteps(t, s, []step{
		{"empty body", "POST", "/connectors", "", 400, []string{"empty"}, nil},
		{"syntax", "POST", "/connectors", "{\n \"name\": \"a\",,\n}", 400, []string{"byte offset 15", "line 2, column 14"}, nil},
		{"truncated", "POST", "/connectors", `{"name":"a"`, 400, []string{"unexpected end"}, nil},
		{"wrong type", "POST", "/connectors", `{"name":5,"config":{}}`, 400, []string{"field name must be a string", "number"}, nil},
		{"config wrong type", "POST", "/connectors", `{"name":"x","config":[1]}`, 400, []string{"field config must be an object"}, nil},
		{"trailing data", "POST", "/connectors", `{"name":"x","config":{}} {}`, 400, []string{"after the top-level value"}, nil},
		{"too large", "PUT", "/connectors/x/config", `{"a":"` + strings.Repeat("x", 100) + `"}`, 413, []string{"64 bytes"}, nil},
		{"unknown route", "GET", "/nope", "", 404, []string{`"error_code":404`, "HTTP 404 Not Found"}, nil},
		{"unknown subroute", "GET", "/connectors/a/b/c", "", 404, nil, nil},
		{"method not allowed", "POST", "/connectors/a/status", "", 405, []string{"HTTP 405 Method Not Allowed"}, nil},
		{"delete collection", "DELETE", "/connectors", "", 405, nil, nil},
	})
	rec := do(t, s, "POST", "/connectors/a/status", "")
	if allow := rec.Header().Get("Allow"); !strings.Contains(allow, "GET") {
		t.Errorf("405 Allow header %q lacks GET", allow)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("405 Content-Type %q", ct)
	}
}

func TestMetrics(t *testing.T) {
	fc := resttest.NewCluster()
	s := New(fc)
	do(t, s, "POST", "/connectors", `{"name":"m","config":{"connector.class":"file-sink"}}`)
	fc.SetLag("m", 7)
	rec := do(t, s, "GET", "/metrics", "")
	if rec.Code != 200 {
		t.Fatalf("metrics %d", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if !strings.Contains(rec.Body.String(), `sluice_sink_task_lag{connector="m"`) {
		t.Errorf("metrics body %q", rec.Body)
	}
}

func TestRequestTimeout(t *testing.T) {
	fc := resttest.NewCluster()
	block := make(chan struct{})
	fc.Block(block)
	defer close(block)
	s := New(fc, WithRequestTimeout(50*time.Millisecond))
	rec := do(t, s, "GET", "/connectors", "")
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), "Request timed out") {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
}

// failingCluster answers every call with a fixed error.
type failingCluster struct {
	*resttest.Cluster
	err error
}

func (f failingCluster) Connector(ctx context.Context, name string) (api.ConnectorInfo, error) {
	return api.ConnectorInfo{}, f.err
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		err  error
		code int
		msg  string
	}{
		{errors.New("boom"), 500, "boom"},
		{errors.Join(errors.New("rebalance in progress"), api.ErrConflict), 409, "rebalance in progress"},
		{&api.ValidationError{Infos: api.ConfigInfos{ErrorCount: 1, Configs: []api.ConfigInfo{{Value: api.ConfigValueInfo{Errors: []string{"bad x"}}}}}}, 400, "bad x"},
		{errors.Join(errors.New("nope"), api.ErrBadRequest), 400, "nope"},
		{errors.Join(errors.New("gone"), api.ErrNotFound), 404, "gone"},
	}
	for _, tt := range tests {
		t.Run(tt.msg, func(t *testing.T) {
			s := New(failingCluster{resttest.NewCluster(), tt.err})
			rec := do(t, s, "GET", "/connectors/x", "")
			var e api.ErrorResponse
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if rec.Code != tt.code || e.ErrorCode != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("got %d %+v", rec.Code, e)
			}
		})
	}
}

func TestPatchRefusesHiddenSecrets(t *testing.T) {
	fc := resttest.NewCluster()
	fc.SetConfig("s", map[string]string{"connector.class": "file-sink", "db.password": "[hidden]"})
	s := New(fc)
	rec := do(t, s, "PATCH", "/connectors/s/config", `{"file":"x"}`)
	if rec.Code != 400 || !strings.Contains(rec.Body.String(), "db.password") {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	rec = do(t, s, "PATCH", "/connectors/s/config", `{"file":"x","db.password":"real"}`)
	if rec.Code != 200 {
		t.Fatalf("got %d %s", rec.Code, rec.Body)
	}
	if fc.StoredConfig("s")["db.password"] != "real" {
		t.Fatalf("stored %q", fc.StoredConfig("s")["db.password"])
	}
}

func TestServeShutdownAndAccessLog(t *testing.T) {
	var logs bytes.Buffer
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	lw := writerFunc(func(p []byte) (int, error) {
		<-mu
		defer func() { mu <- struct{}{} }()
		return logs.Write(p)
	})
	s := New(resttest.NewCluster(), WithLogger(slog.New(slog.NewTextHandler(lw, nil))))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/connectors")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Serve returned %v", err)
	}
	<-mu
	out := logs.String()
	mu <- struct{}{}
	for _, want := range []string{"http request", "method=GET", "path=/connectors", "status=200"} {
		if !strings.Contains(out, want) {
			t.Errorf("access log %q lacks %q", out, want)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

var _ Cluster = (*resttest.Cluster)(nil)

func TestPathCleaningRedirectPassesThrough(t *testing.T) {
	s := New(resttest.NewCluster())
	rec := do(t, s, "GET", "/connectors//x/../y", "")
	if rec.Code/100 != 3 || rec.Header().Get("Location") != "/connectors/y" {
		t.Fatalf("got %d Location %q body %q", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
}

func TestHealth(t *testing.T) {
	fc := resttest.NewCluster()
	s := New(fc)
	rec := do(t, s, "GET", "/health", "")
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"status":"healthy"`) {
		t.Fatalf("healthy: %d %s", rec.Code, rec.Body)
	}
	block := make(chan struct{})
	defer close(block)
	fc.Block(block)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := httptest.NewRequest("GET", "/health", nil).WithContext(ctx)
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"status":"unhealthy"`) {
		t.Fatalf("unhealthy: %d %s", rec.Code, rec.Body)
	}
}

func TestMaskSecrets(t *testing.T) {
	in := map[string]string{
		"database.password":                  "pw",
		"producer.override.sasl.jaas.config": "x required username=\"u\" password=\"p\";",
		"aws.secret.access.key":              "k",
		"topic":                              "t",
		"empty.password":                     "",
	}
	out := maskSecrets(in)
	for k, want := range map[string]string{"database.password": hidden, "producer.override.sasl.jaas.config": hidden, "aws.secret.access.key": hidden, "topic": "t", "empty.password": ""} {
		if out[k] != want {
			t.Errorf("%s = %q, want %q", k, out[k], want)
		}
	}
	if in["database.password"] != "pw" {
		t.Error("input modified")
	}
}
