package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sluicehq/sluice/runtime/connect"
	"golang.org/x/sync/errgroup"
)

// Progress reports the initial snapshot's progress, for status and metrics.
type Progress struct {
	// Running is true while the snapshot is being read.
	Running bool
	// Completed is true once every table was read.
	Completed bool
	// Skipped is true when no snapshot was needed (streaming resumed).
	Skipped bool
	// Started and Finished bound the snapshot.
	Started, Finished time.Time
	// TablesTotal and TablesDone count captured tables.
	TablesTotal, TablesDone int
	// Rows counts rows read so far.
	Rows int64
	// Tables has one entry per table, in snapshot order.
	Tables []TableProgress
}

// TableProgress is one table's snapshot progress.
type TableProgress struct {
	Table      string // schema.table
	Chunks     int
	ChunksDone int
	Rows       int64
	Done       bool
}

// SnapshotProgress returns a copy of the snapshot progress.
func (t *Task) SnapshotProgress() Progress {
	t.progMu.Lock()
	defer t.progMu.Unlock()
	p := t.progress
	p.Tables = append([]TableProgress(nil), p.Tables...)
	return p
}

// Metrics reports the snapshot progress as gauges; it implements
// connect.MetricsReporter.
func (t *Task) Metrics() []connect.Metric {
	p := t.SnapshotProgress()
	b := func(v bool) float64 {
		if v {
			return 1
		}
		return 0
	}
	ms := []connect.Metric{
		{Name: "sluice_postgres_snapshot_running", Help: "1 while the initial snapshot is being read.", Value: b(p.Running)},
		{Name: "sluice_postgres_snapshot_completed", Help: "1 once the initial snapshot read every table.", Value: b(p.Completed)},
		{Name: "sluice_postgres_snapshot_skipped", Help: "1 when no snapshot was needed (streaming resumed).", Value: b(p.Skipped)},
		{Name: "sluice_postgres_snapshot_tables_total", Help: "Tables the initial snapshot captures.", Value: float64(p.TablesTotal)},
		{Name: "sluice_postgres_snapshot_tables_done", Help: "Tables the initial snapshot finished.", Value: float64(p.TablesDone)},
		{Name: "sluice_postgres_snapshot_rows", Help: "Rows the initial snapshot read so far.", Value: float64(p.Rows)},
	}
	for _, tp := range p.Tables {
		l := map[string]string{"table": tp.Table}
		ms = append(ms,
			connect.Metric{Name: "sluice_postgres_snapshot_table_rows", Help: "Rows the initial snapshot read from the table.", Labels: l, Value: float64(tp.Rows)},
			connect.Metric{Name: "sluice_postgres_snapshot_table_chunks_done", Help: "Chunks of the table the initial snapshot finished.", Labels: l, Value: float64(tp.ChunksDone)},
			connect.Metric{Name: "sluice_postgres_snapshot_table_chunks_total", Help: "Chunks the initial snapshot splits the table into.", Labels: l, Value: float64(tp.Chunks)},
		)
	}
	return ms
}

func (t *Task) setProgress(f func(p *Progress)) {
	t.progMu.Lock()
	f(&t.progress)
	t.progMu.Unlock()
}

// chunk is one range of one table read by one worker query.
type chunk struct {
	tbl   int
	idx   int // position in the snapshot plan
	where string
}

// snapTable is a table being snapshotted.
type snapTable struct {
	tb        *table
	chunks    int
	done      int
	emitted   int64
	completed bool
}

type snapMsg struct {
	tbl   int
	chunk int // plan index
	recs  []*connect.Record
	done  bool // chunk finished
}

