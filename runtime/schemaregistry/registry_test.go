package schemaregistry

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// instance is one registry serving HTTP on a loopback port.
type instance struct {
	r   *Registry
	url string
	srv *http.Server
}

func startInstance(t *testing.T, brokers string, opts ...Option) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	r, err := New(ctx, append([]Option{WithBrokers(brokers), WithAdvertisedURL(url), WithElectionSessionTimeout(2 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	in := &instance{r: r, url: url, srv: &http.Server{Handler: r.Handler()}}
	go func() { _ = in.srv.Serve(ln) }()
	t.Cleanup(in.close)
	return in
}

func (in *instance) close() {
	if in.srv != nil {
		_ = in.srv.Close()
		in.r.Close()
		in.srv = nil
	}
}

// call sends a JSON request and decodes the JSON answer into out.
func call(t *testing.T, method, url string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, data, err)
		}
	}
	return resp.StatusCode
}

func waitPrimary(t *testing.T, ins ...*instance) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		n := 0
		for _, in := range ins {
			if in.r.IsPrimary() {
				n++
			}
		}
		if n == 1 {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no single primary elected")
}

func register(t *testing.T, url, subject, schema string) (int, int, map[string]any) {
	t.Helper()
	var out map[string]any
	code := call(t, "POST", url+"/subjects/"+subject+"/versions", map[string]string{"schema": schema}, &out)
	id, _ := out["id"].(float64)
	return code, int(id), out
}

