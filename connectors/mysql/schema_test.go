package mysql

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
)

func TestSchemaModelDDL(t *testing.T) {
	inScope := func(db string) bool { return db != "other" }
	cols := func(m *schemaModel, db, name string) string {
		_, tb := m.find(db, name)
		if tb == nil {
			return "<none>"
		}
		var out []string
		for _, c := range tb.Columns {
			out = append(out, c.Name+":"+c.TypeName)
		}
		return strings.Join(out, ",") + " pk=" + strings.Join(tb.PrimaryKeyColumnNames, ",")
	}
	steps := []struct {
		ddl, table, want, change string
	}{
		{"CREATE TABLE t (id INT UNSIGNED NOT NULL, a TEXT, g GEOMETRY, PRIMARY KEY (id))", "t", "id:INT UNSIGNED,a:TEXT,g:GEOMETRY pk=id", "CREATE"},
		{"ALTER TABLE t ADD COLUMN b BLOB FIRST, ADD COLUMN p POINT AFTER id", "t", "b:BLOB,id:INT UNSIGNED,p:POINT,a:TEXT,g:GEOMETRY pk=id", "ALTER"},
		{"ALTER TABLE t DROP COLUMN b, MODIFY a VARCHAR(3) AFTER g", "t", "id:INT UNSIGNED,p:POINT,g:GEOMETRY,a:VARCHAR pk=id", "ALTER"},
		{"ALTER TABLE t CHANGE id id2 BIGINT, RENAME COLUMN p TO q", "t", "id2:BIGINT,q:POINT,g:GEOMETRY,a:VARCHAR pk=id2", "ALTER"},
		{"ALTER TABLE t DROP PRIMARY KEY, ADD PRIMARY KEY (a, id2)", "t", "id2:BIGINT,q:POINT,g:GEOMETRY,a:VARCHAR pk=a,id2", "ALTER"},
		{"RENAME TABLE t TO u", "u", "id2:BIGINT,q:POINT,g:GEOMETRY,a:VARCHAR pk=a,id2", "ALTER"},
		{"ALTER TABLE u RENAME TO v", "v", "id2:BIGINT,q:POINT,g:GEOMETRY,a:VARCHAR pk=a,id2", "ALTER"},
		{"CREATE TABLE w LIKE v", "w", "id2:BIGINT,q:POINT,g:GEOMETRY,a:VARCHAR pk=a,id2", "CREATE"},
		{"DROP TABLE IF EXISTS v, nope", "v", "<none>", "DROP"},
		{"CREATE TABLE other.x (id INT)", "x", "<none>", ""},
		{"CREATE TABLE `point` (`point` POINT, `geometry` int)", "point", "point:POINT,geometry:INT pk=", "CREATE"},
		{"CREATE OR REPLACE TABLE `point` (id INT PRIMARY KEY)", "point", "id:INT pk=id", "CREATE"},
		{"ALTER ONLINE TABLE `point` ADD COLUMN o INT", "point", "id:INT,o:INT pk=id", "ALTER"},
		{"SET STATEMENT max_statement_time=60 FOR ALTER TABLE `point` ADD COLUMN s CHAR(2)", "point", "id:INT,o:INT,s:CHAR pk=id", "ALTER"},
	}
	m := newSchemaModel()
	p := parser.New()
	for _, s := range steps {
		stmts, spatial, err := parseDDL(p, s.ddl)
		if err != nil {
			t.Fatalf("%s: %v", s.ddl, err)
		}
		next := m.clone()
		next.written = spatial
		ch, err := next.applyDDL(stmts, "db", inScope)
		if err != nil {
			t.Fatalf("%s: %v", s.ddl, err)
		}
		if got := cols(next, "db", s.table); got != s.want {
			t.Errorf("%s: table %s = %s, want %s", s.ddl, s.table, got, s.want)
		}
		if s.change == "" && len(ch) != 0 || s.change != "" && (len(ch) != 1 || ch[0].Type != s.change) {
			t.Errorf("%s: changes %+v, want %s", s.ddl, ch, s.change)
		}
		m = next
	}
	// The model before a step is untouched by it (clone + replace).
	m2 := newSchemaModel()
	stmts, _, _ := parseDDL(p, "CREATE TABLE t (id INT)")
	_, _ = m2.applyDDL(stmts, "db", inScope)
	c := m2.clone()
	stmts, _, _ = parseDDL(p, "ALTER TABLE t ADD COLUMN z INT")
	_, _ = c.applyDDL(stmts, "db", inScope)
	if cols(m2, "db", "t") != "id:INT pk=" {
		t.Errorf("applyDDL on a clone changed the original: %s", cols(m2, "db", "t"))
	}
	for _, bad := range []string{"ALTER TABLE missing ADD COLUMN x INT", "ALTER TABLE t DROP COLUMN nope", "ALTER TABLE t ADD COLUMN id INT"} {
		stmts, _, _ := parseDDL(p, bad)
		if _, err := m2.clone().applyDDL(stmts, "db", inScope); err == nil {
			t.Errorf("%s: want an error", bad)
		}
	}
}

