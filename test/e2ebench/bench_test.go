package e2ebench

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestBenchE2E is the end-to-end benchmark (scripts/bench-e2e). It runs only
// with SLUICE_BENCH_E2E=1. Environment: SLUICE_BENCH_ROWS backlog rows
// (default 300000, rounded down to a multiple of 1000), SLUICE_BENCH_REPS
// interleaved repetitions (default 2), SLUICE_BENCH_RATE and
// SLUICE_BENCH_SECONDS the freshness load (default 2000 rows/s for 60 s),
// SLUICE_BENCH_OUT the artifacts directory (default a new temporary one),
// SLUICE_BENCH_BINS other sluice binaries to compare with (label=path,...),
// SLUICE_BENCH_BIN a prebuilt binary to test instead of building this tree.
func TestBenchE2E(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_E2E") != "1" {
		t.Skip("set SLUICE_BENCH_E2E=1 (scripts/bench-e2e) to run the end-to-end benchmark")
	}
	out := os.Getenv("SLUICE_BENCH_OUT")
	if out == "" {
		var err error
		if out, err = os.MkdirTemp("", "sluice-bench-e2e-"); err != nil {
			t.Fatal(err)
		}
	}
	out, _ = filepath.Abs(out)
	// SLUICE_BENCH_BINS: other sluice binaries (label=path,...; e.g. a
	// build of main) drained in the same repetitions, interleaved.
	bins := map[string]string{}
	if b := os.Getenv("SLUICE_BENCH_BIN"); b != "" {
		bins[""] = b // the binary under test instead of a build of this tree
	}
	for _, lb := range strings.Split(os.Getenv("SLUICE_BENCH_BINS"), ",") {
		if l, b, ok := strings.Cut(strings.TrimSpace(lb), "="); ok && l != "" && b != "" {
			bins[l] = b
		} else if lb != "" {
			t.Fatalf("SLUICE_BENCH_BINS: %q is not label=path", lb)
		}
	}
	run(t, config{
		rows:          max(1000, testenv.EnvInt("SLUICE_BENCH_ROWS", 300000)/1000*1000),
		perTx:         100,
		reps:          testenv.EnvInt("SLUICE_BENCH_REPS", 2),
		storages:      []string{"local", "s3"},
		freshRate:     testenv.EnvInt("SLUICE_BENCH_RATE", 2000),
		freshDuration: time.Duration(testenv.EnvInt("SLUICE_BENCH_SECONDS", 60)) * time.Second,
		// At the full rate flush.size (1000 rows) commits a file every
		// half second under either setting; at 200 rows/s the time-based
		// rotation decides.
		fresh: []freshCase{
			{defaultSetting, "local", 0},
			{lowLatencySetting, "local", 0},
			{lowLatencySetting, "s3", 0},
			{defaultSetting, "local", 200},
			{lowLatencySetting, "local", 200},
		},
		artifacts: out,
		bins:      bins,
	})
}