// snapshot reads every captured table inside the exported snapshot with
// snapshot.max.threads parallel transactions, chunked by primary key or
// ctid ranges, then returns so streaming can start at lsn. With rs (an
// interrupted snapshot being resumed, snapName empty) it reads the chunks
// of the recorded plan that no acknowledged offset marked done, each
// worker in a new REPEATABLE READ transaction.
//
// Every record's offset carries the plan and the chunks whose records were
// all emitted before it (snapshot_plan, snapshot_chunks_done), so after a
// crash at most the chunks in flight are read again.
func (t *Task) snapshot(ctx context.Context, snapName string, lsn uint64, rs *snapResume) error {
	o := t.o
	var sts []*snapTable // set before the first chunk is handed out
	// The workers connect and import the snapshot while the chunks are
	// planned: connection setup is most of a small snapshot's time.
	workers := max(1, o.threads)
	work := make(chan chunk)
	results := make(chan snapMsg, workers*2)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g, gctx := errgroup.WithContext(wctx)
	var xidOnce sync.Once
	var snapXid int64
	ready := make(chan error, workers)
	for w := 0; w < workers; w++ {
		g.Go(func() error {
			conn, err := pgconn.Connect(gctx, o.connDSN(false))
			if err != nil {
				ready <- err
				return fmt.Errorf("postgres: snapshot connection: %w", err)
			}
			defer conn.Close(context.Background())
			// Not READ ONLY: the first worker's txid_current() is the
			// snapshot transaction id reported in source.txId, as Debezium
			// reports its snapshot transaction's.
			begin := "BEGIN ISOLATION LEVEL REPEATABLE READ"
			if snapName != "" {
				begin += "; SET TRANSACTION SNAPSHOT '" + snapName + "'"
			}
			if _, err := conn.Exec(gctx, begin).ReadAll(); err != nil {
				ready <- err
				return fmt.Errorf("postgres: import snapshot %s: %w", snapName, err)
			}
			var xerr error
			xidOnce.Do(func() {
				res, err := conn.Exec(gctx, "SELECT txid_current()").ReadAll()
				if err != nil || len(res) != 1 || len(res[0].Rows) != 1 {
					xerr = fmt.Errorf("postgres: snapshot transaction id: %v", err)
					return
				}
				snapXid, xerr = strconv.ParseInt(string(res[0].Rows[0][0]), 10, 64)
			})
			ready <- xerr
			if xerr != nil {
				return xerr
			}
			for c := range work {
				if err := t.readChunk(gctx, conn, sts[c.tbl].tb, c, results); err != nil {
					return err
				}
			}
			_, _ = conn.Exec(context.Background(), "COMMIT").ReadAll()
			return nil
		})
	}
	abort := func(err error) error {
		cancel()
		close(work)
		_ = g.Wait()
		return err
	}
	tables, err := t.snapshotTables(ctx)
	if err != nil {
		return abort(err)
	}
	var plan []string // "schema.table\x00where" per chunk
	sts = make([]*snapTable, 0, len(tables))
	var chunks []chunk
	done := map[int]bool{}
	if rs != nil {
		byID := map[string]int{}
		for _, tb := range tables {
			byID[tb.id] = -1
		}
		plan = rs.plan
		for i, p := range plan {
			id, where, _ := strings.Cut(p, "\x00")
			ti, ok := byID[id]
			if !ok {
				continue // table dropped or no longer captured
			}
			if ti < 0 {
				for _, tb := range tables {
					if tb.id == id {
						ti = len(sts)
						sts = append(sts, &snapTable{tb: tb})
						byID[id] = ti
					}
				}
			}
			if rs.done[i] {
				done[i] = true
				continue
			}
			sts[ti].chunks++
			chunks = append(chunks, chunk{tbl: ti, idx: i, where: where})
		}
	} else {
		for _, tb := range tables {
			cs, err := t.planChunks(ctx, tb)
			if err != nil {
				return abort(err)
			}
			ti := len(sts)
			sts = append(sts, &snapTable{tb: tb, chunks: len(cs)})
			for _, w := range cs {
				chunks = append(chunks, chunk{tbl: ti, idx: len(plan), where: w})
				plan = append(plan, tb.id+"\x00"+w)
			}
		}
	}
	tables = tables[:0]
	for _, st := range sts {
		tables = append(tables, st.tb)
	}
	planOff := make([]any, len(plan))
	for i, p := range plan {
		planOff[i] = p
	}
	t.setProgress(func(p *Progress) {
		p.TablesTotal = len(tables)
		for _, st := range sts {
			p.Tables = append(p.Tables, TableProgress{Table: st.tb.id, Chunks: st.chunks})
		}
	})
	t.log.Info("snapshot started", "tables", len(tables), "chunks", len(chunks), "threads", o.threads)

	// Every worker has imported the snapshot before chunks are handed out.
	for w := 0; w < workers; w++ {
		if err := <-ready; err != nil {
			return abort(err)
		}
	}
	g.Go(func() error {
		defer close(work)
		for _, c := range chunks {
			select {
			case work <- c:
			case <-gctx.Done():
				return gctx.Err()
			}
		}
		return nil
	})
	var waitErr error
	waitDone := make(chan struct{})
	go func() {
		waitErr = g.Wait()
		close(results)
		close(waitDone)
	}()

	// Merge: mark first/last records and attach offsets.
	first := true
	remaining := len(sts)
	for _, st := range sts {
		if st.chunks == 0 {
			remaining--
		}
	}
	// pending counts, per chunk, records received but not yet emitted;
	// a chunk is done in the offsets once its end was received and all its
	// records were emitted.
	pending := map[int]int{}
	ended := map[int]bool{}
	var curOff map[string]any
	newOff := func() {
		curOff = map[string]any{offLSN: int64(lsn), offTxID: snapXid, offTsUsec: t.now().UnixMicro(), offSnapshot: true, offLastSnap: false,
			offSnapPlan: planOff, offSnapDone: encodeChunkSet(done)}
	}
	newOff()
	markDone := func(c int) {
		t.log.Debug("snapshot chunk done", "chunk", c)
		done[c] = true
		newOff()
	}
	type held struct {
		r     *connect.Record
		chunk int
	}
	out := make([]*connect.Record, 0, o.maxBatch)
	// emitRecs emits records of one chunk; only the last can be the
	// chunk's last pending one, the first carrying the chunk as done.
	emitRecs := func(recs []*connect.Record, c int) {
		if len(recs) == 0 {
			return
		}
		pending[c] -= len(recs)
		last := len(recs) - 1
		for _, r := range recs[:last] {
			r.SourceOffset = curOff
		}
		if pending[c] == 0 && ended[c] {
			markDone(c)
		}
		recs[last].SourceOffset = curOff
		out = append(out, recs...)
	}
	emitRec := func(h held) {
		pending[h.chunk]--
		if pending[h.chunk] == 0 && ended[h.chunk] {
			markDone(h.chunk)
		}
		h.r.SourceOffset = curOff
		out = append(out, h.r)
	}
	lastOff := func() map[string]any {
		return map[string]any{offLSN: int64(lsn), offTxID: snapXid, offTsUsec: t.now().UnixMicro(), offSnapshot: true, offLastSnap: true}
	}
	// tail is the last record of the most recently completed table, held
	// back so the snapshot's very last record can be marked "last" even
	// when the tables completing after it are empty.
	var tail *held
	finish := func() {
		if tail == nil {
			return
		}
		emitRec(*tail)
		tail.r.SourceOffset = lastOff()
		src := tail.r.Value.(*connect.Struct).At(2).(*connect.Struct)
		src.SetAt(4, snapLast)
		tail = nil
	}
	heldBy := make([]*held, len(sts))
	for m := range results {
		st := sts[m.tbl]
		if len(m.recs) > 0 {
			pending[m.chunk] += len(m.recs)
			si := &srcInfo{ts: t.now(), snapshot: snapTrue, schema: st.tb.meta.schema, table: st.tb.meta.name, txID: snapXid, hasTxID: true, lsn: lsn}
			src := t.sourceStruct(si)
			for _, r := range m.recs {
				r.Value.(*connect.Struct).SetAt(2, src)
			}
			if heldBy[m.tbl] != nil {
				emitRec(*heldBy[m.tbl])
			}
			if st.emitted == 0 {
				mark := snapFirstInColl
				if first {
					mark, first = snapFirst, false
				}
				setSnapshotMark(t, m.recs[0], mark, si)
			}
			emitRecs(m.recs[:len(m.recs)-1], m.chunk)
			heldBy[m.tbl] = &held{m.recs[len(m.recs)-1], m.chunk}
			st.emitted += int64(len(m.recs))
			t.setProgress(func(p *Progress) { p.Rows += int64(len(m.recs)); p.Tables[m.tbl].Rows += int64(len(m.recs)) })
		}
		if m.done {
			ended[m.chunk] = true
			if pending[m.chunk] == 0 {
				markDone(m.chunk)
			}
			st.done++
			t.setProgress(func(p *Progress) { p.Tables[m.tbl].ChunksDone++ })
			if st.done == st.chunks {
				remaining--
				st.completed = true
				if h := heldBy[m.tbl]; h != nil {
					si := &srcInfo{ts: t.now(), schema: st.tb.meta.schema, table: st.tb.meta.name, txID: snapXid, hasTxID: true, lsn: lsn}
					setSnapshotMark(t, h.r, snapLastInColl, si)
					if tail != nil {
						emitRec(*tail)
					}
					tail, heldBy[m.tbl] = h, nil
				}
				if remaining == 0 {
					finish()
				}
				t.setProgress(func(p *Progress) { p.TablesDone++; p.Tables[m.tbl].Done = true })
			}
		}
		if len(out) >= o.maxBatch || (len(out) > 0 && len(results) == 0) {
			if !t.emit(ctx, out) {
				break
			}
			out = make([]*connect.Record, 0, o.maxBatch)
		}
	}
	<-waitDone
	if waitErr != nil {
		return waitErr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if !t.emit(ctx, out) {
		return ctx.Err()
	}
	t.setProgress(func(p *Progress) {
		p.Running = false
		p.Completed = true
		p.Finished = t.now()
		// Tables with no chunks (empty) count as done.
		p.TablesDone = p.TablesTotal
		for i := range p.Tables {
			p.Tables[i].Done = true
		}
	})
	pr := t.SnapshotProgress()
	t.log.Info("snapshot completed", "tables", pr.TablesTotal, "rows", pr.Rows, "duration", pr.Finished.Sub(pr.Started))
	return nil
}

// Offset keys of a snapshot in progress (sluice extension): the chunk plan
// and the chunks fully emitted.
const (
	offSnapPlan = "snapshot_plan"
	offSnapDone = "snapshot_chunks_done"
)

// snapResume is an interrupted snapshot recorded in the offsets.
type snapResume struct {
	lsn  uint64
	plan []string
	done map[int]bool
}

// parseSnapResume reads an interrupted snapshot from a committed offset, or
// returns nil when the offset does not record a plan.
func parseSnapResume(off map[string]any) *snapResume {
	raw, ok := off[offSnapPlan].([]any)
	if !ok || len(raw) == 0 {
		return nil
	}
	lsn, ok := toUint64(off[offLSN])
	if !ok || lsn == 0 {
		return nil
	}
	rs := &snapResume{lsn: lsn, done: decodeChunkSet(asString(off[offSnapDone]))}
	for _, p := range raw {
		s, ok := p.(string)
		if !ok {
			return nil
		}
		rs.plan = append(rs.plan, s)
	}
	return rs
}

// encodeChunkSet writes chunk indexes as ranges: "0-4,7,9-10".
func encodeChunkSet(set map[int]bool) string {
	idx := make([]int, 0, len(set))
	for i := range set {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(idx[i]))
		if j > i {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(idx[j]))
		}
		i = j + 1
	}
	return b.String()
}

