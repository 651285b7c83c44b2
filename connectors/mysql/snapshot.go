package mysql

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/sluicehq/sluice/runtime/connect"
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
	Table      string // db.table
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
		{Name: "sluice_mysql_snapshot_running", Help: "1 while the initial snapshot is being read.", Value: b(p.Running)},
		{Name: "sluice_mysql_snapshot_completed", Help: "1 once the initial snapshot read every table.", Value: b(p.Completed)},
		{Name: "sluice_mysql_snapshot_skipped", Help: "1 when no snapshot was needed (streaming resumed).", Value: b(p.Skipped)},
		{Name: "sluice_mysql_snapshot_tables_total", Help: "Tables the initial snapshot captures.", Value: float64(p.TablesTotal)},
		{Name: "sluice_mysql_snapshot_tables_done", Help: "Tables the initial snapshot finished.", Value: float64(p.TablesDone)},
		{Name: "sluice_mysql_snapshot_rows", Help: "Rows the initial snapshot read so far.", Value: float64(p.Rows)},
		{Name: "sluice_mysql_streamed_rows", Help: "Row change events decoded from the binlog.", Value: float64(t.streamed.Load())},
	}
	for _, tp := range p.Tables {
		l := map[string]string{"table": tp.Table}
		ms = append(ms,
			connect.Metric{Name: "sluice_mysql_snapshot_table_rows", Help: "Rows the initial snapshot read from the table.", Labels: l, Value: float64(tp.Rows)},
			connect.Metric{Name: "sluice_mysql_snapshot_table_chunks_done", Help: "Chunks of the table the initial snapshot finished.", Labels: l, Value: float64(tp.ChunksDone)},
			connect.Metric{Name: "sluice_mysql_snapshot_table_chunks_total", Help: "Chunks the initial snapshot splits the table into.", Labels: l, Value: float64(tp.Chunks)},
		)
	}
	return ms
}

