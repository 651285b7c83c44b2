package mysql

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

func TestOpsOffsetsAndMidTransactionResume(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	e.exec(t, "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(10))")
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	topic := "srv." + e.db + ".t"
	e.exec(t, "INSERT INTO t VALUES (1,'a'); UPDATE t SET v='b' WHERE id=1; DELETE FROM t WHERE id=1")
	recs := collect(t, task, time.Minute, func(rs []*connect.Record) bool { return len(rs) >= 4 })
	if got := []string{op(recs[0]), op(recs[1]), op(recs[2])}; strings.Join(got, "") != "cud" {
		t.Fatalf("ops %v", got)
	}
	if recs[3].Value != nil || recs[3].Key == nil {
		t.Fatalf("expected tombstone after delete, got %v", recs[3])
	}
	if b := before(recs[1]); b.Get("v") != "a" || after(recs[1]).Get("v") != "b" {
		t.Fatalf("update images %v %v", b, after(recs[1]))
	}
	if k := recs[0].Key.(*connect.Struct); k.Get("id") != int32(1) || recs[0].KeySchema.Name != topic+".Key" {
		t.Fatalf("key %v %v", k, recs[0].KeySchema)
	}
	if recs[0].SourcePartition["server"] != "srv" {
		t.Fatalf("partition %v", recs[0].SourcePartition)
	}

	// A 5-row transaction: commit the offset of its 3rd row, crash, resume.
	e.exec(t, "BEGIN; INSERT INTO t VALUES (10,'x'),(11,'x'),(12,'x'); INSERT INTO t VALUES (13,'y'),(14,'y'); COMMIT")
	recs = collect(t, task, time.Minute, countTopic(topic, 5))
	cs := changes(recs, topic)
	third := cs[2].SourceOffset
	t.Logf("offset of the 3rd row: %v", third)
	if third["row"] != int64(3) || third["event"] == nil || third["gtids"] == nil {
		t.Fatalf("mid-transaction offset lacks row/event/gtids: %v", third)
	}
	if source(cs[2]).Get("row") != int32(2) || source(cs[3]).Get("row") != int32(0) {
		t.Fatalf("source.row %v %v", source(cs[2]).Get("row"), source(cs[3]).Get("row"))
	}
	if third["pos"] == source(cs[2]).Get("pos") {
		t.Fatalf("offset pos should be the transaction start, not the event: %v", third)
	}
	task.kill()
	for _, mode := range []string{"gtid", "file"} {
		off := map[string]any{}
		for k, v := range third {
			off[k] = v
		}
		if mode == "file" {
			delete(off, "gtids")
		}
		e.offs.store(off)
		task = e.open(t, e.config(KeySnapshotMode, "no_data"))
		recs = collect(t, task, time.Minute, countTopic(topic, 2))
		cs = changes(recs, topic)
		if len(cs) != 2 || after(cs[0]).Get("id") != int32(13) || after(cs[1]).Get("id") != int32(14) {
			t.Fatalf("%s mode resume: want ids 13,14, got %s", mode, summary(recs))
		}
		task.kill()
	}

	// Resume from the last record's offset of a complete transaction:
	// nothing is repeated, new changes follow.
	e.offs.store(cs[1].SourceOffset)
	task = e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	e.exec(t, "INSERT INTO t VALUES (20,'z')")
	recs = collect(t, task, time.Minute, countTopic(topic, 1))
	cs = changes(recs, topic)
	if len(cs) != 1 || after(cs[0]).Get("id") != int32(20) {
		t.Fatalf("want only id 20, got %s", summary(recs))
	}
}

func TestDDLDuringStreaming(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	e.exec(t, "CREATE TABLE t (id INT PRIMARY KEY, a INT, b INT)")
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	topic := "srv." + e.db + ".t"
	e.exec(t, `INSERT INTO t VALUES (1, 1, 1);
		ALTER TABLE t ADD COLUMN c VARCHAR(5) DEFAULT 'n';
		INSERT INTO t VALUES (2, 2, 2, 'c2');
		ALTER TABLE t DROP COLUMN a;
		INSERT INTO t VALUES (3, 3, 'c3');
		ALTER TABLE t CHANGE COLUMN b bb BIGINT;
		INSERT INTO t VALUES (4, 4, 'c4');
		RENAME TABLE t TO t2;
		INSERT INTO t2 VALUES (5, 5, 'c5');`)
	recs := collect(t, task, time.Minute, countTopic("srv."+e.db+".t2", 1))
	cs := changes(recs, topic)
	if len(cs) != 4 {
		t.Fatalf("want 4 events on %s, got %s", topic, summary(recs))
	}
	fields := func(r *connect.Record) string {
		var n []string
		for _, f := range after(r).Schema().Fields {
			n = append(n, f.Name+":"+string(f.Schema.Type))
		}
		return strings.Join(n, ",")
	}
	want := []string{"id:int32,a:int32,b:int32", "id:int32,a:int32,b:int32,c:string", "id:int32,b:int32,c:string", "id:int32,bb:int64,c:string"}
	for i, r := range cs {
		if got := fields(r); got != want[i] {
			t.Errorf("event %d schema %s, want %s", i, got, want[i])
		}
	}
	if after(cs[3]).Get("bb") != int64(4) || after(cs[1]).Get("c") != "c2" {
		t.Errorf("values %v %v", after(cs[3]), after(cs[1]))
	}
	r5 := changes(recs, "srv."+e.db+".t2")[0]
	if fields(r5) != want[3] || source(r5).Get("table") != "t2" {
		t.Errorf("renamed table event %v", r5.Value)
	}
	var ddls []string
	for _, r := range changes(recs, "srv") {
		ddls = append(ddls, r.Value.(*connect.Struct).Get("ddl").(string))
		if r.Key.(*connect.Struct).Get("databaseName") != e.db {
			t.Errorf("schema change key %v", r.Key)
		}
	}
	if len(ddls) != 4 || !strings.HasPrefix(ddls[0], "ALTER TABLE t ADD") || !strings.HasPrefix(ddls[3], "RENAME TABLE") {
		t.Errorf("schema change events: %q", ddls)
	}
}

