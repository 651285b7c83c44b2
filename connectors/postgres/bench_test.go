package postgres

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/gctune"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBenchCDC measures CDC and snapshot throughput. It runs only with
// SLUICE_BENCH_PG=1 (scripts/bench-pg); SLUICE_BENCH_ROWS sets the CDC
// row count (default 200000), SLUICE_BENCH_SNAPSHOT_ROWS the snapshot
// table's (default 1000000).
//
// On the same WAL (one bulk of committed inserts, one slot per path
// created before it) it times pg_recvlogical (pgoutput proto_version 1,
// output to /dev/null) and this connector's task: records built only, and
// records converted with the JsonConverter or AvroConverter and produced
// (acks=all) to the bundled broker. Then, interleaved in each repetition,
// it times psql COPY (SELECT ...) TO STDOUT > /dev/null of the snapshot
// table (text, the reference, and binary, what the snapshot
// reads) and the initial snapshot of the same table with 1, 2 and 4
// threads. A snapshot is timed from Task.Open (connection, publication
// check, CREATE_REPLICATION_SLOT with an exported snapshot) to the last
// record polled; psql from process start (connection included) to exit.
// The snapshot's time after Open returned is reported too, as is the
// task process's CPU per row (getrusage, PostgreSQL's backends excluded).
func TestBenchCDC(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_PG") != "1" {
		t.Skip("set SLUICE_BENCH_PG=1 (scripts/bench-pg) to run the Postgres CDC benchmark")
	}
	rows := testenv.EnvInt("SLUICE_BENCH_ROWS", 200000)
	e, pg, snapRows, reps := startBenchPG(t, "bench", "snap")
	for i := 0; i < reps; i++ {
		for _, s := range []string{"recv", "task", "kafka", "kafkans", "avro"} {
			e.exec(t, fmt.Sprintf(`SELECT pg_create_logical_replication_slot('%s%d', 'pgoutput')`, s, i))
		}
	}
	const perTx = 1000
	for lo := 1; lo <= rows; lo += 50000 {
		hi := min(lo+50000-1, rows)
		// Many transactions of perTx rows each.
		e.exec(t, fmt.Sprintf(`DO $$ BEGIN FOR i IN 0..%d LOOP
			INSERT INTO bench SELECT g, g %% 1000, md5(g::text), now(), g / 7.0, g %% 2 = 0 FROM generate_series(%d + i*%d, LEAST(%d, %d + (i+1)*%d - 1)) g;
			COMMIT; END LOOP; END $$`, (hi-lo)/perTx, lo, perTx, hi, lo, perTx))
	}
	var endLSN string
	e.query(t, "SELECT pg_current_wal_lsn()::text", &endLSN)
	var walBytes int64
	e.query(t, "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'recv0'", &walBytes)
	t.Logf("rows=%d transactions=%d wal=%.1f MiB reps=%d snapshot_rows=%d", rows, (rows+perTx-1)/perTx, float64(walBytes)/(1<<20), reps, snapRows)
	// The snapshot table is filled after the CDC WAL's end: the CDC paths
	// stop before its rows.
	fillSnapTable(t, e, snapRows)

	addr := testenv.StartBroker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	kc, _ := convert.NewJSON(map[string]string{"schemas.enable": "true"}, true)
	vc, _ := convert.NewJSON(map[string]string{"schemas.enable": "true"}, false)
	kcNS, _ := convert.NewJSON(map[string]string{"schemas.enable": "false"}, true)
	vcNS, _ := convert.NewJSON(map[string]string{"schemas.enable": "false"}, false)
	kcAvro, vcAvro := benchAvroConverters(t, addr)
	res := &benchResults{t: t}
	add := res.add
	e.exec(t, "ANALYZE bench")
	for i := 0; i < reps; i++ {
		// pg_recvlogical.
		start := time.Now()
		cmd := exec.Command(filepath.Join(testenv.PostgresBinDir, "pg_recvlogical"), "-d", pg.DSN(e.db), fmt.Sprintf("--slot=recv%d", i), "--start",
			"-o", "proto_version=1", "-o", "publication_names=dbz_publication", "-f", "/dev/null", "--endpos="+endLSN, "--no-loop")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("pg_recvlogical: %v\n%s", err, out)
		}
		add("pg_recvlogical (pgoutput v1 -> /dev/null)", rows, time.Since(start))

		// The task, records only.
		cfg := e.config(KeySlotName, fmt.Sprintf("task%d", i), KeySnapshotMode, "no_data", KeyPublicationAuto, "disabled")
		e.offs = &memOffsets{}
		start = time.Now()
		task := e.open(t, cfg)
		n := drain(t, task, rows, nil)
		add("sluice task Poll (records built, not serialized)", n, time.Since(start))
		task.Close()

		// The task into the broker through the JsonConverter, with and
		// without embedded schemas.
		for _, v := range []struct {
			slot, what string
			kc, vc     convert.Converter
		}{
			{"kafka", "sluice task -> JsonConverter (schemas) -> broker (acks=all)", kc, vc},
			{"kafkans", "sluice task -> JsonConverter (no schemas) -> broker (acks=all)", kcNS, vcNS},
			{"avro", "sluice task -> AvroConverter (schema registry) -> broker (acks=all)", kcAvro, vcAvro},
		} {
			var produced, failed atomic.Int64
			cfg := e.config(KeySlotName, fmt.Sprintf("%s%d", v.slot, i), KeySnapshotMode, "no_data", KeyPublicationAuto, "disabled")
			e.offs = &memOffsets{}
			start := time.Now()
			task := e.open(t, cfg)
			n := drain(t, task, rows, func(recs []*connect.Record) {
				for _, r := range recs {
					k, err1 := v.kc.FromConnect(r.Topic, r.KeySchema, r.Key)
					val, err2 := v.vc.FromConnect(r.Topic, r.ValueSchema, r.Value)
					if err1 != nil || err2 != nil {
						t.Fatalf("convert: %v %v", err1, err2)
					}
					cl.Produce(context.Background(), &kgo.Record{Topic: r.Topic, Key: k, Value: val}, func(_ *kgo.Record, err error) {
						if err != nil {
							failed.Add(1)
						} else {
							produced.Add(1)
						}
					})
				}
			})
			if err := cl.Flush(context.Background()); err != nil {
				t.Fatal(err)
			}
			add(v.what, n, time.Since(start))
			task.Close()
			if failed.Load() > 0 || produced.Load() < int64(rows) {
				t.Fatalf("produced %d, failed %d", produced.Load(), failed.Load())
			}
		}

		benchSnapshotRep(t, e, snapRows, i, add)
	}
	res.summary()
}

