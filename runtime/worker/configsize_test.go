package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/api"
)

// TestConfigTooLargeIsBadRequest checks that a connector config too large
// for the config topic is a 400 stating the limit, not a 500.
func TestConfigTooLargeIsBadRequest(t *testing.T) {
	bs := startKfake(t)
	w := startWorker(t, testConfig(bs, testPrefix(t), 1), newCollector())
	ctx := context.Background()
	cfg := map[string]string{"connector.class": numSourceClass, "topic": "big", "count": "1", "blob": strings.Repeat("x", 1500000)}
	_, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "big", Config: cfg})
	if !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("create: %v, want a bad request", err)
	}
	for _, want := range []string{"1000012 bytes", "max.message.bytes", "connector-big"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
	// The worker keeps serving: a normal config is accepted.
	delete(cfg, "blob")
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "small", Config: cfg}); err != nil {
		t.Fatal(err)
	}
}
