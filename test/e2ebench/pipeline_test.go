// Package e2ebench measures the quick start's whole pipeline (Postgres CDC
// source -> embedded broker -> S3 sink writing Parquet, all in one `sluice
// up` process) the way a user runs it, and checks what it measured.
//
// TestBenchE2E (scripts/bench-e2e, make bench-e2e) is the benchmark;
// TestE2ESmoke runs the same code on a few thousand rows in the normal test
// suite so that the benchmark cannot rot.
package e2ebench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/internal/testenv"
)

// table is the captured table. created_at is the row's insert time
// (clock_timestamp(), a few microseconds before its transaction commits):
// freshness is measured from it to the moment the row's Parquet file is
// committed.
const table = `CREATE TABLE events (
	id         bigint PRIMARY KEY,
	account    int NOT NULL,
	amount     numeric(12,2) NOT NULL,
	note       text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE PUBLICATION bench_pub FOR TABLE events;`

// insertRange inserts ids lo..hi in one statement.
const insertRange = `INSERT INTO events (id, account, amount, note)
SELECT g, g % 1000, (g % 1000000) / 100.0, md5(g::text) FROM generate_series($1::bigint, $2::bigint) g`

// setting is one sink/worker configuration under test.
type setting struct {
	name string
	// flushInterval is sluice up's --offset-flush-interval
	// (offset.flush.interval.ms); sinks also commit due files on its tick.
	flushInterval time.Duration
	// sink overrides the example sink's configuration
	// (examples/cdc-to-datalake/s3-sink-local.json).
	sink map[string]string
}