// benchPsqlCopy runs psql COPY (SELECT ...) TO STDOUT of table to
// /dev/null and returns its rows/s, timed from process start to exit, and
// the CPU per row of psql and of the server.
func benchPsqlCopy(t *testing.T, e *env, table string, binaryFormat bool) (rate float64, psqlCPU, srvCPU time.Duration) {
	t.Helper()
	var n int
	e.query(t, "SELECT count(*) FROM "+table, &n)
	settle(t, e)
	srv0 := serverCPU(e.pg.Pid())
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	stmt := "COPY (SELECT id, a, b, c, d, e FROM " + table + ") TO STDOUT"
	if binaryFormat {
		stmt += " (FORMAT binary)"
	}
	start := time.Now()
	cmd := exec.Command(filepath.Join(testenv.PostgresBinDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", e.pg.DSN(e.db), "-c", stmt)
	cmd.Stdout = devnull
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("psql COPY: %v\n%s", err, stderr.String())
	}
	rate = float64(n) / time.Since(start).Seconds()
	psqlCPU = (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()) / time.Duration(n)
	waitBackendsGone(t, e)
	return rate, psqlCPU, (serverCPU(e.pg.Pid()) - srv0) / time.Duration(n)
}

// serverCPU is the PostgreSQL server's CPU time so far: the postmaster's
// own and that of its children that exited (backends, walsenders), from
// /proc (10 ms resolution). Long-lived background processes are not
// counted.
func serverCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 15 {
		return 0
	}
	var ticks int64
	for _, i := range []int{11, 12, 13, 14} { // utime, stime, cutime, cstime
		v, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += v
	}
	return time.Duration(ticks) * 10 * time.Millisecond // USER_HZ 100
}

