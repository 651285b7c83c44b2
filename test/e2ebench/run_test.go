package e2ebench

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// config sizes one run.
type config struct {
	rows     int      // rows of the backlog WAL (a multiple of flush.size, 1000)
	perTx    int      // rows per transaction of the backlog
	reps     int      // interleaved repetitions of pg_recvlogical and each drain
	storages []string // "local", "s3"
	// Freshness: a live pipeline under a fixed-rate write load.
	freshRate     int
	freshDuration time.Duration
	fresh         []freshCase
	artifacts     string // profiles, report.json and the sluice binary
	// bins are other sluice binaries (label -> path), drained in the same
	// repetitions for an interleaved comparison with this tree's build.
	bins map[string]string
}

type freshCase struct {
	st      setting
	storage string
	rate    int // rows/s; 0 = config.freshRate
}

// drainResult is one backlog drain: the pipeline started on a slot holding
// rows changes, timed until the last row is in a committed Parquet file.
type drainResult struct {
	Binary         string  `json:"binary,omitempty"` // "" = this tree's build
	Storage        string  `json:"storage"`
	Rows           int     `json:"rows"`
	Seconds        float64 `json:"seconds"`
	RowsPerSec     float64 `json:"rows_per_sec"`
	CPUSecPerMRows float64 `json:"cpu_sec_per_million_rows"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
	// Timeline is the rows committed in each second since the start.
	Timeline []int `json:"rows_per_second_timeline"`
}

// freshResult is one live run under a fixed-rate load.
type freshResult struct {
	Setting        string  `json:"setting"`
	Knobs          string  `json:"knobs"`
	Storage        string  `json:"storage"`
	Rows           int     `json:"rows"`
	LoadRowsPerSec float64 `json:"load_rows_per_sec"` // achieved insert rate
	RowsPerSec     float64 `json:"rows_per_sec"`      // rows / (last file committed - load start)
	P50ms          float64 `json:"p50_ms"`
	P95ms          float64 `json:"p95_ms"`
	P99ms          float64 `json:"p99_ms"`
	Maxms          float64 `json:"max_ms"`
	CPUSecPerMRows float64 `json:"cpu_sec_per_million_rows"`
	PeakRSSMiB     float64 `json:"peak_rss_mib"`
}

// report is everything one run measured.
type report struct {
	Rows       int                `json:"rows"`
	WALMiB     float64            `json:"wal_mib"`
	Recv       []float64          `json:"pg_recvlogical_rows_per_sec"`
	Drains     []drainResult      `json:"drains"`
	Fresh      []freshResult      `json:"freshness"`
	Profiles   []string           `json:"profiles"`
	Ratio      map[string]float64 `json:"median_ratio_to_pg_recvlogical"`
	LoadBefore string             `json:"load_before"`
	LoadAfter  string             `json:"load_after"`
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// run measures everything cfg asks for and returns the report; it fails t
// when a row is lost, duplicated or unexpected.
func run(t *testing.T, cfg config) *report {
	rep := &report{Rows: cfg.rows, LoadBefore: loadavg(), Ratio: map[string]float64{}}
	needS3 := false
	for _, s := range cfg.storages {
		needS3 = needS3 || s == "s3"
	}
	for _, f := range cfg.fresh {
		needS3 = needS3 || f.storage == "s3"
	}
	e := newEnv(t, cfg.artifacts, needS3, cfg.bins)
	labels := []string{""}
	for l := range cfg.bins {
		if l != "" {
			labels = append(labels, l)
		}
	}
	sort.Strings(labels)

	// The backlog: slots first, then the rows, so every slot decodes the
	// same WAL.
	recvSlots := make([]string, cfg.reps)
	drainSlots := make([]map[string]string, cfg.reps+1) // the last one is the profiled run
	for i := range cfg.reps + 1 {
		if i < cfg.reps {
			recvSlots[i] = e.newSlot(t, "recv")
		}
		drainSlots[i] = map[string]string{}
		for _, s := range cfg.storages {
			for _, l := range labels {
				if i < cfg.reps || l == "" {
					drainSlots[i][l+s] = e.newSlot(t, "drain_"+s)
				}
			}
		}
	}
	startLSN := e.query(t, "SELECT pg_current_wal_lsn()::text")
	lo, hi := e.bulkInsert(t, cfg.rows, cfg.perTx)
	endLSN := e.query(t, "SELECT pg_current_wal_lsn()::text")
	var walBytes float64
	fmt.Sscan(e.query(t, "SELECT (pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn))::text", endLSN, startLSN), &walBytes)
	rep.WALMiB = walBytes / (1 << 20)
	t.Logf("BENCH backlog: %d rows in transactions of %d, %.1f MiB of WAL", cfg.rows, cfg.perTx, rep.WALMiB)

	drainN := 0
	drain := func(label, storage, slot string, profile bool) drainResult {
		drainN++
		name := fmt.Sprintf("d%d", drainN)
		u := e.startUp(t, name, e.bins[label], drainSetting.flushInterval)
		pl := pipeline{prefix: name, storage: storage, lake: filepath.Join(u.logDir, "lake")}
		every := 20 * time.Millisecond
		if storage == "s3" {
			pl.lake, every = "lake-"+name, 100*time.Millisecond
		}
		w := e.watch(t, pl, every)
		before := u.stats(t)
		start := time.Now()
		profErr := make(chan error, 1)
		if profile {
			secs := max(1, int(0.8*median(drainSeconds(rep.Drains, storage))))
			file := filepath.Join(cfg.artifacts, "cpu-drain-"+storage+".pprof")
			go func() { profErr <- u.profile(fmt.Sprintf("profile?seconds=%d", secs), file) }()
			rep.Profiles = append(rep.Profiles, file)
		}
		e.create(t, u, pl, slot, drainSetting)
		w.waitRows(t, u, int(hi-lo+1), 10*time.Minute)
		after := u.stats(t)
		if profile {
			if err := <-profErr; err != nil {
				t.Fatalf("cpu profile: %v", err)
			}
			for _, p := range []string{"heap", "allocs"} {
				file := filepath.Join(cfg.artifacts, p+"-drain-"+storage+".pprof")
				if err := u.profile(p, file); err != nil {
					t.Fatalf("%s profile: %v", p, err)
				}
				rep.Profiles = append(rep.Profiles, file)
			}
		}
		w.close()
		files := w.snapshot()
		if err := checkExactlyOnce(files, lo, hi); err != nil {
			t.Fatalf("drain %s to %s: %v", name, storage, err)
		}
		var end time.Time
		var timeline []int
		for _, f := range files {
			if f.seen.After(end) {
				end = f.seen
			}
			sec := int(f.seen.Sub(start) / time.Second)
			for len(timeline) <= sec {
				timeline = append(timeline, 0)
			}
			timeline[sec] += len(f.ids)
		}
		u.stop(t)
		n := int(hi - lo + 1)
		d := end.Sub(start)
		r := drainResult{Binary: label, Storage: storage, Rows: n, Seconds: d.Seconds(), RowsPerSec: float64(n) / d.Seconds(),
			CPUSecPerMRows: (after.cpu - before.cpu).Seconds() / float64(n) * 1e6, PeakRSSMiB: float64(after.hwmKB) / 1024, Timeline: timeline}
		t.Logf("BENCH drain %-5s %s%s%8d rows %7.2fs %9.0f rows/s  cpu %6.1f s/M rows  peak RSS %5.0f MiB",
			storage, map[bool]string{true: "(profiled) ", false: ""}[profile], map[bool]string{true: "[" + label + "] ", false: ""}[label != ""], n, r.Seconds, r.RowsPerSec, r.CPUSecPerMRows, r.PeakRSSMiB)
		return r
	}
	for i := range cfg.reps {
		d := e.recvlogical(t, recvSlots[i], endLSN)
		rate := float64(cfg.rows) / d.Seconds()
		rep.Recv = append(rep.Recv, rate)
		t.Logf("BENCH pg_recvlogical (pgoutput v1 -> /dev/null) %8d rows %7.2fs %9.0f rows/s", cfg.rows, d.Seconds(), rate)
		for _, s := range cfg.storages {
			for _, l := range labels {
				rep.Drains = append(rep.Drains, drain(l, s, drainSlots[i][l+s], false))
			}
		}
	}
	for _, s := range cfg.storages {
		for _, l := range labels {
			rep.Ratio[l+s] = median(drainRates(rep.Drains, l, s)) / median(rep.Recv)
		}
	}
	// Profiles come from an extra drain so that profiling never slows a
	// measured one.
	for _, s := range cfg.storages {
		drain("", s, drainSlots[cfg.reps][s], true)
	}

	// Freshness under a live fixed-rate load.
	for _, fc := range cfg.fresh {
		drainN++
		name := fmt.Sprintf("f%d", drainN)
		u := e.startUp(t, name, e.bin, fc.st.flushInterval)
		pl := pipeline{prefix: name, storage: fc.storage, lake: filepath.Join(u.logDir, "lake")}
		every := 20 * time.Millisecond
		if fc.storage == "s3" {
			pl.lake, every = "lake-"+name, 100*time.Millisecond
		}
		slot := e.newSlot(t, "fresh")
		w := e.watch(t, pl, every)
		e.create(t, u, pl, slot, fc.st)
		waitRunning(t, u, name+"-cdc")
		waitRunning(t, u, name+"-lake")
		before := u.stats(t)
		start := time.Now()
		rate := fc.rate
		if rate == 0 {
			rate = cfg.freshRate
		}
		flo, fhi, took := e.loadGen(t, rate, cfg.freshDuration)
		n := int(fhi - flo + 1)
		w.waitRows(t, u, n, cfg.freshDuration+3*time.Minute)
		after := u.stats(t)
		w.close()
		files := w.snapshot()
		if err := checkExactlyOnce(files, flo, fhi); err != nil {
			t.Fatalf("freshness %s to %s: %v", fc.st.name, fc.storage, err)
		}
		u.stop(t)
		var lat []time.Duration
		var end time.Time
		for _, f := range files {
			for _, c := range f.createdAt {
				lat = append(lat, f.seen.Sub(c))
			}
			if f.seen.After(end) {
				end = f.seen
			}
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		r := freshResult{Setting: fc.st.name, Knobs: fc.st.knobs(), Storage: fc.storage, Rows: n,
			LoadRowsPerSec: float64(n) / took.Seconds(), RowsPerSec: float64(n) / end.Sub(start).Seconds(),
			P50ms: ms(percentile(lat, 50)), P95ms: ms(percentile(lat, 95)), P99ms: ms(percentile(lat, 99)), Maxms: ms(lat[len(lat)-1]),
			CPUSecPerMRows: (after.cpu - before.cpu).Seconds() / float64(n) * 1e6, PeakRSSMiB: float64(after.hwmKB) / 1024}
		rep.Fresh = append(rep.Fresh, r)
		t.Logf("BENCH freshness %-11s %-5s load %6.0f rows/s, %7d rows, in files %6.0f rows/s; commit->file p50 %7.0f ms p95 %7.0f ms p99 %7.0f ms max %7.0f ms; cpu %6.1f s/M rows; peak RSS %4.0f MiB (%s)",
			r.Setting, r.Storage, r.LoadRowsPerSec, r.Rows, r.RowsPerSec, r.P50ms, r.P95ms, r.P99ms, r.Maxms, r.CPUSecPerMRows, r.PeakRSSMiB, r.Knobs)
	}
	rep.LoadAfter = loadavg()
	b, _ := json.MarshalIndent(rep, "", "  ")
	out := filepath.Join(cfg.artifacts, "report.json")
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("BENCH median pg_recvlogical %.0f rows/s", median(rep.Recv))
	for _, s := range cfg.storages {
		for _, l := range labels {
			t.Logf("BENCH median drain %-5s %-10s %.0f rows/s = %.2fx pg_recvlogical", s, l, median(drainRates(rep.Drains, l, s)), rep.Ratio[l+s])
		}
	}
	t.Logf("BENCH load average %s at start, %s at end", rep.LoadBefore, rep.LoadAfter)
	t.Logf("BENCH artifacts: %s (report.json, profiles: %s; binary %s)", cfg.artifacts, strings.Join(rep.Profiles, " "), e.bin)
	return rep
}

func drainRates(ds []drainResult, label, storage string) []float64 {
	var v []float64
	for _, d := range ds {
		if d.Storage == storage && d.Binary == label {
			v = append(v, d.RowsPerSec)
		}
	}
	return v
}

func drainSeconds(ds []drainResult, storage string) []float64 {
	var v []float64
	for _, d := range ds {
		if d.Storage == storage && d.Binary == "" {
			v = append(v, d.Seconds)
		}
	}
	return v
}
