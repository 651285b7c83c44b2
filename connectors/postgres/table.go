package postgres

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/runtime/connect"
)

// catColumn is one column as the catalog describes it.
type catColumn struct {
	name    string
	typeOID uint32
	typmod  int32
	notNull bool
	pk      bool
	def     *string // default expression, when it is a constant
}

// tableMeta is a table as the catalog describes it.
type tableMeta struct {
	oid       uint32
	schema    string
	name      string
	replident byte // d default, f full, n nothing, i index
	cols      []catColumn
}

// column is a captured column of a table.
type column struct {
	name        string
	schema      *connect.Schema
	conv        converter
	placeholder any
	relPos      int  // position in the relation / select column list
	vsd         bool // holds VariableScaleDecimal values
	fallback    any  // value for an absent NOT NULL column
}

// table is a captured table with its Connect schemas.
type table struct {
	meta     *tableMeta
	id       string // schema.table
	topic    string
	cols     []*column // value columns in order
	byRelPos []int     // relation position -> value index, -1 if not captured
	keyIdx   []int     // value indexes of key columns
	key      *connect.Schema
	value    *connect.Schema
	envelope *connect.Schema
	schemaV  any // meta.schema and meta.name boxed once, for source blocks
	tableV   any
	captured bool // events are emitted (false for a signal table outside the filters)
	signal   bool // signal.data.collection
}

// catalog reads table and type metadata through a shared connection.
type catalog struct {
	mu    sync.Mutex
	dsn   string
	conn  *pgx.Conn
	types map[uint32]*typeInfo
}

// reconnect replaces a closed connection (after a server restart).
func (c *catalog) reconnect(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.conn.IsClosed() {
		return nil
	}
	conn, err := pgx.Connect(ctx, c.dsn)
	if err != nil {
		return err
	}
	c.conn = conn
	return nil
}

func (c *catalog) typeInfo(oid uint32) (*typeInfo, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ti, ok := c.types[oid]; ok {
		return ti, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), defaultQueryTimeout)
	defer cancel()
	ti := &typeInfo{oid: oid}
	var typtype, cat string
	err := c.conn.QueryRow(ctx, `SELECT t.typname, t.typtype::text, t.typelem, t.typbasetype, t.typtypmod, t.typcategory::text,
		COALESCE((SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
		FROM pg_type t WHERE t.oid = $1`, oid).Scan(&ti.name, &typtype, &ti.elem, &ti.base, &ti.baseMod, &cat, &ti.labels)
	if err != nil {
		return nil, fmt.Errorf("postgres: look up type %d: %w", oid, err)
	}
	ti.typtype, ti.category = typtype[0], cat[0]
	c.types[oid] = ti
	return ti, nil
}