// waitBackendsGone waits until no client backend or walsender but the
// query's own is left, so that the finished ones' CPU is in serverCPU.
func waitBackendsGone(t *testing.T, e *env) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		e.query(t, "SELECT count(*) FROM pg_stat_activity WHERE backend_type IN ('client backend', 'walsender') AND pid <> pg_backend_pid()", &n)
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("%d backends still running: their CPU is not counted", n)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// settle starts a snapshot measurement (psql COPY or a snapshot) from the
// same quiet state: the previous path's backends gone, its dirty buffers
// written by a CHECKPOINT (not by the checkpointer during the next
// measurement) and this process's garbage collected.
func settle(t *testing.T, e *env) {
	t.Helper()
	e.exec(t, "CHECKPOINT")
	waitBackendsGone(t, e)
	runtime.GC()
}

// us is d in microseconds.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// processCPU is the test process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// fillSnapTable creates and fills the snapshot benchmark's table snap (the
// bench table's columns; timestamps spread over 5000 seconds).
func fillSnapTable(t *testing.T, e *env, snapRows int) {
	for lo := 1; lo <= snapRows; lo += 250000 {
		e.exec(t, fmt.Sprintf(`INSERT INTO snap SELECT g, g %% 1000, md5(g::text), now() - (g %% 5000) * interval '1 second', g / 7.0, g %% 2 = 0 FROM generate_series(%d, %d) g`, lo, min(lo+250000-1, snapRows)))
	}
	e.exec(t, "VACUUM ANALYZE snap")
}

// benchSnapshotRep is one repetition of the snapshot benchmark: psql COPY
// of table snap (text, then binary), then snapshots of it with 1, 2 and 4
// threads, interleaved.
func benchSnapshotRep(t *testing.T, e *env, snapRows, i int, add func(string, int, time.Duration)) {
	// psql COPY of the snapshot table to /dev/null, the physical
	// limit of a snapshot read, then the snapshots of that table.
	copyRate, psqlCPU, srvCPU := benchPsqlCopy(t, e, "snap", false)
	add("psql COPY (SELECT ...) TO STDOUT > /dev/null", snapRows, time.Duration(float64(snapRows)/copyRate*float64(time.Second)))
	t.Logf("CPU rep %d: psql COPY text: psql %.2f µs/row, server %.2f µs/row", i+1, us(psqlCPU), us(srvCPU))
	binRate, psqlCPU, srvCPU := benchPsqlCopy(t, e, "snap", true)
	add("psql COPY (SELECT ...) TO STDOUT (FORMAT binary) > /dev/null", snapRows, time.Duration(float64(snapRows)/binRate*float64(time.Second)))
	t.Logf("CPU rep %d: psql COPY binary: psql %.2f µs/row, server %.2f µs/row", i+1, us(psqlCPU), us(srvCPU))
	for _, threads := range []int{1, 2, 4} {
		cfg := e.config(KeySlotName, fmt.Sprintf("snap%d_%d", threads, i), KeySnapshotMode, "initial_only", KeyPublicationAuto, "disabled",
			KeyTableInclude, "public.snap",
			KeySnapshotThreads, strconv.Itoa(threads), KeySnapshotChunkRows, strconv.Itoa(max(snapRows/16, 1000)), KeySlotDropOnStop, "true")
		e.offs = &memOffsets{}
		settle(t, e)
		srv0 := serverCPU(e.pg.Pid())
		cpu0 := processCPU()
		start := time.Now()
		task := e.open(t, cfg)
		opened := time.Now()
		n := drainTopic(t, task, snapRows, nil, ".snap")
		end := time.Now()
		cpu := processCPU() - cpu0
		task.Close()
		waitBackendsGone(t, e)
		srv := serverCPU(e.pg.Pid()) - srv0
		what := fmt.Sprintf("snapshot, %d thread(s)", threads)
		add(what, n, end.Sub(start))
		add(what+", after Open", n, end.Sub(opened))
		snapRate := float64(n) / end.Sub(start).Seconds()
		t.Logf("PHASES rep %d: snapshot %d thread(s): Open %v, after Open %v, task CPU %.2f µs/row, server CPU %.2f µs/row", i+1, threads,
			opened.Sub(start).Round(time.Millisecond), end.Sub(opened).Round(time.Millisecond), cpu.Seconds()*1e6/float64(n), srv.Seconds()*1e6/float64(n))
		t.Logf("RATIO rep %d: snapshot %d thread(s) / psql COPY = %.2f (after Open %.2f; / binary psql COPY %.2f)", i+1, threads,
			snapRate/copyRate, float64(n)/end.Sub(opened).Seconds()/copyRate, snapRate/binRate)
	}
}

