package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// readHistory reads every record of a history topic.
func readHistory(t *testing.T, broker, topic string) []historyRecord {
	t.Helper()
	h, err := newKafkaHistory(context.Background(), broker, topic, testLogger())
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	recs, err := h.records(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func findCol(t *testing.T, tb *histTable, name string) histColumn {
	t.Helper()
	for _, c := range tb.Columns {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no column %s in %+v", name, tb.Columns)
	return histColumn{}
}

func fieldNames(s *connect.Struct) string {
	var n []string
	for _, f := range s.Schema().Fields {
		n = append(n, f.Name)
	}
	return strings.Join(n, ",")
}

// TestSchemaHistoryAcrossRestart: the snapshot writes every table's
// definition to the history topic; an ALTER runs while the connector is
// stopped with binlog rows before and after it; after the restart the
// schema as of the committed offset comes from the topic, so the rows on
// both sides decode and match it. Rebuilding the history from the live
// database (snapshot.mode=recovery) instead is caught as inconsistent.
func TestSchemaHistoryAcrossRestart(t *testing.T) {
	m := sharedServer(t)
	broker := testenv.StartBroker(t)
	e := newEnv(t, m)
	e.exec(t, `CREATE TABLE t (id INT PRIMARY KEY AUTO_INCREMENT, a VARCHAR(10) NOT NULL DEFAULT 'x' COMMENT 'the a',
		en ENUM('p','q'), g POINT, d DECIMAL(8,2)) DEFAULT CHARSET=utf8mb4;
		INSERT INTO t (id, a) VALUES (1, 'one');
		CREATE TABLE inv (id INT PRIMARY KEY, h INT INVISIBLE, s VARCHAR(4) COMMENT 'c')`)
	histTopic := "history-" + e.db
	cfg := e.config(KeyHistoryTopic, histTopic, KeyHistoryBootstrap, broker)
	topic := "srv." + e.db + ".t"

	task := e.open(t, cfg)
	recs := collect(t, task, time.Minute, countTopic(topic, 1))
	e.exec(t, "INSERT INTO t (id, a) VALUES (2, 'two')")
	recs = append(recs, collect(t, task, time.Minute, countTopic(topic, 1))...)
	cs := changes(recs, topic)
	e.offs.store(cs[len(cs)-1].SourceOffset)
	task.Close()

	e.exec(t, `INSERT INTO t (id, a) VALUES (3, 'three');
		ALTER TABLE t ADD COLUMN b INT AFTER id, CHANGE a c VARCHAR(20);
		INSERT INTO t (id, b, c) VALUES (4, 44, 'four');
		CREATE TABLE t5 (s VARCHAR(3))`)

	task2 := e.open(t, cfg)
	recs = collect(t, task2, time.Minute, func(rs []*connect.Record) bool {
		return len(changes(rs, topic)) >= 2 && len(changes(rs, "srv")) >= 2
	})
	task2.Close()
	cs = changes(recs, topic)
	if len(cs) != 2 {
		t.Fatalf("want 2 events after restart, got %s", summary(recs))
	}
	if got := fieldNames(after(cs[0])); got != "id,a,en,g,d" || after(cs[0]).Get("a") != "three" {
		t.Errorf("row before the ALTER: fields %s, %v", got, after(cs[0]))
	}
	if got := fieldNames(after(cs[1])); got != "id,b,c,en,g,d" || after(cs[1]).Get("c") != "four" || after(cs[1]).Get("b") != int32(44) {
		t.Errorf("row after the ALTER: fields %s, %v", got, after(cs[1]))
	}

	// The schema change event carries the table's new definition.
	sc := changes(recs, "srv")
	if len(sc) != 2 {
		t.Fatalf("want 2 schema change events, got %s", summary(recs))
	}
	// The database's character set was recovered from the history too.
	t5 := sc[1].Value.(*connect.Struct).Get("tableChanges").([]any)[0].(*connect.Struct).Get("table").(*connect.Struct)
	if cs := t5.Get("columns").([]any)[0].(*connect.Struct).Get("charsetName"); cs != "latin1" || t5.Get("defaultCharsetName") != "latin1" {
		t.Errorf("t5 created after the restart without a character set: %v", t5)
	}
	tcs := sc[0].Value.(*connect.Struct).Get("tableChanges").([]any)
	if len(tcs) != 1 {
		t.Fatalf("tableChanges %v", tcs)
	}
	tc := tcs[0].(*connect.Struct)
	if tc.Get("type") != "ALTER" || tc.Get("id") != `"`+e.db+`"."t"` {
		t.Errorf("table change %v", tc)
	}
	var names []string
	for _, c := range tc.Get("table").(*connect.Struct).Get("columns").([]any) {
		names = append(names, c.(*connect.Struct).Get("name").(string))
	}
	if strings.Join(names, ",") != "id,b,c,en,g,d" {
		t.Errorf("schema change columns %v", names)
	}

	// The history topic: one partition, delete policy, infinite retention;
	// the snapshot's CREATE, then the ALTER.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	td, err := adm.ListTopics(context.Background(), histTopic)
	if err != nil || len(td[histTopic].Partitions) != 1 {
		t.Fatalf("history topic partitions: %v %v", td, err)
	}
	if rc, err := adm.DescribeTopicConfigs(context.Background(), histTopic); err == nil {
		for _, c := range rc {
			for _, kv := range c.Configs {
				if kv.Key == "cleanup.policy" && (kv.Value == nil || *kv.Value != "delete") || kv.Key == "retention.ms" && (kv.Value == nil || *kv.Value != "-1") {
					t.Errorf("history topic %s = %v", kv.Key, kv.Value)
				}
			}
		}
	} else {
		t.Errorf("describe history topic configs: %v", err)
	}
	hist := readHistory(t, broker, histTopic)
	if len(hist) != 5 {
		b, _ := json.Marshal(hist)
		t.Fatalf("want 5 history records (snapshot CREATE DATABASE, CREATEs of inv and t, ALTER, CREATE t5), got %s", b)
	}
	if db := hist[0]; db.DDL != "CREATE DATABASE IF NOT EXISTS `"+e.db+"` CHARACTER SET latin1" || len(db.TableChanges) != 0 {
		t.Errorf("database record %+v", db)
	}
	hist = hist[1:]
	// inv's definition uses syntax the parser lacks (INVISIBLE): it comes
	// from information_schema.
	if inv := hist[0]; inv.TableChanges[0].ID != `"`+e.db+`"."inv"` || len(inv.TableChanges[0].Table.Columns) != 3 ||
		findCol(t, inv.TableChanges[0].Table, "s").Comment == nil || strings.Join(inv.TableChanges[0].Table.PrimaryKeyColumnNames, ",") != "id" {
		b, _ := json.Marshal(inv)
		t.Errorf("inv record %s", b)
	}
	hist = hist[1:]
	snap := hist[0]
	if snap.Position[offSnapshot] != snapshotInitial || snap.Source["server"] != "srv" || snap.DatabaseName != e.db || !strings.HasPrefix(snap.DDL, "CREATE TABLE `t`") {
		t.Errorf("snapshot record %+v", snap)
	}
	if len(snap.TableChanges) != 1 || snap.TableChanges[0].Type != "CREATE" {
		t.Fatalf("snapshot table changes %+v", snap.TableChanges)
	}
	tb := snap.TableChanges[0].Table
	if strings.Join(tb.PrimaryKeyColumnNames, ",") != "id" || tb.DefaultCharsetName == nil || *tb.DefaultCharsetName != "utf8mb4" {
		t.Errorf("table %+v", tb)
	}
	id := findCol(t, tb, "id")
	if id.JDBCType != 4 || id.TypeName != "INT" || !id.AutoIncremented || id.Optional || id.Position != 1 {
		t.Errorf("id column %+v", id)
	}
	a := findCol(t, tb, "a")
	if a.JDBCType != 12 || a.TypeName != "VARCHAR" || a.Length == nil || *a.Length != 10 || a.Optional || a.CharsetName == nil || *a.CharsetName != "utf8mb4" ||
		a.DefaultValueExpression == nil || *a.DefaultValueExpression != "x" || a.Comment == nil || *a.Comment != "the a" {
		t.Errorf("a column %+v", a)
	}
	if en := findCol(t, tb, "en"); strings.Join(en.EnumValues, ",") != "'p','q'" || !en.Optional {
		t.Errorf("en column %+v", en)
	}
	if g := findCol(t, tb, "g"); g.TypeName != "POINT" {
		t.Errorf("g column %+v", g)
	}
	if d := findCol(t, tb, "d"); d.TypeName != "DECIMAL" || d.Length == nil || *d.Length != 8 || d.Scale == nil || *d.Scale != 2 {
		t.Errorf("d column %+v", d)
	}
	alter := hist[1]
	if !strings.HasPrefix(alter.DDL, "ALTER TABLE t ADD COLUMN b") || len(alter.TableChanges) != 1 || alter.TableChanges[0].Type != "ALTER" {
		t.Errorf("alter record %+v", alter)
	}
	if c := findCol(t, alter.TableChanges[0].Table, "c"); c.Length == nil || *c.Length != 20 || c.Position != 3 {
		t.Errorf("changed column %+v", c)
	}
	if alter.Position[offFile] == nil || alter.Position[offPos] == nil {
		t.Errorf("alter position %v", alter.Position)
	}

	// An empty history topic with a committed offset is an error...
	emptyCfg := e.config(KeyHistoryTopic, histTopic+"-empty", KeyHistoryBootstrap, broker)
	if _, err := e.tryOpen(emptyCfg); !errors.Is(err, ErrHistoryMissing) {
		t.Fatalf("open with an empty history topic: %v", err)
	}
	// ...and recovery mode rebuilds it from the live (post-ALTER) tables,
	// which the rows written before the ALTER contradict.
	emptyCfg[KeySnapshotMode] = "recovery"
	task3 := e.open(t, emptyCfg)
	defer task3.Close()
	err = pollErr(t, task3, time.Minute)
	if !strings.Contains(err.Error(), "inconsistent schema history") || !strings.Contains(err.Error(), "[id a en g d]") {
		t.Fatalf("want an inconsistent schema error for the row before the ALTER, got %v", err)
	}
}
