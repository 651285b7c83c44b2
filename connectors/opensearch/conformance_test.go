package opensearch

import (
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/connect/conformance"
)

// TestSinkConformance runs the sink conformance suite against the
// OpenSearch sink and the in-memory OpenSearch of internal/opensearchtest
// (one server per subtest); the stall is a response delay on _bulk.
func TestSinkConformance(t *testing.T) {
	var mu sync.Mutex
	type target struct {
		srv   *opensearchtest.Server
		index string
	}
	targets := map[string]target{} // connection.url -> server and index
	server := func(cfg map[string]string) *opensearchtest.Server {
		mu.Lock()
		defer mu.Unlock()
		return targets[cfg[KeyURL]].srv
	}
	conformance.RunSink(t, conformance.Sink{
		Plugins: []connect.Plugin{Plugin()},
		Class:   Class,
		Config: func(t *testing.T, topic string) map[string]string {
			srv := opensearchtest.Start()
			t.Cleanup(srv.Close)
			mu.Lock()
			targets[srv.URL] = target{srv, topic}
			mu.Unlock()
			return map[string]string{
				"connector.class": Class, "topics": topic, KeyURL: srv.URL,
				"value.converter": "json", "value.converter.schemas.enable": "false",
				KeySchemaIgnore: "true", KeyBatchSize: "10", KeyMaxBuffered: "20",
			}
		},
		Delivered: func(t *testing.T, cfg map[string]string) (int, int) {
			mu.Lock()
			tg := targets[cfg[KeyURL]]
			mu.Unlock()
			return len(tg.srv.Docs(tg.index)), int(tg.srv.Stats().Items)
		},
		Stall: func(t *testing.T, cfg map[string]string) (func() bool, func()) {
			srv := server(cfg)
			before := srv.Stats().BulkRequests
			// Longer than the task shutdown timeout, shorter than the
			// suite's waits: a task that cannot abandon the request is
			// fenced, and the test still ends.
			srv.SetFaults(opensearchtest.Faults{Delay: 30 * time.Second})
			return func() bool { return srv.Stats().BulkRequests > before },
				func() { srv.SetFaults(opensearchtest.Faults{}) }
		},
		BadConfig: func(cfg map[string]string) string {
			cfg[KeyURL] = "ftp://nowhere"
			return KeyURL
		},
	})
}
