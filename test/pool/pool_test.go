// Package pool tests `sluice pool` end to end the way a user runs it: the
// built sluice binary (with the test-only burn sink, -tags sluicetest)
// manages real child `sluice worker` processes on 127.0.0.1 against a
// sluice broker, scales them by CPU and by sink lag, restarts a worker
// killed with SIGKILL, and every record is counted at the sink.
package pool

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testconn"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/pool"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// sluiceBin builds the sluice binary with the test connectors once.
func sluiceBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sluice-pool-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "sluice")
		cmd := exec.Command("go", "build", "-tags", "sluicetest", "-o", binPath, "./cmd/sluice")
		cmd.Dir = testenv.RepoRoot(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// poolProc is a running `sluice pool` (or `sluice up`).
type poolProc struct {
	*testenv.Child
	url  string
	name string
}

func startPool(t *testing.T, name string, args ...string) *poolProc {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	logDir := t.TempDir()
	cmd := exec.Command(sluiceBin(t), append([]string{"pool", "--listen", addr, "--log-dir", logDir, "--connector-name", name}, args...)...)
	c := testenv.StartChild(t, "sluice pool", cmd, testenv.GracefulCleanup(syscall.SIGTERM, 60*time.Second),
		testenv.OnFailure(func(t testing.TB) {
			logs, _ := filepath.Glob(filepath.Join(logDir, "*.log"))
			for _, l := range logs {
				b, _ := os.ReadFile(l)
				t.Logf("%s (tail):\n%s", filepath.Base(l), testenv.Tail(string(b), 25))
			}
		}))
	return &poolProc{Child: c, url: "http://" + addr, name: name}
}

func (p *poolProc) get(t *testing.T, path string, out any) error {
	t.Helper()
	resp, err := http.Get(p.url + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func (p *poolProc) status(t *testing.T) (pool.Status, error) {
	var s pool.Status
	err := p.get(t, "/connectors/"+p.name+"/pool", &s)
	return s, err
}

func (p *poolProc) operations(t *testing.T) []pool.Operation {
	var ops struct {
		Ops []pool.Operation `json:"connectorOperations"`
	}
	if err := p.get(t, "/connectors/"+p.name+"/operations", &ops); err != nil {
		t.Fatal(err)
	}
	return ops.Ops
}

type taskStatus struct {
	Tasks []struct {
		ID       int    `json:"id"`
		State    string `json:"state"`
		WorkerID string `json:"worker_id"`
	} `json:"tasks"`
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, p *poolProc, what string, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		select {
		case <-p.Done():
			t.Fatalf("sluice pool exited while waiting for %s", what)
		default:
		}
		ok, msg := cond()
		if ok {
			return
		}
		last = msg
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last: %s)", timeout, what, last)
}

// waitWorkers waits until the pool runs n workers and the connector's
// tasks all run on them, spread over every worker when spread is set.
func waitWorkers(t *testing.T, p *poolProc, n int, spread bool, timeout time.Duration) pool.Status {
	t.Helper()
	var st pool.Status
	waitFor(t, p, fmt.Sprintf("%d workers", n), timeout, func() (bool, string) {
		var err error
		if st, err = p.status(t); err != nil {
			return false, err.Error()
		}
		if len(st.Workers) != n || st.State != pool.StateRunning {
			return false, fmt.Sprintf("%d workers, state %s, cpu %.0f%%, backlog %v", len(st.Workers), st.State, st.CPU, st.Backlog)
		}
		var ts taskStatus
		if err := p.get(t, "/connectors/"+p.name+"/status", &ts); err != nil {
			return false, err.Error()
		}
		live := map[string]bool{}
		for _, w := range st.Workers {
			live[w.ID] = true
		}
		used := map[string]bool{}
		for _, tk := range ts.Tasks {
			if tk.State != "RUNNING" || !live[tk.WorkerID] {
				return false, fmt.Sprintf("task %d %s on %s", tk.ID, tk.State, tk.WorkerID)
			}
			used[tk.WorkerID] = true
		}
		if len(ts.Tasks) == 0 || (spread && len(used) != n) {
			return false, fmt.Sprintf("%d tasks on %d of %d workers", len(ts.Tasks), len(used), n)
		}
		return true, ""
	})
	return st
}

// setupTopic starts a broker and creates a topic.
func setupTopic(t *testing.T, topic string, partitions int32) (string, *kgo.Client) {
	t.Helper()
	bs := testenv.StartBroker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), partitions, 1, nil, topic); err != nil {
		t.Fatal(err)
	}
	return bs, cl
}

