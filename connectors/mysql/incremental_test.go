package mysql

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// replay folds change events into the table state they describe (r, c, u
// upsert; d deletes), in order.
func replay(recs []*connect.Record, topic string) map[int32]int32 {
	state := map[int32]int32{}
	for _, r := range changes(recs, topic) {
		switch op(r) {
		case "d":
			delete(state, before(r).Get("id").(int32))
		default:
			state[after(r).Get("id").(int32)] = after(r).Get("v").(int32)
		}
	}
	return state
}

func countOp(recs []*connect.Record, topic, o string) int {
	n := 0
	for _, r := range changes(recs, topic) {
		if op(r) == o {
			n++
		}
	}
	return n
}

// TestIncrementalSnapshot: an execute-snapshot signal reads the table in
// chunks between watermarks while other sessions update, delete and insert
// rows; replaying the events in order gives the table's final contents.
// stop-snapshot removes a table from a running snapshot.
func TestIncrementalSnapshot(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	const rows = 3500 // four chunks
	e.exec(t, fmt.Sprintf(`CREATE TABLE sig (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048));
		CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL);
		CREATE TABLE t2 (id INT PRIMARY KEY, v INT NOT NULL);
		INSERT INTO t SELECT seq, seq FROM seq_1_to_%d;
		INSERT INTO t2 SELECT seq, seq FROM seq_1_to_100;`, rows))
	task := e.open(t, e.config(KeySnapshotMode, "no_data", KeySignalCollection, e.db+".sig"))
	defer task.Close()
	topic := "srv." + e.db + ".t"

	// Writers run while the chunks are read.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 1 + w*1000000; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := (i*397)%rows + 1
				e.exec(t, fmt.Sprintf("UPDATE t SET v = v + 100000 WHERE id = %d; DELETE FROM t WHERE id = %d; INSERT INTO t VALUES (%d, %d) ON DUPLICATE KEY UPDATE v = -v",
					id, (id*7)%rows+1, rows+i, i))
			}
		}(w)
	}
	e.exec(t, fmt.Sprintf(`INSERT INTO sig VALUES ('s1', 'execute-snapshot', '{"data-collections": ["%s.t"], "type": "incremental"}')`, e.db))
	recs := collect(t, task, 2*time.Minute, func(rs []*connect.Record) bool {
		return countOp(rs, topic, "r") >= rows/2
	})
	close(stop)
	wg.Wait()
	e.exec(t, "INSERT INTO t VALUES (-1, -1)")
	recs = append(recs, collect(t, task, 2*time.Minute, func(rs []*connect.Record) bool {
		for _, r := range changes(rs, topic) {
			if op(r) == "c" && after(r).Get("id") == int32(-1) {
				return true
			}
		}
		return false
	})...)
	got := replay(recs, topic)
	// Rows the stream never touched come only from the snapshot chunks.
	want := map[int32]int32{}
	out := m.Query(t, "SELECT id, v FROM "+e.db+".t ORDER BY id")
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var id, v int32
		if _, err := fmt.Sscan(line, &id, &v); err == nil {
			want[id] = v
		}
	}
	if len(want) < rows/2 {
		t.Fatalf("table read back %d rows: %q", len(want), out[:min(len(out), 200)])
	}
	bad := 0
	for id, v := range want {
		if g, ok := got[id]; !ok || g != v {
			if bad < 10 {
				t.Errorf("id %d: events give %v (present %v), table has %d", id, g, ok, v)
			}
			bad++
		}
	}
	for id := range got {
		if _, ok := want[id]; !ok {
			if bad < 10 {
				t.Errorf("id %d in the events but deleted from the table", id)
			}
			bad++
		}
	}
	if bad > 0 {
		t.Fatalf("%d rows differ between the replayed events and the table", bad)
	}
	var sawInc bool
	for _, r := range changes(recs, topic) {
		if op(r) == "r" {
			if source(r).Get("snapshot") != snapIncremental {
				t.Fatalf("incremental snapshot event source.snapshot = %v", source(r).Get("snapshot"))
			}
			sawInc = true
		}
	}
	if !sawInc || countOp(recs, "srv."+e.db+".sig", "c") == 0 {
		t.Fatalf("want incremental snapshot events and the signal table's own inserts")
	}

	// stop-snapshot before t2 is reached: t is read again, t2 never.
	t2 := "srv." + e.db + ".t2"
	e.exec(t, fmt.Sprintf(`INSERT INTO sig VALUES ('s2', 'execute-snapshot', '{"data-collections": ["%[1]s.t", "%[1]s.t2"]}');
		INSERT INTO sig VALUES ('s3', 'stop-snapshot', '{"data-collections": ["%[1]s.t2"], "type": "INCREMENTAL"}')`, e.db))
	n := len(want)
	recs = collect(t, task, 2*time.Minute, func(rs []*connect.Record) bool { return countOp(rs, topic, "r") >= n })
	e.exec(t, "INSERT INTO t2 VALUES (-1, -1)")
	recs = append(recs, collect(t, task, time.Minute, countTopic(t2, 1))...)
	if c := countOp(recs, t2, "r"); c != 0 {
		t.Fatalf("stopped table t2 got %d snapshot events", c)
	}
}

// TestIncrementalSnapshotResume: a task killed during an incremental
// snapshot resumes it from the committed offset after the last emitted
// chunk instead of starting over.
func TestIncrementalSnapshotResume(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	const rows = 3000
	e.exec(t, fmt.Sprintf(`CREATE TABLE sig (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data VARCHAR(2048));
		CREATE TABLE t (id INT PRIMARY KEY, v INT NOT NULL);
		INSERT INTO t SELECT seq, seq FROM seq_1_to_%d;`, rows))
	cfg := e.config(KeySnapshotMode, "no_data", KeySignalCollection, e.db+".sig")
	task := e.open(t, cfg)
	topic := "srv." + e.db + ".t"
	e.exec(t, fmt.Sprintf(`INSERT INTO sig VALUES ('r1', 'execute-snapshot', '{"data-collections": ["%s.t"]}')`, e.db))
	recs := collect(t, task, 2*time.Minute, func(rs []*connect.Record) bool { return countOp(rs, topic, "r") >= incChunkSize })
	task.kill()
	seen := map[int32]bool{}
	var last *connect.Record
	for _, r := range changes(recs, topic) {
		if op(r) == "r" {
			seen[after(r).Get("id").(int32)] = true
			last = r
		}
	}
	off := last.SourceOffset
	if off[offIncColls] != `["`+e.db+`.t"]` || off[offIncID] != "r1" || off[offIncPrimary] == nil {
		t.Fatalf("offset of an incremental snapshot record %v", off)
	}
	e.offs.store(off)
	task2 := e.open(t, cfg)
	defer task2.Close()
	recs = collect(t, task2, 2*time.Minute, func(rs []*connect.Record) bool {
		got := map[int32]bool{}
		for id := range seen {
			got[id] = true
		}
		for _, r := range changes(rs, topic) {
			if op(r) == "r" {
				got[after(r).Get("id").(int32)] = true
			}
		}
		return len(got) == rows
	})
	// Resumed after the first chunk: the second task reads the rest once.
	if n := countOp(recs, topic, "r"); n > rows-incChunkSize {
		t.Fatalf("the resumed snapshot emitted %d rows; want at most %d (it started over)", n, rows-incChunkSize)
	}
}