func decodeChunkSet(s string) map[int]bool {
	out := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := strconv.Atoi(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.Atoi(hi)
		}
		if err1 != nil || err2 != nil || b < a {
			continue
		}
		for i := a; i <= b; i++ {
			out[i] = true
		}
	}
	return out
}

// setSnapshotMark replaces a record's source block with one carrying mark.
func setSnapshotMark(t *Task, r *connect.Record, mark string, si *srcInfo) {
	c := *si
	c.snapshot = mark
	r.Value.(*connect.Struct).SetAt(2, t.sourceStruct(&c))
}

// snapshotTables lists the captured tables in the publication.
func (t *Task) snapshotTables(ctx context.Context) ([]*table, error) {
	t.cat.mu.Lock()
	rows, err := t.cat.conn.Query(ctx, `SELECT c.oid, n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_publication_tables p ON p.schemaname = n.nspname AND p.tablename = c.relname AND p.pubname = $1
		WHERE c.relkind = 'r' ORDER BY n.nspname, c.relname`, t.o.publication)
	if err != nil {
		t.cat.mu.Unlock()
		return nil, fmt.Errorf("postgres: list snapshot tables: %w", err)
	}
	var oids []uint32
	for rows.Next() {
		var oid uint32
		var s, n string
		if err := rows.Scan(&oid, &s, &n); err != nil {
			rows.Close()
			t.cat.mu.Unlock()
			return nil, err
		}
		if t.o.captured(s, n) {
			oids = append(oids, oid)
		}
	}
	rows.Close()
	t.cat.mu.Unlock()
	var out []*table
	for _, oid := range oids {
		m, err := t.cat.tableMeta(ctx, oid)
		if err != nil {
			return nil, err
		}
		tb, err := t.buildTable(m, nil)
		if err != nil {
			return nil, err
		}
		tb.captured = true
		out = append(out, tb)
	}
	return out, nil
}

