package mysql

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestConfigValidation(t *testing.T) {
	base := map[string]string{KeyHostname: "h", KeyUser: "u", KeyServerID: "5400", KeyTopicPrefix: "db1"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == "<unset>" {
				delete(m, kv[i])
				continue
			}
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	for _, tc := range []struct {
		name string
		cfg  map[string]string
		key  string // field the error must name ("" = valid)
	}{
		{"valid", with(), ""},
		{"missing host", with(KeyHostname, "<unset>"), KeyHostname},
		{"missing server id", with(KeyServerID, "<unset>"), KeyServerID},
		{"zero server id", with(KeyServerID, "0"), KeyServerID},
		{"bad prefix", with(KeyTopicPrefix, "a b"), KeyTopicPrefix},
		{"bad snapshot mode", with(KeySnapshotMode, "sometimes"), KeySnapshotMode},
		{"bad locking", with(KeySnapshotLocking, "extended"), KeySnapshotLocking},
		{"bad decimal mode", with(KeyDecimalMode, "exact"), KeyDecimalMode},
		{"bad bigint mode", with(KeyBigintUnsigned, "string"), KeyBigintUnsigned},
		{"bad binary mode", with(KeyBinaryMode, "b32"), KeyBinaryMode},
		{"bad skipped op", with(KeySkippedOps, "c,x"), KeySkippedOps},
		{"bad regex", with(KeyTableInclude, "a("), KeyTableInclude},
		{"include and exclude", with(KeyTableInclude, "a", KeyTableExclude, "b"), KeyTableExclude},
		{"db include and exclude", with(KeyDatabaseInclude, "a", KeyDatabaseExclude, "b"), KeyDatabaseExclude},
		{"bad key columns", with(KeyMessageKeyColumns, "db.t"), KeyMessageKeyColumns},
		{"two tasks", with(KeyTasksMax, "2"), KeyTasksMax},
		{"never is no_data", with(KeySnapshotMode, "never"), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseOptions(tc.cfg, flavorMySQL)
			if tc.key == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			var ce *connect.ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.key {
				t.Fatalf("want a config error naming %s, got %v", tc.key, err)
			}
		})
	}
	o, _ := parseOptions(with(KeySnapshotMode, "never", KeyMessageKeyColumns, "db1.t:a,b"), flavorMariaDB)
	if o.snapshotMode != "no_data" || !reflect.DeepEqual(o.keyColumnsFor("db1", "t"), []string{"a", "b"}) {
		t.Fatalf("options %+v", o)
	}
}

func TestPluginClasses(t *testing.T) {
	ps := Plugins()
	if !ps[0].Matches("io.debezium.connector.mysql.MySqlConnector") || !ps[0].Matches("mysql") ||
		!ps[1].Matches("io.debezium.connector.mariadb.MariaDbConnector") || !ps[1].Matches("mariadb") {
		t.Fatalf("plugins %+v", ps)
	}
	if flavorOf(ClassMariaDB) != flavorMariaDB || flavorOf("mariadb") != flavorMariaDB || flavorOf(ClassMySQL) != flavorMySQL {
		t.Fatal("flavorOf")
	}
}

// MySQL 8 is not installable here: its flavor differences are covered by
// unit tests only.
func TestFlavorStatements(t *testing.T) {
	for _, tc := range []struct{ flavor, version, want string }{
		{flavorMySQL, "5.7.44-log", "SHOW MASTER STATUS"},
		{flavorMySQL, "8.0.36", "SHOW MASTER STATUS"},
		{flavorMySQL, "8.2.0", "SHOW BINARY LOG STATUS"},
		{flavorMySQL, "8.4.3", "SHOW BINARY LOG STATUS"},
		{flavorMySQL, "9.1.0", "SHOW BINARY LOG STATUS"},
		{flavorMariaDB, "10.4.30-MariaDB", "SHOW MASTER STATUS"},
		{flavorMariaDB, "10.5.2-MariaDB", "SHOW BINLOG STATUS"},
		{flavorMariaDB, "10.11.19-MariaDB-0+deb12u1", "SHOW BINLOG STATUS"},
	} {
		if got := binlogStatusStatement(tc.flavor, tc.version); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.flavor, tc.version, got, tc.want)
		}
	}
	if gtidStatement(flavorMySQL) != "SELECT @@GLOBAL.gtid_executed" || gtidStatement(flavorMariaDB) != "SELECT @@GLOBAL.gtid_binlog_pos" {
		t.Fatal("gtid statements")
	}
	if detectFlavor("8.0.36") != flavorMySQL || detectFlavor("10.11.19-MariaDB-0+deb12u1") != flavorMariaDB {
		t.Fatal("detectFlavor")
	}
}

