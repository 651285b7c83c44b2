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

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// TestSnapshotResumeKill9 runs the snapshot in a child process that
// records the events it emitted and then commits the offset after every
// poll (as the runtime commits acknowledged records), kills it with SIGKILL
// in the middle of the snapshot, updates (twice) and deletes rows of chunks
// not yet read, and resumes in this process from the committed offset. It
// counts rows read twice and checks that the last event per key equals the
// table.
func TestSnapshotResumeKill9(t *testing.T) {
	if os.Getenv("SLUICE_PG_KILL9_CHILD") != "" {
		kill9Child(t)
		return
	}
	pg := testenv.StartPostgres(t)
	e := newEnv(t, pg)
	const rows, chunkRows, threads = 60000, 5000, 2
	e.exec(t, `CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL); INSERT INTO big SELECT g, 0 FROM generate_series(1, 60000) g; ANALYZE big`)
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
	type event struct {
		op    string
		id, v int64
	}
	var events []event
	f, err := os.Open(idsPath)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var ev event
		if _, err := fmt.Sscan(sc.Text(), &ev.op, &ev.id, &ev.v); err != nil {
			t.Fatalf("event line %q: %v", sc.Text(), err)
		}
		events = append(events, ev)
	}
	f.Close()
	seen := map[int64]int{}
	for _, ev := range events {
		seen[ev.id]++
	}
	if len(seen) >= rows {
		t.Fatalf("the snapshot finished before the kill")
	}
	off, err := os.ReadFile(offPath)
	if err != nil {
		t.Fatalf("no committed offset: %v", err)
	}
	// While down: rows of the chunks not yet read change twice or go away.
	e.exec(t, `UPDATE big SET v = 1 WHERE id % 101 = 0 AND id > 40000`)
	e.exec(t, `UPDATE big SET v = v + 1 WHERE id % 101 = 0 AND id > 40000; DELETE FROM big WHERE id % 103 = 0 AND id > 40000`)
	e.exec(t, `INSERT INTO big VALUES (100000, 0)`) // marker: streamed after the changes
	e.offs.raw = off
	nBefore := len(events)
	task := e.open(t, cfg)
	defer task.Close()
	recs := changes(collect(t, task, 120*time.Second, func(rs []*connect.Record) bool {
		// The record marked last is the resumed snapshot's final one.
		if countLast(rs) == 0 {
			return false
		}
		for _, r := range changes(rs, "srv.public.big") {
			if a := after(r); a != nil && intOf(a, "id") == 100000 && op(r) == "c" {
				return true
			}
		}
		return false
	}), "srv.public.big")
	dups := 0
	for _, r := range recs {
		switch op(r) {
		case "r":
			id := intOf(after(r), "id")
			if seen[id] > 0 {
				dups++
			}
			seen[id]++
			events = append(events, event{"r", id, intOf(after(r), "v")})
		case "c", "u":
			events = append(events, event{op(r), intOf(after(r), "id"), intOf(after(r), "v")})
		case "d":
			events = append(events, event{"d", intOf(before(r), "id"), 0})
		}
	}
	state := map[int64]int64{}
	regress := 0
	for _, ev := range events {
		if ev.op == "d" {
			delete(state, ev.id)
			continue
		}
		if old, ok := state[ev.id]; ok && ev.v < old {
			regress++
		}
		state[ev.id] = ev.v
	}
	table := map[int64]int64{}
	e.queryRows(t, "SELECT id, v FROM big", func(rows pgx.Rows) {
		var id, v int64
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		table[id] = v
	})
	diff := 0
	for id, v := range table {
		if got, ok := state[id]; !ok || got != v {
			diff++
		}
	}
	for id := range state {
		if _, ok := table[id]; !ok {
			diff++
		}
	}
	t.Logf("before kill -9: %d events; after: %d records, %d rows read twice (limit: one chunk per thread, %d)", nBefore, len(recs), dups, threads*chunkRows)
	if diff > 0 {
		t.Errorf("%d keys differ between the table (%d rows) and the last event per key (%d keys)", diff, len(table), len(state))
	}
	if regress > 0 {
		t.Errorf("%d events move a key back to an older value", regress)
	}
	if dups > threads*chunkRows {
		t.Errorf("%d rows read twice after kill -9, more than one chunk (%d rows) per thread", dups, chunkRows)
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
		for _, r := range changes(recs, "srv.public.big") {
			switch a := after(r); {
			case a != nil:
				fmt.Fprintf(&b, "%s %d %d\n", op(r), intOf(a, "id"), intOf(a, "v"))
			case op(r) == "d":
				fmt.Fprintf(&b, "d %d 0\n", intOf(before(r), "id"))
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