// planChunks splits a table into WHERE clauses: integer primary key ranges,
// or ctid block ranges for other tables.
func (t *Task) planChunks(ctx context.Context, tb *table) ([]string, error) {
	var reltuples float64
	var pages int64
	t.cat.mu.Lock()
	err := t.cat.conn.QueryRow(ctx, `SELECT GREATEST(c.reltuples, 0)::float8, pg_relation_size(c.oid) / current_setting('block_size')::int8 FROM pg_class c WHERE c.oid = $1`, tb.meta.oid).Scan(&reltuples, &pages)
	t.cat.mu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("postgres: size of %s: %w", tb.id, err)
	}
	if reltuples == 0 && pages > 0 {
		reltuples = float64(pages) * 100 // never analyzed: guess
	}
	n := int64(reltuples)/t.o.chunkRows + 1
	if t.o.threads > 1 && reltuples >= float64(t.o.threads)*2000 {
		n = max(n, int64(t.o.threads)*2)
	}
	if n <= 1 {
		return []string{""}, nil
	}
	var pkCol *catColumn
	pkCount := 0
	for i := range tb.meta.cols {
		if tb.meta.cols[i].pk {
			pkCount++
			pkCol = &tb.meta.cols[i]
		}
	}
	if pkCount == 1 && (pkCol.typeOID == oidInt2 || pkCol.typeOID == oidInt4 || pkCol.typeOID == oidInt8) {
		var lo, hi *int64
		t.cat.mu.Lock()
		q := fmt.Sprintf("SELECT min(%[1]s)::int8, max(%[1]s)::int8 FROM %[2]s", quoteIdent(pkCol.name), quoteIdent(tb.meta.schema)+"."+quoteIdent(tb.meta.name))
		err := t.cat.conn.QueryRow(ctx, q).Scan(&lo, &hi)
		t.cat.mu.Unlock()
		if err != nil {
			return nil, fmt.Errorf("postgres: key range of %s: %w", tb.id, err)
		}
		if lo == nil || hi == nil || *hi-*lo < n {
			return []string{""}, nil
		}
		col := quoteIdent(pkCol.name)
		step := (*hi - *lo) / n
		var out []string
		prev := ""
		for i := int64(1); i < n; i++ {
			b := strconv.FormatInt(*lo+i*step, 10)
			if prev == "" {
				out = append(out, col+" < "+b)
			} else {
				out = append(out, col+" >= "+prev+" AND "+col+" < "+b)
			}
			prev = b
		}
		return append(out, col+" >= "+prev), nil
	}
	if pages < n {
		return []string{""}, nil
	}
	step := pages / n
	var out []string
	prev := int64(0)
	for i := int64(1); i < n; i++ {
		b := i * step
		if prev == 0 {
			out = append(out, fmt.Sprintf("ctid < '(%d,0)'::tid", b))
		} else {
			out = append(out, fmt.Sprintf("ctid >= '(%d,0)'::tid AND ctid < '(%d,0)'::tid", prev, b))
		}
		prev = b
	}
	return append(out, fmt.Sprintf("ctid >= '(%d,0)'::tid", prev)), nil
}

