package mysql

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/sluicehq/sluice/runtime/connect"
)

// Signal types written to / read from signal.data.collection.
const (
	sigExecuteSnapshot = "execute-snapshot"
	sigStopSnapshot    = "stop-snapshot"
	sigWindowOpen      = "snapshot-window-open"
	sigWindowClose     = "snapshot-window-close"
)

// Offset keys holding a running incremental snapshot.
const (
	offIncID      = "incremental_snapshot_signal_id"
	offIncColls   = "incremental_snapshot_collections"
	offIncPrimary = "incremental_snapshot_primary_key"
)

// incChunkSize is the rows of one incremental snapshot chunk.
const incChunkSize = 1024

// incSnapshot is a running incremental snapshot (Debezium's variant of the
// DBLog watermark algorithm). Each chunk is read between an open and a
// close watermark inserted into the signal table; binlog events seen
// between the two watermarks for keys of the chunk win over the chunk's
// rows, and the rest of the chunk is emitted when the close watermark
// arrives in the binlog. Binlog order is commit order, so an event inside
// the window either is in the chunk (and then supersedes it) or committed
// after the read (and then follows it).
type incSnapshot struct {
	id      string
	tables  []string // remaining db.table names
	cur     *table
	lastKey []string // SQL literals of the last key read
	chunkN  int
	chunkID string
	full    bool // the chunk was full: the table may have more rows
	open    bool // inside the watermark window
	buffer  map[string]*connect.Record
	order   []string
	// emittedKey is the last key of the last emitted chunk of tables[0]:
	// where a restart resumes.
	emittedKey []string
	file       string // binlog file streamed when the chunk was read
}

// withInc adds the incremental snapshot state to an offset.
func (s *streamer) withInc(off map[string]any) map[string]any {
	inc := s.inc
	if inc == nil || len(inc.tables) == 0 {
		return off
	}
	colls, _ := json.Marshal(inc.tables)
	off[offIncID] = inc.id
	off[offIncColls] = string(colls)
	if inc.emittedKey != nil {
		k, _ := json.Marshal(inc.emittedKey)
		off[offIncPrimary] = string(k)
	}
	return off
}

// restoreInc reads an incremental snapshot's state from a committed offset.
func restoreInc(off map[string]any) *incSnapshot {
	colls, _ := off[offIncColls].(string)
	if colls == "" {
		return nil
	}
	inc := &incSnapshot{}
	inc.id, _ = off[offIncID].(string)
	if json.Unmarshal([]byte(colls), &inc.tables) != nil || len(inc.tables) == 0 {
		return nil
	}
	if k, _ := off[offIncPrimary].(string); k != "" {
		var key []string
		if json.Unmarshal([]byte(k), &key) == nil {
			inc.emittedKey = key
		}
	}
	return inc
}

func (o *options) isSignalTable(db, name string) bool {
	return o.signal != "" && strings.EqualFold(o.signal, db+"."+name)
}

func keyString(k *connect.Struct) string {
	if k == nil {
		return ""
	}
	var b strings.Builder
	for i := range k.Schema().Fields {
		fmt.Fprintf(&b, "%v\x00", k.At(i))
	}
	return b.String()
}

// inWindow drops chunk rows whose key the binlog changed inside the window.
func (s *streamer) inWindow(tb *table, key *connect.Struct) {
	inc := s.inc
	if inc == nil || !inc.open || inc.buffer == nil || inc.cur == nil || key == nil || inc.cur.id() != tb.id() {
		return
	}
	delete(inc.buffer, keyString(key))
}

