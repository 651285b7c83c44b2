package opensearchtest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func do(t *testing.T, s *Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-ndjson")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return resp.StatusCode, m
}

func items(m map[string]any) []map[string]any {
	var out []map[string]any
	for _, it := range m["items"].([]any) {
		for _, v := range it.(map[string]any) {
			out = append(out, v.(map[string]any))
		}
	}
	return out
}

func TestBulkSemantics(t *testing.T) {
	now := time.Unix(1000, 0)
	s := Start(WithClock(func() time.Time { return now }))
	defer s.Close()
	if code, m := do(t, s, "GET", "/", ""); code != 200 || m["version"].(map[string]any)["distribution"] != "opensearch" {
		t.Fatalf("GET /: %d %v", code, m)
	}
	if code, _ := do(t, s, "PUT", "/shop", `{"settings":{"index":{"gc_deletes":"10s"}},"mappings":{"dynamic":"strict","properties":{"id":{"type":"long"},"name":{"type":"keyword"}}}}`); code != 200 {
		t.Fatalf("create index: %d", code)
	}
	if code, m := do(t, s, "PUT", "/shop", `{}`); code != 400 || m["error"].(map[string]any)["type"] != "resource_already_exists_exception" {
		t.Fatalf("create twice: %d %v", code, m)
	}
	body := `{"index":{"_index":"shop","_id":"1","version":5,"version_type":"external"}}
{"id":1,"name":"a"}
{"index":{"_index":"shop","_id":"1","version":3,"version_type":"external"}}
{"id":1,"name":"old"}
{"delete":{"_index":"shop","_id":"404"}}
{"index":{"_index":"shop","_id":"2"}}
{"id":"x"}
{"index":{"_index":"shop","_id":"3"}}
{"id":3,"extra":true}
{"create":{"_index":"shop","_id":"1"}}
{"id":1}
`
	code, m := do(t, s, "POST", "/_bulk", body)
	if code != 200 || m["errors"] != true {
		t.Fatalf("bulk: %d %v", code, m)
	}
	want := []struct {
		status float64
		typ    string
	}{{201, ""}, {409, "version_conflict_engine_exception"}, {404, ""}, {400, "mapper_parsing_exception"},
		{400, "strict_dynamic_mapping_exception"}, {409, "version_conflict_engine_exception"}}
	got := items(m)
	if len(got) != len(want) {
		t.Fatalf("items: %v", got)
	}
	for i, w := range want {
		typ := ""
		if e, ok := got[i]["error"].(map[string]any); ok {
			typ = e["type"].(string)
		}
		if got[i]["status"] != w.status || typ != w.typ {
			t.Errorf("item %d: status %v type %q, want %v %q (%v)", i, got[i]["status"], typ, w.status, w.typ, got[i])
		}
	}
	if !strings.Contains(got[1]["error"].(map[string]any)["reason"].(string), "current version [5] is higher or equal to the one provided [3]") {
		t.Errorf("conflict reason: %v", got[1])
	}
	// A delete of a missing doc alone does not set errors.
	if _, m := do(t, s, "POST", "/shop/_bulk", `{"delete":{"_id":"nope"}}`+"\n"); m["errors"] != false {
		t.Errorf("404 delete set errors: %v", m)
	}
	// External delete leaves a tombstone: an older index is refused until
	// gc_deletes expires, then accepted (and recorded as a violation).
	do(t, s, "POST", "/_bulk", `{"delete":{"_index":"shop","_id":"1","version":9,"version_type":"external"}}`+"\n")
	if _, m := do(t, s, "POST", "/_bulk", `{"index":{"_index":"shop","_id":"1","version":7,"version_type":"external"}}`+"\n"+`{"id":1}`+"\n"); items(m)[0]["status"] != 409.0 {
		t.Errorf("index under tombstone: %v", m)
	}
	if len(s.Violations()) != 0 {
		t.Fatalf("violations: %v", s.Violations())
	}
	now = now.Add(11 * time.Second)
	if _, m := do(t, s, "POST", "/_bulk", `{"index":{"_index":"shop","_id":"1","version":7,"version_type":"external"}}`+"\n"+`{"id":1}`+"\n"); items(m)[0]["status"] != 201.0 {
		t.Errorf("index after gc_deletes: %v", m)
	}
	if v := s.Violations(); len(v) != 1 {
		t.Errorf("want one violation after gc_deletes resurrection, got %v", v)
	}
	if _, m := do(t, s, "GET", "/shop/_count", ""); m["count"] != 1.0 {
		t.Errorf("count: %v", m)
	}
	if code, m := do(t, s, "POST", "/shop/_search", `{"query":{"term":{"id":1}}}`); code != 200 || m["hits"].(map[string]any)["total"].(map[string]any)["value"] != 1.0 {
		t.Errorf("search: %d %v", code, m)
	}
	if code, _ := do(t, s, "GET", "/shop/_doc/1", ""); code != 200 {
		t.Errorf("get doc: %d", code)
	}
	if code, m := do(t, s, "GET", "/shop/_doc/2", ""); code != 404 || m["found"] != false {
		t.Errorf("get missing doc: %d %v", code, m)
	}
}

func TestFaults(t *testing.T) {
	s := Start(WithFaults(Faults{ItemReject429: 0.5}))
	defer s.Close()
	var b strings.Builder
	for range 200 {
		b.WriteString(`{"index":{"_index":"x","_id":"1"}}` + "\n{}\n")
	}
	_, m := do(t, s, "POST", "/_bulk", b.String())
	n429 := 0
	for _, it := range items(m) {
		if it["status"] == 429.0 {
			n429++
			if it["error"].(map[string]any)["type"] != "rejected_execution_exception" {
				t.Errorf("429 type: %v", it)
			}
		}
	}
	if n429 < 50 || n429 > 150 || m["errors"] != true {
		t.Errorf("%d of 200 items rejected, want about half", n429)
	}
	s.SetFaults(Faults{Request429: 1})
	if code, m := do(t, s, "POST", "/_bulk", b.String()); code != 429 || m["status"] != 429.0 {
		t.Errorf("request 429: %d %v", code, m)
	}
	s.SetFaults(Faults{Reset: 1})
	req, _ := http.NewRequest("POST", s.URL+"/_bulk", strings.NewReader(b.String()))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("reset: got a response %d", resp.StatusCode)
	}
}
