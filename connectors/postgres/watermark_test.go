package postgres

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// TestSnapshotResumeWatermarks crashes a 2-thread chunked initial snapshot
// of a table with a key and one without, changes, deletes and inserts rows
// in chunks not yet read while the task is down and again while the
// restarted task reads the remaining chunks under watermarks, and checks
// that the last event per key equals the table, that no key's events go
// back to an older value, and that rows are read twice at most one chunk
// per thread. For the keyless table (no identity to deduplicate by, see
// docs/postgres.md) it checks that no row is lost.
func TestSnapshotResumeWatermarks(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := newEnv(t, pg)
	const rows, chunkRows, threads = 60000, 5000, 2
	e.exec(t, fmt.Sprintf(`CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL);
		INSERT INTO big SELECT g, 0 FROM generate_series(1, %d) g;
		CREATE TABLE nk (a int, b text); ALTER TABLE nk REPLICA IDENTITY FULL;
		INSERT INTO nk SELECT g %% 1000, 'x' FROM generate_series(1, 20000) g;
		ANALYZE big; ANALYZE nk`, rows))
	cfg := e.config(KeySnapshotThreads, fmt.Sprint(threads), KeySnapshotChunkRows, fmt.Sprint(chunkRows),
		KeyMaxBatchSize, "500", KeySnapshotFetchSize, "500", KeyMaxQueueSize, "1000")
	task := e.open(t, cfg)
	// "big" is read before "nk": stop a third of the way into it.
	first := collect(t, task, 60*time.Second, countTopic("srv.public.big", rows/3))
	e.commit(t, task, first)
	task.kill()
	if len(changes(first, "srv.public.big")) >= rows {
		t.Fatal("the snapshot finished before the crash")
	}
	// While down: updates, deletes and inserts in chunks not yet read (and
	// one in a chunk already read).
	// Two updates of the same rows: a read after both followed by the
	// replayed first update would move them back.
	e.exec(t, `UPDATE big SET v = 1 WHERE id % 97 = 0 AND id > 30000`)
	e.exec(t, `UPDATE big SET v = v + 1 WHERE id % 97 = 0 AND id > 30000;
		DELETE FROM big WHERE id % 89 = 0 AND id > 30000;
		UPDATE big SET v = 2 WHERE id = 1;
		INSERT INTO big SELECT g, 3 FROM generate_series(60001, 60100) g;
		UPDATE nk SET b = 'down' WHERE a = 7; DELETE FROM nk WHERE a = 8; INSERT INTO nk VALUES (5000, 'new')`)

	task2 := e.open(t, cfg)
	defer task2.Close()
	// While the remaining chunks are read: more changes, across the key
	// range, until the snapshot completed.
	stop := make(chan struct{})
	changed := make(chan int, 1)
	go func() {
		n := 0
		defer func() { changed <- n }()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := 30000 + (i*7919)%30000
			e.exec(t, fmt.Sprintf(`UPDATE big SET v = v + 10 WHERE id = %d; DELETE FROM big WHERE id = %d;
				UPDATE nk SET b = b || '+' WHERE a = %d; DELETE FROM nk WHERE ctid = (SELECT ctid FROM nk WHERE a = %d LIMIT 1)`,
				id, id+1, i%1000, (i+500)%1000))
			n++
		}
	}()
	var second []*connect.Record
	deadline := time.Now().Add(180 * time.Second)
	for !task2.SnapshotProgress().Completed {
		if time.Now().After(deadline) {
			t.Fatalf("resumed snapshot did not complete: %+v", task2.SnapshotProgress())
		}
		second = append(second, poll(t, task2)...)
	}
	close(stop)
	t.Logf("%d change transactions while the remaining chunks were read", <-changed)
	e.exec(t, `INSERT INTO big VALUES (100000, 0)`) // marker: every change before it streamed
	second = append(second, collect(t, task2, 60*time.Second, func(rs []*connect.Record) bool {
		for _, r := range changes(rs, "srv.public.big") {
			if a := after(r); a != nil && intOf(a, "id") == 100000 && op(r) == "c" {
				return true
			}
		}
		return false
	})...)

	// Replay.
	state := map[int64]int64{}
	seenVal := map[int64]int64{} // last value seen per key (values only grow)
	readFirst := map[int64]bool{}
	dups, regress, lastMarks := 0, 0, 0
	for i, r := range append(append([]*connect.Record{}, first...), second...) {
		if r.Topic != "srv.public.big" {
			continue
		}
		if src, ok := r.Value.(*connect.Struct); ok && src != nil && source(r).Get("snapshot") == snapLast {
			lastMarks++
		}
		switch op(r) {
		case "r", "c", "u":
			id, v := intOf(after(r), "id"), intOf(after(r), "v")
			if op(r) == "r" {
				if readFirst[id] && i >= len(first) {
					dups++
				}
				readFirst[id] = true
			}
			if old, ok := seenVal[id]; ok && v < old {
				regress++
				if regress < 5 {
					t.Logf("id %d goes back from v=%d to v=%d (%s)", id, old, v, op(r))
				}
			}
			seenVal[id] = v
			state[id] = v
		case "d":
			delete(state, intOf(before(r), "id"))
		}
	}
	table := map[int64]int64{}
	e.queryRows(t, "SELECT id, v FROM big", func(rows pgx.Rows) {
		var id, v int64
		if err := rows.Scan(&id, &v); err != nil {
			t.Fatal(err)
		}
		table[id] = v
	})
	bad := 0
	for id, v := range table {
		if got, ok := state[id]; !ok || got != v {
			if bad++; bad < 10 {
				t.Errorf("id %d: table v=%d, events give %d (present %v)", id, v, got, ok)
			}
		}
	}
	for id := range state {
		if _, ok := table[id]; !ok {
			if bad++; bad < 10 {
				t.Errorf("id %d: deleted from the table, present in the events", id)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d keys differ between the table and the last event per key", bad)
	}
	if regress > 0 {
		t.Errorf("%d events move a key back to an older value", regress)
	}
	t.Logf("before the crash %d records; after: %d; %d rows read twice (limit one chunk per thread, %d)", len(first), len(second), dups, threads*chunkRows)
	if dups > threads*chunkRows {
		t.Errorf("%d rows read twice, more than one chunk per thread", dups)
	}
	if lastMarks != 0 {
		t.Errorf("%d big records marked snapshot=last; the last table is nk", lastMarks)
	}

	// The keyless table: no row lost.
	multi := map[string]int{}
	key := func(s *connect.Struct) string { return fmt.Sprintf("%v|%v", s.Get("a"), s.Get("b")) }
	var lastRec *connect.Record
	for _, r := range append(append([]*connect.Record{}, first...), second...) {
		if r.Topic != "srv.public.nk" {
			continue
		}
		lastRec = r
		// Rows produced by reads, inserts and updates: at least each row
		// of the table.
		if a := after(r); a != nil {
			multi[key(a)]++
		}
	}
	want := map[string]int{}
	e.queryRows(t, "SELECT a, b FROM nk", func(rows pgx.Rows) {
		var a int32
		var b string
		if err := rows.Scan(&a, &b); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("%v|%v", a, b)]++
	})
	var diff []string
	for k, n := range want {
		if multi[k] < n {
			diff = append(diff, fmt.Sprintf("%s: table %d, events %d", k, n, multi[k]))
		}
	}
	sort.Strings(diff)
	if len(diff) > 0 {
		t.Fatalf("keyless table rows lost in %d values: %s", len(diff), strings.Join(diff[:min(10, len(diff))], "; "))
	}
	if lastRec == nil || countLast(second) != 1 {
		t.Errorf("%d records after the crash are marked snapshot=last, want 1", countLast(second))
	}
}

// countLast counts records marked source.snapshot=last.
func countLast(recs []*connect.Record) int {
	n := 0
	for _, r := range recs {
		if env, ok := r.Value.(*connect.Struct); ok && env != nil && env.Schema().Field("source") != nil && source(r).Get("snapshot") == snapLast {
			n++
		}
	}
	return n
}

// poll returns one poll's records.
func poll(t *testing.T, task *Task) []*connect.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	recs, err := task.Poll(ctx)
	if err != nil {
		t.Fatalf("poll: %v", err)
	}
	return recs
}

// queryRows runs sql and calls f for each row.
func (e *env) queryRows(t testing.TB, sql string, f func(pgx.Rows)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.pg.DSN(e.db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	for rows.Next() {
		f(rows)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
}
