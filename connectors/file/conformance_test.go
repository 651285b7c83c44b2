package file

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect/conformance"
)

// TestSourceConformance runs the connector conformance suite against the
// file source.
func TestSourceConformance(t *testing.T) {
	var mu sync.Mutex
	next := map[string]int{} // file -> lines written
	conformance.RunSource(t, conformance.Source{
		Plugins: Plugins(),
		Class:   SourceClass,
		Config: func(t *testing.T, topic string) map[string]string {
			path := filepath.Join(t.TempDir(), "in.txt")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return map[string]string{"connector.class": SourceClass, FileConfig: path, TopicConfig: topic, PollIntervalConfig: "50"}
		},
		Add: func(t *testing.T, cfg map[string]string, n int) {
			mu.Lock()
			defer mu.Unlock()
			f, err := os.OpenFile(cfg[FileConfig], os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for i := 0; i < n; i++ {
				fmt.Fprintf(f, "line-%d\n", next[cfg[FileConfig]])
				next[cfg[FileConfig]]++
			}
		},
		BadConfig: func(cfg map[string]string) string {
			cfg[BatchSizeConfig] = "many"
			return BatchSizeConfig
		},
	})
}