// produce writes records rec-<from>..rec-<to-1>, spread over partitions.
func produce(t *testing.T, cl *kgo.Client, topic string, from, to int) {
	t.Helper()
	var rs []*kgo.Record
	for i := from; i < to; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte("rec-" + strconv.Itoa(i))})
	}
	if err := cl.ProduceSync(context.Background(), rs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// delivered counts the distinct records and all lines the burn sink wrote.
func delivered(t *testing.T, dir string) (distinct map[string]int, lines int) {
	t.Helper()
	distinct = map[string]int{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.txt"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if sc.Text() != "" {
				distinct[sc.Text()]++
				lines++
			}
		}
		fh.Close()
	}
	return distinct, lines
}

// waitDelivered waits until records rec-0..rec-n-1 were all written and
// checks nothing else was; it returns the duplicate count.
func waitDelivered(t *testing.T, p *poolProc, dir string, n int, timeout time.Duration) int {
	t.Helper()
	var got map[string]int
	var lines int
	waitFor(t, p, fmt.Sprintf("%d records delivered", n), timeout, func() (bool, string) {
		got, lines = delivered(t, dir)
		return len(got) >= n, fmt.Sprintf("%d distinct of %d", len(got), n)
	})
	for i := range n {
		if got["rec-"+strconv.Itoa(i)] == 0 {
			t.Errorf("record rec-%d not delivered", i)
		}
	}
	if len(got) != n {
		t.Errorf("%d distinct records delivered, want %d", len(got), n)
	}
	return lines - len(got)
}

func sinkConfig(topic, dir string, extra string) string {
	return fmt.Sprintf("connector.class=burn-sink,topics=%s,dir=%s,value.converter=org.apache.kafka.connect.storage.StringConverter,key.converter=org.apache.kafka.connect.storage.StringConverter%s", topic, dir, extra)
}

// fastWorker are worker settings that detect a dead worker in seconds.
var fastWorker = []string{"--offset-flush-interval", "1s", "--set", "session.timeout.ms=4000", "--set", "heartbeat.interval.ms=500"}

