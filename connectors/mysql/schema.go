package mysql

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/pingcap/tidb/pkg/parser/ast"
	"github.com/pingcap/tidb/pkg/parser/format"
	pmysql "github.com/pingcap/tidb/pkg/parser/mysql"
	"github.com/pingcap/tidb/pkg/parser/types"
)

// histColumn is a column in Debezium's tableChanges format (the JSON keys of
// its JsonTableChangeSerializer).
type histColumn struct {
	Name                   string   `json:"name"`
	JDBCType               int      `json:"jdbcType"`
	TypeName               string   `json:"typeName"`
	TypeExpression         string   `json:"typeExpression"`
	CharsetName            *string  `json:"charsetName"`
	Length                 *int     `json:"length,omitempty"`
	Scale                  *int     `json:"scale,omitempty"`
	Position               int      `json:"position"`
	Optional               bool     `json:"optional"`
	AutoIncremented        bool     `json:"autoIncremented"`
	Generated              bool     `json:"generated"`
	Comment                *string  `json:"comment"`
	HasDefaultValue        bool     `json:"hasDefaultValue"`
	DefaultValueExpression *string  `json:"defaultValueExpression,omitempty"`
	EnumValues             []string `json:"enumValues"`
}

// MarshalJSON writes enumValues as [] when the column has none: Debezium's
// column model never holds a null list, so its history records always
// carry the key.
func (c histColumn) MarshalJSON() ([]byte, error) {
	type plain histColumn
	if c.EnumValues == nil {
		c.EnumValues = []string{}
	}
	return json.Marshal(plain(c))
}

// histTable is a table definition in Debezium's tableChanges format.
type histTable struct {
	DefaultCharsetName    *string      `json:"defaultCharsetName"`
	PrimaryKeyColumnNames []string     `json:"primaryKeyColumnNames"`
	Columns               []histColumn `json:"columns"`
	Attributes            []any        `json:"attributes"`
	Comment               *string      `json:"-"`
}

// histChange is one tableChanges entry: CREATE, ALTER or DROP of a table.
// A DROP has no table (Debezium records only the id).
type histChange struct {
	Type       string     `json:"type"`
	ID         string     `json:"id"`
	PreviousID string     `json:"previousId,omitempty"`
	Table      *histTable `json:"table,omitempty"`
	Comment    *string    `json:"comment"`
}

// MarshalJSON leaves out table and comment together when there is no
// table, as Debezium's JsonTableChangeSerializer does.
func (c histChange) MarshalJSON() ([]byte, error) {
	type plain histChange
	if c.Table == nil {
		return json.Marshal(struct {
			Type       string `json:"type"`
			ID         string `json:"id"`
			PreviousID string `json:"previousId,omitempty"`
		}{c.Type, c.ID, c.PreviousID})
	}
	return json.Marshal(plain(c))
}

// Table change types.
const (
	changeCreate = "CREATE"
	changeAlter  = "ALTER"
	changeDrop   = "DROP"
)

// tableKey names a table in the schema model.
type tableKey struct{ db, name string }

// debeziumID is Debezium's double-quoted table id ("db"."table").
func (k tableKey) debeziumID() string { return `"` + k.db + `"."` + k.name + `"` }

func parseDebeziumID(s string) (tableKey, bool) {
	parts := strings.Split(s, `"."`)
	if len(parts) != 2 || !strings.HasPrefix(parts[0], `"`) || !strings.HasSuffix(parts[1], `"`) {
		return tableKey{}, false
	}
	return tableKey{strings.TrimPrefix(parts[0], `"`), strings.TrimSuffix(parts[1], `"`)}, true
}

// schemaModel holds the table definitions as of a binlog position: built
// from the snapshot's SHOW CREATE TABLE, changed by every DDL, and recovered
// from the schema history topic on restart. Table and database names are
// kept as the server reports them; lookups are case-insensitive, as on a
// server with lower_case_table_names.
type schemaModel struct {
	tables    map[tableKey]*histTable
	dbCharset map[string]string
	// written maps the (lower-case) names of columns of the statement being
	// applied to the type keyword the statement wrote where the parser
	// loses it: spatial types and synonyms (see rewriteSpatial).
	written map[string]string
	// onUpdateGenerated marks ON UPDATE columns autoIncremented and
	// generated, as Debezium's MySQL parser does (its MariaDB parser does
	// not).
	onUpdateGenerated bool
}