func TestRegistryAPIAndRestart(t *testing.T) {
	brokers := testenv.StartBroker(t)
	a := startInstance(t, brokers)
	waitPrimary(t, a)

	code, id1, out := register(t, a.url, "orders-value", recV1)
	if code != 200 || id1 != 1 {
		t.Fatalf("register v1: %d %v", code, out)
	}
	// Same schema, different whitespace: same id, no new version.
	if _, id, _ := register(t, a.url, "orders-value", " "+recV1+"\n"); id != id1 {
		t.Fatalf("re-register: id %d, want %d", id, id1)
	}
	// Same schema under another subject keeps its id.
	if _, id, _ := register(t, a.url, "other-value", recV1); id != id1 {
		t.Fatalf("other subject: id %d, want %d", id, id1)
	}
	// Default BACKWARD: a new field without default is rejected with 409.
	if code, _, out := register(t, a.url, "orders-value", recAddNoDefault); code != 409 || out["error_code"].(float64) != 409 {
		t.Fatalf("incompatible: %d %v", code, out)
	}
	code, id2, _ := register(t, a.url, "orders-value", recAddDefault)
	if code != 200 || id2 != 2 {
		t.Fatalf("register v2: %d id %d", code, id2)
	}
	var vers []int
	call(t, "GET", a.url+"/subjects/orders-value/versions", nil, &vers)
	if fmt.Sprint(vers) != "[1 2]" {
		t.Fatalf("versions %v", vers)
	}
	var sv schemaResponse
	call(t, "GET", a.url+"/subjects/orders-value/versions/latest", nil, &sv)
	if sv.ID != 2 || sv.Version != 2 || sv.Subject != "orders-value" {
		t.Fatalf("latest %+v", sv)
	}
	var byID map[string]any
	if code := call(t, "GET", a.url+"/schemas/ids/2", nil, &byID); code != 200 || byID["schema"] != sv.Schema {
		t.Fatalf("by id: %d %v", code, byID)
	}
	var e map[string]any
	if code := call(t, "GET", a.url+"/schemas/ids/99", nil, &e); code != 404 || e["error_code"].(float64) != codeSchemaNotFound {
		t.Fatalf("missing id: %d %v", code, e)
	}
	var comp map[string]any
	// int -> long reads the latest (BACKWARD); int -> string does not.
	call(t, "POST", a.url+"/compatibility/subjects/orders-value/versions/latest", map[string]string{"schema": recLong}, &comp)
	if comp["is_compatible"] != true {
		t.Fatalf("compat long vs latest: %v", comp)
	}
	call(t, "POST", a.url+"/compatibility/subjects/orders-value/versions/latest?verbose=true",
		map[string]string{"schema": `{"type":"record","name":"R","fields":[{"name":"a","type":"string"}]}`}, &comp)
	if comp["is_compatible"] != false || len(comp["messages"].([]any)) == 0 {
		t.Fatalf("compat string vs latest: %v", comp)
	}
	// Config: per subject NONE accepts anything.
	var cfg map[string]string
	if code := call(t, "PUT", a.url+"/config/orders-value", map[string]string{"compatibility": "NONE"}, &cfg); code != 200 || cfg["compatibility"] != "NONE" {
		t.Fatalf("put config: %d %v", code, cfg)
	}
	call(t, "GET", a.url+"/config/orders-value", nil, &cfg)
	if cfg["compatibilityLevel"] != "NONE" {
		t.Fatalf("get config %v", cfg)
	}
	if code, id3, _ := register(t, a.url, "orders-value", `{"type":"record","name":"R","fields":[{"name":"z","type":"string"}]}`); code != 200 || id3 != 3 {
		t.Fatalf("register under NONE: %d %d", code, id3)
	}
	// Soft delete version 3, then hard delete it.
	var dv int
	if code := call(t, "DELETE", a.url+"/subjects/orders-value/versions/3", nil, &dv); code != 200 || dv != 3 {
		t.Fatalf("soft delete: %d %d", code, dv)
	}
	call(t, "GET", a.url+"/subjects/orders-value/versions", nil, &vers)
	if fmt.Sprint(vers) != "[1 2]" {
		t.Fatalf("after soft delete %v", vers)
	}
	call(t, "GET", a.url+"/subjects/orders-value/versions?deleted=true", nil, &vers)
	if fmt.Sprint(vers) != "[1 2 3]" {
		t.Fatalf("deleted=true %v", vers)
	}
	if code := call(t, "DELETE", a.url+"/subjects/orders-value/versions/3?permanent=true", nil, &dv); code != 200 {
		t.Fatalf("hard delete: %d", code)
	}
	call(t, "GET", a.url+"/subjects/orders-value/versions?deleted=true", nil, &vers)
	if fmt.Sprint(vers) != "[1 2]" {
		t.Fatalf("after hard delete %v", vers)
	}
	// Hard delete of a live subject is refused; soft first.
	if code := call(t, "DELETE", a.url+"/subjects/other-value?permanent=true", nil, &e); code != 404 || e["error_code"].(float64) != codeSubjectNotSoftDeleted {
		t.Fatalf("hard delete live subject: %d %v", code, e)
	}
	var subs []string
	call(t, "DELETE", a.url+"/subjects/other-value", nil, &vers)
	call(t, "GET", a.url+"/subjects", nil, &subs)
	if fmt.Sprint(subs) != "[orders-value]" {
		t.Fatalf("subjects %v", subs)
	}
	// Mode READONLY refuses registration.
	call(t, "PUT", a.url+"/mode", map[string]string{"mode": "READONLY"}, nil)
	if code, _, out := register(t, a.url, "x-value", `"string"`); code != 422 || out["error_code"].(float64) != codeOperationNotPermitted {
		t.Fatalf("readonly: %d %v", code, out)
	}
	call(t, "PUT", a.url+"/mode", map[string]string{"mode": "READWRITE"}, nil)
	// A bad schema names the problem.
	if code, _, out := register(t, a.url, "x-value", `{"type":"record","name":"R","fields":[{"name":"a","type":"nope"}]}`); code != 422 || out["error_code"].(float64) != codeInvalidSchema {
		t.Fatalf("invalid: %d %v", code, out)
	}

	// Restart: a new instance reads the topic and serves the same ids; the
	// next id continues after the highest one ever assigned.
	a.close()
	b := startInstance(t, brokers)
	waitPrimary(t, b)
	call(t, "GET", b.url+"/subjects/orders-value/versions/2", nil, &sv)
	if sv.ID != 2 {
		t.Fatalf("after restart version 2 has id %d", sv.ID)
	}
	call(t, "GET", b.url+"/config/orders-value", nil, &cfg)
	if cfg["compatibilityLevel"] != "NONE" {
		t.Fatalf("config after restart %v", cfg)
	}
	if code, id, _ := register(t, b.url, "new-value", `{"type":"record","name":"N","fields":[]}`); code != 200 || id != 4 {
		t.Fatalf("after restart: %d id %d, want 4", code, id)
	}
}