func TestUnparsableDDLFailsTask(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	e.exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	// MariaDB-only syntax the TiDB parser rejects.
	stmt := "ALTER TABLE t WAIT 5 ADD COLUMN x INT"
	e.exec(t, stmt)
	err := pollErr(t, task, time.Minute)
	if !strings.Contains(err.Error(), stmt) || !strings.Contains(err.Error(), KeySkipUnparseable) {
		t.Fatalf("error should name the statement and the skip option: %v", err)
	}
	task.kill()
	task2 := e.open(t, e.config(KeySnapshotMode, "no_data", KeySkipUnparseable, "true"))
	defer task2.Close()
	e.exec(t, "ALTER TABLE t WAIT 5 ADD COLUMN y INT; INSERT INTO t VALUES (1, 2, 3)")
	recs := collect(t, task2, time.Minute, countTopic("srv."+e.db+".t", 1))
	if a := after(changes(recs, "srv."+e.db+".t")[0]); a.Get("y") != int32(3) {
		t.Fatalf("after skipped DDL the schema comes from the binlog: %v", a)
	}
}

func TestRowImageMustBeFull(t *testing.T) {
	m := testenv.StartMariaDB(t, testenv.WithMariaDBSetting("binlog-row-image", "MINIMAL"))
	e := newEnv(t, m)
	_, err := e.tryOpen(e.config())
	if err == nil || !strings.Contains(err.Error(), "binlog_row_image is MINIMAL; it must be FULL") {
		t.Fatalf("want a binlog_row_image error, got %v", err)
	}
}

func TestServerRestartAndPurge(t *testing.T) {
	m := testenv.StartMariaDB(t)
	e := newEnv(t, m)
	e.exec(t, "CREATE TABLE t (id INT PRIMARY KEY)")
	cfg := e.config(KeySnapshotMode, "no_data")
	task := e.open(t, cfg)
	topic := "srv." + e.db + ".t"
	e.exec(t, "INSERT INTO t VALUES (1)")
	recs := collect(t, task, time.Minute, countTopic(topic, 1))
	m.Restart(t)
	e.exec(t, "INSERT INTO t VALUES (2)")
	recs = append(recs, collect(t, task, 2*time.Minute, countTopic(topic, 1))...)
	m.Kill(t)
	e.exec(t, "INSERT INTO t VALUES (3)")
	recs = append(recs, collect(t, task, 2*time.Minute, countTopic(topic, 1))...)
	cs := changes(recs, topic)
	for i, r := range cs {
		if after(r).Get("id") != int32(i+1) {
			t.Fatalf("across restarts want ids 1,2,3, got %s", summary(cs))
		}
	}
	e.offs.store(cs[len(cs)-1].SourceOffset)
	task.Close()

	// Purge the binlog the offset points into.
	e.exec(t, "INSERT INTO t VALUES (4)")
	m.PurgeBinlogs(t)
	t.Logf("offset %v; binlogs %s", cs[len(cs)-1].SourceOffset, m.Query(t, "SHOW BINARY LOGS"))
	_, err := e.tryOpen(cfg)
	if !errors.Is(err, ErrBinlogPurged) || !strings.Contains(err.Error(), "when_needed") {
		t.Fatalf("want ErrBinlogPurged naming when_needed, got %v", err)
	}
	task = e.open(t, e.config(KeySnapshotMode, "when_needed"))
	defer task.Close()
	recs = collect(t, task, time.Minute, countTopic(topic, 4))
	for _, r := range changes(recs, topic) {
		if op(r) != "r" {
			t.Fatalf("when_needed should re-snapshot: %s", summary(recs))
		}
	}
	e.exec(t, "INSERT INTO t VALUES (5)")
	recs = collect(t, task, time.Minute, countTopic(topic, 1))
	if cs := changes(recs, topic); op(cs[0]) != "c" || after(cs[0]).Get("id") != int32(5) {
		t.Fatalf("streaming after the new snapshot: %s", summary(recs))
	}
}

// TestTruncateEvents: TRUNCATE TABLE emits op t (no key, before or after)
// unless skipped.operations has t (the default, as in Debezium).
func TestTruncateEvents(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	e.exec(t, "CREATE TABLE t (id INT PRIMARY KEY); INSERT INTO t VALUES (1)")
	topic := "srv." + e.db + ".t"
	for _, skip := range []string{"none", "t"} {
		task := e.open(t, e.config(KeySnapshotMode, "no_data", KeySkippedOps, skip))
		e.exec(t, "TRUNCATE TABLE t; INSERT INTO t VALUES (2)")
		recs := collect(t, task, time.Minute, func(rs []*connect.Record) bool {
			for _, r := range changes(rs, topic) {
				if op(r) == "c" {
					return true
				}
			}
			return false
		})
		task.Close()
		var ops []string
		for _, r := range changes(recs, topic) {
			ops = append(ops, op(r))
			if op(r) == "t" && (r.Key != nil || before(r) != nil || after(r) != nil || source(r).Get("table") != "t") {
				t.Errorf("truncate event %v key %v", r.Value, r.Key)
			}
		}
		want := "t,c"
		if skip == "t" {
			want = "c"
		}
		if strings.Join(ops, ",") != want {
			t.Errorf("skipped.operations=%s: ops %v, want %s", skip, ops, want)
		}
	}
}
