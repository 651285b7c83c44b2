package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
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
// watermark (written to the signal table, or as a WAL message when none is
// configured); stream events seen inside the window for keys of the chunk
// win over the chunk's rows, and the rest of the chunk is emitted when the
// close watermark arrives. Its progress is kept in the source offsets.
//
// The same machinery finishes an initial snapshot interrupted by a crash:
// the exported snapshot is gone, so the chunks of the recorded plan not yet
// emitted are read window by window while streaming from the slot's
// position (see planState).
type incSnapshot struct {
	id      string
	tables  []string // remaining schema.table names
	cur     *table
	lastKey []any // text values of the last key read, as parameters
	chunkN  int
	chunkID string
	full    bool       // the chunk was full: the table may have more rows
	open    bool       // inside the watermark window
	win     *window    // rows read for the open window, nil when none
	vis     pgSnapshot // snapshot the chunk was read in
	plan    *planState // chunks of an interrupted initial snapshot
	// emittedKey is the last key of the last emitted chunk of tables[0]:
	// where a restart resumes.
	emittedKey []any
	resume     bool
}

// window holds the rows of the chunks read for one watermark window until
// the close watermark arrives; stream events remove the rows they supersede.
type window struct {
	recs  []*connect.Record // read order; nil once superseded
	tbls  []*table          // the table of each row
	byKey map[string][]int  // dedupe key -> positions in recs
}

func newWindow() *window { return &window{byKey: map[string][]int{}} }

// add buffers a chunk row of tb.
func (w *window) add(tb *table, r *connect.Record) {
	k := dedupeKey(tb, r.Key, after0(r))
	w.byKey[k] = append(w.byKey[k], len(w.recs))
	w.recs = append(w.recs, r)
	w.tbls = append(w.tbls, tb)
}

// drop removes the rows of key, superseded by a stream event. Rows of
// tables without a key are never dropped: they have no identity to
// supersede, so a consumer counts them as a multiset, and an event's row
// and a read row both count.
func (w *window) drop(tb *table, key *connect.Struct) {
	if tb.key == nil || key == nil {
		return
	}
	k := dedupeKey(tb, key, nil)
	for _, i := range w.byKey[k] {
		w.recs[i] = nil
	}
	delete(w.byKey, k)
}

// dropTable removes every row of tb (a truncate inside the window).
func (w *window) dropTable(tb *table) {
	prefix := tb.id + "\x00"
	for k, pos := range w.byKey {
		if strings.HasPrefix(k, prefix) {
			for _, i := range pos {
				w.recs[i] = nil
			}
			delete(w.byKey, k)
		}
	}
}

// rows returns the rows still buffered, in read order, and their tables.
func (w *window) rows() ([]*connect.Record, []*table) {
	out := make([]*connect.Record, 0, len(w.recs))
	tbls := make([]*table, 0, len(w.recs))
	for i, r := range w.recs {
		if r != nil {
			out = append(out, r)
			tbls = append(tbls, w.tbls[i])
		}
	}
	return out, tbls
}

// dedupeKey identifies a row of tb: its key (tables without a key share
// one entry: their rows are never dropped one by one).
func dedupeKey(tb *table, key any, _ *connect.Struct) string {
	k, _ := key.(*connect.Struct)
	return tb.id + "\x00" + keyString(k)
}

