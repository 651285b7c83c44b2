package postgres

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// TestSnapshotResume kills the task in the middle of a chunked, 2-thread
// initial snapshot (after committing what it emitted, as the runtime does
// for acknowledged records) and checks that the restarted task reads only
// the chunks not yet done (duplicates at most one chunk per thread), that
// no row is lost, and that changes made meanwhile are streamed from the
// slot's consistent point.
func TestSnapshotResume(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := newEnv(t, pg)
	const rows, chunkRows, threads = 60000, 5000, 2
	e.exec(t, `CREATE TABLE big (id int PRIMARY KEY, v text NOT NULL); INSERT INTO big SELECT g, 'a' FROM generate_series(1, 60000) g; ANALYZE big`)
	cfg := e.config(KeySnapshotThreads, "2", KeySnapshotChunkRows, "5000", KeyMaxBatchSize, "500", KeySnapshotFetchSize, "500", KeyMaxQueueSize, "1000")
	task := e.open(t, cfg)
	first := changes(collect(t, task, 60*time.Second, countTopic("srv.public.big", rows/2)), "srv.public.big")
	e.commit(t, task, first)
	t.Logf("committed offset: snapshot_chunks_done=%v", first[len(first)-1].SourceOffset[offSnapDone])
	task.kill() // no Close: only committed offsets survive
	if len(first) >= rows {
		t.Fatalf("the snapshot finished before the kill (%d records); nothing to resume", len(first))
	}
	seen := map[int64]int{}
	for _, r := range first {
		seen[intOf(after(r), "id")]++
	}
	// Changes while the task is down: one row already read, one not yet
	// read, and a new row.
	e.exec(t, `UPDATE big SET v = 'upd1' WHERE id = 1; UPDATE big SET v = 'updN' WHERE id = 59999; INSERT INTO big VALUES (60001, 'new')`)

	task2 := e.open(t, cfg)
	defer task2.Close()
	second := changes(collect(t, task2, 120*time.Second, func(rs []*connect.Record) bool {
		got := map[int64]bool{}
		for id := range seen {
			got[id] = true
		}
		upd1 := false
		for _, r := range changes(rs, "srv.public.big") {
			id := intOf(after(r), "id")
			got[id] = true
			if id == 1 && op(r) == "u" {
				upd1 = true
			}
		}
		return len(got) >= rows+1 && upd1
	}), "srv.public.big")
	dups := 0
	reads := 0
	last := map[int64]string{}
	for _, r := range second {
		id := intOf(after(r), "id")
		if op(r) == "r" {
			reads++
			if seen[id] > 0 {
				dups++
			}
		}
		last[id], _ = after(r).Get("v").(string)
	}
	for id := int64(1); id <= rows+1; id++ {
		if seen[id] == 0 && last[id] == "" {
			t.Fatalf("row %d lost across the crash", id)
		}
	}
	t.Logf("first run emitted %d rows; after the crash %d snapshot reads, %d of them duplicates (limit %d)", len(first), reads, dups, threads*chunkRows)
	if dups > threads*chunkRows {
		t.Errorf("%d duplicate snapshot rows after the crash, more than one chunk (%d rows) per thread", dups, chunkRows)
	}
	if last[1] != "upd1" || last[60001] != "new" {
		t.Errorf("changes made while down: id 1 = %q, id 60001 = %q", last[1], last[60001])
	}
	if v, ok := last[59999]; ok && v != "updN" {
		t.Errorf("row 59999 ends as %q, want updN", v)
	}
}