func newSchemaModel() *schemaModel {
	return &schemaModel{tables: map[tableKey]*histTable{}, dbCharset: map[string]string{}}
}

func (m *schemaModel) find(db, name string) (tableKey, *histTable) {
	k := tableKey{db, name}
	if t, ok := m.tables[k]; ok {
		return k, t
	}
	for k, t := range m.tables {
		if strings.EqualFold(k.db, db) && strings.EqualFold(k.name, name) {
			return k, t
		}
	}
	return k, nil
}

// apply applies table changes (from a history record or a parsed DDL).
func (m *schemaModel) apply(changes []histChange) {
	for _, c := range changes {
		k, ok := parseDebeziumID(c.ID)
		if !ok {
			continue
		}
		if c.PreviousID != "" {
			if pk, ok := parseDebeziumID(c.PreviousID); ok {
				if old, _ := m.find(pk.db, pk.name); old != (tableKey{}) {
					delete(m.tables, old)
				}
			}
		}
		old, _ := m.find(k.db, k.name)
		delete(m.tables, old)
		if c.Type != changeDrop && c.Table != nil {
			if c.Table.Comment == nil {
				c.Table.Comment = c.Comment
			}
			m.tables[k] = c.Table
		}
	}
}

// clone returns a copy that applyDDL can change without touching m (table
// definitions are replaced, never changed in place).
func (m *schemaModel) clone() *schemaModel {
	n := newSchemaModel()
	n.onUpdateGenerated = m.onUpdateGenerated
	for k, v := range m.tables {
		n.tables[k] = v
	}
	for k, v := range m.dbCharset {
		n.dbCharset[k] = v
	}
	return n
}

// keys returns the model's tables in order (for deterministic snapshots).
func (m *schemaModel) keys() []tableKey {
	out := make([]tableKey, 0, len(m.tables))
	for k := range m.tables {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].db != out[j].db {
			return out[i].db < out[j].db
		}
		return out[i].name < out[j].name
	})
	return out
}

// ddlError is a DDL statement the model cannot apply.
type ddlError struct{ msg string }

func (e *ddlError) Error() string { return e.msg }