func (c *catalog) tableMeta(ctx context.Context, oid uint32) (*tableMeta, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := &tableMeta{oid: oid}
	var ri string
	err := c.conn.QueryRow(ctx, `SELECT n.nspname, c.relname, c.relreplident::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = $1`, oid).
		Scan(&m.schema, &m.name, &ri)
	if err != nil {
		return nil, fmt.Errorf("postgres: look up table %d: %w", oid, err)
	}
	m.replident = ri[0]
	rows, err := c.conn.Query(ctx, `SELECT a.attname, a.atttypid, a.atttypmod, a.attnotnull,
		COALESCE((SELECT true FROM pg_index i WHERE i.indrelid = a.attrelid AND i.indisprimary AND a.attnum = ANY(i.indkey)), false),
		(SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.attgenerated = '')
		FROM pg_attribute a WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, oid)
	if err != nil {
		return nil, fmt.Errorf("postgres: columns of %s.%s: %w", m.schema, m.name, err)
	}
	for rows.Next() {
		var cc catColumn
		if err := rows.Scan(&cc.name, &cc.typeOID, &cc.typmod, &cc.notNull, &cc.pk, &cc.def); err != nil {
			rows.Close()
			return nil, err
		}
		m.cols = append(m.cols, cc)
	}
	rows.Close()
	return m, rows.Err()
}

// buildTable builds the captured form of a table. rel lists the columns in
// the order the source (pgoutput relation message or snapshot select)
// delivers them, with their types at decode time; nil means the catalog
// columns. Catalog facts (NOT NULL, primary key) are used for columns that
// still exist with the same type; a column the catalog no longer has (DDL
// ran after the change) stays, optional.
func (t *Task) buildTable(m *tableMeta, rel []catColumn) (*table, error) {
	o := t.o
	if rel == nil {
		rel = m.cols
	}
	byName := map[string]*catColumn{}
	for i := range m.cols {
		byName[m.cols[i].name] = &m.cols[i]
	}
	merged := make([]catColumn, len(rel))
	for i, rc := range rel {
		merged[i] = rc
		if cc := byName[rc.name]; cc != nil && cc.typeOID == rc.typeOID {
			merged[i].notNull, merged[i].pk, merged[i].def = cc.notNull, cc.pk, cc.def
		}
	}
	relCols := make([]string, len(merged))
	byName = map[string]*catColumn{}
	for i := range merged {
		relCols[i] = merged[i].name
		byName[merged[i].name] = &merged[i]
	}
	keyCols := o.keyColumnsFor(m.schema, m.name)
	isKey := map[string]bool{}
	if keyCols != nil {
		for _, k := range keyCols {
			if byName[k] == nil {
				return nil, connect.Errorf(KeyMessageKeyColumns, "table %s.%s has no column %q", m.schema, m.name, k)
			}
			isKey[k] = true
		}
	} else {
		for _, c := range merged {
			if c.pk {
				isKey[c.name] = true
			}
		}
	}
	tb := &table{meta: m, id: m.schema + "." + m.name, topic: o.prefix + "." + m.schema + "." + m.name, byRelPos: make([]int, len(relCols))}
	mp := &mapper{o: o, lookup: t.cat.typeInfo, warn: t.warnOnce}
	vb := connect.NewStruct().Name(tb.topic + ".Value").Optional()
	kb := connect.NewStruct().Name(tb.topic + ".Key")
	for pos, name := range relCols {
		tb.byRelPos[pos] = -1
		cc := byName[name]
		if cc == nil || !(isKey[name] || o.columnIncluded(m.schema, m.name, name)) {
			continue
		}
		where := tb.id + "." + name
		s, conv, err := mp.columnType(cc.typeOID, cc.typmod, !cc.notNull, where)
		if err != nil {
			return nil, err
		}
		if dv := defaultValue(cc.def, conv, s); dv != nil && s.Type != connect.StructT {
			c := *s
			c.Default = dv
			s = &c
		}
		fb := fallbackFor(s)
		if s.Default != nil && !s.Optional {
			// An absent NOT NULL value (non-key columns of a REPLICA
			// IDENTITY DEFAULT old tuple) takes the column default.
			fb = s.Default
		}
		col := &column{name: name, schema: s, conv: conv, relPos: pos, placeholder: placeholderFor(s, o.placeholder),
			vsd: s.Type == connect.StructT || s.Type == connect.Array && s.Value.Type == connect.StructT, fallback: fb}
		tb.byRelPos[pos] = len(tb.cols)
		if isKey[name] {
			tb.keyIdx = append(tb.keyIdx, len(tb.cols))
			ks := s
			if s.Optional {
				c := *s
				c.Optional = false
				ks = &c
			}
			kb.Field(name, ks)
		}
		tb.cols = append(tb.cols, col)
		vb.Field(name, s)
	}
	tb.value = vb.Build()
	if len(tb.keyIdx) > 0 {
		tb.key = kb.Build()
	}
	tb.envelope = t.envelopeSchema(tb.topic, tb.value)
	tb.schemaV, tb.tableV = m.schema, m.name
	return tb, nil
}

// constDefault matches constant default expressions as pg_get_expr prints
// them: 'text'::type, numbers (possibly parenthesized negatives), booleans.
var constDefault = regexp.MustCompile(`^(?:'((?:[^']|'')*)'(?:::[a-z0-9_ ."\[\]()]+)?|\(?(-?[0-9]+(?:\.[0-9]+)?)\)?(?:::[a-z0-9_ ]+)?|(true|false))$`)

