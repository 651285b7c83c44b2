package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
)

// TestIntegration runs the real-server tests against one PostgreSQL 15,
// each subtest in its own database with its own slot.
func TestIntegration(t *testing.T) {
	pg := testenv.StartPostgres(t)
	t.Run("Operations", func(t *testing.T) { testOperations(t, pg) })
	t.Run("Types", func(t *testing.T) { testTypes(t, pg) })
	t.Run("TimeConnectMode", func(t *testing.T) { testTimeConnectMode(t, pg) })
	t.Run("SnapshotParallelConsistent", func(t *testing.T) { testSnapshotConsistent(t, pg) })
	t.Run("RestartFromCommittedOffset", func(t *testing.T) { testRestart(t, pg, false) })
	t.Run("WorkerKill", func(t *testing.T) { testRestart(t, pg, true) })
	t.Run("SlotAdvancesOnlyOnCommit", func(t *testing.T) { testSlotFlush(t, pg) })
	t.Run("Toast", func(t *testing.T) { testToast(t, pg) })
	t.Run("HeartbeatAndTxMetadata", func(t *testing.T) { testHeartbeat(t, pg) })
	t.Run("LargeTransaction", func(t *testing.T) { testLargeTx(t, pg) })
	t.Run("Filters", func(t *testing.T) { testFilters(t, pg) })
	t.Run("SchemaChange", func(t *testing.T) { testSchemaChange(t, pg) })
	t.Run("Defaults", func(t *testing.T) { testDefaults(t, pg) })
	t.Run("PostgresRestart", func(t *testing.T) { testPostgresRestart(t, pg, false) })
	t.Run("PostgresCrash", func(t *testing.T) { testPostgresRestart(t, pg, true) })
}