// onSignal handles an insert into the signal table seen in the binlog.
func (s *streamer) onSignal(v *connect.Struct) error {
	t := s.t
	get := func(name string) string {
		if f := v.Schema().Field(name); f != nil {
			switch x := v.At(f.Index).(type) {
			case string:
				return x
			case []byte:
				return string(x)
			}
		}
		return ""
	}
	id, typ, data := get("id"), get("type"), get("data")
	inc := s.inc
	switch typ {
	case sigExecuteSnapshot, sigStopSnapshot:
		var req struct {
			Collections []string `json:"data-collections"`
			Type        string   `json:"type"`
		}
		if data != "" {
			if err := json.Unmarshal([]byte(data), &req); err != nil {
				t.log.Warn("ignoring signal with invalid data", "id", id, "type", typ, "error", err)
				return nil
			}
		}
		if req.Type != "" && !strings.EqualFold(req.Type, "incremental") {
			t.log.Warn("ignoring signal: only incremental snapshots are supported", "id", id, "type", req.Type)
			return nil
		}
		if typ == sigStopSnapshot {
			return s.stopSnapshot(id, req.Collections)
		}
		if len(req.Collections) == 0 {
			t.log.Warn("ignoring execute-snapshot signal without data-collections", "id", id)
			return nil
		}
		if inc != nil {
			if inc.id != id { // the same signal streamed again after a restart is ignored
				inc.tables = append(inc.tables, req.Collections...)
			}
			return nil
		}
		s.inc = &incSnapshot{id: id, tables: req.Collections}
		t.log.Info("incremental snapshot requested", "id", id, "tables", req.Collections)
		return s.nextChunk()
	case sigWindowOpen:
		if inc != nil && inc.chunkID != "" && id == inc.chunkID+"-open" {
			inc.open = true
		}
	case sigWindowClose:
		if inc != nil && inc.chunkID != "" && id == inc.chunkID+"-close" {
			inc.open = false
			if inc.full {
				inc.emittedKey = inc.lastKey
			} else {
				inc.tables = inc.tables[1:]
				inc.emittedKey = nil
			}
			off := s.withInc(s.restart().offset())
			for _, k := range inc.order {
				if r, ok := inc.buffer[k]; ok {
					r.SourceOffset = off
					s.batch = append(s.batch, r)
				}
			}
			inc.buffer, inc.order = nil, nil
			if !inc.full {
				inc.cur = nil
			}
			return s.nextChunk()
		}
	}
	return nil
}

// stopSnapshot drops tables (all of them without any) from the running
// incremental snapshot.
func (s *streamer) stopSnapshot(id string, colls []string) error {
	inc := s.inc
	if inc == nil {
		return nil
	}
	if len(colls) == 0 {
		s.t.log.Info("incremental snapshot stopped", "id", inc.id, "signal", id)
		s.inc = nil
		return nil
	}
	stopCur := false
	keep := inc.tables[:0]
	for i, name := range inc.tables {
		drop := false
		for _, c := range colls {
			if strings.EqualFold(c, name) {
				drop = true
			}
		}
		if drop && i == 0 {
			stopCur = true
		}
		if !drop {
			keep = append(keep, name)
		}
	}
	inc.tables = keep
	s.t.log.Info("incremental snapshot tables stopped", "id", inc.id, "tables", colls, "signal", id)
	if !stopCur {
		return nil
	}
	inc.cur, inc.buffer, inc.order, inc.open, inc.chunkID, inc.emittedKey, inc.lastKey = nil, nil, nil, false, "", nil, nil
	return s.nextChunk()
}

// nextChunk reads the next chunk between two watermarks, moving to the
// next table when the current one is done.
func (s *streamer) nextChunk() error {
	t := s.t
	inc := s.inc
	c, err := s.signalConn()
	if err != nil {
		return err
	}
	for {
		if inc.cur == nil {
			if len(inc.tables) == 0 {
				t.log.Info("incremental snapshot completed", "id", inc.id)
				s.inc = nil
				return nil
			}
			name := inc.tables[0]
			tb, err := t.incTable(c, name)
			if err != nil {
				t.log.Warn("incremental snapshot skips table", "table", name, "error", err)
				inc.tables = inc.tables[1:]
				inc.emittedKey = nil
				continue
			}
			inc.cur, inc.lastKey = tb, inc.emittedKey
		}
		inc.chunkN++
		inc.chunkID = inc.id + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(inc.chunkN)
		if err := t.writeSignal(c, inc.chunkID+"-open", sigWindowOpen); err != nil {
			return err
		}
		inc.file = s.file
		n, err := t.readIncChunk(s.ctx, c, inc)
		if err != nil {
			return err
		}
		if n == 0 {
			inc.cur, inc.emittedKey, inc.buffer, inc.order = nil, nil, nil, nil
			inc.tables = inc.tables[1:]
			continue
		}
		return t.writeSignal(c, inc.chunkID+"-close", sigWindowClose)
	}
}

// signalConn is the streamer's SQL connection for watermarks and chunks.
func (s *streamer) signalConn() (*client.Conn, error) {
	if s.sql != nil {
		if err := s.sql.Ping(); err == nil {
			return s.sql, nil
		}
		s.closeSQL()
	}
	ctx := s.ctx
	if ctx == nil {
		ctx = s.t.ctx
	}
	c, err := s.t.connect(ctx)
	if err != nil {
		return nil, err
	}
	s.sql = c
	s.sqlDone = s.t.trackConn(c)
	return c, nil
}