// readChunk streams one chunk's rows as snapshot records. Rows come from
// COPY (SELECT ...) TO STDOUT, the fastest way out of PostgreSQL: in
// binary format when every column has a binary converter, else in text
// format, with the same per-value text as a SELECT.
func (t *Task) readChunk(ctx context.Context, conn *pgconn.PgConn, tb *table, c chunk, results chan<- snapMsg) error {
	cols := make([]string, len(tb.cols))
	for i, col := range tb.cols {
		cols[i] = quoteIdent(col.name)
	}
	q := "SELECT " + strings.Join(cols, ", ") + " FROM " + quoteIdent(tb.meta.schema) + "." + quoteIdent(tb.meta.name)
	if c.where != "" {
		q += " WHERE " + c.where
	}
	if len(cols) == 0 {
		q = "SELECT FROM " + quoteIdent(tb.meta.schema) + "." + quoteIdent(tb.meta.name)
	}
	cr := newCopyReader(ctx, t, tb, c, results, min(t.o.fetchSize, t.o.maxBatch))
	stmt := "COPY (" + q + ") TO STDOUT"
	if cr.binary {
		stmt += " (FORMAT binary)"
		t.binChunks.Add(1)
	} else {
		t.textChunks.Add(1)
	}
	if _, err := conn.CopyTo(ctx, cr, stmt); err != nil {
		cr.abort()
		if e := cr.failure(); e != nil {
			return e
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("postgres: snapshot of %s (%s): %w", tb.id, c.where, err)
	}
	if len(cr.partial) > 0 || cr.binary && !cr.trailer {
		cr.abort()
		return fmt.Errorf("postgres: snapshot of %s (%s): COPY output ends inside a row", tb.id, c.where)
	}
	return cr.finish()
}

// copyReader turns COPY rows into snapshot records, batch by batch. The
// COPY reader (the caller of Write) only splits rows into values and
// copies them into raw batches; builder goroutines (one per core) convert
// the values and build the records, so that reading, decoding and
// building overlap with each other and with the server. Batches of one
// chunk may reach results in any order; the chunk's done message follows
// all of them.
type copyReader struct {
	ctx       context.Context
	t         *Task
	tb        *table
	view      *table
	c         chunk
	results   chan<- snapMsg
	batchSize int
	vals      [][]byte
	partial   []byte // a row split across writes
	raw       *rawBatch
	work      chan *rawBatch
	free      chan *rawBatch // raw batches the builders are done with
	builders  sync.WaitGroup
	errMu     sync.Mutex
	err       error // why Write or a builder failed
	stopped   bool
	inline    *table // the view of inline building (builders < 0)

	binary  bool // COPY binary format
	header  bool // binary header read
	trailer bool // binary trailer read
}

// rawBatch holds rows copied out of the COPY stream. With text COPY it
// holds the rows' values, with binary COPY the rows as the server sent
// them (field count, then length-prefixed values), checked by the reader.
// Converters copy what they keep, so a built batch is reused.
type rawBatch struct {
	buf  []byte
	ends []int32 // text: per value, end offset in buf, -1 for null; binary: per row, end offset
	rows int
}

func (cr *copyReader) fail(err error) error {
	cr.errMu.Lock()
	if cr.err == nil {
		cr.err = err
	}
	err = cr.err
	cr.errMu.Unlock()
	return err
}

func (cr *copyReader) failure() error {
	cr.errMu.Lock()
	defer cr.errMu.Unlock()
	return cr.err
}

// binaryCopy is whether snapshot chunks may use binary COPY (tests turn
// it off to compare with text COPY).
func (t *Task) binaryCopy() bool { return !t.textCopy }

func newCopyReader(ctx context.Context, t *Task, tb *table, c chunk, results chan<- snapMsg, batchSize int) *copyReader {
	// The select list is exactly the value columns, in order.
	view := *tb
	view.byRelPos = identity(len(tb.cols))
	cr := &copyReader{ctx: ctx, t: t, tb: tb, view: &view, c: c, results: results, batchSize: max(1, batchSize), vals: make([][]byte, len(tb.cols))}
	cr.binary = t.binaryConverters(tb, &decimalArena{}) != nil
	n := runtime.GOMAXPROCS(0)
	if t.builders != 0 {
		n = t.builders
	}
	cr.work = make(chan *rawBatch, max(n, 1))
	cr.free = make(chan *rawBatch, max(n, 1)+1)
	for i := 0; i < n; i++ {
		cr.builders.Add(1)
		go cr.build()
	}
	cr.newRaw()
	return cr
}

// newRaw starts the next raw batch, reusing one the builders are done
// with when there is one.
func (cr *copyReader) newRaw() {
	select {
	case rb := <-cr.free:
		rb.buf, rb.ends, rb.rows = rb.buf[:0], rb.ends[:0], 0
		cr.raw = rb
	default:
		per := len(cr.vals)
		if cr.binary {
			per = 1
		}
		cr.raw = &rawBatch{buf: make([]byte, 0, 64*cr.batchSize), ends: make([]int32, 0, per*cr.batchSize)}
	}
}

// recycle hands a built raw batch back to the reader.
func (cr *copyReader) recycle(rb *rawBatch) {
	select {
	case cr.free <- rb:
	default:
	}
}

// stageRow copies one binary COPY row, checked by parseBinary, into the
// raw batch.
func (cr *copyReader) stageRow(row []byte) error {
	rb := cr.raw
	rb.buf = append(rb.buf, row...)
	rb.ends = append(rb.ends, int32(len(rb.buf)))
	rb.rows++
	if rb.rows >= cr.batchSize {
		return cr.dispatch()
	}
	return nil
}

// stage copies the row in cr.vals into the raw batch, handing full
// batches to the builders.
func (cr *copyReader) stage() error {
	rb := cr.raw
	for _, v := range cr.vals {
		if v == nil {
			rb.ends = append(rb.ends, -1)
			continue
		}
		rb.buf = append(rb.buf, v...)
		rb.ends = append(rb.ends, int32(len(rb.buf)))
	}
	rb.rows++
	if rb.rows >= cr.batchSize {
		return cr.dispatch()
	}
	return nil
}

func (cr *copyReader) dispatch() error {
	if cr.raw.rows == 0 {
		return nil
	}
	if cr.t.builders < 0 {
		if cr.inline == nil {
			cr.inline = cr.builderView()
		}
		cr.buildBatch(cr.raw, make([][]byte, len(cr.vals)), cr.inline)
		cr.recycle(cr.raw)
		cr.newRaw()
		return cr.failure()
	}
	select {
	case cr.work <- cr.raw:
	case <-cr.ctx.Done():
		return cr.fail(cr.ctx.Err())
	}
	cr.newRaw()
	if err := cr.failure(); err != nil {
		return err
	}
	return nil
}

// finish hands over the last rows, waits for the builders and sends the
// chunk's done message.
func (cr *copyReader) finish() error {
	err := cr.dispatch()
	cr.abort()
	if err != nil {
		return err
	}
	if err := cr.failure(); err != nil {
		return err
	}
	select {
	case cr.results <- snapMsg{tbl: cr.c.tbl, chunk: cr.c.idx, done: true}:
		return nil
	case <-cr.ctx.Done():
		return cr.ctx.Err()
	}
}

// abort stops the builders once they finished the batches handed over.
func (cr *copyReader) abort() {
	if !cr.stopped {
		cr.stopped = true
		close(cr.work)
		cr.builders.Wait()
	}
}

// build converts raw batches to records.
func (cr *copyReader) build() {
	defer cr.builders.Done()
	vals := make([][]byte, len(cr.vals))
	view := cr.builderView()
	for rb := range cr.work {
		if cr.failure() != nil {
			continue // drain
		}
		cr.buildBatch(rb, vals, view)
		cr.recycle(rb)
	}
}

// builderView is the table as one builder decodes it: with binary COPY,
// columns with the binary converters, bound to the builder's own
// decimal arena.
func (cr *copyReader) builderView() *table {
	if !cr.binary {
		return cr.view
	}
	convs := cr.t.binaryConverters(cr.tb, &decimalArena{})
	view := *cr.view
	view.cols = make([]*column, len(cr.tb.cols))
	for i, col := range cr.tb.cols {
		bc := *col
		bc.conv = convs[i]
		view.cols[i] = &bc
	}
	return &view
}

// buildBatch converts one raw batch and sends its records.
func (cr *copyReader) buildBatch(rb *rawBatch, vals [][]byte, view *table) {
	batch := make([]*connect.Record, 0, rb.rows)
	slab := make([]connect.Record, rb.rows)
	st := newStamp(cr.t.now())
	var a connect.StructArena // the batch's structs share blocks
	start, k := int32(0), 0
	for row := 0; row < rb.rows; row++ {
		if cr.binary {
			// field count (checked), then per value a length and the bytes
			pos := int(start) + 2
			for f := range vals {
				l := int(int32(binary.BigEndian.Uint32(rb.buf[pos:])))
				pos += 4
				if l < 0 {
					vals[f] = nil
					continue
				}
				vals[f] = rb.buf[pos : pos+l : pos+l]
				pos += l
			}
			start = rb.ends[row]
		} else {
			for f := range vals {
				end := rb.ends[k]
				k++
				if end < 0 {
					vals[f] = nil
					continue
				}
				vals[f] = rb.buf[start:end:end]
				start = end
			}
		}
		r, err := cr.record(&a, view, vals, &slab[len(batch)], &st)
		if err != nil {
			cr.fail(err)
			return
		}
		if r != nil {
			batch = append(batch, r)
		}
	}
	select {
	case cr.results <- snapMsg{tbl: cr.c.tbl, chunk: cr.c.idx, recs: batch}:
	case <-cr.ctx.Done():
		cr.fail(cr.ctx.Err())
	}
}

// binaryConverters returns the binary COPY converters of tb's columns, or
// nil when some column has none.
func (t *Task) binaryConverters(tb *table, ar *decimalArena) []converter {
	if !t.binaryCopy() || len(tb.cols) == 0 {
		return nil
	}
	types := map[string]catColumn{}
	for _, cc := range tb.meta.cols {
		types[cc.name] = cc
	}
	mp := &mapper{o: t.o}
	out := make([]converter, len(tb.cols))
	for i, col := range tb.cols {
		cc, ok := types[col.name]
		if !ok {
			return nil
		}
		if out[i] = mp.binaryConverter(cc.typeOID, cc.typmod, ar); out[i] == nil {
			return nil
		}
	}
	return out
}

// Write receives COPY data: normally one whole row per call, but rows may
// be split or joined; it parses every complete row.
func (cr *copyReader) Write(p []byte) (int, error) {
	if cr.binary {
		return cr.writeBinary(p)
	}
	n := len(p)
	if len(cr.partial) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			cr.partial = append(cr.partial, p...)
			return n, nil
		}
		line := append(cr.partial, p[:i]...)
		cr.partial = nil
		if err := cr.row(line); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			cr.partial = append([]byte(nil), p...)
			break
		}
		if err := cr.row(p[:i]); err != nil {
			return 0, err
		}
		p = p[i+1:]
	}
	return n, nil
}

