package file

import (
	"bufio"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect/conformance"
)

// TestSinkConformance runs the sink conformance suite against the file
// sink. A local file cannot be stalled, so the stop-while-blocked subtest
// is skipped.
func TestSinkConformance(t *testing.T) {
	conformance.RunSink(t, conformance.Sink{
		Plugins: Plugins(),
		Class:   SinkClass,
		Config: func(t *testing.T, topic string) map[string]string {
			return map[string]string{"connector.class": SinkClass, FileConfig: filepath.Join(t.TempDir(), "out.txt"), "topics": topic}
		},
		Delivered: func(t *testing.T, cfg map[string]string) (int, int) {
			f, err := os.Open(cfg[FileConfig])
			if os.IsNotExist(err) {
				return 0, 0
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			seen := map[string]bool{}
			n := 0
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				seen[sc.Text()] = true
				n++
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			return len(seen), n
		},
		BadConfig: func(cfg map[string]string) string {
			cfg["topics.regex"] = "in-(" // and topics: both set, and not a regular expression
			return "topics.regex"
		},
	})
}
