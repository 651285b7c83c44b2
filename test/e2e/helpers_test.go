package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/sluicehq/sluice/internal/testenv"
)

// bins holds the binaries built once per test.
type bins struct {
	sluice string
}

// backend is a Kafka-protocol broker the end-to-end tests run against.
type backend struct {
	name string
	// start returns the bootstrap address of a broker that stays up
	// until the test ends.
	start func(t *testing.T) string
}

// backends lists the brokers every scenario runs against: sluice's own
// broker and kfake, both in the test process (the workers are separate
// processes that reach them over TCP).
func backends() []backend {
	return []backend{
		{name: "sluice", start: func(t *testing.T) string { return testenv.StartBroker(t) }},
		{name: "kfake", start: startKfake},
	}
}

// startKfake starts a one-broker kfake cluster for the test.
func startKfake(t *testing.T) string {
	t.Helper()
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.GroupMinSessionTimeout(100*time.Millisecond),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()[0]
}

// forEachBackend runs scenario once per backend as a subtest, each with a
// fresh broker.
func forEachBackend(t *testing.T, scenario func(t *testing.T, bootstrap string)) {
	t.Helper()
	for _, be := range backends() {
		t.Run(be.name, func(t *testing.T) { scenario(t, be.start(t)) })
	}
}

// moduleRoot finds the repository root (where go.mod is).
func moduleRoot(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Dir(file)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}

