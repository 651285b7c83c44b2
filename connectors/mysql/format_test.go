package mysql

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/sluicehq/sluice/runtime/connect"
)

// ddlColumns applies a CREATE TABLE and returns its columns as the
// history's JSON objects.
func ddlColumns(t *testing.T, m *schemaModel, ddl string) []map[string]any {
	t.Helper()
	stmts, written, err := parseDDL(parser.New(), ddl)
	if err != nil {
		t.Fatalf("%s: %v", ddl, err)
	}
	m.written = written
	ch, err := m.applyDDL(stmts, "db", func(string) bool { return true })
	m.written = nil
	if err != nil || len(ch) != 1 {
		t.Fatalf("%s: %v %+v", ddl, err, ch)
	}
	var out []map[string]any
	for _, c := range ch[0].Table.Columns {
		b, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

// TestDebeziumColumnTypes checks each column type against what Debezium's
// MySQL/MariaDB DDL parsers record for it (DataTypeResolver entries of
// MySqlAntlrDdlParser/MariaDbAntlrDdlParser, ColumnDefinitionParserListener):
// jdbcType, typeName (= typeExpression), length, scale, charsetName.
func TestDebeziumColumnTypes(t *testing.T) {
	type want struct {
		jdbc    int
		name    string
		length  any // nil: key absent
		scale   any
		charset any // nil: JSON null
	}
	cases := []struct {
		def string
		want
	}{
		{"tinyint(4)", want{-6, "TINYINT", 4, nil, nil}},
		{"tinyint(3) unsigned", want{-6, "TINYINT UNSIGNED", 3, nil, nil}},
		{"tinyint(1)", want{-6, "TINYINT", 1, nil, nil}},
		{"bool", want{16, "BOOL", nil, nil, nil}},
		{"boolean", want{16, "BOOLEAN", nil, nil, nil}},
		{"smallint(6)", want{5, "SMALLINT", 6, nil, nil}},
		{"smallint unsigned", want{5, "SMALLINT UNSIGNED", nil, nil, nil}},
		{"mediumint(9)", want{4, "MEDIUMINT", 9, nil, nil}},
		{"int(11)", want{4, "INT", 11, nil, nil}},
		{"int", want{4, "INT", nil, nil, nil}},
		{"integer", want{4, "INTEGER", nil, nil, nil}},
		{"int(10) unsigned zerofill", want{4, "INT UNSIGNED ZEROFILL", 10, nil, nil}},
		{"int(5) zerofill", want{4, "INT UNSIGNED ZEROFILL", 5, nil, nil}},
		{"bigint(20)", want{-5, "BIGINT", 20, nil, nil}},
		{"bigint unsigned", want{-5, "BIGINT UNSIGNED", nil, nil, nil}},
		{"float", want{6, "FLOAT", nil, nil, nil}},
		{"float(7,3)", want{6, "FLOAT", 7, 3, nil}},
		{"float(30)", want{6, "FLOAT", nil, nil, nil}},
		{"double", want{8, "DOUBLE", nil, nil, nil}},
		{"double(10,2)", want{8, "DOUBLE", 10, 2, nil}},
		{"double precision", want{8, "DOUBLE PRECISION", nil, nil, nil}},
		{"real", want{7, "REAL", nil, nil, nil}},
		{"decimal(8,2)", want{3, "DECIMAL", 8, 2, nil}},
		{"decimal", want{3, "DECIMAL", 10, 0, nil}},
		{"decimal(10,0) unsigned", want{3, "DECIMAL UNSIGNED", 10, 0, nil}},
		{"numeric(5,1)", want{2, "NUMERIC", 5, 1, nil}},
		{"fixed(3,1)", want{3, "FIXED", 3, 1, nil}},
		{"bit", want{-7, "BIT", 1, nil, nil}},
		{"bit(1)", want{-7, "BIT", 1, nil, nil}},
		{"bit(12)", want{-7, "BIT", 12, nil, nil}},
		{"char(3)", want{1, "CHAR", 3, nil, "utf8mb4"}},
		{"char", want{1, "CHAR", nil, nil, "utf8mb4"}},
		{"varchar(10)", want{12, "VARCHAR", 10, nil, "utf8mb4"}},
		{"varchar(5) character set latin1", want{12, "VARCHAR", 5, nil, "latin1"}},
		{"varchar(5) collate latin1_bin", want{12, "VARCHAR", 5, nil, "latin1"}},
		{"tinytext", want{12, "TINYTEXT", nil, nil, "utf8mb4"}},
		{"text", want{12, "TEXT", nil, nil, "utf8mb4"}},
		{"mediumtext", want{12, "MEDIUMTEXT", nil, nil, "utf8mb4"}},
		{"longtext", want{12, "LONGTEXT", nil, nil, "utf8mb4"}},
		{"nchar(3)", want{-15, "NCHAR", 3, nil, "utf8"}},
		{"nvarchar(4)", want{-9, "NVARCHAR", 4, nil, "utf8"}},
		{"binary(4)", want{-2, "BINARY", 4, nil, nil}},
		{"varbinary(8)", want{-3, "VARBINARY", 8, nil, nil}},
		{"tinyblob", want{2004, "TINYBLOB", nil, nil, nil}},
		{"blob", want{2004, "BLOB", nil, nil, nil}},
		{"mediumblob", want{2004, "MEDIUMBLOB", nil, nil, nil}},
		{"longblob", want{2004, "LONGBLOB", nil, nil, nil}},
		{"date", want{91, "DATE", nil, nil, nil}},
		{"time", want{92, "TIME", nil, nil, nil}},
		{"time(3)", want{92, "TIME", 3, nil, nil}},
		{"datetime", want{93, "DATETIME", nil, nil, nil}},
		{"datetime(6)", want{93, "DATETIME", 6, nil, nil}},
		{"timestamp", want{2014, "TIMESTAMP", nil, nil, nil}},
		{"timestamp(3)", want{2014, "TIMESTAMP", 3, nil, nil}},
		{"year", want{4, "YEAR", nil, nil, nil}},
		{"year(4)", want{4, "YEAR", 4, nil, nil}},
		{"enum('a','b')", want{1, "ENUM", 1, nil, "utf8mb4"}},
		{"set('a','b','c')", want{1, "SET", 5, nil, "utf8mb4"}},
		{"set('x')", want{1, "SET", 1, nil, "utf8mb4"}},
		{"json", want{1111, "JSON", nil, nil, nil}},
		{"geometry", want{1111, "GEOMETRY", nil, nil, nil}},
		{"point", want{1111, "POINT", nil, nil, nil}},
		{"linestring", want{1111, "LINESTRING", nil, nil, nil}},
		{"polygon", want{1111, "POLYGON", nil, nil, nil}},
		{"multipoint", want{1111, "MULTIPOINT", nil, nil, nil}},
		{"multilinestring", want{1111, "MULTILINESTRING", nil, nil, nil}},
		{"multipolygon", want{1111, "MULTIPOLYGON", nil, nil, nil}},
		{"geometrycollection", want{1111, "GEOMETRYCOLLECTION", nil, nil, nil}},
	}
	num := func(v any) any {
		if f, ok := v.(float64); ok {
			return int(f)
		}
		return v
	}
	for _, c := range cases {
		t.Run(c.def, func(t *testing.T) {
			col := ddlColumns(t, newSchemaModel(), "CREATE TABLE x (c "+c.def+") DEFAULT CHARSET=utf8mb4")[0]
			if got := num(col["jdbcType"]); got != c.jdbc {
				t.Errorf("jdbcType %v, want %d", got, c.jdbc)
			}
			if col["typeName"] != c.name || col["typeExpression"] != c.name {
				t.Errorf("typeName %v typeExpression %v, want %s", col["typeName"], col["typeExpression"], c.name)
			}
			if l, ok := col["length"]; num(l) != c.length || ok != (c.length != nil) {
				t.Errorf("length %v (present %v), want %v", l, ok, c.length)
			}
			if s, ok := col["scale"]; num(s) != c.scale || ok != (c.scale != nil) {
				t.Errorf("scale %v (present %v), want %v", s, ok, c.scale)
			}
			if cs, ok := col["charsetName"]; !ok || cs != c.charset {
				t.Errorf("charsetName %v (present %v), want %v", cs, ok, c.charset)
			}
		})
	}
}

// TestDebeziumColumnAttributes checks nullability, defaults, auto
// increment, generated, comments and ENUM/SET values as Debezium's
// parsers record them (ColumnEditorImpl: a nullable column has a default;
// DefaultValueParserListener: CURRENT_TIMESTAMP/NOW() become the epoch,
// literals lose their quotes).
func TestDebeziumColumnAttributes(t *testing.T) {
	ddl := "CREATE TABLE x (" +
		"id INT NOT NULL AUTO_INCREMENT, " +
		"a VARCHAR(10) NOT NULL DEFAULT 'x' COMMENT 'the a', " +
		"b INT, " +
		"c INT NOT NULL, " +
		"d INT DEFAULT NULL, " +
		"e INT DEFAULT -5, " +
		"ts TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, " +
		"dt DATETIME(3) DEFAULT now(3), " +
		"g INT AS (b + 1) VIRTUAL, " +
		"en ENUM('p','it''s') NOT NULL, " +
		"s SERIAL, " +
		"PRIMARY KEY (id))"
	type want struct {
		optional, autoInc, generated, hasDefault bool
		def                                      any // nil: key absent
		comment                                  any
		enum                                     string
	}
	cases := []struct {
		flavor string
		col    string
		want
	}{
		{flavorMariaDB, "id", want{false, true, true, false, nil, nil, ""}},
		{flavorMariaDB, "a", want{false, false, false, true, "x", "the a", ""}},
		{flavorMariaDB, "b", want{true, false, false, true, nil, nil, ""}},
		{flavorMariaDB, "c", want{false, false, false, false, nil, nil, ""}},
		{flavorMariaDB, "d", want{true, false, false, true, nil, nil, ""}},
		{flavorMariaDB, "e", want{true, false, false, true, "-5", nil, ""}},
		{flavorMariaDB, "ts", want{false, false, false, true, "1970-01-01 00:00:00", nil, ""}},
		{flavorMySQL, "ts", want{false, true, true, true, "1970-01-01 00:00:00", nil, ""}},
		{flavorMariaDB, "dt", want{true, false, false, true, "1970-01-01 00:00:00", nil, ""}},
		{flavorMariaDB, "g", want{true, false, false, true, nil, nil, ""}},
		{flavorMariaDB, "en", want{false, false, false, false, nil, nil, "'p','it''s'"}},
		{flavorMariaDB, "s", want{false, true, true, false, nil, nil, ""}},
	}
	for _, c := range cases {
		t.Run(c.flavor+"/"+c.col, func(t *testing.T) {
			task := &Task{o: &options{flavor: c.flavor}}
			var col map[string]any
			for _, v := range ddlColumns(t, task.newModel(), ddl) {
				if v["name"] == c.col {
					col = v
				}
			}
			if col == nil {
				t.Fatalf("no column %s", c.col)
			}
			if col["optional"] != c.optional || col["autoIncremented"] != c.autoInc || col["generated"] != c.generated || col["hasDefaultValue"] != c.hasDefault {
				t.Errorf("optional %v autoIncremented %v generated %v hasDefaultValue %v, want %v %v %v %v",
					col["optional"], col["autoIncremented"], col["generated"], col["hasDefaultValue"], c.optional, c.autoInc, c.generated, c.hasDefault)
			}
			if d, ok := col["defaultValueExpression"]; d != c.def || ok != (c.def != nil) {
				t.Errorf("defaultValueExpression %v (present %v), want %v", d, ok, c.def)
			}
			if cm, ok := col["comment"]; !ok || cm != c.comment {
				t.Errorf("comment %v (present %v), want %v", cm, ok, c.comment)
			}
			ev, ok := col["enumValues"].([]any)
			if !ok {
				t.Fatalf("enumValues %v: want an array (Debezium always writes it)", col["enumValues"])
			}
			var labels []string
			for _, e := range ev {
				labels = append(labels, e.(string))
			}
			if got := strings.Join(labels, ","); got != c.enum {
				t.Errorf("enumValues %s, want %s", got, c.enum)
			}
		})
	}
}

// TestHistoryRecordShape checks the keys of a history record and its
// tableChanges against Debezium's HistoryRecord/JsonTableChangeSerializer:
// schemaName absent when null, a DROP with neither table nor comment, a
// CREATE with table, comment, attributes and per-column keys (nativeType,
// length, scale, defaultValueExpression only when set).
func TestHistoryRecordShape(t *testing.T) {
	m := newSchemaModel()
	stmts, _, _ := parseDDL(parser.New(), "CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(3)) DEFAULT CHARSET=latin1 COMMENT='tc'; DROP TABLE t")
	ch, err := m.applyDDL(stmts, "db", func(string) bool { return true })
	if err != nil || len(ch) != 2 {
		t.Fatalf("%v %+v", err, ch)
	}
	rec := historyRecord{Source: map[string]any{"server": "srv"}, Position: map[string]any{"file": "b.000001", "pos": 4}, TsMs: 1, DatabaseName: "db", DDL: "x", TableChanges: ch}
	b, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) string {
		var k []string
		for n := range m {
			k = append(k, n)
		}
		sort.Strings(k)
		return strings.Join(k, ",")
	}
	tcs := v["tableChanges"].([]any)
	create, drop := tcs[0].(map[string]any), tcs[1].(map[string]any)
	table := create["table"].(map[string]any)
	col := table["columns"].([]any)[0].(map[string]any)
	cases := []struct{ what, got, want string }{
		{"record", keys(v), "databaseName,ddl,position,source,tableChanges,ts_ms"},
		{"create", keys(create), "comment,id,table,type"},
		{"drop", keys(drop), "id,type"},
		{"table", keys(table), "attributes,columns,defaultCharsetName,primaryKeyColumnNames"},
		{"column", keys(col), "autoIncremented,charsetName,comment,enumValues,generated,hasDefaultValue,jdbcType,name,optional,position,typeExpression,typeName"},
		{"comment", create["comment"].(string), "tc"},
		{"drop id", drop["id"].(string), `"db"."t"`},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %s, want %s", c.what, c.got, c.want)
		}
	}
	// The record reads back into the same model.
	var back historyRecord
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if back.TableChanges[1].Table != nil || back.TableChanges[0].Table.Comment != nil || *back.TableChanges[0].Comment != "tc" {
		t.Errorf("read back %+v", back.TableChanges)
	}
}

