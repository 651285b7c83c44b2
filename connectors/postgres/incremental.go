package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/runtime/connect"
)

// Signal types written to / read from signal.data.collection.
const (
	sigExecuteSnapshot = "execute-snapshot"
	sigWindowOpen      = "snapshot-window-open"
	sigWindowClose     = "snapshot-window-close"
)

// incSnapshot is a running incremental snapshot (Debezium's variant of the
// DBLog watermark algorithm). Chunks are read between an open and a close
// watermark written to the signal table; stream events seen inside the
// window for keys of the chunk win over the chunk's rows, and the rest of
// the chunk is emitted when the close watermark arrives. Its state is kept
// in memory only: a restart drops an unfinished incremental snapshot.
type incSnapshot struct {
	id      string
	tables  []string // remaining schema.table names
	cur     *table
	lastKey []any // text values of the last key read, as parameters
	chunkN  int
	chunkID string
	full    bool // the chunk was full: the table may have more rows
	open    bool // inside the watermark window
	buffer  map[string]*connect.Record
	order   []string
	vis     pgSnapshot // snapshot the chunk was read in
	// emittedKey is the last key of the last emitted chunk of tables[0]:
	// where a restart resumes.
	emittedKey []any
	resume     bool
}

// Offset keys holding a running incremental snapshot, as in Debezium.
const (
	offIncID      = "incremental_snapshot_signal_id"
	offIncColls   = "incremental_snapshot_collections"
	offIncPrimary = "incremental_snapshot_primary_key"
)

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
	inc := &incSnapshot{resume: true}
	inc.id, _ = off[offIncID].(string)
	if json.Unmarshal([]byte(colls), &inc.tables) != nil || len(inc.tables) == 0 {
		return nil
	}
	if k, _ := off[offIncPrimary].(string); k != "" {
		var key []any
		if json.Unmarshal([]byte(k), &key) == nil {
			inc.emittedKey = key
		}
	}
	return inc
}

// pgSnapshot is a pg_current_snapshot() value.
type pgSnapshot struct {
	xmin, xmax uint64
	xip        map[uint64]bool
}

func parseSnapshot(s string) (pgSnapshot, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return pgSnapshot{}, fmt.Errorf("postgres: unexpected snapshot %q", s)
	}
	var p pgSnapshot
	var err1, err2 error
	p.xmin, err1 = strconv.ParseUint(parts[0], 10, 64)
	p.xmax, err2 = strconv.ParseUint(parts[1], 10, 64)
	if err1 != nil || err2 != nil {
		return pgSnapshot{}, fmt.Errorf("postgres: unexpected snapshot %q", s)
	}
	p.xip = map[uint64]bool{}
	for _, x := range connect.SplitList(parts[2]) {
		n, err := strconv.ParseUint(x, 10, 64)
		if err != nil {
			return pgSnapshot{}, fmt.Errorf("postgres: unexpected snapshot %q", s)
		}
		p.xip[n] = true
	}
	return p, nil
}

// visible reports whether a transaction's effects are in the snapshot.
func (p pgSnapshot) visible(xid32 uint32) bool {
	x := p.xmin&^0xffffffff | uint64(xid32)
	if x > p.xmin+(1<<31) && x >= 1<<32 {
		x -= 1 << 32
	} else if x+(1<<31) < p.xmin {
		x += 1 << 32
	}
	return x < p.xmin || x < p.xmax && !p.xip[x]
}

const incChunkSize = 1024

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

// isSignalTable reports whether schema.table is signal.data.collection.
func (o *options) isSignalTable(schema, table string) bool {
	return o.signal != "" && o.signal == schema+"."+table
}

// signalRow reads id, type and data of a signal table insert.
func signalRow(tb *table, v *connect.Struct) (id, typ, data string) {
	get := func(name string) string {
		if f := tb.value.Field(name); f != nil {
			s, _ := v.At(f.Index).(string)
			return s
		}
		return ""
	}
	return get("id"), get("type"), get("data")
}

