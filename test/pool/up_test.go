package pool

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestUpRunsCapacityOnPool: in `sluice up`, create-connector --capacity
// runs the connector on a pool of child workers; it survives a restart of
// up and delete-connector stops the pool.
func TestUpRunsCapacityOnPool(t *testing.T) {
	bin := sluiceBin(t)
	dataDir, dir := t.TempDir(), t.TempDir()
	kafka := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	rest := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	startUp := func() *poolProc {
		c := testenv.StartChild(t, "sluice up", exec.Command(bin, "up", "--data-dir", dataDir, "--kafka-listen", kafka, "--rest-listen", rest,
			"--offset-flush-interval", "1s", "--set", "session.timeout.ms=6000", "--set", "heartbeat.interval.ms=1000"),
			testenv.GracefulCleanup(syscall.SIGTERM, 60*time.Second))
		p := &poolProc{Child: c, url: "http://" + rest, name: "up-sink"}
		waitFor(t, p, "sluice up REST", time.Minute, func() (bool, string) {
			var v any
			err := p.get(t, "/connectors", &v)
			return err == nil, fmt.Sprint(err)
		})
		return p
	}
	up := startUp()
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 4, 1, nil, "up"); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "create-connector", "--endpoint", up.url, "--connector-name", "up-sink",
		"--connector-configuration", sinkConfig("up", dir, ",delay.us=2000,sluice.pool.lag.threshold=300,sluice.pool.scale.interval.ms=300,sluice.pool.scale.out.window.ms=1500,sluice.pool.scale.out.cooldown.ms=500,sluice.pool.scale.in.window.ms=600000"),
		"--capacity", `{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":2,"mcuCount":1,"scaleOutPolicy":{"cpuUtilizationPercentage":100},"scaleInPolicy":{"cpuUtilizationPercentage":1}}}`).CombinedOutput()
	if err != nil {
		t.Fatalf("create-connector: %v\n%s", err, out)
	}
	st := waitWorkers(t, up, 1, false, 2*time.Minute)
	var cfg map[string]string
	if err := up.get(t, "/connectors/up-sink/config", &cfg); err != nil {
		t.Fatal(err)
	}
	for k := range cfg {
		if strings.HasPrefix(k, "sluice.") {
			t.Errorf("connector config carries %s; pool settings and capacity belong to the pool", k)
		}
	}
	if cfg["tasks.max"] != "2" {
		t.Errorf("tasks.max = %q at 1 worker, want 2", cfg["tasks.max"])
	}
	// The per-connector lag threshold scales the pool out.
	produce(t, cl, "up", 0, 2000)
	st = waitWorkers(t, up, 2, true, 2*time.Minute)
	for _, w := range st.Workers {
		if ppid := parentPid(t, w.PID); ppid != up.Cmd.Process.Pid {
			t.Errorf("pool worker %d is a child of %d, want sluice up %d", w.PID, ppid, up.Cmd.Process.Pid)
		}
	}
	waitDelivered(t, up, dir, 2000, 2*time.Minute)
	list, err := exec.Command(bin, "list-connectors", "--endpoint", up.url).CombinedOutput()
	if err != nil || !strings.Contains(string(list), "up-sink") {
		t.Errorf("list-connectors: %v\n%s", err, list)
	}

	// Restart up on the same data directory: the pool comes back.
	_ = up.Cmd.Process.Signal(syscall.SIGINT)
	<-up.Done()
	for _, w := range st.Workers {
		if testenv.ProcessAlive(w.PID) {
			t.Errorf("pool worker %d still alive after sluice up stopped", w.PID)
		}
	}
	up = startUp()
	waitWorkers(t, up, 1, false, 2*time.Minute)
	produce(t, cl, "up", 2000, 3000)
	waitDelivered(t, up, dir, 3000, 2*time.Minute)
	st, err = up.status(t)
	if err != nil {
		t.Fatal(err)
	}

	if out, err := exec.Command(bin, "delete-connector", "--endpoint", up.url, "up-sink").CombinedOutput(); err != nil {
		t.Fatalf("delete-connector: %v\n%s", err, out)
	}
	waitFor(t, up, "pool workers gone", time.Minute, func() (bool, string) {
		for _, w := range st.Workers {
			if testenv.ProcessAlive(w.PID) {
				return false, fmt.Sprintf("pid %d alive", w.PID)
			}
		}
		_, err := os.Stat(filepath.Join(dataDir, "pools", "up-sink.json"))
		return os.IsNotExist(err), fmt.Sprint(err)
	})
}