// applyDDL applies parsed statements to the model and returns the table
// changes they make. inScope reports whether a database's tables are kept
// in the model. defaultDB resolves unqualified names.
func (m *schemaModel) applyDDL(stmts []ast.StmtNode, defaultDB string, inScope func(db string) bool) ([]histChange, error) {
	var out []histChange
	dbOf := func(n *ast.TableName) string {
		if n.Schema.O != "" {
			return n.Schema.O
		}
		return defaultDB
	}
	for _, st := range stmts {
		switch x := st.(type) {
		case *ast.CreateDatabaseStmt:
			for _, o := range x.Options {
				if o.Tp == ast.DatabaseOptionCharset {
					m.dbCharset[x.Name.O] = o.Value
				}
			}
		case *ast.AlterDatabaseStmt:
			name := x.Name.O
			if x.AlterDefaultDatabase || name == "" {
				name = defaultDB
			}
			for _, o := range x.Options {
				if o.Tp == ast.DatabaseOptionCharset {
					m.dbCharset[name] = o.Value
				}
			}
		case *ast.DropDatabaseStmt:
			for _, k := range m.keys() {
				if strings.EqualFold(k.db, x.Name.O) {
					out = append(out, histChange{Type: changeDrop, ID: k.debeziumID()})
					delete(m.tables, k)
				}
			}
		case *ast.CreateTableStmt:
			db := dbOf(x.Table)
			if !inScope(db) || x.TemporaryKeyword != ast.TemporaryNone {
				continue
			}
			k := tableKey{db, x.Table.Name.O}
			if ek, t := m.find(k.db, k.name); t != nil && x.IfNotExists {
				continue
			} else if t != nil {
				delete(m.tables, ek)
			}
			var t *histTable
			if x.ReferTable != nil {
				_, src := m.find(dbOf(x.ReferTable), x.ReferTable.Name.O)
				if src == nil {
					return out, &ddlError{fmt.Sprintf("CREATE TABLE %s LIKE %s: the source table is not in the schema history", x.Table.Name.O, x.ReferTable.Name.O)}
				}
				t = cloneTable(src)
			} else {
				var err error
				if t, err = m.tableFromCreate(x, db); err != nil {
					return out, err
				}
			}
			m.tables[k] = t
			out = append(out, histChange{Type: changeCreate, ID: k.debeziumID(), Table: t, Comment: t.Comment})
		case *ast.DropTableStmt:
			if x.IsView || x.TemporaryKeyword != ast.TemporaryNone {
				continue
			}
			for _, tn := range x.Tables {
				k, t := m.find(dbOf(tn), tn.Name.O)
				if t == nil {
					continue
				}
				delete(m.tables, k)
				out = append(out, histChange{Type: changeDrop, ID: k.debeziumID()})
			}
		case *ast.RenameTableStmt:
			for _, tt := range x.TableToTables {
				ok, t := m.find(dbOf(tt.OldTable), tt.OldTable.Name.O)
				nk := tableKey{dbOf(tt.NewTable), tt.NewTable.Name.O}
				if t == nil {
					if inScope(nk.db) {
						return out, &ddlError{fmt.Sprintf("RENAME TABLE %s.%s: the table is not in the schema history", ok.db, ok.name)}
					}
					continue
				}
				delete(m.tables, ok)
				if !inScope(nk.db) {
					out = append(out, histChange{Type: changeDrop, ID: ok.debeziumID()})
					continue
				}
				m.tables[nk] = t
				out = append(out, histChange{Type: changeAlter, ID: nk.debeziumID(), PreviousID: ok.debeziumID(), Table: t, Comment: t.Comment})
			}
		case *ast.AlterTableStmt:
			db := dbOf(x.Table)
			k, t := m.find(db, x.Table.Name.O)
			if t == nil {
				if inScope(db) {
					return out, &ddlError{fmt.Sprintf("ALTER TABLE %s.%s: the table is not in the schema history", db, x.Table.Name.O)}
				}
				continue
			}
			nt := cloneTable(t)
			nk := k
			for _, sp := range x.Specs {
				var err error
				if nk, err = m.alter(nt, nk, sp, db); err != nil {
					return out, err
				}
			}
			renumber(nt)
			delete(m.tables, k)
			if !inScope(nk.db) {
				out = append(out, histChange{Type: changeDrop, ID: k.debeziumID()})
				continue
			}
			m.tables[nk] = nt
			c := histChange{Type: changeAlter, ID: nk.debeziumID(), Table: nt, Comment: nt.Comment}
			if nk != k {
				c.PreviousID = k.debeziumID()
			}
			out = append(out, c)
		}
	}
	return out, nil
}

func cloneTable(t *histTable) *histTable {
	n := *t
	n.PrimaryKeyColumnNames = append([]string{}, t.PrimaryKeyColumnNames...)
	n.Columns = append([]histColumn(nil), t.Columns...)
	n.Attributes = []any{}
	return &n
}

func renumber(t *histTable) {
	for i := range t.Columns {
		t.Columns[i].Position = i + 1
	}
}

func colIndex(t *histTable, name string) int {
	for i := range t.Columns {
		if strings.EqualFold(t.Columns[i].Name, name) {
			return i
		}
	}
	return -1
}

func strp(s string) *string { return &s }
func intp(n int) *int       { return &n }

func (m *schemaModel) tableFromCreate(x *ast.CreateTableStmt, db string) (*histTable, error) {
	t := &histTable{PrimaryKeyColumnNames: []string{}, Attributes: []any{}}
	if cs, ok := m.dbCharset[db]; ok {
		t.DefaultCharsetName = strp(cs)
	}
	for _, o := range x.Options {
		switch o.Tp {
		case ast.TableOptionCharset:
			t.DefaultCharsetName = strp(o.StrValue)
		case ast.TableOptionComment:
			t.Comment = strp(o.StrValue)
		}
	}
	for _, cd := range x.Cols {
		c, pk := m.columnFromDef(cd, t)
		t.Columns = append(t.Columns, c)
		if pk {
			t.PrimaryKeyColumnNames = append(t.PrimaryKeyColumnNames, c.Name)
		}
	}
	for _, con := range x.Constraints {
		if con.Tp == ast.ConstraintPrimaryKey {
			setPrimaryKey(t, con)
		}
	}
	renumber(t)
	return t, nil
}

