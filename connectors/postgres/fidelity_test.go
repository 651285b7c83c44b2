package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// TestFidelity checks, against a real PostgreSQL 15, the event details in
// which the connector must match Debezium 2.7 (issue #18).
func TestFidelity(t *testing.T) {
	pg := testenv.StartPostgres(t)
	t.Run("PrimaryKeyUpdateHeaders", func(t *testing.T) { testPKUpdateHeaders(t, pg) })
	t.Run("SnapshotLastWithEmptyTrailingTables", func(t *testing.T) { testSnapshotLastEmptyTail(t, pg) })
	t.Run("KeylessDeleteTombstone", func(t *testing.T) { testKeylessTombstone(t, pg) })
	t.Run("DeleteBeforeUsesDefaults", func(t *testing.T) { testDeleteBeforeDefaults(t, pg) })
	t.Run("FunctionDefaults", func(t *testing.T) { testFunctionDefaults(t, pg) })
	t.Run("EdgeValues", func(t *testing.T) { testEdgeValues(t, pg) })
	t.Run("SnapshotTxID", func(t *testing.T) { testSnapshotTxID(t, pg) })
	t.Run("FailureHandlingMode", func(t *testing.T) { testFailureModes(t, pg) })
}

func testPKUpdateHeaders(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE pk (id int PRIMARY KEY, v text)`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	e.exec(t, `INSERT INTO pk VALUES (1, 'a'); UPDATE pk SET id = 2 WHERE id = 1`)
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.pk", 4)), "srv.public.pk")
	if op(recs[1]) != "d" || op(recs[2]) != "tombstone" || op(recs[3]) != "c" {
		t.Fatalf("records %s, want c d tombstone c", summary(recs))
	}
	if h := recs[1].Header(HeaderNewKey); h == nil || h.Value != `{"id":2}` {
		t.Errorf("delete header %s = %+v, want {\"id\":2}", HeaderNewKey, h)
	}
	if h := recs[3].Header(HeaderOldKey); h == nil || h.Value != `{"id":1}` {
		t.Errorf("create header %s = %+v, want {\"id\":1}", HeaderOldKey, h)
	}
	if recs[0].Header(HeaderOldKey) != nil || recs[0].Header(HeaderNewKey) != nil {
		t.Errorf("plain insert carries a key header: %+v", recs[0].Headers)
	}
}

func testSnapshotLastEmptyTail(t *testing.T, pg *testenv.Postgres) {
	// Tables snapshot in name order: a1 has rows, z1 and z2 are empty.
	for _, threads := range []string{"1", "3"} {
		e2 := newEnv(t, pg)
		e2.exec(t, `CREATE TABLE a1 (id int PRIMARY KEY); INSERT INTO a1 SELECT generate_series(1, 5);
			CREATE TABLE z1 (id int PRIMARY KEY); CREATE TABLE z2 (id int PRIMARY KEY)`)
		task := e2.open(t, e2.config(KeySnapshotThreads, threads))
		recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.a1", 5)), "srv.public.a1")
		task.Close()
		marks := make([]string, len(recs))
		for i, r := range recs {
			marks[i] = fmt.Sprint(source(r).Get("snapshot"))
		}
		last := recs[len(recs)-1]
		if marks[0] != snapFirst || marks[len(marks)-1] != snapLast {
			t.Errorf("threads=%s: snapshot marks %v, want first ... last", threads, marks)
		}
		if b, _ := last.SourceOffset[offLastSnap].(bool); !b {
			t.Errorf("threads=%s: last record's offset %v lacks last_snapshot_record=true", threads, last.SourceOffset)
		}
	}
}

func testKeylessTombstone(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE nk (v text); ALTER TABLE nk REPLICA IDENTITY FULL`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	e.exec(t, `INSERT INTO nk VALUES ('x'); DELETE FROM nk`)
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.nk", 3)), "srv.public.nk")
	if op(recs[1]) != "d" || op(recs[2]) != "tombstone" {
		t.Fatalf("records %s, want c d tombstone", summary(recs))
	}
	if recs[2].Key != nil || recs[2].KeySchema != nil {
		t.Errorf("tombstone key %v, want null", recs[2].Key)
	}
}