func testOperations(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE public.items (id int PRIMARY KEY, name text NOT NULL, qty int)`)
	e.exec(t, `CREATE TABLE public.nokey (v text)`)
	task := e.open(t, e.config(KeySkippedOps, "none", KeySnapshotMode, "no_data"))
	defer task.Close()
	e.exec(t, `INSERT INTO items VALUES (1, 'a', 10)`)
	e.exec(t, `UPDATE items SET qty = 11 WHERE id = 1`)
	e.exec(t, `UPDATE items SET id = 2 WHERE id = 1`)
	e.exec(t, `DELETE FROM items WHERE id = 2`)
	e.exec(t, `INSERT INTO nokey VALUES ('x')`)
	e.exec(t, `INSERT INTO items VALUES (3, 'c', NULL)`)
	e.exec(t, `TRUNCATE items`)
	const topic = "srv.public.items"
	recs := collect(t, task, 30*time.Second, func(rs []*connect.Record) bool {
		return len(changes(rs, topic)) >= 9 && len(changes(rs, "srv.public.nokey")) >= 1
	})
	got := changes(recs, topic)
	type want struct {
		op        string
		key       int64 // -1: no key
		beforeID  int64 // -1: no before
		afterID   int64 // -1: no after
		afterQty  any
		tombstone bool
	}
	wants := []want{
		{op: "c", key: 1, beforeID: -1, afterID: 1, afterQty: int32(10)},
		{op: "u", key: 1, beforeID: -1, afterID: 1, afterQty: int32(11)},
		{op: "d", key: 1, beforeID: 1, afterID: -1},
		{tombstone: true, key: 1},
		{op: "c", key: 2, beforeID: -1, afterID: 2, afterQty: int32(11)},
		{op: "d", key: 2, beforeID: 2, afterID: -1},
		{tombstone: true, key: 2},
		{op: "c", key: 3, beforeID: -1, afterID: 3, afterQty: nil},
		{op: "t", key: -1, beforeID: -1, afterID: -1},
	}
	if len(got) != len(wants) {
		t.Fatalf("got %d records, want %d: %s", len(got), len(wants), summary(got))
	}
	for i, w := range wants {
		r := got[i]
		name := fmt.Sprintf("record %d (%s)", i, summary(got[i:i+1]))
		if w.tombstone {
			if r.Value != nil || r.ValueSchema != nil {
				t.Errorf("%s: want tombstone", name)
			}
		} else if op(r) != w.op {
			t.Errorf("%s: op %q, want %q", name, op(r), w.op)
		}
		if w.key >= 0 {
			k, ok := r.Key.(*connect.Struct)
			if !ok || intOf(k, "id") != w.key {
				t.Errorf("%s: key %v, want id=%d", name, r.Key, w.key)
			} else if r.KeySchema.Name != "srv.public.items.Key" {
				t.Errorf("%s: key schema %q", name, r.KeySchema.Name)
			}
		} else if r.Key != nil {
			t.Errorf("%s: unexpected key %v", name, r.Key)
		}
		if w.tombstone {
			continue
		}
		if b := before(r); (b == nil) != (w.beforeID < 0) || b != nil && intOf(b, "id") != w.beforeID {
			t.Errorf("%s: before %v, want id %d", name, b, w.beforeID)
		}
		a := after(r)
		if (a == nil) != (w.afterID < 0) || a != nil && intOf(a, "id") != w.afterID {
			t.Errorf("%s: after %v, want id %d", name, a, w.afterID)
		}
		if a != nil && a.Get("qty") != w.afterQty {
			t.Errorf("%s: qty %v (%T), want %v", name, a.Get("qty"), a.Get("qty"), w.afterQty)
		}
		if w.op == "d" && before(r).Get("name") != "" {
			t.Errorf("%s: absent NOT NULL column in before: %v, want the fallback \"\"", name, before(r).Get("name"))
		}
		if err := connect.Validate(r.ValueSchema, r.Value); err != nil {
			t.Errorf("%s: value does not validate: %v", name, err)
		}
		src := source(r)
		if src.Get("connector") != "postgresql" || src.Get("name") != "srv" || src.Get("db") != e.db ||
			src.Get("schema") != "public" || src.Get("table") != "items" || src.Get("snapshot") != "false" {
			t.Errorf("%s: source %v", name, src)
		}
		if lsn, _ := src.Get("lsn").(int64); lsn <= 0 {
			t.Errorf("%s: source.lsn %v", name, src.Get("lsn"))
		}
		if seq, _ := src.Get("sequence").(string); !strings.HasPrefix(seq, "[") || !strings.Contains(seq, fmt.Sprint(src.Get("lsn"))) {
			t.Errorf("%s: source.sequence %q", name, seq)
		}
		if _, ok := src.Get("txId").(int64); !ok {
			t.Errorf("%s: source.txId %v", name, src.Get("txId"))
		}
		if r.SourcePartition["server"] != "srv" || r.SourceOffset[offLSN] == nil || r.SourceOffset[offTxID] == nil {
			t.Errorf("%s: partition/offset %v %v", name, r.SourcePartition, r.SourceOffset)
		}
	}
	env := got[0].ValueSchema
	if env.Name != "srv.public.items.Envelope" {
		t.Errorf("envelope name %q", env.Name)
	}
	var fields []string
	for _, f := range env.Fields {
		fields = append(fields, f.Name)
	}
	if strings.Join(fields, ",") != "before,after,source,transaction,op,ts_ms,ts_us,ts_ns" {
		t.Errorf("envelope fields %v", fields)
	}
	if env.Field("before").Schema.Name != "srv.public.items.Value" || !env.Field("before").Schema.Optional {
		t.Errorf("before schema %v", env.Field("before").Schema)
	}
	if env.Field("source").Schema.Name != "io.debezium.connector.postgresql.Source" {
		t.Errorf("source schema %v", env.Field("source").Schema)
	}
	v := env.Field("after").Schema
	if v.Field("name").Schema.Optional || !v.Field("qty").Schema.Optional {
		t.Errorf("optionality from NOT NULL wrong: %v", v.Fields)
	}
	nk := changes(recs, "srv.public.nokey")
	if nk[0].Key != nil || nk[0].KeySchema != nil || op(nk[0]) != "c" {
		t.Errorf("keyless table record: key %v op %s", nk[0].Key, op(nk[0]))
	}
}

func testTypes(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
		CREATE DOMAIN posint AS int CHECK (VALUE > 0);
		CREATE TABLE public.types (
		id int PRIMARY KEY, s smallint, i integer, b bigint, r real, d double precision, bo boolean NOT NULL,
		n numeric(10,2), nv numeric, t text, vc varchar(20), c char(3), by bytea, j json, jb jsonb, u uuid,
		dt date, tm time, tm3 time(3), ts timestamp, ts3 timestamp(3), tz timestamptz, ttz timetz, iv interval,
		ai int[], at text[], e mood, dom posint, inet_c inet, m money, x xml, nn numeric(5,0))`)
	ins := `INSERT INTO types VALUES (%d, -12, 123456, 9007199254740993, 1.5, -2.25, true,
		12345.67, 3.14159, 'héllo', 'vc', 'ab', '\x00ff10', '{"a": 1}', '{"b": [1, 2]}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
		'2024-01-02', '03:04:05.123456', '03:04:05.123', '2024-01-02 03:04:05.123456', '2024-01-02 03:04:05.123',
		'2024-01-02 03:04:05.123456+02', '03:04:05.5+02', '1 year 2 mons 3 days 04:05:06.5',
		'{1,NULL,3}', '{"a b","c,d",NULL}', 'happy', 7, '10.0.0.1/32', 12.34, '<a>1</a>', -42)`
	e.exec(t, fmt.Sprintf(ins, 1)) // read by the snapshot
	task := e.open(t, e.config())
	defer task.Close()
	e.exec(t, fmt.Sprintf(ins, 2)) // streamed
	recs := collect(t, task, 30*time.Second, countTopic("srv.public.types", 2))
	recs = changes(recs, "srv.public.types")
	if op(recs[0]) != "r" || op(recs[1]) != "c" {
		t.Fatalf("ops %s %s, want r c", op(recs[0]), op(recs[1]))
	}
	dec := func(s string, scale int32) connect.Decimal {
		d, err := connect.ParseDecimal(s)
		if err != nil {
			t.Fatal(err)
		}
		return rescale(d, scale)
	}
	day := int32(time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC).Unix() / 86400)
	tsMicros := time.Date(2024, 1, 2, 3, 4, 5, 123456000, time.UTC).UnixMicro()
	cases := []struct {
		col      string
		typ      connect.Type
		name     string
		want     any
		params   map[string]string
		optional bool
	}{
		{"s", connect.Int16, "", int16(-12), nil, true},
		{"i", connect.Int32, "", int32(123456), nil, true},
		{"b", connect.Int64, "", int64(9007199254740993), nil, true},
		{"r", connect.Float32, "", float32(1.5), nil, true},
		{"d", connect.Float64, "", -2.25, nil, true},
		{"bo", connect.Boolean, "", true, nil, false},
		{"n", connect.Bytes, connect.DecimalName, dec("12345.67", 2), map[string]string{"scale": "2", "connect.decimal.precision": "10"}, true},
		{"nn", connect.Bytes, connect.DecimalName, dec("-42", 0), map[string]string{"scale": "0", "connect.decimal.precision": "5"}, true},
		{"nv", connect.StructT, nameVarScaleDecimal, "scale=5 value=314159", nil, true},
		{"t", connect.String, "", "héllo", nil, true},
		{"vc", connect.String, "", "vc", nil, true},
		{"c", connect.String, "", "ab ", nil, true},
		{"by", connect.Bytes, "", []byte{0, 0xff, 0x10}, nil, true},
		{"j", connect.String, nameJSON, `{"a": 1}`, nil, true},
		{"jb", connect.String, nameJSON, `{"b": [1, 2]}`, nil, true},
		{"u", connect.String, nameUUID, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", nil, true},
		{"dt", connect.Int32, nameDate, day, nil, true},
		{"tm", connect.Int64, nameMicroTime, int64((3*3600+4*60+5)*1_000_000 + 123456), nil, true},
		{"tm3", connect.Int32, nameTime, int32((3*3600+4*60+5)*1000 + 123), nil, true},
		{"ts", connect.Int64, nameMicroTimestamp, tsMicros, nil, true},
		{"ts3", connect.Int64, nameTimestamp, tsMicros / 1000, nil, true},
		{"tz", connect.String, nameZonedTimestamp, "2024-01-02T01:04:05.123456Z", nil, true},
		{"ttz", connect.String, nameZonedTime, "01:04:05.5Z", nil, true},
		{"iv", connect.Int64, nameMicroDuration, int64(float64(14)*daysPerMonth*86400e6) + 3*86400e6 + (4*3600+5*60+6)*1e6 + 5e5, nil, true},
		{"ai", connect.Array, "", []any{int32(1), nil, int32(3)}, nil, true},
		{"at", connect.Array, "", []any{"a b", "c,d", nil}, nil, true},
		{"e", connect.String, nameEnum, "happy", map[string]string{"allowed": "sad,ok,happy"}, true},
		{"dom", connect.Int32, "", int32(7), nil, true},
		{"inet_c", connect.String, "", "10.0.0.1", nil, true},
		{"m", connect.Bytes, connect.DecimalName, dec("12.34", 2), map[string]string{"scale": "2"}, true},
		{"x", connect.String, nameXML, "<a>1</a>", nil, true},
	}
	for _, r := range recs {
		a := after(r)
		for _, c := range cases {
			f := a.Schema().Field(c.col)
			if f == nil {
				t.Errorf("%s: no field %s", op(r), c.col)
				continue
			}
			s := f.Schema
			if s.Type != c.typ || s.Name != c.name || s.Optional != c.optional {
				t.Errorf("%s %s: schema %s %q optional=%v, want %s %q optional=%v", op(r), c.col, s.Type, s.Name, s.Optional, c.typ, c.name, c.optional)
			}
			for k, v := range c.params {
				if s.Parameters[k] != v {
					t.Errorf("%s %s: param %s=%q, want %q", op(r), c.col, k, s.Parameters[k], v)
				}
			}
			got := a.Get(c.col)
			if !equalValue(got, c.want) {
				t.Errorf("%s %s: value %v (%T), want %v (%T)", op(r), c.col, got, got, c.want, c.want)
			}
		}
		if err := connect.Validate(r.ValueSchema, r.Value); err != nil {
			t.Errorf("%s: %v", op(r), err)
		}
	}
	if src := source(recs[0]); src.Get("snapshot") != "last" {
		t.Errorf("only snapshot record should be marked last, got %v", src.Get("snapshot"))
	}
}