// binarySignature starts binary COPY output.
const binarySignature = "PGCOPY\n\xff\r\n\x00"

// writeBinary parses binary COPY data: a header, then per row a field
// count and length-prefixed values (-1 for null), then a -1 trailer.
func (cr *copyReader) writeBinary(p []byte) (int, error) {
	n := len(p)
	buf := p
	if len(cr.partial) > 0 {
		cr.partial = append(cr.partial, p...)
		buf = cr.partial
	}
	used, err := cr.parseBinary(buf)
	if err != nil {
		return 0, cr.fail(err)
	}
	rest := buf[used:]
	switch {
	case len(rest) == 0:
		cr.partial = cr.partial[:0]
	case len(cr.partial) > 0:
		cr.partial = append(cr.partial[:0], rest...)
	default:
		cr.partial = append([]byte(nil), rest...)
	}
	return n, nil
}

// parseBinary consumes the complete rows at the start of b.
func (cr *copyReader) parseBinary(b []byte) (int, error) {
	off := 0
	if !cr.header {
		if len(b) < 19 {
			return 0, nil
		}
		if string(b[:11]) != binarySignature {
			return 0, fmt.Errorf("postgres: snapshot of %s: not binary COPY output", cr.tb.id)
		}
		ext := int(binary.BigEndian.Uint32(b[15:19]))
		if len(b) < 19+ext {
			return 0, nil
		}
		off = 19 + ext
		cr.header = true
	}
	nf := len(cr.vals)
	for off+2 <= len(b) && !cr.trailer {
		count := int(int16(binary.BigEndian.Uint16(b[off:])))
		if count == -1 {
			cr.trailer = true
			off += 2
			break
		}
		if count != nf {
			return 0, fmt.Errorf("postgres: snapshot of %s: COPY row has %d fields, want %d", cr.tb.id, count, nf)
		}
		pos := off + 2
		complete := true
		for f := 0; f < nf; f++ {
			if pos+4 > len(b) {
				complete = false
				break
			}
			l := int(int32(binary.BigEndian.Uint32(b[pos:])))
			pos += 4
			if l < 0 {
				continue
			}
			if pos+l > len(b) {
				complete = false
				break
			}
			pos += l
		}
		if !complete {
			break
		}
		if err := cr.stageRow(b[off:pos]); err != nil {
			return 0, err
		}
		off = pos
	}
	return off, nil
}