func testDeleteBeforeDefaults(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE dd (id int PRIMARY KEY, n int NOT NULL DEFAULT 42, s text NOT NULL DEFAULT 'dflt', z int NOT NULL)`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	e.exec(t, `INSERT INTO dd VALUES (1, 7, 'x', 9); DELETE FROM dd WHERE id = 1`)
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.dd", 2)), "srv.public.dd")
	b := before(recs[1])
	if op(recs[1]) != "d" || b == nil {
		t.Fatalf("records %s", summary(recs))
	}
	if b.Get("id") != int32(1) || b.Get("n") != int32(42) || b.Get("s") != "dflt" || b.Get("z") != int32(0) {
		t.Errorf("delete before %v, want id=1 n=42 (default) s=dflt (default) z=0 (no default)", b)
	}
}

func testFunctionDefaults(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE fd (id serial PRIMARY KEY, big bigserial, ts timestamp DEFAULT now(), tz timestamptz DEFAULT CURRENT_TIMESTAMP,
		d date DEFAULT CURRENT_DATE, c int DEFAULT 5)`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	e.exec(t, `INSERT INTO fd DEFAULT VALUES`)
	r := changes(collect(t, task, 30*time.Second, countTopic("srv.public.fd", 1)), "srv.public.fd")[0]
	v := r.ValueSchema.Field("after").Schema
	want := map[string]any{"id": int32(0), "big": int64(0), "ts": int64(0), "tz": "1970-01-01T00:00:00.000000Z", "d": int32(0), "c": int32(5)}
	for col, w := range want {
		if d := v.Field(col).Schema.Default; fmt.Sprintf("%#v", d) != fmt.Sprintf("%#v", w) {
			t.Errorf("default of %s = %#v, want %#v", col, d, w)
		}
	}
}