func (t *Task) setProgress(f func(p *Progress)) {
	t.progMu.Lock()
	f(&t.progress)
	t.progMu.Unlock()
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// loadTables reads the captured tables' structure from information_schema.
func (t *Task) loadTables(c *client.Conn) ([]*table, error) {
	r, err := c.Execute(`SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_SCHEMA, TABLE_NAME`)
	if err != nil {
		return nil, fmt.Errorf("mysql: list tables: %w", err)
	}
	var out []*table
	for i := 0; i < r.RowNumber(); i++ {
		db, _ := r.GetString(i, 0)
		name, _ := r.GetString(i, 1)
		if !t.o.captured(db, name) {
			continue
		}
		tb, err := t.describeTable(c, db, name)
		if err != nil {
			return nil, err
		}
		out = append(out, tb)
	}
	return out, nil
}

func (t *Task) describeTable(c *client.Conn, db, name string) (*table, error) {
	r, err := c.Execute(`SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, IS_NULLABLE, COALESCE(NUMERIC_PRECISION, 0), COALESCE(NUMERIC_SCALE, 0), COALESCE(DATETIME_PRECISION, 0)
		FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ` + quoteString(db) + ` AND TABLE_NAME = ` + quoteString(name) + ` ORDER BY ORDINAL_POSITION`)
	if err != nil {
		return nil, fmt.Errorf("mysql: describe %s.%s: %w", db, name, err)
	}
	var cols []column
	for i := 0; i < r.RowNumber(); i++ {
		cn, _ := r.GetString(i, 0)
		dt, _ := r.GetString(i, 1)
		ct, _ := r.GetString(i, 2)
		nl, _ := r.GetString(i, 3)
		prec, _ := r.GetInt(i, 4)
		scale, _ := r.GetInt(i, 5)
		fsp, _ := r.GetInt(i, 6)
		col, err := columnFromInfoSchema(cn, dt, ct, nl == "YES", prec, scale, fsp)
		if err != nil {
			return nil, fmt.Errorf("mysql: table %s.%s %w", db, name, err)
		}
		cols = append(cols, col)
	}
	r, err = c.Execute(`SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ` + quoteString(db) + ` AND TABLE_NAME = ` + quoteString(name) + ` AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX`)
	if err != nil {
		return nil, fmt.Errorf("mysql: primary key of %s.%s: %w", db, name, err)
	}
	var pk []int
	for i := 0; i < r.RowNumber(); i++ {
		cn, _ := r.GetString(i, 0)
		for j := range cols {
			if cols[j].name == cn {
				pk = append(pk, j)
			}
		}
	}
	return newTable(t.o, db, name, cols, pk)
}

// chunk is one range of one table read by one worker query.
type chunk struct {
	tbl   int
	where string
}

// snapshot takes a consistent snapshot of the captured tables with
// parallel connections and returns the binlog position it corresponds to.
func (t *Task) snapshot(ctx context.Context) (position, error) {
	o := t.o
	var pos position
	lockConn, err := t.connect(ctx)
	if err != nil {
		return pos, err
	}
	lock := lockConn
	defer t.trackConn(lockConn)()
	tables, err := t.loadTables(lock)
	if err != nil {
		return pos, err
	}
	threads := max(1, min(o.threads, len(tables)*4))
	if o.locking == "none" {
		threads = 1
	}
	workers := make([]*client.Conn, threads)
	for i := range workers {
		if workers[i], err = t.connect(ctx); err != nil {
			return pos, err
		}
		defer t.trackConn(workers[i])()
	}
	if o.locking == "minimal" {
		if _, err := lock.Execute("FLUSH TABLES WITH READ LOCK"); err != nil {
			return pos, fmt.Errorf("mysql: snapshot global read lock (FLUSH TABLES WITH READ LOCK needs the RELOAD privilege; or set %s=none): %w", KeySnapshotLocking, err)
		}
	}
	for _, w := range workers {
		if _, err := w.Execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
			return pos, fmt.Errorf("mysql: snapshot isolation: %w", err)
		}
		if _, err := w.Execute("START TRANSACTION WITH CONSISTENT SNAPSHOT"); err != nil {
			return pos, fmt.Errorf("mysql: start snapshot transaction: %w", err)
		}
	}
	if o.locking == "none" && o.flavor == flavorMariaDB {
		// MariaDB reports the binlog position matching the transaction's
		// consistent snapshot without any lock.
		r, err := workers[0].Execute("SHOW STATUS LIKE 'binlog_snapshot_%'")
		if err != nil {
			return pos, fmt.Errorf("mysql: binlog snapshot position: %w", err)
		}
		for i := 0; i < r.RowNumber(); i++ {
			k, _ := r.GetString(i, 0)
			v, _ := r.GetString(i, 1)
			switch strings.ToLower(k) {
			case "binlog_snapshot_file":
				pos.file = v
			case "binlog_snapshot_position":
				n, _ := strconv.ParseUint(v, 10, 32)
				pos.pos = uint32(n)
			}
		}
		pos.tsSec = t.now().Unix()
	} else {
		if pos, err = t.binlogStatus(lock); err != nil {
			return pos, err
		}
	}
	histOff := pos.offset()
	histOff[offSnapshot] = snapshotInitial
	if err := t.captureSchema(ctx, lock, histOff); err != nil {
		return pos, err
	}
	if o.locking == "minimal" {
		if _, err := lock.Execute("UNLOCK TABLES"); err != nil {
			return pos, fmt.Errorf("mysql: unlock tables: %w", err)
		}
	}
	t.log.Info("snapshot position", "file", pos.file, "pos", pos.pos, "gtids", pos.gtids)

	// Plan chunks inside the snapshot (worker 0's transaction).
	var chunks []chunk
	t.setProgress(func(p *Progress) { p.TablesTotal = len(tables) })
	counts := make([]int, len(tables))
	for i, tb := range tables {
		cs, err := t.planChunks(workers[0], tb)
		if err != nil {
			return pos, err
		}
		for _, w := range cs {
			chunks = append(chunks, chunk{tbl: i, where: w})
		}
		counts[i] = len(cs)
		t.setProgress(func(p *Progress) { p.Tables = append(p.Tables, TableProgress{Table: tb.id(), Chunks: len(cs)}) })
	}
	t.log.Info("snapshot started", "tables", len(tables), "chunks", len(chunks), "threads", threads)

	type result struct {
		tbl  int
		recs []*connect.Record
		done bool
		err  error
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan chunk)
	results := make(chan result, threads*2)
	var wg sync.WaitGroup
	snapOff := pos.offset()
	snapOff[offSnapshot] = snapshotInitial
	for _, w := range workers {
		wg.Add(1)
		go func(c *client.Conn) {
			defer wg.Done()
			for ch := range work {
				tb := tables[ch.tbl]
				err := t.readChunk(wctx, c, tb, ch.where, snapOff, func(recs []*connect.Record) bool {
					select {
					case results <- result{tbl: ch.tbl, recs: recs}:
						return true
					case <-wctx.Done():
						return false
					}
				})
				select {
				case results <- result{tbl: ch.tbl, done: true, err: err}:
				case <-wctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}(w)
	}
	go func() {
		defer close(work)
		for _, ch := range chunks {
			select {
			case work <- ch:
			case <-wctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()

	remaining := len(chunks)
	done := make([]int, len(tables))
	var held *connect.Record
	var out []*connect.Record
	first := true
	flush := func() bool {
		if len(out) == 0 {
			return true
		}
		b := out
		out = nil
		return t.emit(ctx, b)
	}
	for remaining > 0 {
		var m result
		var ok bool
		select {
		case m, ok = <-results:
		case <-ctx.Done():
			return pos, ctx.Err()
		}
		if !ok {
			break
		}
		if m.err != nil {
			return pos, m.err
		}
		for _, r := range m.recs {
			if held != nil {
				out = append(out, held)
			}
			if first {
				setSnapshotMarker(r, snapFirst)
				first = false
			}
			held = r
		}
		if len(m.recs) > 0 {
			n := int64(len(m.recs))
			t.setProgress(func(p *Progress) { p.Rows += n; p.Tables[m.tbl].Rows += n })
		}
		if m.done {
			remaining--
			done[m.tbl]++
			tbl := m.tbl
			t.setProgress(func(p *Progress) {
				p.Tables[tbl].ChunksDone++
				if done[tbl] == counts[tbl] {
					p.TablesDone++
					p.Tables[tbl].Done = true
				}
			})
		}
		if len(out) >= o.maxBatch {
			if !flush() {
				return pos, ctx.Err()
			}
		}
	}
	if held != nil {
		setSnapshotMarker(held, snapLast)
		held.SourceOffset = pos.offset() // the snapshot is complete: resume streaming at pos
		out = append(out, held)
	}
	if !flush() {
		return pos, ctx.Err()
	}
	t.setProgress(func(p *Progress) { p.Running = false; p.Completed = true; p.Finished = t.now() })
	pr := t.SnapshotProgress()
	t.log.Info("snapshot completed", "tables", pr.TablesTotal, "rows", pr.Rows, "duration", pr.Finished.Sub(pr.Started))
	return pos, nil
}

// trackConn registers a snapshot connection for kill/Close to interrupt
// and returns the function that closes it (once, whoever comes first).
func (t *Task) trackConn(c *client.Conn) func() {
	var once sync.Once
	closeFn := func() { once.Do(func() { _ = c.Close() }) }
	t.syncMu.Lock()
	t.conns = append(t.conns, closeFn)
	t.syncMu.Unlock()
	return closeFn
}

func setSnapshotMarker(r *connect.Record, marker string) {
	env, ok := r.Value.(*connect.Struct)
	if !ok {
		return
	}
	if src, ok := env.Get("source").(*connect.Struct); ok {
		_ = src.Put("snapshot", marker)
	}
}

// planChunks splits a table with a single integer primary key into key
// ranges of about snapshot.chunk.rows keys; other tables are one chunk.
func (t *Task) planChunks(c *client.Conn, tb *table) ([]string, error) {
	pk := tb.pkCols()
	if len(pk) != 1 {
		return []string{""}, nil
	}
	col := &tb.cols[pk[0]]
	switch col.kind {
	case kTiny, kSmall, kMedium, kInt, kBig:
	default:
		return []string{""}, nil
	}
	name := quoteIdent(col.name)
	r, err := c.Execute("SELECT CAST(MIN(" + name + ") AS DECIMAL(20,0)), CAST(MAX(" + name + ") AS DECIMAL(20,0)) FROM " + quoteIdent(tb.db) + "." + quoteIdent(tb.name))
	if err != nil {
		return nil, fmt.Errorf("mysql: key range of %s: %w", tb.id(), err)
	}
	lo, _ := r.GetString(0, 0)
	hi, _ := r.GetString(0, 1)
	if lo == "" || hi == "" {
		return []string{""}, nil
	}
	l, err1 := strconv.ParseInt(lo, 10, 64)
	h, err2 := strconv.ParseInt(hi, 10, 64)
	if err1 != nil || err2 != nil || h-l < t.o.chunkRows || h-l < 0 {
		return []string{""}, nil
	}
	var out []string
	for a := l; a <= h; a += t.o.chunkRows {
		b := a + t.o.chunkRows
		if b > h || b < a {
			out = append(out, fmt.Sprintf("%s >= %d", name, a))
			break
		}
		out = append(out, fmt.Sprintf("%s >= %d AND %s < %d", name, a, name, b))
	}
	return out, nil
}

// pkCols returns the table's primary key columns (not message.key.columns).
func (tb *table) pkCols() []int { return tb.pk }

// readChunk streams one chunk's rows as snapshot records.
func (t *Task) readChunk(ctx context.Context, c *client.Conn, tb *table, where string, off map[string]any, send func([]*connect.Record) bool) error {
	o := t.o
	sel := make([]string, len(tb.cols))
	for i, col := range tb.cols {
		q := quoteIdent(col.name)
		if col.kind == kFloat {
			q = "CAST(" + q + " AS DOUBLE)" // the text form of FLOAT is rounded
		}
		sel[i] = q
	}
	q := "SELECT " + strings.Join(sel, ", ") + " FROM " + quoteIdent(tb.db) + "." + quoteIdent(tb.name)
	if where != "" {
		q += " WHERE " + where
	}
	// The source block's fields, the processing time (refreshed every 1024
	// rows) and the records are allocated once for many rows.
	us := t.now().UnixMicro()
	sb := srcBoxes{ms: us / 1000, us: us, ns: us * 1000, snapshot: snapTrue, db: tb.dbBox, table: tb.nameBox, serverID: int64(0),
		file: off[offFile], pos: off[offPos]}
	var now [3]any
	var slab []connect.Record
	n := 0
	var batch []*connect.Record
	vals := make([]any, len(tb.cols))
	var rowErr error
	var res gmysql.Result
	err := c.ExecuteSelectStreaming(q, &res, func(row []gmysql.FieldValue) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		for i := range tb.cols {
			v, err := normalizeText(&tb.cols[i], &row[i])
			if err != nil {
				rowErr = fmt.Errorf("mysql: snapshot %s column %s: %w", tb.id(), tb.cols[i].name, err)
				return rowErr
			}
			vals[i] = v
		}
		key, after, err := tb.row(o, vals)
		if err != nil {
			rowErr = err
			return err
		}
		if n%1024 == 0 {
			p := t.now()
			now = [3]any{p.UnixMilli(), p.UnixMicro(), p.UnixNano()}
			slab = make([]connect.Record, 1024)
		}
		rec := t.changeRecordWith(&slab[n%1024], tb, "r", key, nil, after, t.sourceFromBoxes(&sb, 0), nil, off, &now)
		n++
		batch = append(batch, rec)
		if len(batch) >= o.maxBatch {
			if !send(batch) {
				return ctx.Err()
			}
			batch = nil
		}
		return nil
	}, nil)
	if rowErr != nil {
		return rowErr
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("mysql: snapshot %s: %w", tb.id(), err)
	}
	if len(batch) > 0 && !send(batch) {
		return ctx.Err()
	}
	return nil
}
