package mysql

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/sluicehq/sluice/internal/gctune"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBenchCDC measures binlog CDC and snapshot throughput. It runs only
// with SLUICE_BENCH_MYSQL=1 (scripts/bench-mysql); SLUICE_BENCH_ROWS sets
// the row count (default 200000), SLUICE_BENCH_REPS the repetitions.
//
// On the same binlog range (committed inserts of 1000 rows per
// transaction) it times mariadb-binlog --read-from-remote-server --verbose
// (rows decoded to pseudo-SQL, output to /dev/null) and this connector's
// task: records built only, and records converted with the JsonConverter
// (no embedded schemas) and produced (acks=all) to the bundled broker;
// and, as the floor of any go-mysql based task, go-mysql's BinlogSyncer
// alone (configured as the task configures it) decoding the rows events.
// Then it times the initial snapshot of the table with 1 and 4 threads.
// The task times include opening the task (connection, server checks,
// schema capture, binlog dump start), as mariadb-binlog's include its
// process start and connection; the time to open is logged separately.
// Every path also reports its CPU time per row (mariadb-binlog's process;
// this process for the others, the in-process broker included), which
// the load of a shared machine distorts far less than rows/s.
// SLUICE_BENCH_CPUPROFILE=prefix writes a CPU profile of each path to
// prefix-<path>.pprof.
func TestBenchCDC(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_MYSQL") != "1" {
		t.Skip("set SLUICE_BENCH_MYSQL=1 (scripts/bench-mysql) to run the MySQL CDC benchmark")
	}
	// The task runs with the collector policy of a sluice process.
	t.Logf("GC: %s, as in the sluice binary", gctune.Apply())
	rows := testenv.EnvInt("SLUICE_BENCH_ROWS", 200000)
	reps := testenv.EnvInt("SLUICE_BENCH_REPS", 3)
	m := testenv.StartMariaDB(t, testenv.WithMariaDBSetting("max-binlog-size", "1073741824"))
	e := newEnv(t, m)
	e.exec(t, "CREATE TABLE bench (id BIGINT PRIMARY KEY, a INT NOT NULL, b VARCHAR(64), c DATETIME(6), d DECIMAL(12,2), e TINYINT)")
	status := strings.Fields(m.Query(t, "SHOW MASTER STATUS"))
	file, startPos := status[0], status[1]
	gtid := strings.TrimSpace(m.Query(t, "SELECT @@GLOBAL.gtid_binlog_pos"))
	const perTx = 1000
	for lo := 1; lo <= rows; lo += perTx * 50 {
		var sb strings.Builder
		for tx := lo; tx < lo+perTx*50 && tx <= rows; tx += perTx {
			hi := min(tx+perTx-1, rows)
			fmt.Fprintf(&sb, "INSERT INTO bench SELECT seq, seq %% 1000, MD5(seq), NOW(6), seq / 7, seq %% 2 FROM seq_%d_to_%d;\n", tx, hi)
		}
		e.exec(t, sb.String())
	}
	end := strings.Fields(m.Query(t, "SHOW MASTER STATUS"))
	if end[0] != file {
		t.Fatalf("binlog rotated during the load (%s -> %s)", file, end[0])
	}
	endPos, _ := strconv.Atoi(end[1])
	sp, _ := strconv.Atoi(startPos)
	t.Logf("rows=%d transactions=%d binlog=%.1f MiB reps=%d", rows, (rows+perTx-1)/perTx, float64(endPos-sp)/(1<<20), reps)

	addr := testenv.StartBroker(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(100000))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	kc, _ := convert.NewJSON(map[string]string{"schemas.enable": "false"}, true)
	vc, _ := convert.NewJSON(map[string]string{"schemas.enable": "false"}, false)
	results := map[string][]float64{}
	var order []string
	// add records a path's rate; cpu is the CPU time (user+system) it
	// used: of the mariadb-binlog process, or of this test process (the
	// task, the converter and the in-process broker; not the server's).
	add := func(what string, n int, d, cpu time.Duration) {
		if _, ok := results[what]; !ok {
			order = append(order, what)
		}
		results[what] = append(results[what], float64(n)/d.Seconds())
		t.Logf("BENCH %-62s %9d rows %8.2fs %10.0f rows/s  cpu %6.2fs %6.2f us/row", what, n, d.Seconds(), float64(n)/d.Seconds(),
			cpu.Seconds(), float64(cpu.Microseconds())/float64(n))
	}
	streamCfg := func() map[string]string {
		e.offs = &memOffsets{}
		e.offs.store(map[string]any{"file": file, "pos": sp, "gtids": gtid})
		return e.config(KeySnapshotMode, "no_data", KeyIncludeSchema, "false")
	}
	profile := func(name string) func() {
		prefix := os.Getenv("SLUICE_BENCH_CPUPROFILE")
		if prefix == "" {
			return func() {}
		}
		f, err := os.Create(prefix + "-" + name + ".pprof")
		if err != nil {
			t.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			t.Fatal(err)
		}
		return func() { pprof.StopCPUProfile(); f.Close() }
	}
	openTask := func(what string) *Task {
		start := time.Now()
		task := e.open(t, streamCfg())
		t.Logf("open (%s): %.3fs", what, time.Since(start).Seconds())
		return task
	}
	decodeOnly := func() int {
		o, err := parseOptions(streamCfg(), flavorMariaDB)
		if err != nil {
			t.Fatal(err)
		}
		task := NewTask()
		task.o, task.quietLog = o, testLogger()
		s, err := newStreamer(task, position{file: file, pos: uint32(sp)})
		if err != nil {
			t.Fatal(err)
		}
		syncer, st, err := s.open()
		if err != nil {
			t.Fatal(err)
		}
		defer syncer.Close()
		n := 0
		for n < rows {
			ev, err := st.GetEvent(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if re, ok := ev.Event.(*replication.RowsEvent); ok && string(re.Table.Table) == "bench" {
				n += len(re.Rows)
			}
		}
		return n
	}
	// What mariadb-binlog prints, for comparison with the JSON records
	// (untimed): pseudo-SQL with every row's column values.
	outFile := t.TempDir() + "/binlog.sql"
	if out, err := exec.Command("mariadb-binlog", "--no-defaults", "--read-from-remote-server", "--host=127.0.0.1", "--port="+strconv.Itoa(m.Port),
		"--user="+m.User, "--password="+m.Password, "--verbose", "--base64-output=DECODE-ROWS",
		"--start-position="+startPos, "--stop-position="+strconv.Itoa(endPos), "--result-file="+outFile, file).CombinedOutput(); err != nil {
		t.Fatalf("mariadb-binlog: %v\n%s", err, out)
	}
	if st, err := os.Stat(outFile); err == nil {
		t.Logf("mariadb-binlog output bytes per row: %.0f", float64(st.Size())/float64(rows))
	}
	for i := 0; i < reps; i++ {
		start := time.Now()
		cmd := exec.Command("mariadb-binlog", "--no-defaults", "--read-from-remote-server", "--host=127.0.0.1", "--port="+strconv.Itoa(m.Port),
			"--user="+m.User, "--password="+m.Password, "--verbose", "--base64-output=DECODE-ROWS",
			"--start-position="+startPos, "--stop-position="+strconv.Itoa(endPos), "--result-file=/dev/null", file)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mariadb-binlog: %v\n%s", err, out)
		}
		add("mariadb-binlog --read-from-remote-server --verbose -> /dev/null", rows, time.Since(start), cmd.ProcessState.UserTime()+cmd.ProcessState.SystemTime())

		stop := profile("decode")
		start, cpu0 := time.Now(), selfCPU()
		n := decodeOnly()
		add("go-mysql BinlogSyncer alone (rows decoded, no records)", n, time.Since(start), selfCPU()-cpu0)
		stop()

		stop = profile("poll")
		start, cpu0 = time.Now(), selfCPU()
		task := openTask("poll")
		n = drainBench(t, task, rows, nil)
		add("sluice task Poll (records built, not serialized)", n, time.Since(start), selfCPU()-cpu0)
		stop()
		task.Close()

		var produced, failed, jsonBytes atomic.Int64
		stop = profile("broker")
		start, cpu0 = time.Now(), selfCPU()
		task = openTask("broker")
		n = drainBench(t, task, rows, func(recs []*connect.Record) {
			for _, r := range recs {
				k, err1 := kc.FromConnect(r.Topic, r.KeySchema, r.Key)
				val, err2 := vc.FromConnect(r.Topic, r.ValueSchema, r.Value)
				if err1 != nil || err2 != nil {
					t.Fatalf("convert: %v %v", err1, err2)
				}
				jsonBytes.Add(int64(len(k) + len(val)))
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
		add("sluice task -> JsonConverter (no schemas) -> broker (acks=all)", n, time.Since(start), selfCPU()-cpu0)
		stop()
		task.Close()
		t.Logf("JSON key+value bytes per record: %.0f", float64(jsonBytes.Load())/float64(max(n, 1)))
		if failed.Load() > 0 || produced.Load() < int64(rows) {
			t.Fatalf("produced %d, failed %d", produced.Load(), failed.Load())
		}

		for _, threads := range []int{1, 4} {
			e.offs = &memOffsets{}
			cfg := e.config(KeySnapshotMode, "initial_only", KeySnapshotThreads, strconv.Itoa(threads), KeySnapshotChunkRows, strconv.Itoa(max(rows/16, 1000)))
			start, cpu0 := time.Now(), selfCPU()
			task := e.open(t, cfg)
			n := drainBench(t, task, rows, nil)
			add(fmt.Sprintf("snapshot, %d thread(s)", threads), n, time.Since(start), selfCPU()-cpu0)
			task.Close()
		}
	}
	t.Logf("SUMMARY | path | best rows/s | median rows/s |")
	for _, w := range order {
		v := append([]float64(nil), results[w]...)
		sort.Float64s(v)
		t.Logf("SUMMARY | %s | %.0f | %.0f |", w, v[len(v)-1], v[len(v)/2])
	}
}

func drainBench(t *testing.T, task *Task, rows int, sink func([]*connect.Record)) int {
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
			if strings.HasSuffix(r.Topic, ".bench") {
				n++
			}
		}
		if sink != nil && len(recs) > 0 {
			sink(recs)
		}
	}
	return n
}

// selfCPU returns the CPU time (user+system) this process used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