func setPrimaryKey(t *histTable, con *ast.Constraint) {
	t.PrimaryKeyColumnNames = t.PrimaryKeyColumnNames[:0]
	for _, k := range con.Keys {
		if k.Column == nil {
			continue
		}
		if i := colIndex(t, k.Column.Name.O); i >= 0 {
			t.PrimaryKeyColumnNames = append(t.PrimaryKeyColumnNames, t.Columns[i].Name)
			t.Columns[i].Optional = false
			if !t.Columns[i].AutoIncremented && t.Columns[i].DefaultValueExpression == nil {
				t.Columns[i].HasDefaultValue = false
			}
		}
	}
}

func (m *schemaModel) alter(t *histTable, k tableKey, sp *ast.AlterTableSpec, db string) (tableKey, error) {
	insertAt := func(c histColumn, pos *ast.ColumnPosition, without int) error {
		if without >= 0 {
			t.Columns = append(t.Columns[:without], t.Columns[without+1:]...)
		}
		at := len(t.Columns)
		if without >= 0 {
			at = without
		}
		if pos != nil {
			switch pos.Tp {
			case ast.ColumnPositionFirst:
				at = 0
			case ast.ColumnPositionAfter:
				i := colIndex(t, pos.RelativeColumn.Name.O)
				if i < 0 {
					return &ddlError{fmt.Sprintf("ALTER TABLE %s.%s: no column %s to place a column after", k.db, k.name, pos.RelativeColumn.Name.O)}
				}
				at = i + 1
			}
		}
		t.Columns = append(t.Columns, histColumn{})
		copy(t.Columns[at+1:], t.Columns[at:])
		t.Columns[at] = c
		return nil
	}
	switch sp.Tp {
	case ast.AlterTableAddColumns:
		for _, cd := range sp.NewColumns {
			if colIndex(t, cd.Name.Name.O) >= 0 {
				if sp.IfNotExists {
					continue
				}
				return k, &ddlError{fmt.Sprintf("ALTER TABLE %s.%s ADD COLUMN %s: the column already exists in the schema history", k.db, k.name, cd.Name.Name.O)}
			}
			c, pk := m.columnFromDef(cd, t)
			if err := insertAt(c, sp.Position, -1); err != nil {
				return k, err
			}
			if pk {
				t.PrimaryKeyColumnNames = []string{c.Name}
			}
		}
		for _, con := range sp.NewConstraints {
			if con.Tp == ast.ConstraintPrimaryKey {
				setPrimaryKey(t, con)
			}
		}
	case ast.AlterTableDropColumn:
		i := colIndex(t, sp.OldColumnName.Name.O)
		if i < 0 {
			if sp.IfExists {
				return k, nil
			}
			return k, &ddlError{fmt.Sprintf("ALTER TABLE %s.%s DROP COLUMN %s: no such column in the schema history", k.db, k.name, sp.OldColumnName.Name.O)}
		}
		name := t.Columns[i].Name
		t.Columns = append(t.Columns[:i], t.Columns[i+1:]...)
		pk := t.PrimaryKeyColumnNames[:0]
		for _, p := range t.PrimaryKeyColumnNames {
			if p != name {
				pk = append(pk, p)
			}
		}
		t.PrimaryKeyColumnNames = pk
	case ast.AlterTableModifyColumn, ast.AlterTableChangeColumn:
		old := sp.NewColumns[0].Name.Name.O
		if sp.Tp == ast.AlterTableChangeColumn {
			old = sp.OldColumnName.Name.O
		}
		i := colIndex(t, old)
		if i < 0 {
			if sp.IfExists {
				return k, nil
			}
			return k, &ddlError{fmt.Sprintf("ALTER TABLE %s.%s: no column %s in the schema history", k.db, k.name, old)}
		}
		oldName := t.Columns[i].Name
		c, pk := m.columnFromDef(sp.NewColumns[0], t)
		wasPK := false
		for j, p := range t.PrimaryKeyColumnNames {
			if p == oldName {
				t.PrimaryKeyColumnNames[j] = c.Name
				wasPK = true
			}
		}
		if wasPK {
			c.Optional, c.HasDefaultValue = false, c.DefaultValueExpression != nil
		}
		if err := insertAt(c, sp.Position, i); err != nil {
			return k, err
		}
		if pk && !wasPK {
			t.PrimaryKeyColumnNames = []string{c.Name}
		}
	case ast.AlterTableRenameColumn:
		i := colIndex(t, sp.OldColumnName.Name.O)
		if i < 0 {
			return k, &ddlError{fmt.Sprintf("ALTER TABLE %s.%s RENAME COLUMN %s: no such column in the schema history", k.db, k.name, sp.OldColumnName.Name.O)}
		}
		for j, p := range t.PrimaryKeyColumnNames {
			if p == t.Columns[i].Name {
				t.PrimaryKeyColumnNames[j] = sp.NewColumnName.Name.O
			}
		}
		t.Columns[i].Name = sp.NewColumnName.Name.O
	case ast.AlterTableAlterColumn:
		cd := sp.NewColumns[0]
		i := colIndex(t, cd.Name.Name.O)
		if i < 0 {
			return k, &ddlError{fmt.Sprintf("ALTER TABLE %s.%s ALTER COLUMN %s: no such column in the schema history", k.db, k.name, cd.Name.Name.O)}
		}
		c := &t.Columns[i]
		c.DefaultValueExpression = nil
		c.HasDefaultValue = c.Optional
		for _, o := range cd.Options {
			if o.Tp == ast.ColumnOptionDefaultValue {
				c.HasDefaultValue = true
				c.DefaultValueExpression = defaultExpr(o.Expr)
			}
		}
	case ast.AlterTableAddConstraint:
		if sp.Constraint != nil && sp.Constraint.Tp == ast.ConstraintPrimaryKey {
			setPrimaryKey(t, sp.Constraint)
		}
	case ast.AlterTableDropPrimaryKey:
		t.PrimaryKeyColumnNames = []string{}
	case ast.AlterTableRenameTable:
		nk := tableKey{sp.NewTable.Schema.O, sp.NewTable.Name.O}
		if nk.db == "" {
			nk.db = db
		}
		return nk, nil
	case ast.AlterTableOption:
		for _, o := range sp.Options {
			switch o.Tp {
			case ast.TableOptionCharset:
				t.DefaultCharsetName = strp(o.StrValue)
			case ast.TableOptionComment:
				t.Comment = strp(o.StrValue)
			}
		}
	}
	return k, nil
}