// TestTwoInstancesAgree: writes sent to either instance go through the
// primary; both serve the same subjects and ids, and the follower takes
// over when the primary leaves.
func TestTwoInstancesAgree(t *testing.T) {
	brokers := testenv.StartBroker(t)
	a := startInstance(t, brokers)
	b := startInstance(t, brokers)
	waitPrimary(t, a, b)
	primary, follower := a, b
	if b.r.IsPrimary() {
		primary, follower = b, a
	}
	ids := map[string]int{}
	for i := range 6 {
		in := []*instance{primary, follower}[i%2]
		subj := fmt.Sprintf("s%d-value", i)
		schema := fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"a","type":"int"}]}`, i)
		code, id, out := register(t, in.url, subj, schema)
		if code != 200 {
			t.Fatalf("register via %s: %d %v", in.url, code, out)
		}
		ids[subj] = id
	}
	seen := map[int]bool{}
	for subj, id := range ids {
		if seen[id] {
			t.Fatalf("id %d assigned twice", id)
		}
		seen[id] = true
		for _, in := range []*instance{a, b} {
			var sv schemaResponse
			call(t, "GET", in.url+"/subjects/"+subj+"/versions/1", nil, &sv)
			if sv.ID != id {
				t.Fatalf("%s on %s: id %d, want %d", subj, in.url, sv.ID, id)
			}
		}
	}
	// Failover: the follower becomes primary and continues the ids.
	primary.close()
	waitPrimary(t, follower)
	code, id, out := register(t, follower.url, "after-value", `{"type":"record","name":"After","fields":[]}`)
	if code != 200 || id != 7 {
		t.Fatalf("after failover: %d id %d %v", code, id, out)
	}
}

// TestSchemaReferences: a schema may use a named type registered under
// another subject; the referenced version cannot be deleted while used.
func TestSchemaReferences(t *testing.T) {
	a := startInstance(t, testenv.StartBroker(t))
	waitPrimary(t, a)
	if code, _, out := register(t, a.url, "address-value", `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"city","type":"string"}]}`); code != 200 {
		t.Fatalf("register address: %d %v", code, out)
	}
	user := `{"type":"record","name":"User","namespace":"com.acme","fields":[{"name":"home","type":"com.acme.Address"}]}`
	var out map[string]any
	// Without the reference the type is unknown.
	if code := call(t, "POST", a.url+"/subjects/user-value/versions", map[string]any{"schema": user}, &out); code != 422 {
		t.Fatalf("unresolved reference: %d %v", code, out)
	}
	body := map[string]any{"schema": user, "references": []Reference{{Name: "com.acme.Address", Subject: "address-value", Version: 1}}}
	if code := call(t, "POST", a.url+"/subjects/user-value/versions", body, &out); code != 200 || out["id"].(float64) != 2 {
		t.Fatalf("with reference: %d %v", code, out)
	}
	var sv schemaResponse
	call(t, "GET", a.url+"/subjects/user-value/versions/1", nil, &sv)
	if len(sv.References) != 1 || sv.References[0].Subject != "address-value" {
		t.Fatalf("references not returned: %+v", sv)
	}
	var ids []int
	call(t, "GET", a.url+"/subjects/address-value/versions/1/referencedby", nil, &ids)
	if fmt.Sprint(ids) != "[2]" {
		t.Fatalf("referencedby %v", ids)
	}
	if code := call(t, "DELETE", a.url+"/subjects/address-value/versions/1", nil, &out); code != 422 || out["error_code"].(float64) != codeReferenceExists {
		t.Fatalf("delete referenced version: %d %v", code, out)
	}
}

func TestTopicMustHaveOnePartition(t *testing.T) {
	brokers := testenv.StartBroker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 3, 1, nil, "_schemas"); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, WithBrokers(brokers), WithAdvertisedURL("http://127.0.0.1:1")); err == nil || !strings.Contains(err.Error(), "3 partitions") {
		t.Fatalf("want a partition count error, got %v", err)
	}
}