// knobs renders the setting for the report.
func (s setting) knobs() string {
	keys := make([]string, 0, len(s.sink))
	for k := range s.sink {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{"offset.flush.interval.ms=" + strconv.FormatInt(s.flushInterval.Milliseconds(), 10)}
	for _, k := range keys {
		parts = append(parts, k+"="+s.sink[k])
	}
	return strings.Join(parts, " ")
}

var (
	// drainSetting is the example sink without time-based rotation: a
	// backlog drain commits exactly one file per flush.size rows, so its
	// end is not a wait for the next scheduled rotation.
	drainSetting = setting{name: "throughput", flushInterval: 10 * time.Second,
		sink: map[string]string{"flush.size": "1000", "rotate.schedule.interval.ms": "-1"}}
	// defaultSetting is the quick start as shipped: the example sink's
	// flush.size=1000 and rotate.schedule.interval.ms=10000, and sluice
	// up's default --offset-flush-interval 10s.
	defaultSetting = setting{name: "default", flushInterval: 10 * time.Second,
		sink: map[string]string{"flush.size": "1000", "rotate.schedule.interval.ms": "10000"}}
	// lowLatencySetting commits a file at least every 500 ms of wall
	// clock (checked on every record and on every 250 ms offset flush).
	lowLatencySetting = setting{name: "low-latency", flushInterval: 250 * time.Millisecond,
		sink: map[string]string{"flush.size": "1000", "rotate.schedule.interval.ms": "500"}}
)

// env is one benchmark environment: PostgreSQL with the events table, an
// optional S3 gateway, the sluice binary and where artifacts go.
type env struct {
	root, bin, artifacts string
	bins                 map[string]string // by label: "" is this tree's build
	pg                   *testenv.Postgres
	s3                   *testenv.S3
	s3c                  *s3.Client
	nextID               int64 // next events.id to insert
	slotN                int
}

func newEnv(t *testing.T, artifacts string, withS3 bool, extraBins map[string]string) *env {
	t.Helper()
	e := &env{root: testenv.RepoRoot(t), artifacts: artifacts, nextID: 1}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	e.bin = filepath.Join(artifacts, "sluice")
	if bin := extraBins[""]; bin != "" { // a prebuilt binary under test
		b, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(e.bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		build := exec.Command("go", "build", "-o", e.bin, "./cmd/sluice")
		build.Dir = e.root
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
		}
	}
	e.bins = map[string]string{"": e.bin}
	for label, bin := range extraBins {
		if label == "" {
			continue
		}
		if _, err := os.Stat(bin); err != nil {
			t.Fatalf("%s binary: %v", label, err)
		}
		e.bins[label] = bin
	}
	e.pg = testenv.StartPostgres(t, testenv.WithPostgresSetting("shared_buffers", "256MB"),
		testenv.WithPostgresSetting("synchronous_commit", "on"))
	e.pg.Exec(t, "postgres", "CREATE DATABASE bench")
	e.pg.Exec(t, "bench", table)
	if withS3 {
		e.s3 = testenv.StartS3(t)
		e.s3c = e.s3.Client(t)
	}
	return e
}

func (e *env) conn(t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), e.pg.DSN("bench"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func (e *env) query(t *testing.T, sql string, args ...any) string {
	t.Helper()
	var s string
	c := e.conn(t)
	if err := c.QueryRow(context.Background(), sql, args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

// newSlot creates a pgoutput logical replication slot and returns its name.
func (e *env) newSlot(t *testing.T, prefix string) string {
	t.Helper()
	e.slotN++
	name := fmt.Sprintf("%s%d", prefix, e.slotN)
	e.pg.Exec(t, "bench", fmt.Sprintf("SELECT pg_create_logical_replication_slot('%s', 'pgoutput')", name))
	return name
}

// bulkInsert inserts n rows in transactions of perTx rows as fast as the
// server goes and returns their id range.
func (e *env) bulkInsert(t *testing.T, n, perTx int) (lo, hi int64) {
	t.Helper()
	lo, hi = e.nextID, e.nextID+int64(n)-1
	c := e.conn(t)
	for a := lo; a <= hi; a += int64(perTx) * 100 {
		b := min(a+int64(perTx)*100-1, hi)
		sql := fmt.Sprintf(`DO $$ BEGIN FOR i IN 0..%d LOOP
			INSERT INTO events (id, account, amount, note)
			SELECT g, g %% 1000, (g %% 1000000) / 100.0, md5(g::text) FROM generate_series(%d + i*%d, LEAST(%d, %d + (i+1)*%d - 1)) g;
			COMMIT; END LOOP; END $$`, (b-a)/int64(perTx), a, perTx, b, a, perTx)
		if _, err := c.Exec(context.Background(), sql); err != nil {
			t.Fatalf("bulk insert: %v", err)
		}
	}
	e.nextID = hi + 1
	return lo, hi
}

// recvlogical decodes slot up to endLSN with pg_recvlogical (pgoutput
// proto_version 1, output to /dev/null) and returns how long it took.
func (e *env) recvlogical(t *testing.T, slot, endLSN string) time.Duration {
	t.Helper()
	start := time.Now()
	cmd := exec.Command(filepath.Join(testenv.PostgresBinDir, "pg_recvlogical"), "-d", e.pg.DSN("bench"), "--slot="+slot, "--start",
		"-o", "proto_version=1", "-o", "publication_names=bench_pub", "-f", "/dev/null", "--endpos="+endLSN, "--no-loop")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("pg_recvlogical: %v\n%s", err, out)
	}
	return time.Since(start)
}

// up is a running `sluice up` with a pprof listener.
type up struct {
	*testenv.Child
	rest, pprof, logDir string
}

func (e *env) startUp(t *testing.T, name, bin string, flushInterval time.Duration) *up {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	p := &up{logDir: dir}
	restAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	p.rest = "http://" + restAddr
	cmd := exec.Command(bin, "up", "--data-dir", filepath.Join(dir, "data"), "--kafka-listen", "127.0.0.1:0",
		"--rest-listen", restAddr, "--schema-registry-listen", "", "--pprof-listen", "127.0.0.1:0",
		"--offset-flush-interval", flushInterval.String(), "--log-level", "warn")
	p.Child = testenv.StartChild(t, "sluice up "+name, cmd)
	p.WaitStdout(t, "Press Ctrl-C", 90*time.Second)
	for _, line := range strings.Split(p.Stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(line, "  Go profiles (pprof)") {
			p.pprof = f[len(f)-1]
		}
	}
	if p.pprof == "" {
		t.Fatalf("sluice up printed no pprof address:\n%s", p.Stdout.String())
	}
	return p
}

// stop stops sluice up with SIGTERM and waits for a clean exit.
func (p *up) stop(t *testing.T) {
	t.Helper()
	p.Stop(t, syscall.SIGTERM, 60*time.Second)
}

// procStats are the sluice process's CPU time and peak resident set.
type procStats struct {
	cpu   time.Duration // user + system
	hwmKB int64         // VmHWM
}

func (p *up) stats(t *testing.T) procStats {
	t.Helper()
	pid := p.Cmd.Process.Pid
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("sluice up stats: %v", err)
	}
	// Fields after the parenthesised command name: state is field 3,
	// utime 14, stime 15 (clock ticks).
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	ps := procStats{cpu: time.Duration(ut+st) * time.Second / ticks}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("sluice up stats: %v", err)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			ps.hwmKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	if ps.hwmKB == 0 {
		t.Fatalf("no VmHWM in /proc/%d/status", pid)
	}
	return ps
}

// profile saves the pprof profile at path (relative to the pprof base URL,
// e.g. "profile?seconds=10" or "heap") to file.
func (p *up) profile(path, file string) error {
	resp, err := http.Get(p.pprof + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s%s: %s: %s", p.pprof, path, resp.Status, b)
	}
	return os.WriteFile(file, b, 0o644)
}

// pipeline is one source connector and its sink.
type pipeline struct {
	prefix, storage string // storage: "local" or "s3"
	lake            string // local.dir, or the bucket name
}

// create creates the quick start's two connectors on u: the example's
// Postgres source (on slot, no snapshot: only changes) and its S3 sink
// (local storage or the S3 gateway) with the setting's overrides.
func (e *env) create(t *testing.T, u *up, pl pipeline, slot string, st setting) {
	t.Helper()
	ex := filepath.Join(e.root, "examples", "cdc-to-datalake")
	src := e.example(t, filepath.Join(ex, "postgres-source.json"), map[string]string{
		"name":                        pl.prefix + "-cdc",
		"database.hostname":           e.pg.Host,
		"database.port":               strconv.Itoa(e.pg.Port),
		"database.dbname":             "bench",
		"topic.prefix":                pl.prefix,
		"slot.name":                   slot,
		"publication.name":            "bench_pub",
		"publication.autocreate.mode": "disabled",
		"table.include.list":          "public.events",
		"snapshot.mode":               "no_data",
	})
	sinkFile := "s3-sink-local.json"
	over := map[string]string{"name": pl.prefix + "-lake", "topics": pl.prefix + ".public.events"}
	if pl.storage == "s3" {
		sinkFile = "s3-sink-s3.json"
		for k, v := range map[string]string{"s3.bucket.name": pl.lake, "store.url": e.s3.Endpoint, "s3.region": e.s3.Region,
			"aws.access.key.id": e.s3.AccessKey, "aws.secret.access.key": e.s3.SecretKey} {
			over[k] = v
		}
	} else {
		over["local.dir"] = pl.lake
	}
	for k, v := range st.sink {
		over[k] = v
	}
	sink := e.example(t, filepath.Join(ex, sinkFile), over)
	for _, c := range []map[string]any{src, sink} {
		body, _ := json.Marshal(c)
		resp, err := http.Post(u.rest+"/connectors", "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatalf("create connector %s: %v", c["name"], err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create connector %s: %s: %s", c["name"], resp.Status, b)
		}
	}
}

// example reads an example connector file and applies overrides (a "name"
// override renames the connector).
func (e *env) example(t *testing.T, path string, over map[string]string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Name   string            `json:"name"`
		Config map[string]string `json:"config"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	for k, v := range over {
		if k == "name" {
			c.Name = v
			continue
		}
		c.Config[k] = v
	}
	c.Config["name"] = c.Name
	return map[string]any{"name": c.Name, "config": c.Config}
}

// waitRunning waits until the connector and its task are RUNNING.
func waitRunning(t *testing.T, u *up, name string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	last := ""
	for time.Now().Before(deadline) && !u.Exited() {
		resp, err := http.Get(u.rest + "/connectors/" + name + "/status")
		if err == nil {
			var st struct {
				Connector struct{ State string } `json:"connector"`
				Tasks     []struct{ State, Trace string }
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = string(b)
			if json.Unmarshal(b, &st) == nil && st.Connector.State == "RUNNING" && len(st.Tasks) > 0 && st.Tasks[0].State == "RUNNING" {
				return
			}
			if len(st.Tasks) > 0 && st.Tasks[0].State == "FAILED" {
				t.Fatalf("connector %s failed: %s", name, st.Tasks[0].Trace)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("connector %s not RUNNING after 60s: %s", name, last)
}

// lakeFile is one committed Parquet file as the watcher first saw it.
type lakeFile struct {
	key       string
	seen      time.Time // first listing that showed it
	ids       []int64
	createdAt []time.Time
}

// watcher polls a lake (local directory or S3 bucket) for committed Parquet
// files, reads each new file once and remembers when it first appeared.
type watcher struct {
	pl      pipeline
	e       *env
	every   time.Duration
	mu      sync.Mutex
	files   map[string]*lakeFile
	rows    int
	err     error
	stop    chan struct{}
	stopped chan struct{}
}

func (e *env) watch(t *testing.T, pl pipeline, every time.Duration) *watcher {
	if pl.storage == "s3" {
		e.s3.CreateBucket(t, pl.lake)
	}
	w := &watcher{pl: pl, e: e, every: every, files: map[string]*lakeFile{}, stop: make(chan struct{}), stopped: make(chan struct{})}
	go w.run()
	t.Cleanup(w.close)
	return w
}

func (w *watcher) close() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.stopped
}

func (w *watcher) run() {
	defer close(w.stopped)
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	for {
		if err := w.poll(); err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		select {
		case <-w.stop:
			return
		case <-tick.C:
		}
	}
}

func (w *watcher) poll() error {
	now := time.Now()
	keys, err := w.list()
	if err != nil {
		return err
	}
	for _, k := range keys {
		w.mu.Lock()
		_, known := w.files[k]
		w.mu.Unlock()
		if known {
			continue
		}
		b, err := w.get(k)
		if err != nil {
			return err
		}
		f := &lakeFile{key: k, seen: now}
		if f.ids, f.createdAt, err = readRows(b); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
		w.mu.Lock()
		w.files[k] = f
		w.rows += len(f.ids)
		w.mu.Unlock()
	}
	return nil
}

func (w *watcher) list() ([]string, error) {
	if w.pl.storage == "s3" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var keys []string
		p := s3.NewListObjectsV2Paginator(w.e.s3Client(), &s3.ListObjectsV2Input{Bucket: aws.String(w.pl.lake), Prefix: aws.String("topics/")})
		for p.HasMorePages() {
			page, err := p.NextPage(ctx)
			if err != nil {
				return nil, err
			}
			for _, o := range page.Contents {
				if k := aws.ToString(o.Key); strings.HasSuffix(k, ".parquet") {
					keys = append(keys, k)
				}
			}
		}
		return keys, nil
	}
	return filepath.Glob(filepath.Join(w.pl.lake, "topics", "*", "*", "*.parquet"))
}

func (w *watcher) get(key string) ([]byte, error) {
	if w.pl.storage == "s3" {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		obj, err := w.e.s3Client().GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(w.pl.lake), Key: aws.String(key)})
		if err != nil {
			return nil, err
		}
		defer obj.Body.Close()
		return io.ReadAll(obj.Body)
	}
	return os.ReadFile(key)
}

func (e *env) s3Client() *s3.Client { return e.s3c }

// count returns the rows in committed files seen so far and the watcher's
// error, if it stopped on one.
func (w *watcher) count() (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rows, w.err
}

// waitRows waits until at least n rows are in committed files.
func (w *watcher) waitRows(t *testing.T, u *up, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := w.count()
		if err != nil {
			t.Fatalf("reading the lake: %v", err)
		}
		if got >= n {
			return
		}
		if u.Exited() {
			t.Fatalf("sluice up exited (%v) with %d of %d rows in the lake", u.Err(), got, n)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows in committed files after %s", got, n, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// snapshot returns the files seen so far.
func (w *watcher) snapshot() []*lakeFile {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]*lakeFile, 0, len(w.files))
	for _, f := range w.files {
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// checkExactlyOnce fails unless the files hold every id in lo..hi exactly
// once and nothing else.
func checkExactlyOnce(files []*lakeFile, lo, hi int64) error {
	seen := make(map[int64]int, hi-lo+1)
	for _, f := range files {
		for _, id := range f.ids {
			seen[id]++
		}
	}
	var problems []string
	for id := lo; id <= hi && len(problems) < 5; id++ {
		if n := seen[id]; n != 1 {
			problems = append(problems, fmt.Sprintf("id %d in %d rows", id, n))
		}
	}
	for id, n := range seen {
		if (id < lo || id > hi) && len(problems) < 10 {
			problems = append(problems, fmt.Sprintf("unexpected id %d (%d rows)", id, n))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("lake rows are not ids %d..%d exactly once: %s", lo, hi, strings.Join(problems, "; "))
	}
	return nil
}

// readRows reads the id and created_at columns of a Parquet file.
// created_at is Debezium's ZonedTimestamp: an ISO-8601 string in UTC.
func readRows(b []byte) ([]int64, []time.Time, error) {
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, err
	}
	idCol, ok := pf.Schema().Lookup("id")
	if !ok {
		return nil, nil, fmt.Errorf("no column id in %s", pf.Schema())
	}
	tsCol, ok := pf.Schema().Lookup("created_at")
	if !ok {
		return nil, nil, fmt.Errorf("no column created_at in %s", pf.Schema())
	}
	var ids []int64
	var ts []time.Time
	for _, rg := range pf.RowGroups() {
		err := readColumn(rg.ColumnChunks()[idCol.ColumnIndex], func(v parquet.Value) error {
			if v.IsNull() {
				return errors.New("null id")
			}
			ids = append(ids, v.Int64())
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("column id: %w", err)
		}
		err = readColumn(rg.ColumnChunks()[tsCol.ColumnIndex], func(v parquet.Value) error {
			if v.IsNull() {
				return errors.New("null created_at")
			}
			tm, err := time.Parse(time.RFC3339Nano, string(v.ByteArray()))
			if err != nil {
				return err
			}
			ts = append(ts, tm)
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("column created_at: %w", err)
		}
	}
	if len(ids) != len(ts) || int64(len(ids)) != pf.NumRows() {
		return nil, nil, fmt.Errorf("read %d ids and %d timestamps, footer says %d rows", len(ids), len(ts), pf.NumRows())
	}
	return ids, ts, nil
}

func readColumn(cc parquet.ColumnChunk, fn func(parquet.Value) error) error {
	pages := cc.Pages()
	defer pages.Close()
	buf := make([]parquet.Value, 1024)
	for {
		p, err := pages.ReadPage()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		vr := p.Values()
		for {
			n, err := vr.ReadValues(buf)
			for _, v := range buf[:n] {
				if ferr := fn(v); ferr != nil {
					parquet.Release(p)
					return ferr
				}
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				parquet.Release(p)
				return err
			}
		}
		parquet.Release(p)
	}
}

// loadGen inserts rows at a fixed rate (rows/s) for d, in one transaction
// per 10 ms tick, and returns the id range it inserted. It catches up when
// a tick falls behind, so the achieved rate is the target unless the
// server cannot keep up (the report shows the achieved rate).
func (e *env) loadGen(t *testing.T, rate int, d time.Duration) (lo, hi int64, took time.Duration) {
	t.Helper()
	c := e.conn(t)
	lo = e.nextID
	next := lo
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	total := int64(float64(rate) * d.Seconds())
	for next-lo < total {
		<-tick.C
		due := min(int64(float64(rate)*time.Since(start).Seconds()), total)
		if due <= next-lo {
			continue
		}
		a, b := next, lo+due-1
		if _, err := c.Exec(context.Background(), insertRange, a, b); err != nil {
			t.Fatalf("load: %v", err)
		}
		next = b + 1
	}
	e.nextID = next
	return lo, next - 1, time.Since(start)
}