// row converts one COPY text line (tab-separated, \N for null,
// backslash escapes) to a record.
func (cr *copyReader) row(line []byte) error {
	nf := len(cr.vals)
	if nf == 0 {
		line = nil
	}
	escapes := bytes.IndexByte(line, '\\') >= 0
	f := 0
	for f < nf {
		end := bytes.IndexByte(line, '\t')
		field := line
		if end >= 0 {
			field, line = line[:end], line[end+1:]
		} else {
			line = nil
		}
		switch {
		case !escapes:
			cr.vals[f] = field
		case len(field) == 2 && field[0] == '\\' && field[1] == 'N':
			cr.vals[f] = nil
		case bytes.IndexByte(field, '\\') >= 0:
			cr.vals[f] = copyUnescape(field)
		default:
			cr.vals[f] = field
		}
		f++
		if end < 0 {
			break
		}
	}
	if f != nf {
		return cr.fail(fmt.Errorf("postgres: snapshot of %s: COPY row has %d fields, want %d", cr.tb.id, f, nf))
	}
	return cr.stage()
}

// record builds the snapshot record of a row's values (nil for null)
// into r, its structs from a; it returns nil when failure handling skips
// the row.
func (cr *copyReader) record(a *connect.StructArena, view *table, vals [][]byte, r *connect.Record, st *stamp) (*connect.Record, error) {
	t, tb := cr.t, cr.tb
	// makeValueIn for a COPY row: the values are the columns in order.
	after := a.NewStructValue(view.value)
	var verr *ValueError
	for idx, col := range view.cols[:len(vals)] {
		data := vals[idx]
		if data == nil {
			if col.fallback != nil {
				after.SetAt(idx, col.fallback)
			}
			continue
		}
		v, err := col.conv(data)
		if err != nil {
			if verr == nil {
				verr = &ValueError{Table: view.id, Column: col.name, Err: err}
			}
			v = col.fallback
		} else if col.vsd {
			v = bindVSD(col.schema, v)
		}
		after.SetAt(idx, v)
	}
	key := tb.keyIn(a, after)
	if skip, err := t.badValue(tb, key, verr); err != nil {
		return nil, err
	} else if skip {
		return nil, nil
	}
	t.fillRecord(a, r, tb, "r", key, nil, after, nil, nil, nil, st)
	return r, nil
}

// copyUnescape decodes COPY text escapes: \b \f \n \r \t \v, \digits
// (octal), \xhex, and a backslash before any other character.
func copyUnescape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '\\' || i+1 >= len(b) {
			out = append(out, c)
			continue
		}
		i++
		switch d := b[i]; d {
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'v':
			out = append(out, '\v')
		case 'x':
			v, j := 0, i+1
			for ; j < len(b) && j < i+3 && isHex(b[j]); j++ {
				v = v*16 + hexVal(b[j])
			}
			if j == i+1 {
				out = append(out, 'x')
				continue
			}
			out = append(out, byte(v))
			i = j - 1
		default:
			if d >= '0' && d <= '7' {
				v, j := 0, i
				for ; j < len(b) && j < i+3 && b[j] >= '0' && b[j] <= '7'; j++ {
					v = v*8 + int(b[j]-'0')
				}
				out = append(out, byte(v))
				i = j - 1
				continue
			}
			out = append(out, d)
		}
	}
	return out
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) int {
	switch {
	case c >= 'a':
		return int(c-'a') + 10
	case c >= 'A':
		return int(c-'A') + 10
	}
	return int(c - '0')
}

var _ connect.MetricsReporter = (*Task)(nil)
