package mysql

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
)

// openHistory opens the schema history store the configuration names.
func (t *Task) openHistory(ctx context.Context) error {
	if t.o.historyTopic == "" {
		t.hist = &memHistory{}
		return nil
	}
	h, err := newKafkaHistory(ctx, t.o.historyServers, t.o.historyTopic, t.log)
	if err != nil {
		return err
	}
	t.hist = h
	return nil
}

// strictSchema reports whether a TABLE_MAP event that disagrees with the
// schema model fails the task: when the model comes from a durable history
// and no DDL may have been skipped.
func (t *Task) strictSchema() bool { return t.hist.durable() && !t.o.skipUnparseable }

func (t *Task) inScope(db string) bool { return t.o.dbCaptured(db) }

// recoverSchema rebuilds the schema model as of pos from the history: the
// table changes of every record at or before pos, in order.
func (t *Task) recoverSchema(ctx context.Context, pos position) error {
	recs, err := t.hist.records(ctx)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return fmt.Errorf("%w: %s is empty but the connector has a committed offset (%s:%d); set %s=recovery to rebuild it from the current table definitions (safe only if no DDL ran since the offset)",
			ErrHistoryMissing, t.o.historyTopic, pos.file, pos.pos, KeySnapshotMode)
	}
	m := t.newModel()
	p := parser.New()
	applied := 0
	prevSnap := false
	for _, r := range recs {
		// Debezium's history comparator treats any "snapshot" key as a
		// snapshot position (3.x writes "INITIAL", older versions true).
		_, snap := r.Position[offSnapshot]
		if !atOrBefore(t.o.flavor, r.Position, pos) {
			prevSnap = snap
			continue
		}
		if snap && !prevSnap {
			// A (new) snapshot's definitions replace everything before
			// them, including records of a binlog that was reset since.
			m = t.newModel()
		}
		prevSnap = snap
		if len(r.TableChanges) == 0 {
			// Database statements carry no table changes: their character
			// set is read from the statement.
			if stmts, _, err := parseDDL(p, r.DDL); err == nil {
				_, _ = m.applyDDL(stmts, r.DatabaseName, func(string) bool { return false })
			}
			applied++
			continue
		}
		m.apply(r.TableChanges)
		applied++
	}
	t.model = m
	t.log.Info("schema recovered from the schema history topic", "topic", t.o.historyTopic, "records", len(recs), "applied", applied, "tables", len(m.tables), "file", pos.file, "pos", pos.pos)
	return nil
}

// captureSchema reads the current definition of every table in the
// captured databases (SHOW CREATE TABLE), makes it the schema model and
// writes it to the history at off (the snapshot or streaming start).
func (t *Task) captureSchema(ctx context.Context, c *client.Conn, off map[string]any) error {
	m := t.newModel()
	r, err := c.Execute("SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME FROM information_schema.SCHEMATA ORDER BY SCHEMA_NAME")
	if err != nil {
		return fmt.Errorf("mysql: list databases: %w", err)
	}
	var dbs []string
	for i := 0; i < r.RowNumber(); i++ {
		db, _ := r.GetString(i, 0)
		cs, _ := r.GetString(i, 1)
		if t.inScope(db) {
			dbs = append(dbs, db)
			m.dbCharset[db] = cs
		}
	}
	p := parser.New()
	var recs []historyRecord
	for _, db := range dbs {
		ddl := "CREATE DATABASE IF NOT EXISTS " + quoteIdent(db)
		if cs := m.dbCharset[db]; cs != "" {
			ddl += " CHARACTER SET " + cs
		}
		recs = append(recs, t.historyRecord(db, ddl, nil, off))
		tr, err := c.Execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA = " + quoteString(db) + " ORDER BY TABLE_NAME")
		if err != nil {
			return fmt.Errorf("mysql: list tables of %s: %w", db, err)
		}
		for i := 0; i < tr.RowNumber(); i++ {
			name, _ := tr.GetString(i, 0)
			sr, err := c.Execute("SHOW CREATE TABLE " + quoteIdent(db) + "." + quoteIdent(name))
			if err != nil {
				return fmt.Errorf("mysql: SHOW CREATE TABLE %s.%s: %w", db, name, err)
			}
			ddl, _ := sr.GetString(0, 1)
			stmts, spatial, err := parseDDL(p, ddl)
			if err != nil {
				// Syntax the parser lacks (INVISIBLE or system-versioned
				// columns, ...): describe the table from information_schema.
				var synth string
				if synth, err = describeForHistory(c, db, name); err == nil {
					stmts, spatial, err = parseDDL(p, synth)
				}
			}
			var changes []histChange
			if err == nil {
				m.written = spatial
				changes, err = m.applyDDL(stmts, db, t.inScope)
				m.written = nil
			}
			if err != nil {
				if !t.o.skipUnparseable {
					return fmt.Errorf("mysql: cannot parse the definition of %s.%s (set %s=true to skip it): %q: %v", db, name, KeySkipUnparseable, ddl, err)
				}
				t.log.Warn("skipping a table definition the parser cannot handle", "table", db+"."+name, "ddl", ddl, "error", err)
				continue
			}
			recs = append(recs, t.historyRecord(db, ddl, changes, off))
		}
	}
	for _, hr := range recs {
		if err := t.hist.append(ctx, hr); err != nil {
			return err
		}
	}
	t.model = m
	return nil
}

// newModel is an empty schema model for the task's flavor.
func (t *Task) newModel() *schemaModel {
	m := newSchemaModel()
	m.onUpdateGenerated = t.o.flavor != flavorMariaDB
	return m
}