func TestHistoryPositionOrder(t *testing.T) {
	cases := []struct {
		flavor string
		rec    map[string]any
		off    position
		want   bool
	}{
		{flavorMariaDB, map[string]any{"file": "b.000002", "pos": float64(100)}, position{file: "b.000002", pos: 100}, true},
		{flavorMariaDB, map[string]any{"file": "b.000002", "pos": float64(101)}, position{file: "b.000002", pos: 100}, false},
		{flavorMariaDB, map[string]any{"file": "b.000009", "pos": float64(5000)}, position{file: "b.000010", pos: 4}, true},
		{flavorMariaDB, map[string]any{"file": "b.000002", "pos": float64(9), "gtids": "0-1-7"}, position{file: "b.000001", pos: 4, gtids: "0-1-7"}, true},
		{flavorMariaDB, map[string]any{"file": "b.000001", "pos": float64(9), "gtids": "0-1-8"}, position{file: "b.000001", pos: 400, gtids: "0-1-7"}, false},
		{flavorMySQL, map[string]any{"file": "b.000001", "pos": float64(9), "gtids": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5"}, position{file: "b.000001", pos: 4, gtids: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9"}, true},
		{flavorMySQL, map[string]any{"file": "b.000001", "pos": float64(9), "gtids": "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-10"}, position{file: "b.000001", pos: 400, gtids: "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-9"}, false},
	}
	for i, c := range cases {
		if got := atOrBefore(c.flavor, c.rec, c.off); got != c.want {
			t.Errorf("case %d: atOrBefore(%v, %+v) = %v, want %v", i, c.rec, c.off, got, c.want)
		}
	}
}

func TestFastDecimal(t *testing.T) {
	cases := []struct {
		in    string
		scale int
		ok    bool
		want  string
	}{
		{"12.34", 2, true, "12.34"},
		{"-0.5", 3, true, "-0.500"},
		{"7", 2, true, "7.00"},
		{"+1.2", 1, true, "1.2"},
		{"1.234", 2, false, ""},
		{"123456789012345678.9", 1, false, ""},
		{"1e5", 0, false, ""},
		{"", 0, false, ""},
		{".", 0, false, ""},
	}
	for _, c := range cases {
		d, ok := fastDecimal(c.in, c.scale)
		if ok != c.ok || ok && d.String() != c.want {
			t.Errorf("fastDecimal(%q, %d) = %v %v, want %v %q", c.in, c.scale, d, ok, c.ok, c.want)
		}
	}
}

func TestOffBoxesMatchPositionOffset(t *testing.T) {
	for _, p := range []position{
		{file: "b.000001", pos: 4, tsSec: 9},
		{file: "b.000002", pos: 77, gtids: "0-1-5", event: 3, server: 1, tsSec: 10},
	} {
		b := offBoxes{tsSec: p.tsSec, file: p.file, pos: int64(p.pos)}
		if p.gtids != "" {
			b.gtids = p.gtids
		}
		if p.event != 0 {
			b.event = p.event
		}
		if p.server != 0 {
			b.server = int64(p.server)
		}
		q := p
		q.row = 7
		got, want := fmt.Sprint(b.offset(7)), fmt.Sprint(q.offset())
		if got != want {
			t.Errorf("offBoxes %s, position.offset %s", got, want)
		}
	}
}