// TestSchemaChangeTableChanges checks the schema change event's
// tableChanges structs against Debezium's SchemaFactory and
// ConnectTableChangeSerializer: field order, versions, a null table for a
// DROP, enumValues only for ENUM/SET.
func TestSchemaChangeTableChanges(t *testing.T) {
	names := func(s *connect.Schema) string {
		var n []string
		for _, f := range s.Fields {
			n = append(n, f.Name)
		}
		return strings.Join(n, ",")
	}
	m := newSchemaModel()
	stmts, _, _ := parseDDL(parser.New(), "CREATE TABLE t (id INT PRIMARY KEY, e ENUM('a')); DROP TABLE t")
	ch, err := m.applyDDL(stmts, "db", func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	structs := tableChangeStructs(ch)
	create, drop := structs[0].(*connect.Struct), structs[1].(*connect.Struct)
	cols := create.Get("table").(*connect.Struct).Get("columns").([]any)
	cases := []struct {
		what string
		got  any
		want any
	}{
		{"column fields", names(changeColumnSchema), "name,jdbcType,nativeType,typeName,typeExpression,charsetName,length,scale,position,optional,autoIncremented,generated,comment,defaultValueExpression,enumValues"},
		{"table fields", names(changeTableSchema), "defaultCharsetName,primaryKeyColumnNames,columns,comment"},
		{"change fields", names(changeSchema), "type,id,table"},
		{"column version", changeColumnSchema.Version, int32(1)},
		{"table version", changeTableSchema.Version, int32(1)},
		{"change version", changeSchema.Version, int32(1)},
		{"table optional", changeTableSchema.Optional, true},
		{"drop table", drop.Get("table") == nil, true},
		{"int enumValues", cols[0].(*connect.Struct).Get("enumValues") == nil, true},
		{"enum enumValues", len(cols[1].(*connect.Struct).Get("enumValues").([]any)), 1},
		{"int code", cols[0].(*connect.Struct).Get("jdbcType"), int32(4)},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
}

// TestSchemaChangeSchemaNames: the schema change key and value schemas are
// named after the connector (io.debezium.connector.<mysql|mariadb>.
// SchemaChangeKey/Value), as Debezium's SchemaFactory names them.
func TestSchemaChangeSchemaNames(t *testing.T) {
	for _, c := range []struct{ flavor, key, value string }{
		{flavorMySQL, "io.debezium.connector.mysql.SchemaChangeKey", "io.debezium.connector.mysql.SchemaChangeValue"},
		{flavorMariaDB, "io.debezium.connector.mariadb.SchemaChangeKey", "io.debezium.connector.mariadb.SchemaChangeValue"},
	} {
		o := &options{flavor: c.flavor}
		if k, v := o.schemaChangeKeySchema(), o.schemaChangeValueSchema(); k.Name != c.key || v.Name != c.value || k.Version != 1 || v.Version != 1 {
			t.Errorf("%s: key %s v%d, value %s v%d; want %s, %s (version 1)", c.flavor, k.Name, k.Version, v.Name, v.Version, c.key, c.value)
		}
	}
}

// TestChangedTables: a schema change event's source.table names the
// tables the DDL changed (Debezium's BinlogSourceInfo.table()).
func TestChangedTables(t *testing.T) {
	cases := []struct {
		changes []histChange
		want    string
	}{
		{nil, ""},
		{[]histChange{{Type: changeCreate, ID: `"db"."t"`}}, "t"},
		{[]histChange{{Type: changeDrop, ID: `"db"."a"`}, {Type: changeDrop, ID: `"db"."b"`}, {Type: changeDrop, ID: `"db"."a"`}}, "a,b"},
	}
	for _, c := range cases {
		if got := changedTables(c.changes); got != c.want {
			t.Errorf("changedTables(%+v) = %q, want %q", c.changes, got, c.want)
		}
	}
}
