package main

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestUpFailedStartClosesWhatStarted: when a component fails to start (the
// REST address is taken), `sluice up` exits with an error naming it and
// has closed what it had started: the broker's port and the data
// directory's lock are free again.
func TestUpFailedStartClosesWhatStarted(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	kafka := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	dataDir := t.TempDir()
	args := []string{"up", "--data-dir", dataDir, "--kafka-listen", kafka, "--rest-listen", taken.Addr().String(), "--schema-registry-listen", ""}
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() { done <- run(context.Background(), args, &stdout, &stderr) }()
	select {
	case code := <-done:
		if code == 0 {
			t.Fatalf("sluice up with a taken REST address exited 0; stdout: %s", stdout.String())
		}
	case <-time.After(90 * time.Second):
		t.Fatal("sluice up did not fail")
	}
	if !strings.Contains(stderr.String(), taken.Addr().String()) {
		t.Errorf("error does not name the taken address %s: %s", taken.Addr(), tail(stderr.String(), 10))
	}
	ln, err := net.Listen("tcp", kafka)
	if err != nil {
		t.Fatalf("broker port %s still in use after the failed start: %v", kafka, err)
	}
	ln.Close()
	unlock, err := lockDataDir(dataDir)
	if err != nil {
		t.Fatalf("data directory still locked after the failed start: %v", err)
	}
	unlock()
}