func TestGTIDSets(t *testing.T) {
	const u1, u2 = "3e11fa47-71ca-11e1-9e33-c80aa9429562", "4e11fa47-71ca-11e1-9e33-c80aa9429563"
	m, err := newGTIDSet(flavorMySQL, u1+":1-5,"+u2+":1-7")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.add(u1 + ":6"); err != nil {
		t.Fatal(err)
	}
	if err := m.add(u2 + ":9"); err != nil {
		t.Fatal(err)
	}
	got := m.String(nil)
	if !strings.Contains(got, u1+":1-6") || !strings.Contains(got, u2+":1-7:9") {
		t.Fatalf("mysql set %s", got)
	}
	keep := func(src string) bool { return src != u2 }
	if got := m.String(keep); got != u1+":1-6" {
		t.Fatalf("gtid.source filtering: %s", got)
	}
	md, err := newGTIDSet(flavorMariaDB, "0-1-10,1-2-7")
	if err != nil {
		t.Fatal(err)
	}
	_ = md.add("0-3-11")
	_ = md.add("2-1-1")
	if got := md.String(nil); got != "0-3-11,1-2-7,2-1-1" {
		t.Fatalf("mariadb set %s", got)
	}
	if got := md.String(func(d string) bool { return d != "1" }); got != "0-3-11,2-1-1" {
		t.Fatalf("mariadb filtered %s", got)
	}
	if _, err := newGTIDSet(flavorMariaDB, "0-1"); err == nil {
		t.Fatal("want an error for a malformed MariaDB GTID")
	}
}

func TestOffsetShape(t *testing.T) {
	p := position{file: "binlog.000003", pos: 154, gtids: "0-1-5", event: 2, row: 1, tsSec: 1700000000, server: 1}
	off := p.offset()
	want := map[string]any{"file": "binlog.000003", "pos": int64(154), "gtids": "0-1-5", "event": int64(2), "row": int64(1), "ts_sec": int64(1700000000), "server_id": int64(1)}
	if !reflect.DeepEqual(off, want) {
		t.Fatalf("offset %v", off)
	}
	if off := (position{file: "f", pos: 4}).offset(); len(off) != 3 {
		t.Fatalf("zero event/row/gtids/server_id must be omitted: %v", off)
	}
	back, snap, ok := parsePosition(map[string]any{"file": "f", "pos": float64(10), "event": float64(3), "row": float64(2), "snapshot": true})
	if !ok || !snap || back.pos != 10 || back.event != 3 || back.row != 2 {
		t.Fatalf("parse %+v %v %v", back, snap, ok)
	}
}

func TestParseEnumValues(t *testing.T) {
	got, err := parseEnumValues(`enum('a','b''q','c,d','')`)
	if err != nil || !reflect.DeepEqual(got, []string{"a", "b'q", "c,d", ""}) {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := parseEnumValues("enum(a)"); err == nil {
		t.Fatal("want error")
	}
}

func TestDDLHeads(t *testing.T) {
	if !ddlHead("SET STATEMENT max_statement_time=60 FOR ALTER TABLE t ADD COLUMN z INT") {
		t.Error("SET STATEMENT ... FOR ALTER TABLE is a table-changing statement")
	}
	for q, want := range map[string]bool{
		"ALTER TABLE t ADD c INT":            true,
		"/* x */ alter  table t drop c":      true,
		"RENAME TABLE a TO b":                true,
		"CREATE TABLE t (id int)":            true,
		"GRANT SELECT ON *.* TO u":           false,
		"CREATE USER x":                      false,
		"DROP TABLE IF EXISTS `t` /* gen */": true,
	} {
		if ddlHead(q) != want {
			t.Errorf("ddlHead(%q) = %v", q, !want)
		}
	}
}