// timeFuncDefault matches defaults evaluated at insert time (now() and
// the SQL current-time keywords, as pg_get_expr prints them).
var timeFuncDefault = regexp.MustCompile(`^(?:now\(\)|CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|LOCALTIMESTAMP|LOCALTIME|statement_timestamp\(\)|clock_timestamp\(\)|transaction_timestamp\(\))(?:\([0-9]+\))?(?:::[a-z0-9_ ]+)?$`)

// defaultValue converts a column default for schema s as Debezium reports
// defaults: constants as their value; sequences (serial) and current-time
// functions as the type's zero (0, the epoch); other expressions give nil.
func defaultValue(expr *string, conv converter, s *connect.Schema) any {
	if expr == nil {
		return nil
	}
	zero := func(text string) any {
		v, err := conv([]byte(text))
		if err != nil {
			return nil
		}
		return v
	}
	if strings.HasPrefix(*expr, "nextval(") {
		switch s.Type {
		case connect.Int16, connect.Int32, connect.Int64:
			return zero("0")
		}
		return nil
	}
	if timeFuncDefault.MatchString(*expr) {
		switch s.Name {
		case nameZonedTimestamp:
			return zero("1970-01-01 00:00:00+00")
		case nameTimestamp, nameMicroTimestamp, connect.TimestampName:
			return zero("1970-01-01 00:00:00")
		case nameDate, connect.DateName:
			return zero("1970-01-01")
		case nameTime, nameMicroTime, connect.TimeName:
			return zero("00:00:00")
		case nameZonedTime:
			return zero("00:00:00+00")
		}
		return nil
	}
	m := constDefault.FindStringSubmatch(*expr)
	if m == nil {
		return nil
	}
	text := m[2]
	switch {
	case strings.HasPrefix(*expr, "'"):
		text = strings.ReplaceAll(m[1], "''", "'")
	case m[3] != "":
		text = m[3][:1] // t or f, as the text output of boolean
	}
	v, err := conv([]byte(text))
	if err != nil {
		return nil
	}
	return v
}

// rowSource yields one tuple column: kind is 'n' (null), 'u' (unchanged
// TOAST), 't' (text) and data its text.
type rowSource func(pos int) (kind byte, data []byte)

// ValueError is a column value the connector cannot encode.
type ValueError struct {
	Table  string // schema.table
	Column string
	Key    string // the row's key (or "" when the table has none)
	Err    error
}

func (e *ValueError) Error() string {
	key := e.Key
	if key == "" {
		key = "(no key)"
	}
	return fmt.Sprintf("postgres: cannot encode column %s of table %s, key %s: %v", e.Column, e.Table, key, e.Err)
}

func (e *ValueError) Unwrap() error { return e.Err }

// makeValue converts a tuple to a value struct. old fills unchanged TOAST
// columns when present. A value that cannot be converted is set to null
// (or the NOT NULL fallback) and reported as the returned *ValueError.
func (t *Task) makeValue(tb *table, n int, get rowSource, old *connect.Struct) (*connect.Struct, *ValueError) {
	return t.makeValueIn(nil, tb, n, get, old)
}