// columnFromDef describes a column definition as Debezium's MySQL/MariaDB
// DDL parsers do; pk reports an inline PRIMARY KEY.
func (m *schemaModel) columnFromDef(cd *ast.ColumnDef, t *histTable) (histColumn, bool) {
	ft := cd.Tp
	tp := ft.GetType()
	cs := ft.GetCharset()
	binary := cs == "binary"
	name := strings.ToUpper(types.TypeToStr(tp, map[bool]string{true: "binary"}[binary]))
	if tp == pmysql.TypeString && binary {
		name = "BINARY"
	}
	if tp == pmysql.TypeVarchar && binary || tp == pmysql.TypeVarString && binary {
		name = "VARBINARY"
	}
	switch name {
	case "VAR_STRING":
		name = "VARCHAR"
	}
	jdbc := jdbcType(tp, binary)
	written := m.written[strings.ToLower(cd.Name.Name.O)]
	if w, ok := typeSynonyms[written]; ok {
		// A keyword the parser folds into another type keeps the name and
		// code it has in Debezium's parsers.
		name, jdbc = written, w
	}
	c := histColumn{Name: cd.Name.Name.O, JDBCType: jdbc, Optional: true}
	switch tp {
	case pmysql.TypeEnum, pmysql.TypeSet:
		for _, e := range ft.GetElems() {
			c.EnumValues = append(c.EnumValues, "'"+strings.ReplaceAll(e, "'", "''")+"'")
		}
		// ENUM: 1; SET: the labels and the commas between them.
		c.Length = intp(1)
		if tp == pmysql.TypeSet {
			c.Length = intp(max(0, 2*len(ft.GetElems())-1))
		}
	case pmysql.TypeDuration, pmysql.TypeDatetime, pmysql.TypeTimestamp:
		if d := ft.GetDecimal(); d > 0 {
			c.Length = intp(d)
		}
	default:
		if f := ft.GetFlen(); f > 0 && jdbc != jdbcBoolean {
			c.Length = intp(f)
		}
		if d := ft.GetDecimal(); d >= 0 && (tp == pmysql.TypeNewDecimal || tp == pmysql.TypeFloat || tp == pmysql.TypeDouble) && ft.GetFlen() > 0 {
			c.Scale = intp(d)
		}
		if tp == pmysql.TypeNewDecimal && c.Length == nil {
			// DECIMAL without a precision is DECIMAL(10,0).
			c.Length, c.Scale = intp(10), intp(0)
		}
	}
	if pmysql.HasUnsignedFlag(ft.GetFlag()) && jdbc != jdbcBoolean {
		name += " UNSIGNED"
	}
	if pmysql.HasZerofillFlag(ft.GetFlag()) {
		name += " ZEROFILL"
	}
	c.TypeName, c.TypeExpression = name, name
	text := false
	switch tp {
	case pmysql.TypeString, pmysql.TypeVarchar, pmysql.TypeVarString, pmysql.TypeTinyBlob, pmysql.TypeBlob, pmysql.TypeMediumBlob, pmysql.TypeLongBlob, pmysql.TypeEnum, pmysql.TypeSet:
		text = !binary
	}
	switch {
	case jdbc == jdbcNChar || jdbc == jdbcNVarchar:
		// NCHAR and NVARCHAR are always utf8.
		c.CharsetName = strp("utf8")
		if c.Length == nil && jdbc == jdbcNChar {
			c.Length = intp(1)
		}
	case text && cs != "":
		c.CharsetName = strp(cs)
	}
	pk := false
	explicitDefault := false
	for _, o := range cd.Options {
		switch o.Tp {
		case ast.ColumnOptionNotNull:
			c.Optional = false
		case ast.ColumnOptionNull:
			c.Optional = true
		case ast.ColumnOptionPrimaryKey:
			pk = true
			c.Optional = false
		case ast.ColumnOptionAutoIncrement:
			c.AutoIncremented, c.Generated = true, true
		case ast.ColumnOptionOnUpdate:
			if m.onUpdateGenerated {
				c.AutoIncremented, c.Generated = true, true
			}
		case ast.ColumnOptionDefaultValue:
			// DEFAULT NULL leaves the default to nullability, as in Debezium.
			if v, ok := o.Expr.(ast.ValueExpr); !ok || v.GetValue() != nil {
				explicitDefault = true
				c.DefaultValueExpression = defaultExpr(o.Expr)
			}
		case ast.ColumnOptionComment:
			if v, ok := o.Expr.(ast.ValueExpr); ok {
				c.Comment = strp(v.GetString())
			}
		case ast.ColumnOptionCollate:
			if text && c.CharsetName == nil {
				if i := strings.IndexByte(o.StrValue, '_'); i > 0 {
					c.CharsetName = strp(o.StrValue[:i])
				}
			}
		}
	}
	if text && c.CharsetName == nil && t.DefaultCharsetName != nil {
		// Neither CHARACTER SET nor COLLATE: the table's.
		c.CharsetName = strp(*t.DefaultCharsetName)
	}
	// A nullable column has the implicit default NULL.
	c.HasDefaultValue = explicitDefault || c.Optional
	if spatialTypes[written] {
		c.TypeName, c.TypeExpression, c.JDBCType, c.CharsetName, c.Length = written, written, jdbcOther, nil, nil
	}
	return c, pk
}