// TestAutoscaleOnCPU: thresholds are low (out above 8%, in below 4%) so
// that the test holds on a 2-core machine shared with other load, where a
// busy GOMAXPROCS=1 worker may get only ~12% of a core and an idle one
// uses ~1%.
func TestAutoscaleOnCPU(t *testing.T) {
	const topic = "cpu"
	bs, cl := setupTopic(t, topic, 6)
	dir := t.TempDir()
	args := append([]string{"--bootstrap-servers", bs,
		"--connector-configuration", sinkConfig(topic, dir, ",burn.rounds=20000"),
		"--capacity", `{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":3,"mcuCount":1,"scaleOutPolicy":{"cpuUtilizationPercentage":8},"scaleInPolicy":{"cpuUtilizationPercentage":4}}}`,
		"--scale-interval", "500ms", "--scale-out-window", "2s", "--scale-in-window", "4s", "--scale-out-cooldown", "1s", "--scale-in-cooldown", "3s"}, fastWorker...)
	p := startPool(t, "cpu-sink", args...)
	st := waitWorkers(t, p, 1, false, 2*time.Minute)
	if st.TasksMax != 2 {
		t.Errorf("tasks.max at 1 worker = %d, want 1 x 1 MCU x 2 = 2", st.TasksMax)
	}

	// CPU-heavy load: keep about 400 records in flight until the pool has
	// scaled out to 3 workers.
	start := time.Now()
	produced := 0
	deadline := time.Now().Add(4 * time.Minute)
	for {
		if time.Now().After(deadline) {
			s, _ := p.status(t)
			t.Fatalf("no scale-out to 3 workers after 4m: %d workers, cpu %.0f%%", len(s.Workers), s.CPU)
		}
		_, lines := delivered(t, dir)
		if produced-lines < 400 {
			produce(t, cl, topic, produced, produced+100)
			produced += 100
		}
		if s, err := p.status(t); err == nil && len(s.Workers) == 3 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("scaled out to 3 workers %s after load start (%d records produced)", time.Since(start).Round(time.Millisecond), produced)
	// Keep the load on while the tasks spread over the three workers.
	st = waitWorkers(t, p, 3, true, 2*time.Minute)
	if st.TasksMax != 6 {
		t.Errorf("tasks.max at 3 workers = %d, want 6", st.TasksMax)
	}
	pids := map[int]bool{}
	for _, w := range st.Workers {
		pids[w.PID] = true
		if !testenv.ProcessAlive(w.PID) {
			t.Errorf("worker %d pid %d not alive", w.Index, w.PID)
		}
	}
	if len(pids) != 3 {
		t.Errorf("3 workers but %d distinct processes", len(pids))
	}

	// Load stops: everything is delivered, then the pool scales back in.
	dups := waitDelivered(t, p, dir, produced, 3*time.Minute)
	st = waitWorkers(t, p, 1, false, 3*time.Minute)
	if st.TasksMax != 2 {
		t.Errorf("tasks.max after scale-in = %d, want 2", st.TasksMax)
	}
	if st.ScaleOutEvents < 2 || st.ScaleInEvents < 2 {
		t.Errorf("scale events out=%d in=%d, want at least 2 each", st.ScaleOutEvents, st.ScaleInEvents)
	}
	ops := p.operations(t)
	for _, op := range ops {
		t.Logf("operation %s %s by %s: %d -> %d workers (%s)", op.ID, op.State, op.Initiator, op.Origin.WorkerCount, op.Target.WorkerCount, op.Reason)
		if op.Type != pool.OpUpdateWorkerSetting || op.State != pool.OpComplete || op.Initiator != "autoscaler" || op.Reason == "" || op.Ended.IsZero() {
			t.Errorf("operation %+v", op)
		}
		// A drained worker's tasks run elsewhere at once: no scale event
		// waits anything like scheduled.rebalance.max.delay.ms (5 min).
		if d := op.Ended.Sub(op.Created); d > 45*time.Second {
			t.Errorf("operation %s took %s", op.ID, d)
		}
	}
	if len(ops) < 4 {
		t.Errorf("%d operations, want at least 4 (two out, two in)", len(ops))
	}
	// Every record after the final scale-in is still there exactly once
	// more or less: count them again with the pool at rest.
	dups2 := waitDelivered(t, p, dir, produced, time.Minute)
	t.Logf("%d records delivered, %d duplicate lines (at-least-once redeliveries on task moves)", produced, max(dups, dups2))
}

func TestAutoscaleOnSinkLag(t *testing.T) {
	const topic = "lag"
	bs, cl := setupTopic(t, topic, 6)
	dir := t.TempDir()
	args := append([]string{"--bootstrap-servers", bs,
		"--connector-configuration", sinkConfig(topic, dir, ",delay.us=3000"),
		// CPU never triggers a scale-out (100% is the ceiling), only lag.
		"--capacity", `{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":3,"mcuCount":1,"scaleOutPolicy":{"cpuUtilizationPercentage":100},"scaleInPolicy":{"cpuUtilizationPercentage":1}}}`,
		"--lag-threshold", "2000",
		"--scale-interval", "500ms", "--scale-out-window", "2s", "--scale-in-window", "10m", "--scale-out-cooldown", "1s"}, fastWorker...)
	p := startPool(t, "lag-sink", args...)
	waitWorkers(t, p, 1, false, 2*time.Minute)
	const n = 12000
	produce(t, cl, topic, 0, n)
	st := waitWorkers(t, p, 3, true, 3*time.Minute)
	if st.TasksMax != 6 {
		t.Errorf("tasks.max = %d, want 6", st.TasksMax)
	}
	ops := p.operations(t)
	if len(ops) == 0 {
		t.Fatal("no operation recorded")
	}
	for _, op := range ops {
		t.Logf("operation %s: %d -> %d workers (%s)", op.ID, op.Origin.WorkerCount, op.Target.WorkerCount, op.Reason)
		if !strings.Contains(op.Reason, "sink_lag") {
			t.Errorf("operation %s reason %q: want the sink_lag signal", op.ID, op.Reason)
		}
	}
	dups := waitDelivered(t, p, dir, n, 3*time.Minute)
	t.Logf("%d records delivered, %d duplicate lines", n, dups)
}

func TestProvisionedKillWorker(t *testing.T) {
	const topic = "kill"
	bs, cl := setupTopic(t, topic, 4)
	dir := t.TempDir()
	args := append([]string{"--bootstrap-servers", bs,
		"--connector-configuration", sinkConfig(topic, dir, ",delay.us=2000,tasks.max=4"),
		"--capacity", `{"provisionedCapacity":{"workerCount":2,"mcuCount":1}}`,
		"--scale-interval", "300ms"}, fastWorker...)
	p := startPool(t, "kill-sink", args...)
	st := waitWorkers(t, p, 2, true, 2*time.Minute)
	if st.TasksMax != 4 {
		t.Errorf("provisioned tasks.max = %d, want the config's 4 (MSK keeps it)", st.TasksMax)
	}
	poolPid := p.Cmd.Process.Pid
	for _, w := range st.Workers {
		if ppid := parentPid(t, w.PID); ppid != poolPid {
			t.Errorf("worker %d pid %d has parent %d, want sluice pool %d", w.Index, w.PID, ppid, poolPid)
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", w.PID))
		if err != nil {
			t.Fatal(err)
		}
		vars := strings.Split(string(env), "\x00")
		for _, want := range []string{"GOMAXPROCS=1", "GOMEMLIMIT=3276MiB"} {
			if !slices.Contains(vars, want) {
				t.Errorf("worker %d environment lacks %s (1 MCU)", w.Index, want)
			}
		}
	}
	const n = 8000
	produce(t, cl, topic, 0, n)
	waitFor(t, p, "some records delivered", time.Minute, func() (bool, string) {
		got, _ := delivered(t, dir)
		return len(got) > 500, fmt.Sprint(len(got))
	})
	victim := st.Workers[1]
	if err := syscall.Kill(victim.PID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	atKill, _ := delivered(t, dir)
	if len(atKill) >= n {
		t.Fatalf("all %d records were delivered before the kill; the test needs a slower sink", n)
	}
	t.Logf("killed worker %d (pid %d) with SIGKILL with %d of %d records delivered", victim.Index, victim.PID, len(atKill), n)
	waitFor(t, p, "the killed worker restarted", time.Minute, func() (bool, string) {
		s, err := p.status(t)
		if err != nil {
			return false, err.Error()
		}
		for _, w := range s.Workers {
			if w.Index == victim.Index && w.PID != victim.PID && s.Restarts >= 1 {
				return true, ""
			}
		}
		return false, fmt.Sprintf("restarts %d, workers %+v", s.Restarts, s.Workers)
	})
	st = waitWorkers(t, p, 2, true, 2*time.Minute)
	dups := waitDelivered(t, p, dir, n, 3*time.Minute)
	t.Logf("kill -9 of one of 2 workers: %d records, none missing, %d duplicate lines", n, dups)

	// A user resize through update-connector --capacity: 2 -> 3 workers.
	// Only the tasks that move to the new worker restart.
	before := taskWorkers(t, p)
	opensBefore := countLines(t, filepath.Join(dir, testconn.OpensFile))
	out, err := exec.Command(sluiceBin(t), "update-connector", "--endpoint", p.url, "--connector-name", p.name,
		"--capacity", `{"provisionedCapacity":{"workerCount":3,"mcuCount":1}}`).CombinedOutput()
	if err != nil {
		t.Fatalf("update-connector --capacity: %v\n%s", err, out)
	}
	st = waitWorkers(t, p, 3, true, 2*time.Minute)
	after := taskWorkers(t, p)
	moved := 0
	for id, w := range after {
		if before[id] != w {
			moved++
		}
	}
	if restarted := countLines(t, filepath.Join(dir, testconn.OpensFile)) - opensBefore; restarted != moved || moved == 0 {
		t.Errorf("resize 2 -> 3 workers: %d task starts, %d tasks moved (before %v, after %v); unaffected tasks must keep running", restarted, moved, before, after)
	} else {
		t.Logf("resize 2 -> 3 workers: %d of %d tasks moved and restarted, the others kept running", moved, len(after))
	}
	ops := p.operations(t)
	last := ops[len(ops)-1]
	if last.Initiator != "user" || last.Origin.WorkerCount != 2 || last.Target.WorkerCount != 3 || last.State != pool.OpComplete {
		t.Errorf("resize operation %+v", last)
	}
	if st.TasksMax != 4 {
		t.Errorf("tasks.max after a provisioned resize = %d, want 4 (unchanged)", st.TasksMax)
	}
	// A config update is an operation too, with the old and new configs.
	if out, err := exec.Command(sluiceBin(t), "update-connector", "--endpoint", p.url, "--connector-name", p.name,
		"--connector-configuration", sinkConfig(topic, dir, ",delay.us=200,tasks.max=4")).CombinedOutput(); err != nil {
		t.Fatalf("update-connector config: %v\n%s", err, out)
	}
	ops = p.operations(t)
	last = ops[len(ops)-1]
	if last.Type != pool.OpUpdateConnectorConfiguration || last.State != pool.OpComplete || last.TargetConfig["delay.us"] != "200" || last.OriginConfig["delay.us"] != "2000" {
		t.Errorf("config update operation %+v", last)
	}
	var one pool.Operation
	if err := p.get(t, "/connectors/"+p.name+"/operations/"+last.ID, &one); err != nil || one.ID != last.ID || one.Type != last.Type {
		t.Errorf("GET operation %s: %+v, %v", last.ID, one, err)
	}
	st = waitWorkers(t, p, 3, true, 2*time.Minute)
	desc, err := exec.Command(sluiceBin(t), "describe-connector", "--endpoint", p.url, p.name).CombinedOutput()
	if err != nil {
		t.Fatalf("describe-connector: %v\n%s", err, desc)
	}
	for _, want := range []string{"Connector state (MSK):  RUNNING", "3 running, 3 desired", "Operations:", "UPDATE_WORKER_SETTING", "2 -> 3", "UPDATE_CONNECTOR_CONFIGURATION", "provisioned: 3 worker(s)"} {
		if !strings.Contains(string(desc), want) {
			t.Errorf("describe-connector output lacks %q:\n%s", want, desc)
		}
	}
	metrics := httpGet(t, p.url+"/metrics")
	for _, want := range []string{`sluice_pool_workers{connector="kill-sink"} 3`, `sluice_pool_desired_workers{connector="kill-sink"} 3`, `sluice_pool_worker_restarts_total{connector="kill-sink"} 1`, `sluice_pool_scale_events_total{connector="kill-sink",direction="out"} 1`, `sluice_pool_worker_cpu_utilization_percent{connector="kill-sink"`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// taskWorkers maps each task id to the worker running it.
func taskWorkers(t *testing.T, p *poolProc) map[int]string {
	t.Helper()
	var ts taskStatus
	if err := p.get(t, "/connectors/"+p.name+"/status", &ts); err != nil {
		t.Fatal(err)
	}
	out := map[int]string{}
	for _, tk := range ts.Tasks {
		out[tk.ID] = tk.WorkerID
	}
	return out
}

func countLines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

func parentPid(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	n, _ := strconv.Atoi(f[1])
	return n
}
