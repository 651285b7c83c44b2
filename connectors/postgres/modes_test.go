package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

func TestSnapshotModes(t *testing.T) {
	pg := testenv.StartPostgres(t)
	t.Run("RestartMidSnapshot", func(t *testing.T) {
		e := newEnv(t, pg)
		const rows = 20000
		e.exec(t, fmt.Sprintf(`CREATE TABLE s (id int PRIMARY KEY, v text); INSERT INTO s SELECT g, 'v' FROM generate_series(1, %d) g; ANALYZE s`, rows))
		cfg := e.config(KeyMaxBatchSize, "200", KeyMaxQueueSize, "400", KeySnapshotThreads, "2", KeySnapshotChunkRows, "2000")
		task := e.open(t, cfg)
		recs := collect(t, task, 30*time.Second, countTopic("srv.public.s", 1000))
		if p := task.SnapshotProgress(); p.Completed || !p.Running {
			t.Fatalf("snapshot not in progress: %+v", p)
		}
		e.commit(t, task, recs)
		task.kill()
		e.exec(t, `INSERT INTO s VALUES (0, 'late')`)
		task2 := e.open(t, cfg)
		defer task2.Close()
		// No chunk was complete: every chunk is read again (under
		// watermarks), and the insert made while down streams from the
		// slot's consistent point (and is read again by its chunk).
		reads := map[int64]int{}
		created := false
		collect(t, task2, 60*time.Second, func(rs []*connect.Record) bool {
			reads = map[int64]int{}
			created = false
			for _, r := range changes(rs, "srv.public.s") {
				id := intOf(after(r), "id")
				switch {
				case op(r) == "r":
					reads[id]++
				case op(r) == "c" && id == 0:
					created = true
				default:
					t.Fatalf("unexpected %s of id %d", op(r), id)
				}
			}
			return len(reads) == rows+1 && created
		})
		for id := int64(0); id <= rows; id++ {
			if reads[id] != 1 {
				t.Fatalf("row %d read %d times in the resumed snapshot", id, reads[id])
			}
		}
	})
	t.Run("AlwaysAndDropSlot", func(t *testing.T) {
		e := newEnv(t, pg)
		e.exec(t, `CREATE TABLE a (id int PRIMARY KEY); INSERT INTO a SELECT generate_series(1, 10)`)
		cfg := e.config(KeySnapshotMode, "always", KeySlotDropOnStop, "true")
		task := e.open(t, cfg)
		e.exec(t, `INSERT INTO a VALUES (11)`)
		recs := collect(t, task, 30*time.Second, countTopic("srv.public.a", 11))
		e.commit(t, task, recs)
		if err := task.Close(); err != nil {
			t.Fatal(err)
		}
		var n int
		e.query(t, "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '"+cfg[KeySlotName]+"'", &n)
		if n != 0 {
			t.Fatalf("slot.drop.on.stop left the slot")
		}
		task = e.open(t, cfg)
		defer task.Close()
		recs = changes(collect(t, task, 30*time.Second, countTopic("srv.public.a", 11)), "srv.public.a")
		for _, r := range recs {
			if op(r) != "r" {
				t.Fatalf("always: op %s, want a new snapshot", op(r))
			}
		}
	})
	t.Run("WhenNeeded", func(t *testing.T) {
		e := newEnv(t, pg)
		e.exec(t, `CREATE TABLE w (id int PRIMARY KEY); INSERT INTO w SELECT generate_series(1, 5)`)
		cfg := e.config(KeySnapshotMode, "when_needed")
		task := e.open(t, cfg)
		recs := collect(t, task, 30*time.Second, countTopic("srv.public.w", 5))
		e.commit(t, task, recs)
		task.Close()
		// Offsets exist but the slot is gone: a new snapshot is needed.
		e.exec(t, "SELECT pg_drop_replication_slot('"+cfg[KeySlotName]+"')")
		task = e.open(t, cfg)
		defer task.Close()
		recs = changes(collect(t, task, 30*time.Second, countTopic("srv.public.w", 5)), "srv.public.w")
		if op(recs[0]) != "r" {
			t.Fatalf("when_needed without slot: op %s", op(recs[0]))
		}
	})
	t.Run("UnknownType", func(t *testing.T) {
		e := newEnv(t, pg)
		e.exec(t, `CREATE EXTENSION hstore; CREATE TABLE u (id int PRIMARY KEY, p point, ts tsvector, h hstore)`)
		task := e.open(t, e.config(KeySnapshotMode, "no_data"))
		defer task.Close()
		e.exec(t, `INSERT INTO u VALUES (1, '(1,2)', 'a b', 'k=>v, n=>NULL')`)
		a := after(changes(collect(t, task, 30*time.Second, countTopic("srv.public.u", 1)), "srv.public.u")[0])
		if p, _ := a.Get("p").(*connect.Struct); p == nil || p.Get("x") != 1.0 || a.Get("ts") != "'a' 'b'" {
			t.Errorf("unknown types: %v", a)
		}
		if a.Get("h") != `{"k":"v","n":null}` || a.Schema().Field("h").Schema.Name != nameJSON {
			t.Errorf("hstore: %v", a.Get("h"))
		}
	})
}