func (s *streamer) closeSQL() {
	if s.sqlDone != nil {
		s.sqlDone()
	}
	s.sql, s.sqlDone = nil, nil
}

func (t *Task) writeSignal(c *client.Conn, id, typ string) error {
	db, name, _ := strings.Cut(t.o.signal, ".")
	q := "INSERT INTO " + quoteIdent(db) + "." + quoteIdent(name) + " (id, type, data) VALUES (" + quoteString(id) + ", " + quoteString(typ) + ", NULL)"
	if _, err := c.Execute(q); err != nil {
		return fmt.Errorf("mysql: write %s watermark to %s: %w", typ, t.o.signal, err)
	}
	return nil
}

// incTable describes a captured table with a key by db.table.
func (t *Task) incTable(c *client.Conn, name string) (*table, error) {
	db, tn, ok := strings.Cut(name, ".")
	if !ok {
		return nil, fmt.Errorf("data collection %q is not <database>.<table>", name)
	}
	if !t.o.captured(db, tn) {
		return nil, fmt.Errorf("table %s is not captured", name)
	}
	tb, err := t.describeTable(c, db, tn)
	if err != nil {
		return nil, err
	}
	if tb.keySchema == nil {
		return nil, fmt.Errorf("table %s has no primary key (or message.key.columns)", name)
	}
	return tb, nil
}

// sqlLiteral renders a normalized column value as a SQL literal.
func sqlLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case int64:
		return strconv.FormatInt(x, 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case string:
		return quoteString(x)
	case []byte:
		return "X'" + hex.EncodeToString(x) + "'"
	}
	return quoteString(fmt.Sprint(v))
}

// readIncChunk selects the next rows after the last key, ordered by key.
func (t *Task) readIncChunk(ctx context.Context, c *client.Conn, inc *incSnapshot) (int, error) {
	o := t.o
	tb := inc.cur
	sel := make([]string, len(tb.cols))
	for i, col := range tb.cols {
		q := quoteIdent(col.name)
		if col.kind == kFloat {
			q = "CAST(" + q + " AS DOUBLE)"
		}
		sel[i] = q
	}
	keys := make([]string, len(tb.key))
	for i, idx := range tb.key {
		keys[i] = quoteIdent(tb.cols[idx].name)
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(tb.db) + "." + quoteIdent(tb.name)
	if inc.lastKey != nil {
		q += " WHERE (" + strings.Join(keys, ", ") + ") > (" + strings.Join(inc.lastKey, ", ") + ")"
	}
	q += " ORDER BY " + strings.Join(keys, ", ") + " LIMIT " + strconv.Itoa(incChunkSize)
	inc.buffer = map[string]*connect.Record{}
	inc.order = inc.order[:0]
	ts := t.now()
	vals := make([]any, len(tb.cols))
	var last []string
	n := 0
	var rowErr error
	var res gmysql.Result
	err := c.ExecuteSelectStreaming(q, &res, func(row []gmysql.FieldValue) error {
		if ctx != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		for i := range tb.cols {
			v, err := normalizeText(&tb.cols[i], &row[i])
			if err != nil {
				rowErr = fmt.Errorf("mysql: incremental snapshot %s column %s: %w", tb.id(), tb.cols[i].name, err)
				return rowErr
			}
			vals[i] = v
		}
		key, after, err := tb.row(o, vals)
		if err != nil {
			rowErr = err
			return err
		}
		last = last[:0]
		for _, idx := range tb.key {
			last = append(last, sqlLiteral(vals[idx]))
		}
		n++
		si := &srcInfo{ts: ts, snapshot: snapIncremental, db: tb.db, table: tb.name, file: inc.file, thread: -1}
		r := t.changeRecord(tb, "r", key, nil, after, si, nil, nil)
		ks := keyString(key)
		if _, dup := inc.buffer[ks]; !dup {
			inc.order = append(inc.order, ks)
		}
		inc.buffer[ks] = r
		return nil
	}, nil)
	if rowErr != nil {
		return 0, rowErr
	}
	if err != nil {
		return 0, fmt.Errorf("mysql: incremental snapshot chunk of %s: %w", tb.id(), err)
	}
	inc.full = n == incChunkSize
	if n > 0 {
		inc.lastKey = append([]string(nil), last...)
	}
	return n, nil
}