// onSignal handles an insert into the signal table seen in the stream.
func (s *streamer) onSignal(tb *table, v *connect.Struct, lsn uint64) error {
	t := s.t
	id, typ, data := signalRow(tb, v)
	inc := s.inc
	switch typ {
	case sigExecuteSnapshot:
		var req struct {
			Collections []string `json:"data-collections"`
			Type        string   `json:"type"`
		}
		if err := json.Unmarshal([]byte(data), &req); err != nil {
			t.log.Warn("ignoring execute-snapshot signal with invalid data", "id", id, "error", err)
			return nil
		}
		if req.Type != "" && !strings.EqualFold(req.Type, "incremental") {
			t.log.Warn("ignoring execute-snapshot signal: only incremental snapshots are supported", "id", id, "type", req.Type)
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
		if inc != nil && id == inc.chunkID+"-open" {
			inc.open = true
		}
	case sigWindowClose:
		if inc != nil && id == inc.chunkID+"-close" {
			inc.open = false
			// The chunk is emitted: offsets from here on resume after it.
			if inc.full {
				inc.emittedKey = inc.lastKey
			} else {
				inc.tables = inc.tables[1:]
				inc.emittedKey = nil
			}
			off := s.offset(lsn, "INSERT")
			// Rows not overridden by stream events inside the window.
			recs := make([]*connect.Record, 0, len(inc.order))
			for _, k := range inc.order {
				if r, ok := inc.buffer[k]; ok {
					r.SourceOffset = off
					recs = append(recs, r)
				}
			}
			s.flushPending()
			s.batch = append(s.batch, recs...)
			inc.buffer = nil
			if !inc.full {
				inc.cur = nil
			}
			return s.nextChunk()
		}
	}
	return nil
}

// inWindow removes keys changed by the stream from the open chunk.
func (s *streamer) inWindow(tb *table, keys ...*connect.Struct) {
	inc := s.inc
	if inc == nil || inc.buffer == nil || inc.cur == nil || inc.cur.id != tb.id || inc.vis.visible(s.xid) {
		return
	}
	for _, k := range keys {
		if k != nil {
			delete(inc.buffer, keyString(k))
		}
	}
}

// nextChunk reads the next chunk between two watermarks, moving to the
// next table when the current one is done.
func (s *streamer) nextChunk() error {
	t := s.t
	inc := s.inc
	ctx, cancel := context.WithTimeout(t.ctx, defaultQueryTimeout)
	defer cancel()
	for {
		if inc.cur == nil {
			if len(inc.tables) == 0 {
				t.log.Info("incremental snapshot completed", "id", inc.id)
				s.inc = nil
				return nil
			}
			name := inc.tables[0]
			tb, err := t.incTable(ctx, name)
			if err != nil {
				t.log.Warn("incremental snapshot skips table", "table", name, "error", err)
				inc.tables = inc.tables[1:]
				continue
			}
			inc.cur, inc.lastKey = tb, inc.emittedKey
		}
		inc.chunkN++
		inc.chunkID = inc.id + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(inc.chunkN)
		if err := t.writeSignal(ctx, inc.chunkID+"-open", sigWindowOpen); err != nil {
			return err
		}
		n, err := t.readIncChunk(ctx, inc)
		if err != nil {
			return err
		}
		if n == 0 {
			inc.cur, inc.emittedKey = nil, nil
			inc.tables = inc.tables[1:]
			continue
		}
		return t.writeSignal(ctx, inc.chunkID+"-close", sigWindowClose)
	}
}

func (t *Task) writeSignal(ctx context.Context, id, typ string) error {
	parts := strings.SplitN(t.o.signal, ".", 2)
	q := "INSERT INTO " + quoteIdent(parts[0]) + "." + quoteIdent(parts[1]) + " (id, type, data) VALUES ($1, $2, NULL)"
	t.cat.mu.Lock()
	defer t.cat.mu.Unlock()
	if _, err := t.cat.conn.Exec(ctx, q, id, typ); err != nil {
		return fmt.Errorf("postgres: write %s watermark to %s: %w", typ, t.o.signal, err)
	}
	return nil
}

// incTable resolves a captured table with a key by schema.table.
func (t *Task) incTable(ctx context.Context, name string) (*table, error) {
	parts := strings.SplitN(name, ".", 2)
	if len(parts) != 2 {
		return nil, fmt.Errorf("data collection %q is not <schema>.<table>", name)
	}
	if !t.o.captured(parts[0], parts[1]) {
		return nil, fmt.Errorf("table %s is not captured", name)
	}
	var oid uint32
	t.cat.mu.Lock()
	err := t.cat.conn.QueryRow(ctx, `SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`, parts[0], parts[1]).Scan(&oid)
	t.cat.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("look up %s: %w", name, err)
	}
	m, err := t.cat.tableMeta(ctx, oid)
	if err != nil {
		return nil, err
	}
	tb, err := t.buildTable(m, nil)
	if err != nil {
		return nil, err
	}
	if tb.key == nil {
		return nil, fmt.Errorf("table %s has no primary key (or message.key.columns)", name)
	}
	return tb, nil
}