func equalValue(got, want any) bool {
	switch w := want.(type) {
	case connect.Decimal:
		g, ok := got.(connect.Decimal)
		return ok && g.Scale == w.Scale && g.Unscaled.Cmp(w.Unscaled) == 0
	case []byte:
		g, ok := got.([]byte)
		return ok && bytes.Equal(g, w)
	case string:
		if st, ok := got.(*connect.Struct); ok { // VariableScaleDecimal
			d := connect.DecimalFromBytes(st.Get("value").([]byte), st.Get("scale").(int32))
			return fmt.Sprintf("scale=%d value=%s", d.Scale, d.Unscaled) == w
		}
	}
	return fmt.Sprintf("%#v", got) == fmt.Sprintf("%#v", want)
}

func testTimeConnectMode(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE tc (id int PRIMARY KEY, dt date, tm time, ts timestamp, n numeric(6,2), by bytea, iv interval)`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data", KeyTimePrecision, "connect", KeyDecimalMode, "string", KeyBinaryMode, "base64", KeyIntervalMode, "string"))
	defer task.Close()
	e.exec(t, `INSERT INTO tc VALUES (1, '2024-01-02', '03:04:05.678', '2024-01-02 03:04:05.678', 12.5, '\x0102', '1 day 02:00:00')`)
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.tc", 1)), "srv.public.tc")
	a := after(recs[0])
	checks := []struct {
		col, name string
		want      any
	}{
		{"dt", connect.DateName, time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)},
		{"tm", connect.TimeName, time.Date(1970, 1, 1, 3, 4, 5, 678000000, time.UTC)},
		{"ts", connect.TimestampName, time.Date(2024, 1, 2, 3, 4, 5, 678000000, time.UTC)},
		{"n", "", "12.50"},
		{"by", "", "AQI="},
		{"iv", nameInterval, "P0Y0M1DT2H0M0S"},
	}
	for _, c := range checks {
		if s := a.Schema().Field(c.col).Schema; s.Name != c.name {
			t.Errorf("%s: schema name %q, want %q", c.col, s.Name, c.name)
		}
		got := a.Get(c.col)
		if tm, ok := c.want.(time.Time); ok {
			if g, ok := got.(time.Time); !ok || !g.Equal(tm) {
				t.Errorf("%s: %v, want %v", c.col, got, tm)
			}
		} else if got != c.want {
			t.Errorf("%s: %#v, want %#v", c.col, got, c.want)
		}
	}
}

func testSnapshotConsistent(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	const rows = 40000
	e.exec(t, fmt.Sprintf(`CREATE TABLE big (id bigint PRIMARY KEY, payload text);
		INSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, %d) g;
		CREATE TABLE heap (v int, w text);
		INSERT INTO heap SELECT g, 'x' FROM generate_series(1, 20000) g;
		CREATE TABLE empty (id int PRIMARY KEY);
		ANALYZE`, rows))
	task := e.open(t, e.config(KeySnapshotThreads, "4", KeySnapshotChunkRows, "4000", KeySnapshotFetchSize, "500"))
	defer task.Close()
	// Concurrent writes while the snapshot runs: each must appear exactly
	// once, in the snapshot or in the stream.
	var wg sync.WaitGroup
	wg.Add(1)
	const extra = 300
	go func() {
		defer wg.Done()
		for i := 1; i <= extra; i++ {
			e.exec(t, fmt.Sprintf("INSERT INTO big VALUES (%d, 'new')", rows+i))
		}
	}()
	seen := map[int64]int{}
	var snapMarks []string
	all := collect(t, task, 90*time.Second, func(rs []*connect.Record) bool {
		for _, r := range rs[len(snapMarks):] {
			snapMarks = append(snapMarks, "")
			if r.Topic == "srv.public.big" {
				seen[intOf(after(r), "id")]++
			}
		}
		return len(seen) >= rows+extra
	})
	wg.Wait()
	dups := 0
	for id := int64(1); id <= rows+extra; id++ {
		switch seen[id] {
		case 1:
		case 0:
			t.Fatalf("row %d missing", id)
		default:
			dups++
		}
	}
	if dups != 0 {
		t.Errorf("%d rows seen more than once", dups)
	}
	// Snapshot markers: first, ..., last; ops r then c.
	var marks []string
	heapRows := 0
	for _, r := range all {
		if r.Topic == "srv.public.heap" {
			heapRows++
		}
		if op(r) == "r" {
			marks = append(marks, source(r).Get("snapshot").(string))
		}
	}
	if heapRows != 20000 {
		t.Errorf("heap (no primary key) rows %d, want 20000", heapRows)
	}
	if marks[0] != "first" || marks[len(marks)-1] != "last" {
		t.Errorf("snapshot marks start %q end %q", marks[0], marks[len(marks)-1])
	}
	if n := strings.Count(strings.Join(marks, ","), "last_in_data_collection"); n != 1 {
		t.Errorf("%d last_in_data_collection marks, want 1 (two non-empty tables)", n)
	}
	lastSnap := -1
	for i, r := range all {
		if op(r) == "r" {
			lastSnap = i
		}
	}
	if off := all[lastSnap].SourceOffset; off[offLastSnap] != true || off[offSnapshot] != true {
		t.Errorf("last snapshot record offset %v", off)
	}
	for _, r := range all[lastSnap+1:] {
		if op(r) == "r" {
			t.Fatal("snapshot record after the last one")
		}
	}
	p := task.SnapshotProgress()
	if !p.Completed || p.Running || p.TablesTotal != 3 || p.TablesDone != 3 || p.Rows < rows+20000 {
		t.Errorf("progress %+v", p)
	}
	chunks := 0
	for _, tp := range p.Tables {
		chunks += tp.Chunks
	}
	if chunks < 8 {
		t.Errorf("snapshot used %d chunks, want parallel chunking", chunks)
	}
	// The reported metrics match the rows the snapshot emitted.
	snapRecs, tableRecs := 0, map[string]int{}
	for _, r := range all {
		if op(r) == "r" {
			snapRecs++
			tableRecs[strings.TrimPrefix(r.Topic, "srv.")]++
		}
	}
	gauges := map[string]float64{}
	for _, m := range task.Metrics() {
		gauges[m.Name+"/"+m.Labels["table"]] = m.Value
	}
	if gauges["sluice_postgres_snapshot_rows/"] != float64(snapRecs) || gauges["sluice_postgres_snapshot_completed/"] != 1 ||
		gauges["sluice_postgres_snapshot_running/"] != 0 || gauges["sluice_postgres_snapshot_tables_done/"] != 3 {
		t.Errorf("metrics %v, want rows %d completed", gauges, snapRecs)
	}
	for _, tbl := range []string{"public.big", "public.heap", "public.empty"} {
		if got := gauges["sluice_postgres_snapshot_table_rows/"+tbl]; got != float64(tableRecs[tbl]) {
			t.Errorf("table_rows %s = %v, want %d emitted", tbl, got, tableRecs[tbl])
		}
		if d, n := gauges["sluice_postgres_snapshot_table_chunks_done/"+tbl], gauges["sluice_postgres_snapshot_table_chunks_total/"+tbl]; d != n {
			t.Errorf("%s chunks done %v of %v", tbl, d, n)
		}
	}
}

func testRestart(t *testing.T, pg *testenv.Postgres, kill bool) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE ev (id int PRIMARY KEY, v text)`)
	cfg := e.config(KeySnapshotMode, "initial")
	task := e.open(t, cfg)
	e.exec(t, `INSERT INTO ev SELECT g, 'a' FROM generate_series(1, 50) g`)
	e.exec(t, `INSERT INTO ev SELECT g, 'b' FROM generate_series(51, 100) g`)
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.ev", 100)), "srv.public.ev")
	// Commit only the first 75 records: the rest were "not acknowledged".
	e.commit(t, task, recs[:75])
	if kill {
		task.kill()
	} else {
		if err := task.Close(); err != nil {
			t.Fatal(err)
		}
	}
	e.exec(t, `INSERT INTO ev SELECT g, 'c' FROM generate_series(101, 150) g`)
	task2 := e.open(t, cfg)
	defer task2.Close()
	seen := map[int64]int{}
	for _, r := range recs[:75] {
		seen[intOf(after(r), "id")]++
	}
	recs2 := changes(collect(t, task2, 30*time.Second, func(rs []*connect.Record) bool {
		n := map[int64]bool{}
		for _, r := range changes(rs, "srv.public.ev") {
			n[intOf(after(r), "id")] = true
		}
		return len(n) >= 75 && n[150]
	}), "srv.public.ev")
	for _, r := range recs2 {
		if op(r) == "r" {
			t.Fatalf("snapshot repeated after restart")
		}
		seen[intOf(after(r), "id")]++
	}
	dups := 0
	for id := int64(1); id <= 150; id++ {
		if seen[id] == 0 {
			t.Fatalf("row %d lost across restart", id)
		}
		dups += seen[id] - 1
	}
	// Events up to the committed one are skipped even inside the partially
	// committed transaction.
	if dups != 0 {
		t.Errorf("%d duplicates after restart, want 0", dups)
	}
	t.Logf("restart (kill=%v): %d records before, %d after, %d duplicates", kill, 75, len(recs2), dups)
}

