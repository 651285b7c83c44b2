// Package e2e runs sluice end to end: a broker (sluice's own, then kfake),
// two `sluice worker` processes in one group, the REST API and the CLI,
// with the file source and sink connectors moving lines from one file to
// another.
package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestFilePipelineFailover creates a file-source -> file-sink pipeline
// (source via REST, sink via the CLI) on two workers, kills -9 the worker
// running the sink task while lines keep arriving, and checks that the
// surviving worker takes the tasks over and that every input line reaches
// the output (duplicates are allowed and reported; loss and corruption are
// failures). Then it exercises pause/resume, stop, offset alteration and
// reset, and config validation. It runs against sluice's broker and kfake.
func TestFilePipelineFailover(t *testing.T) {
	if os.Getenv("SLUICE_SKIP_E2E") == "1" {
		t.Skip("SLUICE_SKIP_E2E=1")
	}
	b := buildBinaries(t)
	forEachBackend(t, func(t *testing.T, bootstrap string) { filePipelineFailover(t, b, bootstrap) })
}

func filePipelineFailover(t *testing.T, b bins, bootstrap string) {
	group := fmt.Sprintf("e2e-%d", time.Now().UnixNano())
	ws := startWorkers(t, b, 2, bootstrap, group)
	w1, w2 := ws[0], ws[1]

	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	out := filepath.Join(dir, "out.txt")
	const first = 2000
	appendLines(t, in, 0, first)

	// Source via REST on worker 1.
	mustCall(t, 201, "POST", w1.url+"/connectors", map[string]any{
		"name": "src",
		"config": map[string]any{
			"connector.class": "file-source", "file": in, "topic": "lines", "tasks.max": 1, "batch.size": 100,
			"poll.interval.ms": 50,
		},
	})
	// Sink via the CLI against worker 2.
	code, stdout, stderr := sluiceCLI(t, b, "create-connector", "--endpoint", w2.url, "--connector-name", "snk",
		"--connector-configuration", "connector.class=file-sink,topics=lines,file="+out)
	if code != 0 || !strings.Contains(stdout, "Created sink connector snk") {
		t.Fatalf("create-connector: exit %d\n%s\n%s", code, stdout, stderr)
	}
	waitState(t, w1.url, "src", "RUNNING", 0)
	waitState(t, w2.url, "snk", "RUNNING", 0)

	waitAll := func(what string, n int, timeout time.Duration) map[int]int {
		t.Helper()
		var counts map[int]int
		waitFor(t, timeout, what, func() (bool, string) {
			var bad []string
			counts, bad = outCounts(t, out, n)
			if len(bad) > 0 {
				t.Fatalf("corrupt or unexpected output lines: %q", bad[:min(len(bad), 5)])
			}
			return len(counts) == n, fmt.Sprintf("%d/%d distinct lines", len(counts), n)
		})
		return counts
	}
	waitAll("first lines delivered", first, 90*time.Second)

	// CLI views.
	code, stdout, stderr = sluiceCLI(t, b, "list-connectors", "--endpoint", w1.url)
	if code != 0 || !strings.Contains(stdout, "src") || !strings.Contains(stdout, "snk") || !strings.Contains(stdout, "RUNNING") {
		t.Fatalf("list-connectors: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = sluiceCLI(t, b, "describe-connector", "--endpoint", w1.url, "snk", "--output", "json")
	var desc struct {
		Type  string `json:"type"`
		Tasks []struct {
			State    string `json:"state"`
			WorkerID string `json:"worker_id"`
		} `json:"tasks"`
	}
	if code != 0 || json.Unmarshal([]byte(stdout), &desc) != nil || desc.Type != "sink" || len(desc.Tasks) != 1 || desc.Tasks[0].WorkerID == "" {
		t.Fatalf("describe-connector: exit %d\n%s\n%s", code, stdout, stderr)
	}

	// Kill -9 the worker running the sink task while more lines arrive.
	victim, survivor := w1, w2
	if strings.HasSuffix(desc.Tasks[0].WorkerID, fmt.Sprintf(":%d", w2.port)) {
		victim, survivor = w2, w1
	}
	const second = 4000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := first; i < second; i += 200 {
			appendLines(t, in, i, i+200)
			time.Sleep(50 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	t.Logf("killing %s (sink task owner %s)", victim.name, desc.Tasks[0].WorkerID)
	victim.Kill()
	<-done
	waitState(t, survivor.url, "snk", "RUNNING", survivor.port)
	waitState(t, survivor.url, "src", "RUNNING", survivor.port)
	counts := waitAll("all lines delivered after failover", second, 120*time.Second)
	total, dups := 0, 0
	for _, c := range counts {
		total += c
		dups += c - 1
	}
	t.Logf("after failover: in=%d out=%d distinct=%d duplicates=%d", second, total, len(counts), dups)

	// Pause the source: appended lines must not arrive until resume.
	mustCall(t, 202, "PUT", survivor.url+"/connectors/src/pause", nil)
	waitState(t, survivor.url, "src", "PAUSED", 0)
	const third = 4500
	appendLines(t, in, second, third)
	time.Sleep(2 * time.Second)
	if c, _ := outCounts(t, out, third); c[second] != 0 {
		t.Fatalf("line %d delivered while the source was paused", second)
	}
	mustCall(t, 202, "PUT", survivor.url+"/connectors/src/resume", nil)
	waitState(t, survivor.url, "src", "RUNNING", 0)
	waitAll("lines after resume", third, 60*time.Second)

	// Stop, inspect and alter the source offsets: re-read from line 4000.
	mustCall(t, 204, "PUT", survivor.url+"/connectors/src/stop", nil)
	waitFor(t, 60*time.Second, "src STOPPED", func() (bool, string) {
		s, ok := status(t, survivor.url, "src")
		return ok && s.Connector.State == "STOPPED", fmt.Sprintf("%+v", s)
	})
	var offs struct {
		Offsets []struct {
			Partition map[string]any `json:"partition"`
			Offset    map[string]any `json:"offset"`
		} `json:"offsets"`
	}
	waitFor(t, 30*time.Second, "committed source offset at end of input", func() (bool, string) {
		body := mustCall(t, 200, "GET", survivor.url+"/connectors/src/offsets", nil)
		offs.Offsets = nil
		if err := json.Unmarshal(body, &offs); err != nil || len(offs.Offsets) != 1 {
			return false, string(body)
		}
		pos, _ := offs.Offsets[0].Offset["position"].(float64)
		return offs.Offsets[0].Partition["filename"] == in && int64(pos) == lineOffset(third), string(body)
	})
	// Altering the offsets of a stopped connector is accepted.
	mustCall(t, 200, "PATCH", survivor.url+"/connectors/src/offsets", map[string]any{
		"offsets": []any{map[string]any{"partition": map[string]any{"filename": in}, "offset": map[string]any{"position": lineOffset(second)}}},
	})
	before, _ := outCounts(t, out, third)
	mustCall(t, 202, "PUT", survivor.url+"/connectors/src/resume", nil)
	waitFor(t, 60*time.Second, "lines re-read from the altered offset", func() (bool, string) {
		c, _ := outCounts(t, out, third)
		for i := second; i < third; i++ {
			if c[i] < before[i]+1 {
				return false, fmt.Sprintf("line %d seen %d times", i, c[i])
			}
		}
		return true, ""
	})
	if c, _ := outCounts(t, out, third); c[second-1] != before[second-1] {
		t.Fatalf("line %d re-read although the offset was set after it", second-1)
	}
	code, body := call(t, "DELETE", survivor.url+"/connectors/src/offsets", nil)
	if code != 400 {
		t.Fatalf("reset offsets of a running connector: %d %s", code, body)
	}

	// Reset the offsets: everything is read again.
	mustCall(t, 204, "PUT", survivor.url+"/connectors/src/stop", nil)
	waitFor(t, 60*time.Second, "src STOPPED", func() (bool, string) {
		s, ok := status(t, survivor.url, "src")
		return ok && s.Connector.State == "STOPPED", fmt.Sprintf("%+v", s)
	})
	mustCall(t, 200, "DELETE", survivor.url+"/connectors/src/offsets", nil)
	before, _ = outCounts(t, out, third)
	mustCall(t, 202, "PUT", survivor.url+"/connectors/src/resume", nil)
	waitFor(t, 90*time.Second, "all lines re-read after reset", func() (bool, string) {
		c, _ := outCounts(t, out, third)
		for i := 0; i < third; i++ {
			if c[i] < before[i]+1 {
				return false, fmt.Sprintf("line %d seen %d times", i, c[i])
			}
		}
		return true, ""
	})

	// Validation: missing and bad keys are reported per field.
	body = mustCall(t, 200, "PUT", survivor.url+"/connector-plugins/file-source/config/validate", map[string]any{
		"connector.class": "file-source", "file": in, "batch.size": "0",
	})
	var vr struct {
		ErrorCount int `json:"error_count"`
		Configs    []struct {
			Value struct {
				Name   string   `json:"name"`
				Errors []string `json:"errors"`
			} `json:"value"`
		} `json:"configs"`
	}
	if err := json.Unmarshal(body, &vr); err != nil {
		t.Fatal(err)
	}
	errsByKey := map[string][]string{}
	for _, c := range vr.Configs {
		if len(c.Value.Errors) > 0 {
			errsByKey[c.Value.Name] = c.Value.Errors
		}
	}
	if vr.ErrorCount < 2 || errsByKey["topic"] == nil || errsByKey["batch.size"] == nil {
		t.Fatalf("validate: %s", body)
	}
	code, body = call(t, "POST", survivor.url+"/connectors", map[string]any{
		"name": "bad", "config": map[string]any{"connector.class": "file-source", "file": in, "batch.size": "0", "topic": "x"},
	})
	if code != 400 || !strings.Contains(string(body), "batch.size") {
		t.Fatalf("create with bad config: %d %s", code, body)
	}
	code, _, stderr = sluiceCLI(t, b, "create-connector", "--endpoint", survivor.url, "--connector-name", "bad2",
		"--connector-configuration", "connector.class=file-source,file="+in)
	if code != 1 || !strings.Contains(stderr, "topic") {
		t.Fatalf("CLI create with bad config: exit %d %s", code, stderr)
	}

	// Delete via the CLI.
	for _, n := range []string{"src", "snk"} {
		if code, _, stderr := sluiceCLI(t, b, "delete-connector", "--endpoint", survivor.url, n); code != 0 {
			t.Fatalf("delete-connector %s: exit %d %s", n, code, stderr)
		}
	}
	code, stdout, _ = sluiceCLI(t, b, "list-connectors", "--endpoint", survivor.url, "--output", "json")
	if code != 0 || strings.Join(strings.Fields(stdout), "") != `{"connectors":[]}` {
		t.Fatalf("list after delete: %d %s", code, stdout)
	}
	checkOutputComplete(t, out, third)
}

// TestFailedTaskUpdateAndRestart checks that a task that cannot start is
// reported FAILED with its trace (REST and describe-connector), that
// update-connector fixes it, and the KIP-745 restart answers. It runs
// against sluice's broker and kfake.
func TestFailedTaskUpdateAndRestart(t *testing.T) {
	if os.Getenv("SLUICE_SKIP_E2E") == "1" {
		t.Skip("SLUICE_SKIP_E2E=1")
	}
	b := buildBinaries(t)
	forEachBackend(t, func(t *testing.T, bootstrap string) { failedTaskUpdateAndRestart(t, b, bootstrap) })
}

func failedTaskUpdateAndRestart(t *testing.T, b bins, bootstrap string) {
	w := startWorkers(t, b, 1, bootstrap, fmt.Sprintf("e2e-fail-%d", time.Now().UnixNano()))[0]
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.txt")
	appendLines(t, in, 0, 10)

	code, stdout, stderr := sluiceCLI(t, b, "create-connector", "--endpoint", w.url, "--connector-name", "src",
		"--connector-configuration", "connector.class=file-source,topic=lines2,file="+in)
	if code != 0 {
		t.Fatalf("create src: %d %s %s", code, stdout, stderr)
	}
	// The sink writes into a directory that does not exist: its task fails.
	bad := filepath.Join(dir, "missing-dir", "out.txt")
	cfgFile := filepath.Join(dir, "snk.json")
	js := fmt.Sprintf(`{"name":"snk","config":{"connector.class":"org.apache.kafka.connect.file.FileStreamSinkConnector","topics":"lines2","file":%q}}`, bad)
	if err := os.WriteFile(cfgFile, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, stdout, stderr = sluiceCLI(t, b, "create-connector", "--endpoint", w.url, "--file", cfgFile); code != 0 {
		t.Fatalf("create snk: %d %s %s", code, stdout, stderr)
	}
	waitFor(t, 60*time.Second, "sink task FAILED", func() (bool, string) {
		s, ok := status(t, w.url, "snk")
		return ok && len(s.Tasks) == 1 && s.Tasks[0].State == "FAILED", fmt.Sprintf("%+v", s)
	})
	code, stdout, _ = sluiceCLI(t, b, "describe-connector", "--endpoint", w.url, "snk")
	if code != 0 || !strings.Contains(stdout, "FAILED") || !strings.Contains(stdout, "missing-dir") {
		t.Fatalf("describe failed sink: %d\n%s", code, stdout)
	}
	code, body := call(t, "POST", w.url+"/connectors/snk/restart?includeTasks=true&onlyFailed=true", nil)
	if code != 202 || !strings.Contains(string(body), `"tasks"`) {
		t.Fatalf("restart: %d %s", code, body)
	}

	// Fix the file with update-connector; the task recovers and the lines arrive.
	if code, stdout, stderr = sluiceCLI(t, b, "update-connector", "--endpoint", w.url, "--connector-name", "snk",
		"--connector-configuration", "connector.class=file-sink,topics=lines2,file="+out); code != 0 {
		t.Fatalf("update: %d %s %s", code, stdout, stderr)
	}
	waitState(t, w.url, "snk", "RUNNING", 0)
	waitFor(t, 60*time.Second, "lines delivered after the fix", func() (bool, string) {
		c, bad := outCounts(t, out, 10)
		if len(bad) > 0 {
			t.Fatalf("unexpected output lines %q", bad)
		}
		return len(c) == 10, fmt.Sprintf("%d/10", len(c))
	})
	mustCall(t, 204, "POST", w.url+"/connectors/snk/restart", nil)
	mustCall(t, 204, "POST", w.url+"/connectors/snk/tasks/0/restart", nil)
	mustCall(t, 404, "POST", w.url+"/connectors/nope/restart", nil)
	waitState(t, w.url, "snk", "RUNNING", 0)
	checkOutputComplete(t, out, 10)
}
