package e2ebench

import (
	"bytes"
	"os"
	"testing"
	"time"
)

// TestE2ESmoke runs the benchmark's whole code path on a few thousand rows:
// backlog drains to local storage and to S3, pg_recvlogical on the same
// WAL, a profiled drain and a short low-latency freshness run. run fails
// unless every row lands in committed Parquet files exactly once; this test
// checks that each report field was computed.
func TestE2ESmoke(t *testing.T) {
	rep := run(t, config{
		rows:          3000,
		perTx:         100,
		reps:          1,
		storages:      []string{"local", "s3"},
		freshRate:     500,
		freshDuration: 2 * time.Second,
		fresh:         []freshCase{{lowLatencySetting, "local", 0}},
		artifacts:     t.TempDir(),
	})
	if len(rep.Recv) != 1 || rep.Recv[0] <= 0 || rep.WALMiB <= 0 {
		t.Errorf("pg_recvlogical rates %v, WAL %.2f MiB", rep.Recv, rep.WALMiB)
	}
	if len(rep.Drains) != 2 {
		t.Fatalf("%d drains, want 2 (local, s3)", len(rep.Drains))
	}
	for _, d := range rep.Drains {
		if d.Rows != 3000 || d.RowsPerSec <= 0 || d.Seconds <= 0 || d.CPUSecPerMRows <= 0 || d.PeakRSSMiB <= 0 {
			t.Errorf("drain %+v: a field was not computed", d)
		}
		if r := rep.Ratio[d.Storage]; r <= 0 {
			t.Errorf("ratio to pg_recvlogical for %s = %v", d.Storage, r)
		}
	}
	if len(rep.Fresh) != 1 {
		t.Fatalf("%d freshness results, want 1", len(rep.Fresh))
	}
	f := rep.Fresh[0]
	if f.Rows < 900 || f.LoadRowsPerSec <= 0 || f.RowsPerSec <= 0 || f.CPUSecPerMRows <= 0 || f.PeakRSSMiB <= 0 {
		t.Errorf("freshness %+v: a field was not computed", f)
	}
	if !(0 < f.P50ms && f.P50ms <= f.P95ms && f.P95ms <= f.P99ms && f.P99ms <= f.Maxms) {
		t.Errorf("freshness percentiles not ordered: p50 %v p95 %v p99 %v max %v", f.P50ms, f.P95ms, f.P99ms, f.Maxms)
	}
	// 500 ms rotation: even on a loaded machine a row is in a file within
	// seconds, not the default setting's 10 s schedule.
	if f.P50ms > 5000 {
		t.Errorf("low-latency p50 %.0f ms: the rotate.schedule.interval.ms override did not take effect?", f.P50ms)
	}
	if len(rep.Profiles) != 6 {
		t.Errorf("profiles %v, want cpu, heap and allocs for local and s3", rep.Profiles)
	}
	for _, p := range rep.Profiles {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
			t.Errorf("profile %s is not a gzipped pprof profile (%d bytes, %v)", p, len(b), err)
		}
	}
}