func TestRecoverSchemaFromRecords(t *testing.T) {
	col := func(names ...string) *histTable {
		tb := &histTable{PrimaryKeyColumnNames: []string{}}
		for i, n := range names {
			tb.Columns = append(tb.Columns, histColumn{Name: n, Position: i + 1})
		}
		return tb
	}
	at := func(file string, pos int, snap bool) map[string]any {
		m := map[string]any{"file": file, "pos": float64(pos)}
		if snap {
			m["snapshot"] = true
		}
		return m
	}
	id := `"db"."t"`
	recs := []historyRecord{
		{Position: at("b.000004", 100, true), DDL: "CREATE DATABASE IF NOT EXISTS `db` CHARACTER SET latin1", TableChanges: []histChange{}},
		{Position: at("b.000004", 100, true), TableChanges: []histChange{{Type: changeCreate, ID: id, Table: col("a")}}},
		{Position: at("b.000004", 200, false), TableChanges: []histChange{{Type: changeAlter, ID: id, Table: col("a", "b")}}},
		{Position: at("b.000009", 300, false), TableChanges: []histChange{{Type: changeCreate, ID: `"db"."stale"`, Table: col("z")}}},
		// The binlog was reset (RESET MASTER) and a new snapshot taken, its
		// position written as Debezium 3.x does ("snapshot": "INITIAL").
		{Position: map[string]any{"file": "b.000001", "pos": float64(50), "snapshot": "INITIAL"}, TableChanges: []histChange{{Type: changeCreate, ID: id, Table: col("x")}}},
	}
	cases := []struct {
		recs int // records written when the offset was committed
		pos  position
		want string
	}{
		{3, position{file: "b.000004", pos: 150}, "a"},
		{4, position{file: "b.000004", pos: 250}, "a,b"},
		{5, position{file: "b.000001", pos: 60}, "x"},
		{5, position{file: "b.000001", pos: 10}, "<none>"},
	}
	for _, c := range cases {
		recs := recs[:c.recs]
		task := NewTask()
		o, _ := parseOptions(map[string]string{KeyHostname: "h", KeyUser: "u", KeyServerID: "1", KeyTopicPrefix: "srv"}, flavorMariaDB)
		task.o, task.log, task.hist = o, testLogger(), &memHistory{recs: recs}
		if err := task.recoverSchema(context.Background(), c.pos); err != nil {
			t.Fatal(err)
		}
		got := "<none>"
		if _, tb := task.model.find("db", "t"); tb != nil {
			got = strings.Join(histColumnNames(tb), ",")
		}
		if _, stale := task.model.find("db", "stale"); stale != nil && c.pos.file == "b.000001" {
			t.Errorf("%+v: a record of the binlog before the reset survived", c.pos)
		}
		if got != c.want {
			t.Errorf("recovered at %+v: t = %s, want %s", c.pos, got, c.want)
		}
		if c.want == "a" && task.model.dbCharset["db"] != "latin1" {
			t.Errorf("database character set %q", task.model.dbCharset["db"])
		}
	}
}

// TestRecoverSchemaSnapshotMarker: a snapshot's records start the model
// afresh whatever the "snapshot" value (Debezium's history comparator only
// checks the key: 3.x writes "INITIAL"/"BLOCKING", older versions true).
func TestRecoverSchemaSnapshotMarker(t *testing.T) {
	for _, marker := range []any{true, "INITIAL", "BLOCKING"} {
		tb := func(n string) *histTable {
			return &histTable{PrimaryKeyColumnNames: []string{}, Columns: []histColumn{{Name: n, Position: 1}}}
		}
		recs := []historyRecord{
			{Position: map[string]any{"file": "b.000001", "pos": float64(10)}, TableChanges: []histChange{{Type: changeCreate, ID: `"db"."stale"`, Table: tb("z")}}},
			{Position: map[string]any{"file": "b.000001", "pos": float64(50), "snapshot": marker}, TableChanges: []histChange{{Type: changeCreate, ID: `"db"."t"`, Table: tb("x")}}},
		}
		task := NewTask()
		o, _ := parseOptions(map[string]string{KeyHostname: "h", KeyUser: "u", KeyServerID: "1", KeyTopicPrefix: "srv"}, flavorMariaDB)
		task.o, task.log, task.hist = o, testLogger(), &memHistory{recs: recs}
		if err := task.recoverSchema(context.Background(), position{file: "b.000001", pos: 60}); err != nil {
			t.Fatal(err)
		}
		if _, stale := task.model.find("db", "stale"); stale != nil {
			t.Errorf("snapshot marker %v: a table from before the snapshot survived", marker)
		}
		if _, tt := task.model.find("db", "t"); tt == nil {
			t.Errorf("snapshot marker %v: the snapshot's table is missing", marker)
		}
	}
}
