package mysql

import (
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestStreamingOptions(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	e.exec(t, "CREATE TABLE t (id INT PRIMARY KEY, code VARCHAR(5), v INT)")
	task := e.open(t, e.config(KeySnapshotMode, "no_data",
		KeySkippedOps, "u", KeyTombstones, "false", KeyMessageKeyColumns, e.db+`\.t:code`,
		KeyTxMetadata, "true", KeyIncludeQuery, "true", KeyHeartbeatInterval, "200", KeyColumnExclude, e.db+`\.t\.v`))
	defer task.Close()
	topic := "srv." + e.db + ".t"
	e.exec(t, "BEGIN; INSERT INTO t VALUES (1,'a',1),(2,'b',2); UPDATE t SET v=3 WHERE id=1; DELETE FROM t WHERE id=2; COMMIT")
	recs := collect(t, task, time.Minute, func(rs []*connect.Record) bool {
		var end, beat bool
		for _, r := range rs {
			if r.Topic == "srv.transaction" && r.Value.(*connect.Struct).Get("status") == "END" {
				end = true
			}
			if r.Topic == "__debezium-heartbeat.srv" {
				beat = true
			}
		}
		return end && beat
	})
	cs := changes(recs, topic)
	var ops []string
	for _, r := range cs {
		ops = append(ops, op(r))
	}
	if strings.Join(ops, "") != "ccd" {
		t.Fatalf("skipped.operations=u and tombstones.on.delete=false: ops %v (%s)", ops, summary(recs))
	}
	for _, r := range recs {
		if r.Topic == topic && r.Value == nil {
			t.Fatalf("tombstone emitted with tombstones.on.delete=false")
		}
	}
	k := cs[0].Key.(*connect.Struct)
	if len(k.Schema().Fields) != 1 || k.Get("code") != "a" {
		t.Fatalf("message.key.columns key %v", k)
	}
	if after(cs[0]).Schema().Field("v") != nil {
		t.Fatalf("column.exclude.list kept v: %v", after(cs[0]))
	}
	if q, _ := source(cs[0]).Get("query").(string); !strings.HasPrefix(q, "INSERT INTO t VALUES") {
		t.Fatalf("include.query: source.query = %q", q)
	}
	tx := env0(cs[2]).Get("transaction").(*connect.Struct)
	if tx.Get("total_order") != int64(3) || tx.Get("data_collection_order") != int64(3) || !strings.HasPrefix(tx.Get("id").(string), "0-1-") {
		t.Fatalf("transaction block %v", tx)
	}
	var begin, end *connect.Struct
	for _, r := range recs {
		if r.Topic == "srv.transaction" {
			v := r.Value.(*connect.Struct)
			if v.Get("status") == "BEGIN" {
				begin = v
			} else {
				end = v
			}
		}
	}
	if begin == nil || end == nil || end.Get("event_count") != int64(3) || begin.Get("id") != end.Get("id") {
		t.Fatalf("transaction BEGIN/END %v %v", begin, end)
	}
}

func TestSnapshotModesAndProgress(t *testing.T) {
	m := sharedServer(t)
	e := newEnv(t, m)
	e.exec(t, "CREATE TABLE a (id BIGINT PRIMARY KEY, v TEXT); CREATE TABLE b (k VARCHAR(10) PRIMARY KEY); CREATE TABLE nokey (x INT)")
	e.exec(t, "INSERT INTO a SELECT seq, CONCAT('v', seq) FROM seq_1_to_2500; INSERT INTO b VALUES ('x'),('y'); INSERT INTO nokey VALUES (1),(1)")
	task := e.open(t, e.config(KeySnapshotChunkRows, "300", KeySnapshotThreads, "3", KeyMaxBatchSize, "100"))
	recs := collect(t, task, time.Minute, func(rs []*connect.Record) bool {
		return len(changes(rs, "srv."+e.db+".a")) >= 2500 && len(changes(rs, "srv."+e.db+".b")) >= 2 && len(changes(rs, "srv."+e.db+".nokey")) >= 2
	})
	seen := map[int64]bool{}
	for _, r := range changes(recs, "srv."+e.db+".a") {
		seen[after(r).Get("id").(int64)] = true
	}
	if len(seen) != 2500 || len(recs) != 2504 {
		t.Fatalf("%d distinct ids of a, %d records", len(seen), len(recs))
	}
	if recs[len(recs)-1].SourceOffset["snapshot"] != nil || recs[0].SourceOffset["snapshot"] != snapshotInitial {
		t.Fatalf("snapshot offsets: first %v last %v", recs[0].SourceOffset, recs[len(recs)-1].SourceOffset)
	}
	if source(recs[0]).Get("snapshot") != "first" || source(recs[len(recs)-1]).Get("snapshot") != "last" {
		t.Fatalf("snapshot markers")
	}
	if nk := changes(recs, "srv."+e.db+".nokey")[0]; nk.Key != nil || nk.KeySchema != nil {
		t.Fatalf("keyless table must have a null key: %v", nk.Key)
	}
	p := task.SnapshotProgress()
	if !p.Completed || p.Running || p.TablesDone != 3 || p.Rows != 2504 || p.Tables[0].Chunks < 8 {
		t.Fatalf("progress %+v", p)
	}
	var rows float64
	for _, mt := range task.Metrics() {
		if mt.Name == "sluice_mysql_snapshot_rows" {
			rows = mt.Value
		}
	}
	if rows != 2504 {
		t.Fatalf("sluice_mysql_snapshot_rows = %v", rows)
	}
	e.offs.store(recs[len(recs)-1].SourceOffset)
	task.Close()
	// initial: the completed snapshot is not repeated; streaming resumes.
	task = e.open(t, e.config())
	e.exec(t, "INSERT INTO b VALUES ('z')")
	got := collect(t, task, time.Minute, countTopic("srv."+e.db+".b", 1))
	if len(got) != 1 || op(got[0]) != "c" || !task.SnapshotProgress().Skipped {
		t.Fatalf("after a completed snapshot: %s", summary(got))
	}
	task.Close()
	// initial_only with a completed snapshot does nothing.
	task = e.open(t, e.config(KeySnapshotMode, "initial_only"))
	task.Close()
	// locking none on MariaDB reads the lock-free consistent position.
	e2 := newEnv(t, m)
	e2.exec(t, "CREATE TABLE c (id INT PRIMARY KEY); INSERT INTO c VALUES (1)")
	task = e2.open(t, e2.config(KeySnapshotLocking, "none"))
	defer task.Close()
	got = collect(t, task, time.Minute, countTopic("srv."+e2.db+".c", 1))
	e2.exec(t, "INSERT INTO c VALUES (2)")
	got = append(got, collect(t, task, time.Minute, countTopic("srv."+e2.db+".c", 1))...)
	if len(got) != 2 || op(got[0]) != "r" || op(got[1]) != "c" {
		t.Fatalf("snapshot.locking.mode=none: %s", summary(got))
	}
}

func TestHandlingModes(t *testing.T) {
	m := sharedServer(t)
	for _, tc := range []struct {
		cfg  []string
		want map[string]any
	}{
		{[]string{KeyBigintUnsigned, "long", KeyDecimalMode, "string", KeyBinaryMode, "base64", KeyTimePrecision, "adaptive"},
			map[string]any{"biu": int64(-1), "dc": "1.50", "b": "AQL/", "tm": int32(3723004), "dtm": int64(1529476623123)}},
		{[]string{KeyDecimalMode, "double", KeyBinaryMode, "hex", KeyTimePrecision, "adaptive_time_microseconds"},
			map[string]any{"biu": int64(-1), "dc": 1.5, "b": "0102ff", "tm": int64(3723004000), "dtm": int64(1529476623123)}},
		{[]string{KeyBinaryMode, "base64-url-safe", KeyTimePrecision, "connect"},
			map[string]any{"b": "AQL_", "tm": time.UnixMilli(3723004).UTC(), "dtm": time.UnixMilli(1529476623123).UTC()}},
	} {
		e := newEnv(t, m)
		e.exec(t, "CREATE TABLE h (id INT PRIMARY KEY, biu BIGINT UNSIGNED, dc DECIMAL(5,2), b VARBINARY(4), tm TIME(3), dtm DATETIME(3))")
		e.exec(t, "INSERT INTO h VALUES (1, 18446744073709551615, 1.5, X'0102ff', '01:02:03.004', '2018-06-20 06:37:03.123')")
		task := e.open(t, e.config(tc.cfg...))
		topic := "srv." + e.db + ".h"
		recs := collect(t, task, time.Minute, countTopic(topic, 1))
		e.exec(t, "INSERT INTO h VALUES (2, 18446744073709551615, 1.5, X'0102ff', '01:02:03.004', '2018-06-20 06:37:03.123')")
		recs = append(recs, collect(t, task, time.Minute, countTopic(topic, 1))...)
		task.Close()
		for _, r := range changes(recs, topic) {
			for col, want := range tc.want {
				if got := after(r).Get(col); got != want {
					if tw, ok := want.(time.Time); ok {
						if gt, ok := got.(time.Time); ok && gt.Equal(tw) {
							continue
						}
					}
					t.Errorf("%v op %s %s = %#v, want %#v", tc.cfg, op(r), col, got, want)
				}
			}
		}
	}
}