func after0(r *connect.Record) *connect.Struct {
	env, _ := r.Value.(*connect.Struct)
	if env == nil {
		return nil
	}
	v, _ := env.At(1).(*connect.Struct)
	return v
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
	if inc == nil {
		return off
	}
	if p := inc.plan; p != nil {
		off[offSnapPlan] = p.planOff
		off[offSnapDone] = p.doneStr
	}
	if len(inc.tables) == 0 {
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

// restoreInc reads an incremental snapshot's state from a committed offset:
// the chunks of an interrupted initial snapshot still to read, and (with a
// signal table) the tables of a signalled incremental snapshot.
func restoreInc(off map[string]any, signal bool) *incSnapshot {
	inc := &incSnapshot{resume: true}
	if rs := parseSnapResume(off); rs != nil {
		inc.plan = newPlanState(rs)
		inc.id = "resume"
	}
	colls, _ := off[offIncColls].(string)
	if colls == "" || !signal {
		if inc.plan == nil {
			return nil
		}
		return inc
	}
	inc.id, _ = off[offIncID].(string)
	if json.Unmarshal([]byte(colls), &inc.tables) != nil || len(inc.tables) == 0 {
		inc.tables = nil
		if inc.plan == nil {
			return nil
		}
		return inc
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
	id, typ, data := signalRow(tb, v)
	return s.signal(id, typ, data, lsn)
}

// watermarkPrefix is the prefix of watermarks written as WAL messages
// (pg_logical_emit_message) when no signal table is configured.
const watermarkPrefix = "sluice.watermark"

// onMessage handles a logical decoding message: a watermark of ours.
func (s *streamer) onMessage(m *pglogrepl.LogicalDecodingMessage, lsn uint64) error {
	if m.Prefix != watermarkPrefix || s.txSkip {
		return nil
	}
	typ, id, ok := strings.Cut(string(m.Content), " ")
	if !ok || typ != sigWindowOpen && typ != sigWindowClose {
		return nil
	}
	return s.signal(id, typ, "", lsn)
}

// signal acts on a signal or watermark.
func (s *streamer) signal(id, typ, data string, lsn uint64) error {
	t := s.t
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
				if len(inc.tables) == 0 {
					inc.id = id
				}
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
			if inc.plan != nil && inc.plan.window != nil {
				s.closePlanWindow(lsn)
				return s.nextChunk()
			}
			// The chunk is emitted: offsets from here on resume after it.
			if inc.full {
				inc.emittedKey = inc.lastKey
			} else {
				inc.tables = inc.tables[1:]
				inc.emittedKey = nil
			}
			off := s.offset(lsn, "INSERT")
			// Rows not overridden by stream events inside the window.
			recs, _ := inc.win.rows()
			for _, r := range recs {
				r.SourceOffset = off
			}
			s.flushPending()
			s.batch = append(s.batch, recs...)
			inc.win = nil
			if !inc.full {
				inc.cur = nil
			}
			return s.nextChunk()
		}
	}
	return nil
}

// inWindow removes the rows of the keys a stream event (old and new row)
// changes from the open window, unless the event's transaction is visible
// in the snapshot the window was read in (then the rows already include it
// and follow it).
func (s *streamer) inWindow(tb *table, old, new *connect.Struct) {
	inc := s.inc
	if inc == nil || inc.win == nil || tb.key == nil || inc.vis.visible(s.xid) {
		return
	}
	inc.win.drop(tb, tb.keyOf(old))
	inc.win.drop(tb, tb.keyOf(new))
}

// truncateInWindow drops tb's rows from the open window.
func (s *streamer) truncateInWindow(tb *table) {
	if inc := s.inc; inc != nil && inc.win != nil && !inc.vis.visible(s.xid) {
		inc.win.dropTable(tb)
	}
}

// nextChunk reads the next chunk between two watermarks, moving to the
// next table when the current one is done.
func (s *streamer) nextChunk() (err error) {
	t := s.t
	inc := s.inc
	defer func() {
		if err != nil {
			// The stream reconnects; read the chunk again then.
			inc.resume = true
		}
	}()
	ctx, cancel := context.WithTimeout(t.ctx, defaultQueryTimeout)
	defer cancel()
	for {
		if p := inc.plan; p != nil && inc.cur == nil {
			if len(p.todo) == 0 {
				s.finishPlan(s.lastLSN)
				continue
			}
			inc.chunkN++
			inc.chunkID = inc.id + "-" + strconv.FormatInt(time.Now().UnixNano(), 36) + "-" + strconv.Itoa(inc.chunkN)
			if err := t.writeSignal(ctx, inc.chunkID+"-open", sigWindowOpen); err != nil {
				return err
			}
			// Reading a window of whole chunks may take longer than a
			// catalog query.
			n, err := s.readPlanWindow(t.ctx)
			if err != nil {
				return err
			}
			if n == 0 {
				p.emptyWindow()
				continue
			}
			return t.writeSignal(ctx, inc.chunkID+"-close", sigWindowClose)
		}
		if inc.cur == nil {
			if len(inc.tables) == 0 {
				if inc.id != "resume" {
					t.log.Info("incremental snapshot completed", "id", inc.id)
				}
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

// writeSignal writes a watermark: a row of the signal table, or without
// one a transactional WAL message, which the stream sees in commit order
// just like the row.
func (t *Task) writeSignal(ctx context.Context, id, typ string) error {
	if t.o.signal == "" {
		t.cat.mu.Lock()
		defer t.cat.mu.Unlock()
		if _, err := t.cat.conn.Exec(ctx, "SELECT pg_logical_emit_message(true, $1, $2::text)", watermarkPrefix, typ+" "+id); err != nil {
			return fmt.Errorf("postgres: write %s watermark message: %w", typ, err)
		}
		return nil
	}
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
	inc.win = newWindow()
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
		inc.win.add(tb, t.changeRecord(tb, "r", key, nil, after, si, nil, nil))
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