func testSlotFlush(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE f (id int PRIMARY KEY)`)
	cfg := e.config(KeySnapshotMode, "no_data")
	task := e.open(t, cfg)
	defer task.Close()
	slot := cfg[KeySlotName]
	start := e.slotFlushLSN(t, slot)
	for i := 1; i <= 3; i++ {
		e.exec(t, fmt.Sprintf("INSERT INTO f VALUES (%d)", i))
	}
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.f", 3)), "srv.public.f")
	time.Sleep(800 * time.Millisecond) // several status intervals
	if got := e.slotFlushLSN(t, slot); got != start {
		t.Fatalf("confirmed_flush_lsn moved from %X to %X before any commit", start, got)
	}
	e.commit(t, task, recs[:1])
	want, _ := toUint64(recs[0].SourceOffset[offLSNCommit])
	waitFlush := func(want uint64) uint64 {
		deadline := time.Now().Add(10 * time.Second)
		for {
			got := e.slotFlushLSN(t, slot)
			if got >= want || time.Now().After(deadline) {
				return got
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	got := waitFlush(want)
	if got < want {
		t.Fatalf("confirmed_flush_lsn %X after commit, want >= %X", got, want)
	}
	end2, _ := toUint64(recs[1].SourceOffset[offLSNCommit])
	if got >= end2 && end2 > want {
		t.Fatalf("confirmed_flush_lsn %X passed the uncommitted transaction end %X", got, end2)
	}
	e.commit(t, task, recs)
	want3, _ := toUint64(recs[2].SourceOffset[offLSNCommit])
	if got := waitFlush(want3); got < want3 {
		t.Fatalf("confirmed_flush_lsn %X after final commit, want >= %X", got, want3)
	}
}

func testToast(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE td (id int PRIMARY KEY, big text, bb bytea, n int);
		CREATE TABLE tf (id int PRIMARY KEY, big text, bb bytea, n int);
		ALTER TABLE tf REPLICA IDENTITY FULL`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	rnd := rand.New(rand.NewSource(1))
	buf := make([]byte, 100000)
	for i := range buf {
		buf[i] = byte('a' + rnd.Intn(26))
	}
	big := string(buf)
	for _, tb := range []string{"td", "tf"} {
		e.exec(t, fmt.Sprintf(`INSERT INTO %s VALUES (1, '%s', convert_to('%s', 'UTF8'), 1)`, tb, big, big))
		e.exec(t, fmt.Sprintf(`UPDATE %s SET n = 2 WHERE id = 1`, tb))
	}
	recs := collect(t, task, 30*time.Second, func(rs []*connect.Record) bool {
		return len(changes(rs, "srv.public.td")) >= 2 && len(changes(rs, "srv.public.tf")) >= 2
	})
	upd := changes(recs, "srv.public.td")[1]
	if a := after(upd); a.Get("big") != UnavailableValue || !bytes.Equal(a.Get("bb").([]byte), []byte(UnavailableValue)) || a.Get("n") != int32(2) {
		t.Errorf("REPLICA IDENTITY DEFAULT: big=%.40v bb=%.40v n=%v, want placeholders", a.Get("big"), a.Get("bb"), a.Get("n"))
	}
	upd = changes(recs, "srv.public.tf")[1]
	if a := after(upd); a.Get("big") != big || !bytes.Equal(a.Get("bb").([]byte), buf) {
		t.Errorf("REPLICA IDENTITY FULL: unchanged TOAST column not filled from the old tuple: %.40v", a.Get("big"))
	}
	if b := before(upd); b == nil || b.Get("n") != int32(1) {
		t.Errorf("REPLICA IDENTITY FULL: before %v", b)
	}
}