// defaultExpr renders a DEFAULT value as Debezium's parsers do: a literal's
// value, CURRENT_TIMESTAMP/NOW() as "1970-01-01 00:00:00", other functions
// as their text; nil for DEFAULT NULL and for expressions in parentheses.
func defaultExpr(e ast.ExprNode) *string {
	switch x := e.(type) {
	case nil:
		return nil
	case ast.ValueExpr:
		if x.GetValue() == nil {
			return nil
		}
		return strp(x.GetString())
	case *ast.FuncCallExpr:
		switch x.FnName.L {
		case "current_timestamp", "now", "localtime", "localtimestamp":
			return strp("1970-01-01 00:00:00")
		}
	case *ast.UnaryOperationExpr:
		if v, ok := x.V.(ast.ValueExpr); ok && v.GetValue() != nil {
			var b strings.Builder
			if err := x.Restore(format.NewRestoreCtx(0, &b)); err == nil {
				return strp(b.String())
			}
		}
		return nil
	default:
		return nil
	}
	var b strings.Builder
	if err := e.Restore(format.NewRestoreCtx(format.RestoreKeyWordUppercase|format.RestoreNameBackQuotes|format.RestoreStringSingleQuotes, &b)); err != nil {
		return nil
	}
	return strp(b.String())
}

