package testenv

import (
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker"
)

// StartBroker starts an in-process sluice broker on a free 127.0.0.1 port
// with a temporary data directory and returns its bootstrap address. It is
// closed when the test ends. Defaults for tests: no initial rebalance delay,
// group session timeouts from 100ms (so tests can detect dead members
// quickly) and logs discarded unless SLUICE_BROKER_LOG=1; opts override
// them.
func StartBroker(t testing.TB, opts ...broker.Option) string {
	t.Helper()
	var w io.Writer = io.Discard
	if os.Getenv("SLUICE_BROKER_LOG") == "1" {
		w = os.Stderr
	}
	base := []broker.Option{
		broker.WithDataDir(t.TempDir()),
		broker.WithListen("127.0.0.1:0"),
		broker.WithGroupInitialRebalanceDelay(0),
		broker.WithGroupSessionTimeoutBounds(100*time.Millisecond, 30*time.Minute),
		broker.WithLogger(slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))),
	}
	b, err := broker.New(append(base, opts...)...)
	if err != nil {
		t.Fatalf("testenv: start broker: %v", err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Errorf("testenv: close broker: %v", err)
		}
	})
	return b.Addr()
}
