package worker

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/loglevel"
	"github.com/sluicehq/sluice/runtime/rest"
)

// startWorkerWithLevels starts a worker of the test connectors with its
// own run-time log levels.
func startWorkerWithLevels(t *testing.T, cfg Config) (*Worker, *loglevel.Levels) {
	t.Helper()
	lv := loglevel.New(slog.LevelInfo)
	w := startWorkerWith(t, cfg, testPlugins(newCollector()), WithLogLevels(lv))
	return w, lv
}

// TestClusterScopedLoggerLevel checks KIP-976's PUT
// /admin/loggers/{name}?scope=cluster across two workers: a PUT on one is
// 204, goes through the config topic as logger-cluster-<name> =
// {"level":...}, and changes the level on the other; a worker started
// afterwards does not apply it (levels do not survive restarts, as in
// Kafka).
func TestClusterScopedLoggerLevel(t *testing.T) {
	forEachBackend(t, testClusterScopedLoggerLevel)
}

func testClusterScopedLoggerLevel(t *testing.T, bs string) {
	prefix := testPrefix(t)
	wa, lva := startWorkerWithLevels(t, testConfig(bs, prefix, 1))
	_, lvb := startWorkerWithLevels(t, testConfig(bs, prefix, 2))
	srv := httptest.NewServer(rest.New(wa))
	t.Cleanup(srv.Close)

	const name = "sluice.connector"
	req, _ := http.NewRequest(http.MethodPut, srv.URL+"/admin/loggers/"+name+"?scope=cluster", strings.NewReader(`{"level":"DEBUG"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PUT scope=cluster: %d, want 204", resp.StatusCode)
	}
	// The writer applied it once it read the record back, before answering.
	if info, ok := lva.Level(name); !ok || info.Level != "DEBUG" || info.LastModified == nil {
		t.Fatalf("writer's level %+v %v", info, ok)
	}
	waitFor(t, 20*time.Second, "the other worker's level", func() error {
		if info, ok := lvb.Level(name); !ok || info.Level != "DEBUG" {
			return fmt.Errorf("level %+v %v", info, ok)
		}
		return nil
	})
	if got := topicValues(t, bs, prefix+"-configs"); got[`{"level":"DEBUG"}`] != 1 {
		t.Fatalf("config topic values %v, want one logger level record", got)
	}
	// A worker started now reads the record as history and leaves its
	// levels alone.
	_, lvc := startWorkerWithLevels(t, testConfig(bs, prefix, 3))
	if info, ok := lvc.Level(name); ok && info.Level != "INFO" {
		t.Fatalf("a later worker applied the old level: %+v", info)
	}
}

// TestConfigStateLoggerLevels checks how logger-cluster-* records fold into
// the config state: ignored before the worker is live, collected once,
// malformed ones reported.
func TestConfigStateLoggerLevels(t *testing.T) {
	c := newConfigState()
	if err := c.apply("logger-cluster-old", []byte(`{"level":"ERROR"}`), 0); err != nil {
		t.Fatal(err)
	}
	c.setLive()
	if err := c.apply("logger-cluster-sluice.worker", []byte(`{"level":"TRACE"}`), 1); err != nil {
		t.Fatal(err)
	}
	for i, bad := range []string{`{}`, `nope`} {
		if err := c.apply("logger-cluster-x", []byte(bad), int64(2+i)); err == nil {
			t.Errorf("value %s accepted", bad)
		}
	}
	if got := c.takeLoggerLevels(); len(got) != 1 || got[0] != (loggerLevel{Namespace: "sluice.worker", Level: "TRACE"}) {
		t.Fatalf("levels %+v", got)
	}
	if got := c.takeLoggerLevels(); len(got) != 0 {
		t.Fatalf("levels taken twice: %+v", got)
	}
}