// java.sql.Types codes.
const (
	jdbcBit, jdbcTinyint, jdbcSmallint, jdbcInteger, jdbcBigint = -7, -6, 5, 4, -5
	jdbcFloat, jdbcReal, jdbcDouble, jdbcNumeric, jdbcDecimal   = 6, 7, 8, 2, 3
	jdbcChar, jdbcVarchar, jdbcNChar, jdbcNVarchar              = 1, 12, -15, -9
	jdbcDate, jdbcTime, jdbcTimestamp, jdbcTimestampTZ          = 91, 92, 93, 2014
	jdbcBinary, jdbcVarbinary, jdbcBlob, jdbcBoolean, jdbcOther = -2, -3, 2004, 16, 1111
)

// typeSynonyms are the type keywords the TiDB parser folds into another
// type, with the java.sql.Types code Debezium's parsers give them (the
// type name is the keyword).
var typeSynonyms = map[string]int{
	"BOOL": jdbcBoolean, "BOOLEAN": jdbcBoolean, "INTEGER": jdbcInteger,
	"REAL": jdbcReal, "DOUBLE PRECISION": jdbcDouble, "FLOAT": jdbcFloat,
	"NUMERIC": jdbcNumeric, "DEC": jdbcDecimal, "FIXED": jdbcDecimal,
	"NCHAR": jdbcNChar, "NVARCHAR": jdbcNVarchar,
}

// jdbcType is the java.sql.Types code Debezium's MySQL and MariaDB DDL
// parsers assign to a type (their DataTypeResolver tables). TINYINT is
// Types.TINYINT as of Debezium 3.7 (dbz#2235; SMALLINT before), matching
// the INT8 schema of its values.
func jdbcType(tp byte, binary bool) int {
	switch tp {
	case pmysql.TypeBit:
		return jdbcBit
	case pmysql.TypeTiny:
		return jdbcTinyint
	case pmysql.TypeShort:
		return jdbcSmallint
	case pmysql.TypeInt24, pmysql.TypeLong, pmysql.TypeYear:
		return jdbcInteger
	case pmysql.TypeLonglong:
		return jdbcBigint
	case pmysql.TypeFloat:
		return jdbcFloat
	case pmysql.TypeDouble:
		return jdbcDouble
	case pmysql.TypeNewDecimal:
		return jdbcDecimal
	case pmysql.TypeDate:
		return jdbcDate
	case pmysql.TypeDuration:
		return jdbcTime
	case pmysql.TypeDatetime:
		return jdbcTimestamp
	case pmysql.TypeTimestamp:
		return jdbcTimestampTZ
	case pmysql.TypeString:
		if binary {
			return jdbcBinary
		}
		return jdbcChar
	case pmysql.TypeVarchar, pmysql.TypeVarString:
		if binary {
			return jdbcVarbinary
		}
		return jdbcVarchar
	case pmysql.TypeTinyBlob, pmysql.TypeBlob, pmysql.TypeMediumBlob, pmysql.TypeLongBlob:
		if binary {
			return jdbcBlob
		}
		return jdbcVarchar
	case pmysql.TypeEnum, pmysql.TypeSet:
		return jdbcChar
	}
	return jdbcOther
}