func (t *Task) historyRecord(db, ddl string, changes []histChange, off map[string]any) historyRecord {
	if changes == nil {
		changes = []histChange{}
	}
	return historyRecord{Source: t.partition, Position: off, TsMs: t.now().UnixMilli(), DatabaseName: db, DDL: ddl, TableChanges: changes}
}

// fromTableMap is a table definition derived from a TABLE_MAP event's
// columns, for a table the model lacks or disagrees with when the model is
// not authoritative.
func fromTableMap(cols []column, pk []int) *histTable {
	t := &histTable{PrimaryKeyColumnNames: []string{}, Attributes: []any{}}
	for i, c := range cols {
		n := c.typeName()
		t.Columns = append(t.Columns, histColumn{Name: c.name, JDBCType: 1111, TypeName: n, TypeExpression: n, Position: i + 1, Optional: c.nullable, HasDefaultValue: c.nullable})
	}
	for _, i := range pk {
		t.PrimaryKeyColumnNames = append(t.PrimaryKeyColumnNames, cols[i].name)
	}
	return t
}

// parseDDL parses a statement with the TiDB parser, spatial column types
// rewritten (see rewriteSpatial).
func parseDDL(p *parser.Parser, q string) ([]ast.StmtNode, map[string]string, error) {
	rq, spatial := rewriteSpatial(normalizeMariaDB(q))
	stmts, _, err := p.Parse(rq, "", "")
	return stmts, spatial, err
}

// describeForHistory writes a CREATE TABLE statement for a table from
// information_schema in the syntax the parser knows. Generated columns'
// expressions are left out: Debezium's "generated" means AUTO_INCREMENT
// (or SERIAL, or MySQL's ON UPDATE), not a computed column.
func describeForHistory(c *client.Conn, db, name string) (string, error) {
	r, err := c.Execute(`SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COALESCE(CHARACTER_SET_NAME, ''), EXTRA, COLUMN_COMMENT, COLUMN_KEY
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ` + quoteString(db) + ` AND TABLE_NAME = ` + quoteString(name) + ` ORDER BY ORDINAL_POSITION`)
	if err != nil {
		return "", fmt.Errorf("describe %s.%s: %w", db, name, err)
	}
	var b strings.Builder
	b.WriteString("CREATE TABLE " + quoteIdent(name) + " (")
	for i := 0; i < r.RowNumber(); i++ {
		cn, _ := r.GetString(i, 0)
		ct, _ := r.GetString(i, 1)
		nl, _ := r.GetString(i, 2)
		cs, _ := r.GetString(i, 3)
		extra, _ := r.GetString(i, 4)
		comment, _ := r.GetString(i, 5)
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(cn) + " " + ct)
		if cs != "" && !strings.Contains(strings.ToLower(ct), "character set") {
			b.WriteString(" CHARACTER SET " + cs)
		}
		if nl != "YES" {
			b.WriteString(" NOT NULL")
		}
		ex := strings.ToLower(extra)
		if strings.Contains(ex, "auto_increment") {
			b.WriteString(" AUTO_INCREMENT")
		}
		if strings.Contains(ex, "on update") {
			b.WriteString(" ON UPDATE CURRENT_TIMESTAMP")
		}
		if comment != "" {
			b.WriteString(" COMMENT " + quoteString(comment))
		}
	}
	pr, err := c.Execute(`SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ` + quoteString(db) + ` AND TABLE_NAME = ` + quoteString(name) + ` AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`)
	if err != nil {
		return "", fmt.Errorf("primary key of %s.%s: %w", db, name, err)
	}
	if pr.RowNumber() > 0 {
		var pk []string
		for i := 0; i < pr.RowNumber(); i++ {
			cn, _ := pr.GetString(i, 0)
			pk = append(pk, quoteIdent(cn))
		}
		b.WriteString(", PRIMARY KEY (" + strings.Join(pk, ", ") + ")")
	}
	b.WriteString(")")
	cr, err := c.Execute(`SELECT CCSA.CHARACTER_SET_NAME FROM information_schema.TABLES T JOIN information_schema.COLLATION_CHARACTER_SET_APPLICABILITY CCSA
		ON CCSA.COLLATION_NAME = T.TABLE_COLLATION WHERE T.TABLE_SCHEMA = ` + quoteString(db) + ` AND T.TABLE_NAME = ` + quoteString(name))
	if err == nil && cr.RowNumber() > 0 {
		if cs, _ := cr.GetString(0, 0); cs != "" {
			b.WriteString(" DEFAULT CHARSET=" + cs)
		}
	}
	return b.String(), nil
}

// mariaDBPrefixes are MariaDB statement forms rewritten to the equivalent
// the parser knows before parsing.
var (
	setStatementFor = regexp.MustCompile(`(?is)^\s*SET\s+STATEMENT\s+.*?\bFOR\s+`)
	orReplaceTable  = regexp.MustCompile(`(?is)^(\s*CREATE\s+)OR\s+REPLACE\s+((?:TEMPORARY\s+)?TABLE\b)`)
	alterOnline     = regexp.MustCompile(`(?is)^(\s*ALTER\s+)ONLINE\s+`)
)

// normalizeMariaDB rewrites MariaDB-only statement heads: SET STATEMENT
// ... FOR, CREATE OR REPLACE TABLE (applied as a CREATE, which replaces
// the table in the model) and ALTER ONLINE.
func normalizeMariaDB(q string) string {
	q = setStatementFor.ReplaceAllString(q, "")
	q = orReplaceTable.ReplaceAllString(q, "${1}${2}")
	return alterOnline.ReplaceAllString(q, "${1}")
}