// TestBenchSnapshot is TestBenchCDC's snapshot part alone, for A/B runs of
// the snapshot path: SLUICE_BENCH_SNAPSHOT_ROWS rows (default 1000000),
// SLUICE_BENCH_REPS repetitions (default 3). It runs only with
// SLUICE_BENCH_PG=1.
func TestBenchSnapshot(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_PG") != "1" {
		t.Skip("set SLUICE_BENCH_PG=1 to run the Postgres snapshot benchmark")
	}
	e, _, snapRows, reps := startBenchPG(t, "snap")
	fillSnapTable(t, e, snapRows)
	res := &benchResults{t: t}
	for i := 0; i < reps; i++ {
		benchSnapshotRep(t, e, snapRows, i, res.add)
	}
	res.summary()
}

// startBenchPG starts the benchmarks' Postgres under sluice's collector
// policy, creates the given tables (the benchmark's six-column shape) and
// the publication, and reads SLUICE_BENCH_SNAPSHOT_ROWS (default 1000000)
// and SLUICE_BENCH_REPS (default 3).
func startBenchPG(t *testing.T, tables ...string) (e *env, pg *testenv.Postgres, snapRows, reps int) {
	t.Helper()
	// The task runs with the collector policy of a sluice process.
	t.Logf("GC: %s, as in the sluice binary", gctune.Apply())
	snapRows = testenv.EnvInt("SLUICE_BENCH_SNAPSHOT_ROWS", 1000000)
	reps = testenv.EnvInt("SLUICE_BENCH_REPS", 3)
	pg = testenv.StartPostgres(t, testenv.WithPostgresSetting("shared_buffers", "256MB"))
	e = newEnv(t, pg)
	for _, tb := range tables {
		e.exec(t, `CREATE TABLE `+tb+` (id bigint PRIMARY KEY, a int NOT NULL, b text, c timestamptz, d numeric(12,2), e boolean)`)
	}
	e.exec(t, `CREATE PUBLICATION dbz_publication FOR ALL TABLES`)
	return e, pg, snapRows, reps
}

// benchResults collects rows/s per path over repetitions, in first-seen
// order, for the closing summary table.
type benchResults struct {
	t     *testing.T
	order []string
	rates map[string][]float64
}

// add reports one timing of what and keeps its rate.
func (r *benchResults) add(what string, n int, d time.Duration) {
	if r.rates == nil {
		r.rates = map[string][]float64{}
	}
	if _, ok := r.rates[what]; !ok {
		r.order = append(r.order, what)
	}
	r.rates[what] = append(r.rates[what], float64(n)/d.Seconds())
	report(r.t, what, n, d)
}

// summary logs the best and median rate of every path.
func (r *benchResults) summary() {
	r.t.Logf("SUMMARY | path | best rows/s | median rows/s |")
	for _, w := range r.order {
		v := append([]float64(nil), r.rates[w]...)
		sort.Float64s(v)
		r.t.Logf("SUMMARY | %s | %.0f | %.0f |", w, v[len(v)-1], v[len(v)/2])
	}
}

func report(t *testing.T, what string, n int, d time.Duration) {
	t.Logf("BENCH %-55s %9d rows %8.2fs %10.0f rows/s", what, n, d.Seconds(), float64(n)/d.Seconds())
}

func drain(t *testing.T, task *Task, rows int, sink func([]*connect.Record)) int {
	return drainTopic(t, task, rows, sink, ".bench")
}

// drainTopic polls until rows records of the topic ending in suffix came.
func drainTopic(t *testing.T, task *Task, rows int, sink func([]*connect.Record), suffix string) int {
	n := 0
	deadline := time.Now().Add(10 * time.Minute)
	for n < rows {
		if time.Now().After(deadline) {
			t.Fatalf("drained %d of %d", n, rows)
		}
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if strings.HasSuffix(r.Topic, suffix) {
				n++
			}
		}
		if sink != nil && len(recs) > 0 {
			sink(recs)
		}
	}
	return n
}