func TestIncrementalSnapshot(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := newEnv(t, pg)
	const rows = 3000
	e.exec(t, fmt.Sprintf(`CREATE TABLE inc (id int PRIMARY KEY, v int NOT NULL);
		INSERT INTO inc SELECT g, 0 FROM generate_series(1, %d) g;
		CREATE TABLE dbz_signal (id varchar(64) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))`, rows))
	task := e.open(t, e.config(KeySnapshotMode, "no_data", KeySignalCollection, "public.dbz_signal"))
	defer task.Close()
	e.exec(t, `INSERT INTO dbz_signal VALUES ('sig-1', 'execute-snapshot', '{"data-collections": ["public.inc"], "type": "incremental"}')`)
	// Concurrent changes while chunks are read.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 1; i <= 60; i++ {
			e.exec(t, fmt.Sprintf(`UPDATE inc SET v = %d WHERE id = %d; DELETE FROM inc WHERE id = %d; INSERT INTO inc VALUES (%d, 1)`,
				i, i*40, i*40+1, rows+i))
		}
	}()
	<-done
	e.exec(t, `INSERT INTO inc VALUES (100000, 7)`) // marker after the concurrent changes
	state := map[int64]int64{}
	incr := 0
	// Done when the marker's insert streamed and nothing more arrives.
	var recs []*connect.Record
	quietSince := time.Now()
	deadline := time.Now().Add(60 * time.Second)
	marker := false
	for !marker || time.Since(quietSince) < 2*time.Second {
		if time.Now().After(deadline) {
			t.Fatalf("timed out with %d records", len(recs))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		rs, err := task.Poll(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) > 0 {
			quietSince = time.Now()
		}
		for _, r := range changes(rs, "srv.public.inc") {
			if a := after(r); a != nil && intOf(a, "id") == 100000 && op(r) == "c" {
				marker = true
			}
		}
		recs = append(recs, rs...)
	}
	for _, r := range changes(recs, "srv.public.inc") {
		switch op(r) {
		case "r", "c", "u":
			a := after(r)
			state[intOf(a, "id")] = intOf(a, "v")
			if op(r) == "r" {
				incr++
				if source(r).Get("snapshot") != "incremental" {
					t.Fatalf("incremental snapshot record marked %v", source(r).Get("snapshot"))
				}
			}
		case "d":
			delete(state, intOf(before(r), "id"))
		}
	}
	var count, sum int64
	e.query(t, "SELECT count(*), sum(id * 1000 + v) FROM inc", &count, &sum)
	var gotSum int64
	for id, v := range state {
		gotSum += id*1000 + v
	}
	if int64(len(state)) != count || gotSum != sum {
		table := map[int64]int64{}
		conn, err := pgx.Connect(context.Background(), pg.DSN(e.db))
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := conn.Query(context.Background(), "SELECT id, v FROM inc")
		for rows.Next() {
			var id, v int64
			_ = rows.Scan(&id, &v)
			table[id] = v
		}
		rows.Close()
		conn.Close(context.Background())
		bad := map[int64]bool{}
		for id, v := range state {
			if tv, ok := table[id]; !ok || tv != v {
				bad[id] = true
			}
		}
		for id := range table {
			if _, ok := state[id]; !ok {
				bad[id] = true
			}
		}
		for _, r := range recs {
			if r.Topic == "srv.public.dbz_signal" {
				t.Logf("signal %v lsn=%v", after(r), r.SourceOffset[offLSN])
				continue
			}
			k, _ := r.Key.(*connect.Struct)
			if k != nil && bad[intOf(k, "id")] {
				t.Logf("%s id=%d after=%v lsn=%v tx=%v", op(r), intOf(k, "id"), after(r), r.SourceOffset[offLSN], r.SourceOffset[offTxID])
			}
		}
		t.Fatalf("replaying the events gives %d rows (checksum %d), table has %d (checksum %d)", len(state), gotSum, count, sum)
	}
	if incr < rows-100 {
		t.Errorf("only %d incremental snapshot records", incr)
	}
}

func TestIncrementalSnapshotResume(t *testing.T) {
	pg := testenv.StartPostgres(t)
	e := newEnv(t, pg)
	const rows = 6000
	e.exec(t, fmt.Sprintf(`CREATE TABLE ir (id int PRIMARY KEY, v text);
		INSERT INTO ir SELECT g, 'x' FROM generate_series(1, %d) g;
		CREATE TABLE sig (id varchar(128) PRIMARY KEY, type varchar(32) NOT NULL, data varchar(2048))`, rows))
	cfg := e.config(KeySnapshotMode, "no_data", KeySignalCollection, "public.sig", KeyTableInclude, "public\\.ir",
		KeyMaxBatchSize, "100", KeyMaxQueueSize, "200")
	task := e.open(t, cfg)
	e.exec(t, `INSERT INTO sig VALUES ('s1', 'execute-snapshot', '{"data-collections": ["public.ir"]}')`)
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.ir", 2500)), "srv.public.ir")
	e.commit(t, task, recs)
	task.kill()
	first := map[int64]bool{}
	for _, r := range recs {
		first[intOf(after(r), "id")] = true
	}
	task2 := e.open(t, cfg)
	defer task2.Close()
	recs2 := changes(collect(t, task2, 30*time.Second, func(rs []*connect.Record) bool {
		for _, r := range changes(rs, "srv.public.ir") {
			if intOf(after(r), "id") == rows {
				return true
			}
		}
		return false
	}), "srv.public.ir")
	minID := int64(rows)
	for _, r := range recs2 {
		id := intOf(after(r), "id")
		first[id] = true
		minID = min(minID, id)
	}
	for id := int64(1); id <= rows; id++ {
		if !first[id] {
			t.Fatalf("row %d never emitted across the restart", id)
		}
	}
	if minID <= 1 {
		t.Errorf("the incremental snapshot restarted from the beginning instead of resuming")
	}
	t.Logf("first session %d rows, resumed session %d rows from id %d", len(recs), len(recs2), minID)
}