func testHeartbeat(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE hb (id int PRIMARY KEY); CREATE TABLE other (id int)`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data", KeyHeartbeatInterval, "200", KeyTxMetadata, "true",
		KeyHeartbeatQuery, "INSERT INTO other VALUES (1)", KeyTableInclude, "public.hb"))
	defer task.Close()
	e.exec(t, `BEGIN; INSERT INTO hb VALUES (1); INSERT INTO hb VALUES (2); COMMIT`)
	recs := collect(t, task, 30*time.Second, func(rs []*connect.Record) bool {
		return len(changes(rs, "__debezium-heartbeat.srv")) >= 2 && len(changes(rs, "srv.transaction")) >= 2
	})
	h := changes(recs, "__debezium-heartbeat.srv")[0]
	if h.KeySchema.Name != "io.debezium.connector.common.ServerNameKey" || h.Key.(*connect.Struct).Get("serverName") != "srv" ||
		h.ValueSchema.Name != "io.debezium.connector.common.Heartbeat" || h.Value.(*connect.Struct).Get("ts_ms").(int64) <= 0 {
		t.Errorf("heartbeat record %v %v", h.Key, h.Value)
	}
	if len(changes(recs, "srv.public.other")) != 0 {
		t.Errorf("excluded table captured")
	}
	tx := changes(recs, "srv.transaction")
	b, en := tx[0].Value.(*connect.Struct), tx[1].Value.(*connect.Struct)
	if b.Get("status") != "BEGIN" || en.Get("status") != "END" || en.Get("event_count") != int64(2) || b.Get("id") != en.Get("id") {
		t.Errorf("transaction events %v / %v", b, en)
	}
	data := changes(recs, "srv.public.hb")
	blk := data[1].Value.(*connect.Struct).Get("transaction").(*connect.Struct)
	if blk.Get("id") != b.Get("id") || blk.Get("total_order") != int64(2) || blk.Get("data_collection_order") != int64(2) {
		t.Errorf("transaction block %v", blk)
	}
	// Heartbeats carry offsets that let the slot advance once committed,
	// even though only non-captured tables change.
	last := changes(recs, "__debezium-heartbeat.srv")
	e.commit(t, task, last)
	want, _ := toUint64(last[len(last)-1].SourceOffset[offLSNCommit])
	deadline := time.Now().Add(10 * time.Second)
	for e.slotFlushLSN(t, "slot_"+e.db) < want {
		if time.Now().After(deadline) {
			t.Fatalf("slot did not advance to heartbeat position %X", want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func testLargeTx(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE lt (id int PRIMARY KEY, v text)`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data", KeyMaxBatchSize, "500", KeyMaxQueueSize, "1000"))
	defer task.Close()
	const n = 30000
	e.exec(t, fmt.Sprintf(`INSERT INTO lt SELECT g, repeat('x', 50) FROM generate_series(1, %d) g`, n))
	count := 0
	maxBatch := 0
	deadline := time.Now().Add(60 * time.Second)
	for count < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d of %d", count, n)
		}
		recs, err := task.Poll(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		maxBatch = max(maxBatch, len(recs))
		count += len(changes(recs, "srv.public.lt"))
	}
	if maxBatch > 1000 {
		t.Errorf("batch of %d records: the transaction was buffered", maxBatch)
	}
}