// BenchmarkSnapshot times one initial snapshot (slot creation to the last
// record polled) of SLUICE_BENCH_ROWS rows of the TestBenchCDC table, with
// SLUICE_BENCH_THREADS threads (default 1), for profiling the snapshot
// path. It runs only with SLUICE_BENCH_PG=1.
func BenchmarkSnapshot(b *testing.B) {
	if os.Getenv("SLUICE_BENCH_PG") != "1" {
		b.Skip("set SLUICE_BENCH_PG=1 to run the Postgres snapshot benchmark")
	}
	rows := testenv.EnvInt("SLUICE_BENCH_ROWS", 200000)
	threads := testenv.EnvInt("SLUICE_BENCH_THREADS", 1)
	pg := testenv.StartPostgres(b, testenv.WithPostgresSetting("shared_buffers", "256MB"))
	e := newEnv(b, pg)
	e.exec(b, `CREATE TABLE bench (id bigint PRIMARY KEY, a int NOT NULL, b text, c timestamptz, d numeric(12,2), e boolean)`)
	e.exec(b, fmt.Sprintf(`INSERT INTO bench SELECT g, g %% 1000, md5(g::text), now(), g / 7.0, g %% 2 = 0 FROM generate_series(1, %d) g`, rows))
	e.exec(b, `CREATE PUBLICATION dbz_publication FOR ALL TABLES`)
	e.exec(b, `VACUUM ANALYZE bench`)
	b.Run("psql-copy", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			cmd := exec.Command(filepath.Join(testenv.PostgresBinDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", e.pg.DSN(e.db),
				"-c", "COPY (SELECT id, a, b, c, d, e FROM bench) TO STDOUT")
			if err := cmd.Run(); err != nil { // stdout nil: /dev/null
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("ab", func(b *testing.B) {
		// Interleaved: psql COPY, and snapshots with record builders
		// inline (-1), in 1 goroutine and in one per core (0).
		ds := map[string]time.Duration{}
		for i := 0; i < b.N; i++ {
			start := time.Now()
			cmd := exec.Command(filepath.Join(testenv.PostgresBinDir, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", e.pg.DSN(e.db),
				"-c", "COPY (SELECT id, a, b, c, d, e FROM bench) TO STDOUT")
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			ds["copy"] += time.Since(start)
			for _, nb := range []int{-1, 1, 0} {
				start := time.Now()
				snapshotOnce(b, e, rows, threads, false, nb, fmt.Sprintf("ab%d_%d", i, nb+1))
				ds[fmt.Sprintf("builders%d", nb)] += time.Since(start)
			}
		}
		for k, d := range ds {
			b.ReportMetric(float64(rows)*float64(b.N)/d.Seconds(), k+"-rows/s")
		}
	})
	for _, text := range []bool{false, true} {
		name := "binary"
		if text {
			name = "text"
		}
		b.Run(name, func(b *testing.B) { benchSnapshot(b, e, rows, threads, text) })
	}
}

func benchSnapshot(b *testing.B, e *env, rows, threads int, text bool) {
	for i := 0; i < b.N; i++ {
		snapshotOnce(b, e, rows, threads, text, 0, fmt.Sprintf("snapb%d_%v", i, text))
	}
	b.ReportMetric(float64(rows)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

func snapshotOnce(b *testing.B, e *env, rows, threads int, text bool, builders int, slot string) {
	cfg := e.config(KeySlotName, slot, KeySnapshotMode, "initial_only", KeyPublicationAuto, "disabled",
		KeySnapshotThreads, strconv.Itoa(threads), KeySnapshotChunkRows, strconv.Itoa(max(rows/16, 1000)), KeySlotDropOnStop, "true")
	e.offs = &memOffsets{}
	task := NewTask()
	task.textCopy = text
	task.builders = builders
	cpu0 := processCPU()
	t0 := time.Now()
	if err := task.Open(context.Background(), cfg, &fakeCtx{offs: e.offs, log: testLogger()}); err != nil {
		b.Fatal(err)
	}
	t1 := time.Now()
	var t2 time.Time
	n := 0
	for n < rows {
		recs, err := task.Poll(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 && len(recs) > 0 {
			t2 = time.Now()
		}
		n += len(changes(recs, "srv.public.bench"))
	}
	t3 := time.Now()
	task.Close()
	if os.Getenv("SLUICE_BENCH_PHASES") != "" {
		b.Logf("builders=%d open %v, first record %v, rows %v, close %v, task CPU %.2f µs/row", builders, t1.Sub(t0), t2.Sub(t1), t3.Sub(t2), time.Since(t3),
			(processCPU()-cpu0).Seconds()*1e6/float64(rows))
	}
}