// columnNamesMatch reports whether a TABLE_MAP event's columns are the
// model's.
func columnNamesMatch(t *histTable, cols []column) bool {
	if len(t.Columns) != len(cols) {
		return false
	}
	for i := range cols {
		if !strings.EqualFold(t.Columns[i].Name, cols[i].name) {
			return false
		}
	}
	return true
}

func histColumnNames(t *histTable) []string {
	out := make([]string, len(t.Columns))
	for i := range t.Columns {
		out[i] = t.Columns[i].Name
	}
	return out
}

// spatialTypes are the MySQL/MariaDB spatial types, which the TiDB parser
// does not know.
var spatialTypes = map[string]bool{"GEOMETRY": true, "POINT": true, "LINESTRING": true, "POLYGON": true, "MULTIPOINT": true,
	"MULTILINESTRING": true, "MULTIPOLYGON": true, "GEOMETRYCOLLECTION": true, "GEOMCOLLECTION": true}

// notColumnNames are words that can precede a type-like word without being
// the column name.
var notColumnNames = map[string]bool{"COLUMN": true, "ADD": true, "MODIFY": true, "CHANGE": true, "TABLE": true, "EXISTS": true,
	"AFTER": true, "FIRST": true, "DROP": true, "RENAME": true, "TO": true, "AS": true, "KEY": true, "INDEX": true, "BY": true,
	"SPATIAL": true, "ON": true, "USING": true, "SELECT": true, "FROM": true, "WHERE": true, "NOT": true, "NULL": true, "DEFAULT": true}

// rewriteSpatial replaces spatial column types by LONGBLOB (which the
// parser accepts) and returns the column names that had one, with the
// type, and the columns declared with a type synonym the parser folds
// (BOOL, REAL, NUMERIC, ...: typeSynonyms), with the keyword; quoted
// strings, identifiers and comments are left alone.
func rewriteSpatial(q string) (string, map[string]string) {
	var out strings.Builder
	var found map[string]string
	prevIdent := ""
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for j < len(q) {
				if q[j] == '\\' && c != '`' {
					j += 2
					continue
				}
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c {
						j += 2
						continue
					}
					break
				}
				j++
			}
			end := min(j+1, len(q))
			out.WriteString(q[i:end])
			if c == '`' {
				prevIdent = strings.ReplaceAll(q[i+1:max(i+1, end-1)], "``", "`")
			} else {
				prevIdent = ""
			}
			i = end
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			end := len(q)
			if j >= 0 {
				end = i + 2 + j + 2
			}
			out.WriteString(q[i:end])
			i = end
		case c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80:
			j := i
			for j < len(q) && (q[j] == '_' || q[j] == '$' || q[j] >= 'a' && q[j] <= 'z' || q[j] >= 'A' && q[j] <= 'Z' || q[j] >= '0' && q[j] <= '9' || q[j] >= 0x80) {
				j++
			}
			w := q[i:j]
			u := strings.ToUpper(w)
			if u == "DOUBLE" && prevIdent != "" {
				if k := skipSpace(q, j); k+9 <= len(q) && strings.EqualFold(q[k:k+9], "PRECISION") && (k+9 == len(q) || !isIdentByte(q[k+9])) {
					u = "DOUBLE PRECISION"
				}
			}
			if _, syn := typeSynonyms[u]; syn && prevIdent != "" {
				if found == nil {
					found = map[string]string{}
				}
				found[strings.ToLower(prevIdent)] = u
				out.WriteString(w)
				prevIdent = ""
			} else if spatialTypes[u] && prevIdent != "" {
				if found == nil {
					found = map[string]string{}
				}
				found[strings.ToLower(prevIdent)] = u
				out.WriteString("LONGBLOB")
				prevIdent = ""
			} else {
				out.WriteString(w)
				prevIdent = ""
				if !notColumnNames[u] {
					prevIdent = w
				}
			}
			i = j
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			out.WriteByte(c)
			i++
		default:
			out.WriteByte(c)
			prevIdent = ""
			i++
		}
	}
	return out.String(), found
}

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

func skipSpace(q string, i int) int {
	for i < len(q) && (q[i] == ' ' || q[i] == '\t' || q[i] == '\n' || q[i] == '\r') {
		i++
	}
	return i
}