func testFilters(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE a (id int PRIMARY KEY, secret text, keep text, code text NOT NULL); CREATE TABLE b (id int PRIMARY KEY)`)
	cfg := e.config(KeySnapshotMode, "no_data", KeyTableInclude, "public\\.a", KeyColumnExclude, "public\\.a\\.secret",
		KeyMessageKeyColumns, "public.a:code", KeyPublicationAuto, "filtered", KeySkippedOps, "u")
	task := e.open(t, cfg)
	defer task.Close()
	e.exec(t, `INSERT INTO b VALUES (1); INSERT INTO a VALUES (1, 's', 'k', 'X'); UPDATE a SET keep = 'k2'; DELETE FROM a`)
	recs := collect(t, task, 30*time.Second, countTopic("srv.public.a", 3))
	a := changes(recs, "srv.public.a")
	if op(a[0]) != "c" || op(a[1]) != "d" || a[2].Value != nil {
		t.Fatalf("ops: %s", summary(a))
	}
	if after(a[0]).Schema().Field("secret") != nil || after(a[0]).Get("keep") != "k" {
		t.Errorf("column filter: %v", after(a[0]))
	}
	if k := a[0].Key.(*connect.Struct); k.Get("code") != "X" || len(k.Schema().Fields) != 1 {
		t.Errorf("message.key.columns key %v", k)
	}
	if len(changes(recs, "srv.public.b")) != 0 {
		t.Errorf("table filter let public.b through")
	}
	var pubTables int
	e.query(t, "SELECT count(*) FROM pg_publication_tables WHERE pubname = 'dbz_publication'", &pubTables)
	if pubTables != 1 {
		t.Errorf("filtered publication has %d tables, want 1", pubTables)
	}
}

func testDefaults(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE defs (id serial PRIMARY KEY, a int DEFAULT 5, b text NOT NULL DEFAULT 'x''y', c boolean DEFAULT true,
		d numeric(5,2) DEFAULT 1.5, e timestamp DEFAULT now(), f int DEFAULT -3, g text[] DEFAULT '{}')`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	e.exec(t, `INSERT INTO defs DEFAULT VALUES`)
	r := changes(collect(t, task, 30*time.Second, countTopic("srv.public.defs", 1)), "srv.public.defs")[0]
	v := r.ValueSchema.Field("after").Schema
	// serial and now() defaults are Debezium's 0 placeholders.
	want := map[string]string{"id": "0", "a": "5", "b": "x'y", "c": "true", "d": "1.50", "e": "0", "f": "-3", "g": "[]"}
	for col, w := range want {
		d := v.Field(col).Schema.Default
		got := fmt.Sprint(d)
		if dec, ok := d.(connect.Decimal); ok {
			got = dec.String()
		}
		if got != w {
			t.Errorf("default of %s: %s (%T), want %s", col, got, d, w)
		}
	}
	if err := connect.Validate(r.ValueSchema, r.Value); err != nil {
		t.Error(err)
	}
	conv, err := convert.NewJSON(map[string]string{"schemas.enable": "true"}, false)
	if err != nil {
		t.Fatal(err)
	}
	b, err := conv.FromConnect(r.Topic, r.ValueSchema, r.Value)
	if err != nil {
		t.Fatalf("JsonConverter: %v", err)
	}
	if !strings.Contains(string(b), `"default":5`) || !strings.Contains(string(b), `"default":"x'y"`) {
		t.Errorf("defaults missing from the JSON schema: %.600s", b)
	}
}