// readIncChunk selects the next rows after the last key, ordered by key.
func (t *Task) readIncChunk(ctx context.Context, inc *incSnapshot) (int, error) {
	tb := inc.cur
	cols := make([]string, len(tb.cols))
	for i, c := range tb.cols {
		cols[i] = quoteIdent(c.name)
	}
	keys := make([]string, len(tb.keyIdx))
	params := make([]string, len(tb.keyIdx))
	for i, idx := range tb.keyIdx {
		keys[i] = quoteIdent(tb.cols[idx].name)
		params[i] = "$" + strconv.Itoa(i+1)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(tb.meta.schema) + "." + quoteIdent(tb.meta.name)
	if inc.lastKey != nil {
		q += " WHERE (" + strings.Join(keys, ", ") + ") > (" + strings.Join(params, ", ") + ")"
	}
	q += " ORDER BY " + strings.Join(keys, ", ") + " LIMIT " + strconv.Itoa(incChunkSize)
	args := inc.lastKey
	t.cat.mu.Lock()
	// The chunk is read in a REPEATABLE READ transaction whose snapshot is
	// recorded: PostgreSQL may make a transaction visible after one that
	// committed later in WAL order, so stream events override chunk rows by
	// visibility in this snapshot rather than only by watermark position.
	tx, err := t.cat.conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		t.cat.mu.Unlock()
		return 0, fmt.Errorf("postgres: incremental snapshot chunk of %s: %w", tb.id, err)
	}
	defer tx.Rollback(context.Background())
	var snap string
	if err := tx.QueryRow(ctx, "SELECT pg_current_snapshot()::text").Scan(&snap); err != nil {
		t.cat.mu.Unlock()
		return 0, fmt.Errorf("postgres: incremental snapshot chunk of %s: %w", tb.id, err)
	}
	inc.vis, err = parseSnapshot(snap)
	if err != nil {
		t.cat.mu.Unlock()
		return 0, err
	}
	// Simple protocol: text results for the text converters, and the last
	// key's text values coerced by the server to the key column types.
	rows, err := tx.Query(ctx, q, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		t.cat.mu.Unlock()
		return 0, fmt.Errorf("postgres: incremental snapshot chunk of %s: %w", tb.id, err)
	}
	inc.buffer = map[string]*connect.Record{}
	inc.order = inc.order[:0]
	n := 0
	var last [][]byte
	var valErr error
	for rows.Next() {
		raw := rows.RawValues()
		vals := make([][]byte, len(raw))
		for i, v := range raw {
			if v != nil {
				vals[i] = append([]byte{}, v...)
			}
		}
		after, verr := t.makeValue(&table{byRelPos: identity(len(tb.cols)), cols: tb.cols, value: tb.value, id: tb.id}, len(vals), func(pos int) (byte, []byte) {
			if vals[pos] == nil {
				return 'n', nil
			}
			return 't', vals[pos]
		}, nil)
		key := tb.keyOf(after)
		last = vals
		n++
		if skip, err := t.badValue(tb, key, verr); err != nil {
			if valErr == nil {
				valErr = err
			}
			continue
		} else if skip {
			continue
		}
		si := &srcInfo{ts: t.now(), snapshot: snapIncremental, schema: tb.meta.schema, table: tb.meta.name}
		r := t.changeRecord(tb, "r", key, nil, after, si, nil, nil)
		ks := keyString(key)
		if _, dup := inc.buffer[ks]; !dup {
			inc.order = append(inc.order, ks)
		}
		inc.buffer[ks] = r
	}
	rows.Close()
	_ = tx.Commit(ctx)
	t.cat.mu.Unlock()
	if valErr != nil {
		return 0, valErr
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("postgres: incremental snapshot chunk of %s: %w", tb.id, err)
	}
	inc.full = n == incChunkSize
	if last != nil {
		inc.lastKey = make([]any, len(tb.keyIdx))
		for i, idx := range tb.keyIdx {
			inc.lastKey[i] = string(last[idx])
		}
	}
	return n, nil
}

func identity(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
