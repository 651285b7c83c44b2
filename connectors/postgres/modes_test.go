package postgres

import (
	"fmt"
	"testing"
	"time"

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
		recs2 := collect(t, task2, 60*time.Second, countTopic("srv.public.s", rows+1))
		ids := map[int64]int{}
		for _, r := range changes(recs2, "srv.public.s") {
			if op(r) != "r" {
				t.Fatalf("op %s: the snapshot should have been restarted", op(r))
			}
			ids[intOf(after(r), "id")]++
		}
		for id := int64(0); id <= rows; id++ {
			if ids[id] != 1 {
				t.Fatalf("row %d seen %d times in the restarted snapshot", id, ids[id])
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
		e.exec(t, `CREATE TABLE u (id int PRIMARY KEY, p point, ts tsvector)`)
		task := e.open(t, e.config(KeySnapshotMode, "no_data"))
		defer task.Close()
		e.exec(t, `INSERT INTO u VALUES (1, '(1,2)', 'a b')`)
		a := after(changes(collect(t, task, 30*time.Second, countTopic("srv.public.u", 1)), "srv.public.u")[0])
		if a.Get("p") != "(1,2)" || a.Get("ts") != "'a' 'b'" {
			t.Errorf("unknown types: %v", a)
		}
	})
}