func testSchemaChange(t *testing.T, pg *testenv.Postgres) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE sc (id int PRIMARY KEY, a text)`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data", KeyPublicationName, "Pub-Mixed"))
	defer task.Close()
	e.exec(t, `INSERT INTO sc VALUES (1, 'x')`)
	e.exec(t, `ALTER TABLE sc ADD COLUMN b int NOT NULL DEFAULT 5; ALTER TABLE sc DROP COLUMN a`)
	e.exec(t, `INSERT INTO sc VALUES (2, 6)`)
	recs := changes(collect(t, task, 30*time.Second, countTopic("srv.public.sc", 2)), "srv.public.sc")
	a1, a2 := after(recs[0]), after(recs[1])
	if a1.Get("a") != "x" || a1.Schema().Field("b") != nil {
		t.Errorf("before the change: %v", a1)
	}
	if a2.Schema().Field("a") != nil || a2.Get("b") != int32(6) || a2.Schema().Field("b").Schema.Optional {
		t.Errorf("after the change: %v (schema %v)", a2, a2.Schema().Fields)
	}
}

func testPostgresRestart(t *testing.T, pg *testenv.Postgres, crash bool) {
	e := newEnv(t, pg)
	e.exec(t, `CREATE TABLE pr (id int PRIMARY KEY)`)
	task := e.open(t, e.config(KeySnapshotMode, "no_data"))
	defer task.Close()
	e.exec(t, `INSERT INTO pr SELECT generate_series(1, 10)`)
	recs := collect(t, task, 30*time.Second, countTopic("srv.public.pr", 10))
	if crash {
		pg.Kill(t)
		time.Sleep(500 * time.Millisecond)
		pg.Start(t)
	} else {
		pg.Restart(t)
	}
	e.exec(t, `INSERT INTO pr SELECT generate_series(11, 20)`)
	recs = append(recs, collect(t, task, 60*time.Second, func(rs []*connect.Record) bool {
		for _, r := range changes(rs, "srv.public.pr") {
			if intOf(after(r), "id") == 20 {
				return true
			}
		}
		return false
	})...)
	seen := map[int64]int{}
	for _, r := range changes(recs, "srv.public.pr") {
		seen[intOf(after(r), "id")]++
	}
	for id := int64(1); id <= 20; id++ {
		if seen[id] != 1 {
			t.Errorf("row %d seen %d times", id, seen[id])
		}
	}
}

func TestConfigErrors(t *testing.T) {
	base := func() map[string]string {
		return map[string]string{KeyHostname: "h", KeyUser: "u", KeyDBName: "d", KeyTopicPrefix: "p"}
	}
	cases := []struct {
		key, value string
		wantKey    string
	}{
		{KeyTopicPrefix, "", KeyTopicPrefix},
		{KeyPluginName, "decoderbufs", KeyPluginName},
		{KeySnapshotMode, "sometimes", KeySnapshotMode},
		{KeyTasksMax, "2", KeyTasksMax},
		{KeySkippedOps, "c,x", KeySkippedOps},
		{KeyTableInclude, "public.(", KeyTableInclude},
		{KeyDecimalMode, "exact", KeyDecimalMode},
		{KeyTimePrecision, "nanos", KeyTimePrecision},
		{KeyBinaryMode, "base32", KeyBinaryMode},
		{KeyPublicationAuto, "some", KeyPublicationAuto},
		{KeyHeartbeatInterval, "-1", KeyHeartbeatInterval},
		{KeyPort, "abc", KeyPort},
		{KeyMessageKeyColumns, "public.t", KeyMessageKeyColumns},
		{KeySlotName, "Bad-Slot", KeySlotName},
		{KeySnapshotThreads, "0", KeySnapshotThreads},
		{KeyTombstones, "maybe", KeyTombstones},
		{KeySSLMode, "sometimes", KeySSLMode},
	}
	for _, c := range cases {
		t.Run(c.key+"="+c.value, func(t *testing.T) {
			cfg := base()
			cfg[c.key] = c.value
			_, err := parseOptions(cfg)
			var ce *connect.ConfigError
			if !errors.As(err, &ce) || ce.Key != c.wantKey {
				t.Fatalf("error %v, want a ConfigError for %s", err, c.wantKey)
			}
			if c.key == KeyPluginName && !strings.Contains(err.Error(), "decoderbufs") {
				t.Errorf("error %q does not name the plugin", err)
			}
		})
	}
	delete(base(), KeyTopicPrefix)
	cfg := base()
	delete(cfg, KeyTopicPrefix)
	if _, err := parseOptions(cfg); err == nil || !strings.Contains(err.Error(), KeyTopicPrefix) {
		t.Errorf("missing topic.prefix: %v", err)
	}
	cfg = base()
	cfg[KeyTableInclude], cfg[KeyTableExclude] = "a", "b"
	if _, err := parseOptions(cfg); err == nil {
		t.Errorf("include and exclude lists together accepted")
	}
	o, err := parseOptions(base())
	if err != nil {
		t.Fatal(err)
	}
	if !o.skip["t"] || o.skip["c"] || o.slot != "debezium" || o.publication != "dbz_publication" || !o.tombstones || o.snapshotMode != "initial" {
		t.Errorf("defaults: %+v", o)
	}
	p := Plugin()
	if p.Class != Class || !p.Matches("postgres") || p.Type != "source" {
		t.Errorf("plugin %+v", p)
	}
	c, ok := p.New().(connect.SourceConnector)
	if !ok {
		t.Fatalf("plugin does not build a SourceConnector")
	}
	bad := base()
	bad[KeySnapshotMode] = "x"
	if err := c.Start(context.Background(), bad); err == nil {
		t.Errorf("Start accepted a bad config")
	}
	if err := c.Start(context.Background(), base()); err != nil {
		t.Fatal(err)
	}
	if tc, err := c.TaskConfigs(3); err != nil || len(tc) != 1 || tc[0][KeyTopicPrefix] != "p" {
		t.Errorf("TaskConfigs: %v %v", tc, err)
	}
	if _, ok := c.NewTask().(*Task); !ok {
		t.Errorf("NewTask")
	}
	if !configDef().Secret(KeyPassword) {
		t.Errorf("password is not a secret")
	}
}