func testEdgeValues(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE EXTENSION IF NOT EXISTS ltree;
		CREATE TABLE ev (id int PRIMARY KEY, nv numeric, neg numeric(2,-3), tz timestamptz, tz3 timestamptz(3),
		ts timestamp, tsn timestamp, ts3 timestamp(3), d date, dn date,
		b1 bit(1), b10 bit(10), vb varbit(8), p point, lt ltree, circ circle)`)
	ins := `INSERT INTO ev VALUES (%d, 3.14159000, 12000, '2024-01-02 13:45:30+00', '2024-01-02 13:45:30.5+00',
		'infinity', '-infinity', 'infinity', 'infinity', '-infinity',
		B'1', B'1000000001', B'101', '(1.5,-2)', 'a.b.c', '<(1,2),3>')`
	e.exec(t, fmt.Sprintf(ins, 1))
	task := e.open(t, e.config())
	defer task.Close()
	e.exec(t, fmt.Sprintf(ins, 2))
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.ev", 2)), "srv.public.ev")
	for _, r := range recs {
		a := after(r)
		name := op(r)
		if err := connect.Validate(r.ValueSchema, r.Value); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		vs := a.Get("nv").(*connect.Struct)
		if vs.Get("scale") != int32(5) || !bytes.Equal(vs.Get("value").([]byte), connect.Decimal{Unscaled: mustDecimal(t, "314159").Unscaled}.UnscaledBytes()) {
			t.Errorf("%s: nv = %v, want scale 5 value 314159", name, vs)
		}
		negSchema := a.Schema().Field("neg").Schema
		if sc, _ := connect.DecimalScale(negSchema); sc != -3 || negSchema.Parameters["connect.decimal.precision"] != "2" {
			t.Errorf("%s: neg schema params %v, want scale -3 precision 2", name, negSchema.Parameters)
		}
		if d, ok := a.Get("neg").(connect.Decimal); !ok || d.Scale != -3 || d.Unscaled.Int64() != 12 {
			t.Errorf("%s: neg = %#v, want 12 at scale -3", name, a.Get("neg"))
		}
		if a.Get("tz") != "2024-01-02T13:45:30.000000Z" || a.Get("tz3") != "2024-01-02T13:45:30.500Z" {
			t.Errorf("%s: tz %v tz3 %v", name, a.Get("tz"), a.Get("tz3"))
		}
		if a.Get("ts") != InfinityMicros || a.Get("tsn") != NegInfinityMicros || a.Get("ts3") != InfinityMicros/1000 {
			t.Errorf("%s: timestamps %v %v %v", name, a.Get("ts"), a.Get("tsn"), a.Get("ts3"))
		}
		if a.Get("d") != InfinityDays || a.Get("dn") != NegInfinityDays {
			t.Errorf("%s: dates %v %v", name, a.Get("d"), a.Get("dn"))
		}
		if a.Get("b1") != true {
			t.Errorf("%s: bit(1) = %#v, want true", name, a.Get("b1"))
		}
		b10 := a.Schema().Field("b10").Schema
		if b10.Name != nameBits || b10.Parameters["length"] != "10" || !bytes.Equal(a.Get("b10").([]byte), []byte{1, 2}) {
			t.Errorf("%s: bit(10) = %v schema %s %v", name, a.Get("b10"), b10.Name, b10.Parameters)
		}
		if vb := a.Schema().Field("vb").Schema; vb.Parameters["length"] != "8" || !bytes.Equal(a.Get("vb").([]byte), []byte{5}) {
			t.Errorf("%s: varbit = %v params %v", name, a.Get("vb"), vb.Parameters)
		}
		p, _ := a.Get("p").(*connect.Struct)
		if p == nil || p.Schema().Name != namePoint || p.Get("x") != 1.5 || p.Get("y") != -2.0 || len(p.Get("wkb").([]byte)) != 21 || p.Get("srid") != nil {
			t.Errorf("%s: point = %v", name, p)
		}
		if lt := a.Schema().Field("lt").Schema; lt.Name != nameLtree || a.Get("lt") != "a.b.c" {
			t.Errorf("%s: ltree %v (%s)", name, a.Get("lt"), lt.Name)
		}
		if a.Get("circ") != "<(1,2),3>" {
			t.Errorf("%s: circle %v, want its text form (documented)", name, a.Get("circ"))
		}
	}
}

func testSnapshotTxID(t *testing.T, pg *testenv.Postgres) {
	e2 := newEnv(t, pg)
	e2.exec(t, `CREATE TABLE st (id int PRIMARY KEY); INSERT INTO st VALUES (1)`)
	task2 := e2.open(t, e2.config())
	defer task2.Close()
	snap := changes(collect(t, task2, 30*time.Second, countTopic("srv.public.st", 1)), "srv.public.st")
	e2.exec(t, `INSERT INTO st VALUES (2)`)
	stream := changes(collect(t, task2, 30*time.Second, countTopic("srv.public.st", 1)), "srv.public.st")
	sx, _ := source(snap[0]).Get("txId").(int64)
	cx, _ := source(stream[0]).Get("txId").(int64)
	if sx <= 0 || cx <= 0 || sx >= cx {
		t.Errorf("snapshot txId %d, streamed txId %d: want the snapshot transaction's own id, below the later transaction's", sx, cx)
	}
	if snap[0].SourceOffset[offTxID] != sx {
		t.Errorf("snapshot offset txId %v, want %d", snap[0].SourceOffset[offTxID], sx)
	}
}

func testFailureModes(t *testing.T, pg *testenv.Postgres) {
	// A two-dimensional array in an int[] column cannot be encoded as the
	// column's ARRAY<int32> schema.
	setup := func(e *env) {
		e.exec(t, `CREATE TABLE fm (id int PRIMARY KEY, a int[])`)
	}
	const bad = `INSERT INTO fm VALUES (1, '{{1,2},{3,4}}'), (2, '{5}')`
	t.Run("fail", func(t *testing.T) {
		e := newEnv(t, pg)
		setup(e)
		task := e.open(t, e.config(KeySnapshotMode, "no_data"))
		defer task.Close()
		e.exec(t, bad)
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			recs, err := task.Poll(ctx)
			cancel()
			if err != nil {
				var ve *ValueError
				if !errors.As(err, &ve) && !strings.Contains(err.Error(), "cannot encode") {
					t.Fatalf("error %v is not a value error", err)
				}
				for _, want := range []string{"public.fm", "column a", "id=1", "multi-dimensional"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not name %q", err, want)
					}
				}
				return
			}
			if len(changes(recs, "srv.public.fm")) > 0 {
				t.Fatalf("records emitted under fail: %s", summary(recs))
			}
			if time.Now().After(deadline) {
				t.Fatal("task did not fail")
			}
		}
	})
	t.Run("warn", func(t *testing.T) {
		e := newEnv(t, pg)
		setup(e)
		task := e.open(t, e.config(KeySnapshotMode, "no_data", KeyFailureHandling, "warn"))
		defer task.Close()
		e.exec(t, bad)
		recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.fm", 2)), "srv.public.fm")
		if after(recs[0]).Get("a") != nil || fmt.Sprint(after(recs[1]).Get("a")) != "[5]" {
			t.Errorf("warn: %v / %v", after(recs[0]), after(recs[1]))
		}
	})
	t.Run("skip", func(t *testing.T) {
		e := newEnv(t, pg)
		setup(e)
		task := e.open(t, e.config(KeySnapshotMode, "no_data", KeyFailureHandling, "skip"))
		defer task.Close()
		e.exec(t, bad)
		e.exec(t, `INSERT INTO fm VALUES (3, '{6}')`)
		recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.fm", 2)), "srv.public.fm")
		if len(recs) != 2 || intOf(after(recs[0]), "id") != 2 || intOf(after(recs[1]), "id") != 3 {
			t.Errorf("skip: %s", summary(recs))
		}
	})
	t.Run("snapshot fail", func(t *testing.T) {
		e := newEnv(t, pg)
		setup(e)
		e.exec(t, bad)
		task := e.open(t, e.config())
		defer task.Close()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			_, err := task.Poll(ctx)
			cancel()
			if err != nil {
				if !strings.Contains(err.Error(), "public.fm") || !strings.Contains(err.Error(), "id=1") {
					t.Errorf("snapshot error %q does not name table and key", err)
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatal("snapshot did not fail")
			}
		}
	})
}
