package postgres

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// TestSnapshotResumeKill9 runs the snapshot in a child process that
// records the ids it emitted and then commits the offset after every poll
// (as the runtime commits acknowledged records), kills it with SIGKILL in
// the middle of the snapshot, and resumes in this process from the
// committed offset. It counts rows emitted twice.
func TestSnapshotResumeKill9(t *testing.T) {
	if os.Getenv("SLUICE_PG_KILL9_CHILD") != "" {
		kill9Child(t)
		return
	}
	pg := testenv.StartPostgres(t)
	e := newEnv(t, pg)
	const rows, chunkRows, threads = 60000, 5000, 2
	e.exec(t, `CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL); INSERT INTO big SELECT g, 'a' FROM generate_series(1, 60000) g; ANALYZE big`)
	cfg := e.config(KeySnapshotThreads, strconv.Itoa(threads), KeySnapshotChunkRows, strconv.Itoa(chunkRows),
		KeyMaxBatchSize, "500", KeySnapshotFetchSize, "500", KeyMaxQueueSize, "1000")
	dir := t.TempDir()
	cfgJSON, _ := json.Marshal(cfg)
	idsPath, offPath := filepath.Join(dir, "ids"), filepath.Join(dir, "offset.json")
	cmd := exec.Command(os.Args[0], "-test.run", "^TestSnapshotResumeKill9$", "-test.count=1")
	cmd.Env = append(os.Environ(), "SLUICE_PG_KILL9_CHILD=1", "SLUICE_PG_KILL9_CFG="+string(cfgJSON),
		"SLUICE_PG_KILL9_IDS="+idsPath, "SLUICE_PG_KILL9_OFFSET="+offPath)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	deadline := time.Now().Add(90 * time.Second)
	for countLines(idsPath) < rows/2 {
		select {
		case <-exited:
			t.Fatalf("child exited early: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("child emitted %d rows in time", countLines(idsPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited
	seen := map[int64]int{}
	f, err := os.Open(idsPath)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		id, _ := strconv.ParseInt(sc.Text(), 10, 64)
		seen[id]++
	}
	f.Close()
	if len(seen) >= rows {
		t.Fatalf("the snapshot finished before the kill")
	}
	off, err := os.ReadFile(offPath)
	if err != nil {
		t.Fatalf("no committed offset: %v", err)
	}
	e.offs.raw = off
	before := len(seen)
	task := e.open(t, cfg)
	defer task.Close()
	recs := changes(collect(t, task, 120*time.Second, func(rs []*connect.Record) bool {
		got := len(seen)
		for _, r := range changes(rs, "srv.public.big") {
			if seen[intOf(after(r), "id")] == 0 {
				got++
			}
		}
		return got >= rows
	}), "srv.public.big")
	dups := 0
	for _, r := range recs {
		id := intOf(after(r), "id")
		if seen[id] > 0 {
			dups++
		}
		seen[id]++
	}
	for id := int64(1); id <= rows; id++ {
		if seen[id] == 0 {
			t.Fatalf("row %d lost across kill -9", id)
		}
	}
	t.Logf("before kill -9: %d rows emitted; after: %d rows, %d of them duplicates (limit: one chunk per thread, %d)", before, len(recs), dups, threads*chunkRows)
	if dups > threads*chunkRows {
		t.Errorf("%d duplicates after kill -9, more than one chunk (%d rows) per thread", dups, chunkRows)
	}
}

// kill9Child polls the snapshot forever, recording ids then offsets.
func kill9Child(t *testing.T) {
	var cfg map[string]string
	if err := json.Unmarshal([]byte(os.Getenv("SLUICE_PG_KILL9_CFG")), &cfg); err != nil {
		t.Fatal(err)
	}
	offs := &memOffsets{}
	task := NewTask()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := task.Open(ctx, cfg, &fakeCtx{offs: offs, log: testLogger()}); err != nil {
		t.Fatal(err)
	}
	ids, err := os.OpenFile(os.Getenv("SLUICE_PG_KILL9_IDS"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	offPath := os.Getenv("SLUICE_PG_KILL9_OFFSET")
	for {
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			continue
		}
		var b strings.Builder
		for _, r := range recs {
			if a := after(r); a != nil {
				fmt.Fprintf(&b, "%d\n", intOf(a, "id"))
			}
		}
		if _, err := ids.WriteString(b.String()); err != nil {
			t.Fatal(err)
		}
		last := recs[len(recs)-1]
		raw, err := json.Marshal(last.SourceOffset)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(offPath+".tmp", raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(offPath+".tmp", offPath); err != nil {
			t.Fatal(err)
		}
		var off map[string]any
		_ = json.Unmarshal(raw, &off)
		_ = task.Commit(context.Background(), []connect.SourceOffset{{Partition: last.SourcePartition, Offset: off}})
	}
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