func build(t *testing.T, root, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// buildBinaries builds the sluice binary; workers run as `sluice worker
// --config PROPS`.
func buildBinaries(t *testing.T) bins {
	t.Helper()
	b := bins{sluice: filepath.Join(t.TempDir(), "sluice")}
	build(t, moduleRoot(t), b.sluice, "./cmd/sluice")
	return b
}

// startWorkers starts n `sluice worker` processes of one group. The
// binary must list the file connectors the scenarios use.
func startWorkers(t *testing.T, b bins, n int, bootstrap, group string) []*workerProc {
	t.Helper()
	var ws []*workerProc
	for i := 1; i <= n; i++ {
		ws = append(ws, startWorker(t, b, fmt.Sprintf("worker%d", i), bootstrap, group))
	}
	body := mustCall(t, 200, "GET", ws[0].url+"/connector-plugins", nil)
	for _, class := range []string{"FileStreamSourceConnector", "FileStreamSinkConnector"} {
		if !strings.Contains(string(body), class) {
			t.Fatalf("sluice worker does not list %s (GET /connector-plugins: %s); it must be in cmd/sluice/plugins.go", class, body)
		}
	}
	return ws
}

// workerProc is one running worker process.
type workerProc struct {
	*testenv.Child
	name string
	url  string
	port int
}

func startWorker(t *testing.T, b bins, name, bootstrap, group string) *workerProc {
	t.Helper()
	port := testenv.FreePort(t)
	props := fmt.Sprintf(`bootstrap.servers=%s
group.id=%s
listeners=http://127.0.0.1:%d
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
offset.flush.interval.ms=300
session.timeout.ms=6000
heartbeat.interval.ms=1000
rebalance.timeout.ms=15000
task.shutdown.graceful.timeout.ms=3000
`, bootstrap, group, port)
	pf := filepath.Join(t.TempDir(), name+".properties")
	if err := os.WriteFile(pf, []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	c := testenv.StartChild(t, name, exec.Command(b.sluice, "worker", "--config", pf))
	w := &workerProc{Child: c, name: name, url: fmt.Sprintf("http://127.0.0.1:%d", port), port: port}
	if os.Getenv("SLUICE_E2E_LOGS") == "1" {
		t.Cleanup(func() { t.Logf("---- %s logs ----\n%s", name, testenv.Tail(c.Stderr.String(), 200)) })
	}
	waitFor(t, 60*time.Second, name+" REST API up", func() (bool, string) {
		if c.Exited() {
			t.Fatalf("%s exited: %s", name, testenv.Tail(c.Stderr.String(), 50))
		}
		resp, err := http.Get(w.url + "/connectors")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	return w
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, info := cond()
		if ok {
			return
		}
		last = info
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s (last: %s)", timeout, what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// call does one REST request and returns status and body.
func call(t *testing.T, method, url string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// mustCall is call that fails the test unless the status is want.
func mustCall(t *testing.T, want int, method, url string, body any) []byte {
	t.Helper()
	code, b := call(t, method, url, body)
	if code != want {
		t.Fatalf("%s %s = %d, want %d: %s", method, url, code, want, b)
	}
	return b
}

// sluiceCLI runs the sluice binary and returns exit code and output.
func sluiceCLI(t *testing.T, b bins, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(b.sluice, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

// appendLines appends lines from..to-1 as "line-%07d".
func appendLines(t *testing.T, path string, from, to int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	for i := from; i < to; i++ {
		fmt.Fprintf(w, "line-%07d\n", i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// lineOffset is the byte offset where line i starts (all lines have the
// same length).
func lineOffset(i int) int64 { return int64(i) * int64(len("line-0000000\n")) }

// outCounts reads the sink file and counts each line; unexpected lines
// (not produced by appendLines for [0, max)) are returned separately. The
// sink may be in the middle of a write while the file is read, so a last
// line without its newline is not complete yet and is left out;
// checkOutputComplete verifies, once writing has stopped, that the file
// ends on a line boundary.
func outCounts(t *testing.T, path string, max int) (map[int]int, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return map[int]int{}, nil
		}
		t.Fatal(err)
	}
	counts := map[int]int{}
	var bad []string
	complete := b[:bytes.LastIndexByte(b, '\n')+1]
	if len(complete) == 0 {
		return counts, nil
	}
	for _, l := range strings.Split(strings.TrimSuffix(string(complete), "\n"), "\n") {
		var n int
		if _, err := fmt.Sscanf(l, "line-%07d", &n); err != nil || n < 0 || n >= max || fmt.Sprintf("line-%07d", n) != l {
			bad = append(bad, l)
			continue
		}
		counts[n]++
	}
	return counts, bad
}

// checkOutputComplete waits until the sink file ends on a line boundary
// (its writer has stopped) and fails the test if any line in it is not
// one appendLines wrote for [0, max).
func checkOutputComplete(t *testing.T, path string, max int) {
	t.Helper()
	waitFor(t, 30*time.Second, path+" ending with a complete line", func() (bool, string) {
		b, err := os.ReadFile(path)
		if err != nil {
			return false, err.Error()
		}
		return len(b) > 0 && b[len(b)-1] == '\n', fmt.Sprintf("%d bytes, last line %q", len(b), testenv.Tail(string(b), 1))
	})
	if _, bad := outCounts(t, path, max); len(bad) > 0 {
		t.Fatalf("corrupt or unexpected output lines: %q", bad[:min(len(bad), 5)])
	}
}

type statusBody struct {
	Connector struct {
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"connector"`
	Tasks []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"tasks"`
}

func status(t *testing.T, base, name string) (statusBody, bool) {
	t.Helper()
	code, b := call(t, "GET", base+"/connectors/"+name+"/status", nil)
	var s statusBody
	if code != 200 || json.Unmarshal(b, &s) != nil {
		return s, false
	}
	return s, true
}

// waitState waits until the connector and all its (>=1) tasks are in
// state; when onPort is non-zero the tasks must also run on that worker.
func waitState(t *testing.T, base, name, state string, onPort int) {
	t.Helper()
	waitFor(t, 90*time.Second, name+" "+state, func() (bool, string) {
		s, ok := status(t, base, name)
		if !ok || s.Connector.State != state || len(s.Tasks) == 0 {
			return false, fmt.Sprintf("%+v", s)
		}
		for _, tk := range s.Tasks {
			if tk.State != state {
				return false, fmt.Sprintf("%+v", s)
			}
			if onPort != 0 && !strings.HasSuffix(tk.WorkerID, fmt.Sprintf(":%d", onPort)) {
				return false, fmt.Sprintf("%+v", s)
			}
		}
		return true, ""
	})
}