// makeValueIn is makeValue allocating the struct from a (nil: the heap).
func (t *Task) makeValueIn(a *connect.StructArena, tb *table, n int, get rowSource, old *connect.Struct) (*connect.Struct, *ValueError) {
	st := newStruct(a, tb.value)
	var verr *ValueError
	for pos := 0; pos < n && pos < len(tb.byRelPos); pos++ {
		idx := tb.byRelPos[pos]
		if idx < 0 {
			continue
		}
		col := tb.cols[idx]
		kind, data := get(pos)
		if !setSpecial(st, old, col, idx, kind) {
			st.SetAt(idx, tb.convert(col, data, &verr))
		}
	}
	return st, verr
}

// setSpecial sets value column idx of st for a tuple column of kind 'n'
// (null: the NOT NULL fallback, if any) or 'u' (unchanged TOAST: old's
// value, else the placeholder), and reports whether kind was one of them.
func setSpecial(st, old *connect.Struct, col *column, idx int, kind byte) bool {
	switch kind {
	case 'n':
		if col.fallback != nil {
			st.SetAt(idx, col.fallback)
		}
	case 'u':
		if old != nil && old.At(idx) != nil {
			st.SetAt(idx, old.At(idx))
		} else {
			st.SetAt(idx, col.placeholder)
		}
	default:
		return false
	}
	return true
}

// convert decodes col's text value data with the column's converter. A
// value that cannot be decoded becomes the column's fallback, and the
// row's first such failure is kept in *verr.
func (tb *table) convert(col *column, data []byte, verr **ValueError) any {
	v, err := col.conv(data)
	if err != nil {
		if *verr == nil {
			*verr = &ValueError{Table: tb.id, Column: col.name, Err: err}
		}
		return col.fallback
	}
	if col.vsd {
		v = bindVSD(col.schema, v)
	}
	return v
}

// badValue applies event.processing.failure.handling.mode to a value
// error of the event whose key is key: it returns skip=true when the event
// must be dropped, and a fatal error under "fail".
func (t *Task) badValue(tb *table, key *connect.Struct, verr *ValueError) (skip bool, err error) {
	if verr == nil {
		return false, nil
	}
	verr.Key = keyText(key)
	switch t.o.failureMode {
	case "warn":
		t.log.Warn("cannot encode column value; emitting null (or the NOT NULL fallback)", "table", verr.Table, "column", verr.Column, "key", verr.Key, "error", verr.Err.Error())
		return false, nil
	case "skip":
		t.log.Warn("cannot encode column value; skipping the event", "table", verr.Table, "column", verr.Column, "key", verr.Key, "error", verr.Err.Error())
		return true, nil
	}
	return false, &fatalError{verr}
}

// keyText renders a key for messages: col=value, ...
func keyText(k *connect.Struct) string {
	if k == nil {
		return ""
	}
	var b strings.Builder
	for i, f := range k.Schema().Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s=%v", f.Name, k.At(i))
	}
	return b.String()
}

// keyOf builds the key struct from a value struct, or nil for keyless tables.
func (tb *table) keyOf(v *connect.Struct) *connect.Struct { return tb.keyIn(nil, v) }

// keyIn is keyOf allocating the key from a (nil: the heap).
func (tb *table) keyIn(a *connect.StructArena, v *connect.Struct) *connect.Struct {
	if tb.key == nil || v == nil {
		return nil
	}
	k := newStruct(a, tb.key)
	for i, idx := range tb.keyIdx {
		k.SetAt(i, v.At(idx))
	}
	return k
}

// sameKey reports whether two key structs hold equal values.
func sameKey(a, b *connect.Struct) bool {
	if a == nil || b == nil {
		return a == b
	}
	for i := range a.Schema().Fields {
		if fmt.Sprint(a.At(i)) != fmt.Sprint(b.At(i)) {
			return false
		}
	}
	return true
}

// newStruct returns an empty struct of schema s from a, or from the heap
// when a is nil.
func newStruct(a *connect.StructArena, s *connect.Schema) *connect.Struct {
	if a == nil {
		return connect.NewStructValue(s)
	}
	return a.NewStructValue(s)
}
