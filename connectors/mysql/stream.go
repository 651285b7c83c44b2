package mysql

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	gmysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/pingcap/tidb/pkg/parser"
	"github.com/pingcap/tidb/pkg/parser/ast"
	_ "github.com/pingcap/tidb/pkg/parser/test_driver" // value expressions for the DDL parser (as go-mysql canal does)
	"github.com/sluicehq/sluice/runtime/connect"
)

// ErrBinlogPurged is returned when the binlog position recorded in the
// committed offset is no longer available on the server.
var ErrBinlogPurged = errors.New("mysql: the binlog position in the committed offset is no longer available on the server (binlog purged)")

// fatalError marks stream errors that reconnecting cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
func (e *fatalError) Unwrap() error { return e.err }

// streamer decodes the binlog into change records. It runs on one
// goroutine; its state survives reconnects.
type streamer struct {
	t *Task

	start position // where the current connection started

	// commitFile/commitPos is the restart point outside transactions: the
	// end of the last committed transaction or DDL.
	commitFile string
	commitPos  uint32
	// emittedEvent/emittedRow are the event/row counters of the last record
	// emitted in the current transaction (or the skip counters carried over
	// from the start position).
	emittedEvent, emittedRow int64

	tables  map[uint64]*table
	ignored map[uint64]bool
	gtids   gtidSet

	file     string // current binlog file
	inTx     bool
	txFile   string
	txPos    uint32
	txEvents int64
	txGTID   string
	txPrev   string // GTID set before the transaction
	thread   int64
	query    string
	tsSec    int64
	serverID uint32

	// skipping the already emitted part of the first transaction after a
	// restart: skip events, then skipRows rows of the next one.
	skipEvents, skipRows int64
	skipping             bool

	// transaction metadata
	txOrder  []string
	txCounts map[string]int64
	txTotal  int64

	batch    []*connect.Record
	fills    []fill        // records of batch the builder completes
	spare    chan []fill   // fills slices the builder is done with
	jobs     chan buildJob // to the builder goroutine, while run runs
	lastBeat time.Time
	ddl      *parser.Parser
	ctx      context.Context // of the current run, for history writes

	inc     *incSnapshot // running incremental snapshot
	incInit bool         // a restored incremental snapshot was restarted
	sql     *client.Conn // for watermarks and incremental chunks
	sqlDone func()
}

func newStreamer(t *Task, start position) (*streamer, error) {
	g, err := newGTIDSet(t.o.flavor, start.gtids)
	if err != nil {
		return nil, err
	}
	s := &streamer{t: t, tables: map[uint64]*table{}, ignored: map[uint64]bool{}, gtids: g, ddl: parser.New(), spare: make(chan []fill, 8)}
	s.reset(start)
	return s, nil
}

// reset prepares a new connection from p (a committed or emitted offset).
func (s *streamer) reset(p position) {
	s.start = p
	s.file = p.file
	s.commitFile, s.commitPos = p.file, p.pos
	s.emittedEvent, s.emittedRow = p.event, p.row
	s.inTx = false
	s.skipEvents, s.skipRows = p.event, p.row
	s.skipping = p.event > 0 || p.row > 0
	s.tables = map[uint64]*table{}
	s.ignored = map[uint64]bool{}
	if g, err := newGTIDSet(s.t.o.flavor, p.gtids); err == nil {
		s.gtids = g
	}
	s.thread = -1
}

func (s *streamer) gtidString() string { return s.gtids.String(s.t.o.gtidSourceKept) }

// restart returns the position a restart must resume from now.
func (s *streamer) restart() position {
	if s.inTx {
		return position{file: s.txFile, pos: s.txPos, gtids: s.txPrev, event: s.txEvents, tsSec: s.tsSec, server: s.serverID}
	}
	return position{file: s.commitFile, pos: s.commitPos, gtids: s.gtidString(), tsSec: s.tsSec, server: s.serverID}
}

// eventCacheCount is the number of decoded binlog events go-mysql queues
// ahead of the streamer.
const eventCacheCount = 64

// open connects a binlog syncer from the start position.
func (s *streamer) open() (*replication.BinlogSyncer, *replication.BinlogStreamer, error) {
	o := s.t.o
	cfg := replication.BinlogSyncerConfig{
		ServerID: o.serverID, Flavor: o.flavor, Host: o.host, Port: uint16(o.port), User: o.user, Password: o.password,
		TimestampStringLocation: time.UTC, ParseTime: true, HeartbeatPeriod: 10 * time.Second, ReadTimeout: 60 * time.Second,
		DisableRetrySync: true, MaxReconnectAttempts: 1, Logger: s.t.quietLog,
		// The streamer keeps its own GTID set: go-mysql need not clone its
		// set into every XID and QUERY event.
		DiscardGTIDSet: true,
		// go-mysql decodes events ahead of the streamer into a channel of
		// this many events (default 10240, the whole 200000-row benchmark
		// binlog): a short queue keeps the decoded backlog, and the heap
		// the garbage collector scans, small while the socket applies
		// backpressure to the server.
		EventCacheCount: eventCacheCount,
	}
	if o.includeQry && o.flavor == flavorMariaDB {
		cfg.DumpCommandFlag = replication.BINLOG_SEND_ANNOTATE_ROWS_EVENT
	}
	syncer := replication.NewBinlogSyncer(cfg)
	var st *replication.BinlogStreamer
	var err error
	if s.start.gtids != "" {
		var set gmysql.GTIDSet
		set, err = gmysql.ParseGTIDSet(o.flavor, s.start.gtids)
		if err == nil {
			st, err = syncer.StartSyncGTID(set)
		}
	} else {
		st, err = syncer.StartSync(gmysql.Position{Name: s.start.file, Pos: s.start.pos})
	}
	if err != nil {
		syncer.Close()
		return nil, nil, err
	}
	return syncer, st, nil
}

// run streams until ctx ends or an error occurs.
func (s *streamer) run(ctx context.Context, st *replication.BinlogStreamer) error {
	o := s.t.o
	s.ctx = ctx
	if s.inc != nil && !s.incInit {
		s.incInit = true
		s.t.log.Info("resuming incremental snapshot", "id", s.inc.id, "tables", s.inc.tables)
		if err := s.nextChunk(); err != nil {
			return err
		}
	}
	// The builder goroutine completes the change records (source block,
	// envelope, offset) of flushed batches and hands them to Poll, in
	// order, while this goroutine decodes the next rows.
	jobs, built := make(chan buildJob, 4), make(chan struct{})
	go func() {
		defer close(built)
		ok := true
		for j := range jobs {
			if ok {
				s.build(j.fills)
				ok = s.t.emit(ctx, j.recs)
			}
			select {
			case s.spare <- j.fills[:0]:
			default:
			}
		}
	}()
	s.jobs = jobs
	defer func() {
		close(jobs)
		<-built
		s.jobs = nil
	}()
	var flushAt time.Time
	s.lastBeat = time.Now()
	for {
		var ev *replication.BinlogEvent
		var err error
		var deadline time.Time
		switch {
		case len(s.batch) > 0:
			if flushAt.IsZero() {
				flushAt = time.Now().Add(20 * time.Millisecond)
			}
			deadline = flushAt
		case o.heartbeat > 0:
			deadline = s.lastBeat.Add(o.heartbeat)
		}
		if deadline.IsZero() {
			ev, err = st.GetEvent(ctx)
		} else {
			gctx, cancel := context.WithDeadline(ctx, deadline)
			ev, err = st.GetEvent(gctx)
			cancel()
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, context.DeadlineExceeded) {
				if !s.flush(ctx) {
					return ctx.Err()
				}
				flushAt = time.Time{}
				s.maybeHeartbeat(ctx)
				continue
			}
			s.flush(ctx)
			var me *gmysql.MyError
			if errors.As(err, &me) && me.Code == 1236 {
				return &fatalError{fmt.Errorf("%w: %s", ErrBinlogPurged, me.Message)}
			}
			return err
		}
		if err := s.handle(ev); err != nil {
			s.flush(ctx)
			return err
		}
		if len(s.batch) >= o.maxBatch {
			if !s.flush(ctx) {
				return ctx.Err()
			}
			flushAt = time.Time{}
		}
		if o.heartbeat > 0 && time.Since(s.lastBeat) >= o.heartbeat {
			s.maybeHeartbeat(ctx)
		}
	}
}

func (s *streamer) flush(ctx context.Context) bool {
	if len(s.batch) == 0 {
		return true
	}
	j := buildJob{recs: s.batch, fills: s.fills}
	s.batch, s.fills = nil, nil
	select {
	case s.fills = <-s.spare: // reuse a slice the builder is done with
	default:
	}
	if s.jobs == nil {
		s.build(j.fills)
		return s.t.emit(ctx, j.recs)
	}
	select {
	case s.jobs <- j:
		return true
	case <-ctx.Done():
		return false
	}
}

// buildJob is a flushed batch: its records, of which fills are still to
// be completed.
type buildJob struct {
	recs  []*connect.Record
	fills []fill
}

// fill is a change record emitRow reserved and build completes: the parts
// that need none of the streamer's state.
type fill struct {
	rec, tomb          *connect.Record // tomb: the delete's tombstone, or nil
	tb                 *table
	op                 string
	key, before, after *connect.Struct
	eb                 *rowsBoxes
	r                  int64
	tx                 *txBlock
	off                map[string]any // nil: built from eb
}

// build completes the records of fills, on the builder goroutine (or the
// streamer's when no builder runs).
func (s *streamer) build(fills []fill) {
	for i := range fills {
		f := &fills[i]
		off := f.off
		if off == nil {
			off = f.eb.off.offset(f.r + 1)
		}
		src := s.t.sourceFromBoxes(&f.eb.src, int32(f.r))
		s.t.changeRecordWith(f.rec, f.tb, f.op, f.key, f.before, f.after, src, f.tx, off, &f.eb.now)
		if f.tomb != nil {
			*f.tomb = tombstone(f.rec)
		}
	}
}

func (s *streamer) maybeHeartbeat(ctx context.Context) {
	o := s.t.o
	if o.heartbeat <= 0 || time.Since(s.lastBeat) < o.heartbeat {
		return
	}
	s.lastBeat = time.Now()
	s.batch = append(s.batch, s.t.heartbeatRecord(s.withInc(s.restart().offset())))
	s.flush(ctx)
}

func (s *streamer) handle(ev *replication.BinlogEvent) error {
	h := ev.Header
	evStart := h.LogPos - h.EventSize
	if h.Timestamp != 0 {
		s.tsSec = int64(h.Timestamp)
	}
	switch e := ev.Event.(type) {
	case *replication.RotateEvent:
		s.file = string(e.NextLogName)
		if h.Timestamp != 0 && !s.inTx {
			s.commitFile, s.commitPos = s.file, uint32(e.Position)
		}
		return nil
	case *replication.FormatDescriptionEvent, *replication.PreviousGTIDsEvent, *replication.MariadbGTIDListEvent, *replication.MariadbBinlogCheckPointEvent:
		return nil
	case *replication.MariadbGTIDEvent:
		s.serverID = h.ServerID
		s.txGTID = fmt.Sprintf("%d-%d-%d", e.GTID.DomainID, e.GTID.ServerID, e.GTID.SequenceNumber)
		s.beginTx(evStart)
		if e.Flags&replication.BINLOG_MARIADB_FL_STANDALONE != 0 {
			s.inTx = false // a DDL follows: it commits by itself
		}
		return nil
	case *replication.GTIDEvent:
		s.serverID = h.ServerID
		s.txGTID = mysqlGTID(e)
		s.beginTx(evStart)
		return nil
	case *replication.QueryEvent:
		q := string(e.Query)
		switch {
		case strings.EqualFold(q, "BEGIN"):
			s.thread = int64(e.SlaveProxyID)
			if !s.inTx {
				s.txGTID = ""
				s.beginTx(evStart)
			}
			return nil
		case strings.EqualFold(q, "COMMIT"):
			return s.commit(h)
		}
		s.thread = int64(e.SlaveProxyID)
		if err := s.handleDDL(h, evStart, string(e.Schema), q); err != nil {
			return err
		}
		s.inTx = false
		if s.txGTID != "" {
			_ = s.gtids.add(s.txGTID)
			s.txGTID = ""
		}
		s.commitFile, s.commitPos = s.file, h.LogPos
		s.skipping = false
		return nil
	case *replication.XIDEvent:
		return s.commit(h)
	case *replication.TableMapEvent:
		s.countEvent()
		return s.tableMap(e)
	case *replication.RowsQueryEvent:
		// Not counted in event: whether the server sends these depends on
		// include.query, and a restart must count the same events.
		s.query = string(e.Query)
		return nil
	case *replication.MariadbAnnotateRowsEvent:
		s.query = string(e.Query)
		return nil
	case *replication.RowsEvent:
		err := s.rows(h, evStart, e)
		s.countEvent()
		return err
	}
	if s.inTx {
		switch ev.Header.EventType {
		case replication.ROWS_QUERY_EVENT, replication.MARIADB_ANNOTATE_ROWS_EVENT:
		default:
			s.countEvent()
		}
	}
	return nil
}

func mysqlGTID(e *replication.GTIDEvent) string {
	if len(e.SID) != 16 {
		return ""
	}
	u := fmt.Sprintf("%x-%x-%x-%x-%x", e.SID[0:4], e.SID[4:6], e.SID[6:8], e.SID[8:10], e.SID[10:16])
	return u + ":" + strconv.FormatInt(e.GNO, 10)
}

func (s *streamer) beginTx(pos uint32) {
	s.inTx = true
	s.txFile, s.txPos = s.file, pos
	s.txEvents = 0
	if !s.skipping {
		s.emittedEvent, s.emittedRow = 0, 0
	}
	s.txPrev = s.gtidString()
	s.query = ""
	s.txOrder, s.txCounts, s.txTotal = nil, nil, 0
}

func (s *streamer) countEvent() {
	if s.inTx {
		s.txEvents++
	}
}

func (s *streamer) commit(h *replication.EventHeader) error {
	if s.txGTID != "" {
		if err := s.gtids.add(s.txGTID); err != nil {
			return &fatalError{err}
		}
	}
	s.inTx = false
	s.commitFile, s.commitPos = s.file, h.LogPos
	s.skipping = false
	if s.t.o.txMetadata && s.txTotal > 0 {
		s.batch = append(s.batch, s.t.txRecord("END", s.txID(), time.Unix(int64(h.Timestamp), 0), s.txTotal, s.txCounts, s.txOrder, s.withInc(s.restart().offset())))
	}
	s.txGTID = ""
	s.thread = -1
	return nil
}

func (s *streamer) txID() string {
	if s.txGTID != "" {
		return s.txGTID
	}
	return fmt.Sprintf("file=%s,pos=%d", s.txFile, s.txPos)
}

func (s *streamer) tableMap(e *replication.TableMapEvent) error {
	db, name := string(e.Schema), string(e.Table)
	captured, signal := s.t.o.captured(db, name), s.t.o.isSignalTable(db, name)
	if !captured && !signal {
		s.ignored[e.TableID] = true
		delete(s.tables, e.TableID)
		return nil
	}
	delete(s.ignored, e.TableID)
	fp := tableMapFingerprint(e)
	if tb := s.tables[e.TableID]; tb != nil && tb.fingerprint == fp {
		return nil
	}
	if tb := s.t.tableByName(db, name); tb != nil && tb.fingerprint == fp {
		s.tables[e.TableID] = tb
		return nil
	}
	cols, pk, err := columnsFromTableMap(e)
	if err != nil {
		return &fatalError{err}
	}
	if k, ht := s.t.model.find(db, name); captured && (ht == nil || !columnNamesMatch(ht, cols)) {
		var had []string
		if ht != nil {
			had = histColumnNames(ht)
		}
		names := make([]string, len(cols))
		for i := range cols {
			names[i] = cols[i].name
		}
		if s.t.strictSchema() {
			return &fatalError{fmt.Errorf("mysql: rows of %s.%s at %s:%d have columns %v but the schema history has %v at this position (inconsistent schema history; a DDL may be missing)", db, name, s.file, s.txPos, names, had)}
		}
		s.t.log.Warn("binlog columns differ from the schema model; adopting the binlog's", "table", db+"."+name, "binlog", names, "model", had)
		if k.db == "" {
			k = tableKey{db, name}
		}
		s.t.model.tables[k] = fromTableMap(cols, pk)
	}
	tb, err := newTable(s.t.o, db, name, cols, pk)
	if err != nil {
		return &fatalError{err}
	}
	tb.fingerprint = fp
	tb.signal, tb.uncaptured = signal, !captured
	s.tables[e.TableID] = tb
	s.t.rememberTable(tb)
	return nil
}

func (s *streamer) rows(h *replication.EventHeader, evStart uint32, e *replication.RowsEvent) error {
	if s.ignored[e.TableID] {
		return nil
	}
	tb := s.tables[e.TableID]
	if tb == nil {
		return &fatalError{fmt.Errorf("mysql: rows event at %s:%d for table id %d without a preceding TABLE_MAP event", s.file, evStart, e.TableID)}
	}
	if len(e.SkippedColumns) > 0 {
		for _, sk := range e.SkippedColumns {
			if len(sk) > 0 {
				return &fatalError{fmt.Errorf("mysql: rows event at %s:%d for %s lacks columns: binlog_row_image must be FULL", s.file, evStart, tb.id())}
			}
		}
	}
	o := s.t.o
	if tb.signal {
		if err := s.signalRows(tb, evStart, e); err != nil {
			return err
		}
		if tb.uncaptured {
			return nil
		}
	}
	var op string
	step := 1
	switch e.Type() {
	case replication.EnumRowsEventTypeInsert:
		op = "c"
	case replication.EnumRowsEventTypeUpdate:
		op, step = "u", 2
	case replication.EnumRowsEventTypeDelete:
		op = "d"
	default:
		return nil
	}
	firstRow := int64(0)
	if s.skipping {
		switch {
		case s.txEvents < s.skipEvents:
			return nil
		case s.txEvents == s.skipEvents:
			firstRow = s.skipRows
		}
	}
	if o.skip[op] {
		return nil
	}
	conv := func(raw []any) (*connect.Struct, *connect.Struct, error) {
		k, v, err := tb.binlogRow(o, raw)
		if err != nil {
			return nil, nil, &fatalError{fmt.Errorf("%w (at %s:%d)", err, s.file, evStart)}
		}
		return k, v, nil
	}
	nRows := int64(len(e.Rows) / step)
	if firstRow >= nRows {
		return nil
	}
	eb := s.eventBoxes(tb, h, evStart)
	eb.rows = int(nRows - firstRow)
	for r := firstRow; r < nRows; r++ {
		var key, before, after *connect.Struct
		var err error
		switch op {
		case "c":
			key, after, err = conv(e.Rows[r])
		case "d":
			key, before, err = conv(e.Rows[r])
		case "u":
			var oldKey *connect.Struct
			oldKey, before, err = conv(e.Rows[2*r])
			if err == nil {
				key, after, err = conv(e.Rows[2*r+1])
			}
			if err == nil && tb.keySchema != nil && !keysEqual(oldKey, key) {
				// A primary key change: Debezium emits a delete of the old
				// key (plus tombstone) and a create of the new one.
				s.emitRow(tb, "d", oldKey, before, nil, eb, r)
				s.emitRow(tb, "c", key, nil, after, eb, r)
				continue
			}
		}
		if err != nil {
			return err
		}
		s.emitRow(tb, op, key, before, after, eb, r)
	}
	return nil
}

func keysEqual(a, b *connect.Struct) bool {
	if a == nil || b == nil {
		return a == b
	}
	n := len(a.Schema().Fields)
	if n != len(b.Schema().Fields) {
		return false
	}
	for i := 0; i < n; i++ {
		x, y := a.At(i), b.At(i)
		if xb, ok := x.([]byte); ok {
			yb, ok := y.([]byte)
			if !ok || string(xb) != string(yb) {
				return false
			}
			continue
		}
		if eq, ok := sameScalar(x, y); ok {
			if !eq {
				return false
			}
			continue
		}
		if fmt.Sprint(x) != fmt.Sprint(y) {
			return false
		}
	}
	return true
}

// sameScalar compares two key values of the same common scalar type
// without formatting them; ok is false for any other pair.
func sameScalar(x, y any) (eq, ok bool) {
	switch a := x.(type) {
	case int64:
		return cmpAs(a, y)
	case int32:
		return cmpAs(a, y)
	case int16:
		return cmpAs(a, y)
	case int8:
		return cmpAs(a, y)
	case string:
		return cmpAs(a, y)
	}
	return false, false
}

func cmpAs[T int64 | int32 | int16 | int8 | string](a T, y any) (eq, ok bool) {
	b, ok := y.(T)
	return ok && a == b, ok
}

// rowsBoxes are the interface values every record of one rows event
// shares, boxed once per event instead of once per row: the source block's
// fields, the envelope's processing time and the offset's fields.
type rowsBoxes struct {
	src  srcBoxes
	now  [3]any
	off  offBoxes // the offset without its row counter
	slab []connect.Record
	rows int // records to allocate per slab
}

func (s *streamer) eventBoxes(tb *table, h *replication.EventHeader, evStart uint32) *rowsBoxes {
	ts := time.Unix(int64(h.Timestamp), 0)
	us := ts.UnixMicro()
	b := &rowsBoxes{}
	b.src = srcBoxes{ms: us / 1000, us: us, ns: us * 1000, db: tb.dbBox, table: tb.nameBox, serverID: int64(s.serverID),
		file: s.file, pos: int64(evStart), snapshot: snapFalse}
	if s.txGTID != "" {
		b.src.gtid = s.txGTID
	}
	if s.thread >= 0 {
		b.src.thread = s.thread
	}
	if s.t.o.includeQry && s.query != "" {
		b.src.query = s.query
	}
	now := s.t.now()
	b.now = [3]any{now.UnixMilli(), now.UnixMicro(), now.UnixNano()}
	p := s.restart()
	b.off = offBoxes{tsSec: p.tsSec, file: p.file, pos: int64(p.pos)}
	if p.gtids != "" {
		b.off.gtids = p.gtids
	}
	if p.event != 0 {
		b.off.event = p.event
	}
	if p.server != 0 {
		b.off.server = int64(p.server)
	}
	return b
}

func (s *streamer) emitRow(tb *table, op string, key, before, after *connect.Struct, eb *rowsBoxes, r int64) {
	o := s.t.o
	// The offset depends on the incremental snapshot's and the
	// transaction's state now; without either, the builder makes it.
	var off map[string]any
	if s.inc != nil || o.txMetadata {
		off = s.withInc(eb.off.offset(r + 1))
	}
	s.inWindow(tb, key)
	var tx *txBlock
	if o.txMetadata {
		ts := time.UnixMicro(eb.src.us.(int64))
		if s.txTotal == 0 {
			s.txCounts = map[string]int64{}
			s.batch = append(s.batch, s.t.txRecord("BEGIN", s.txID(), ts, 0, nil, nil, off))
		}
		id := tb.id()
		if _, ok := s.txCounts[id]; !ok {
			s.txOrder = append(s.txOrder, id)
		}
		s.txCounts[id]++
		s.txTotal++
		tx = &txBlock{id: s.txID(), total: s.txTotal, collection: s.txCounts[id]}
		off[offTxID] = s.txID()
	}
	if len(eb.slab) == cap(eb.slab) {
		eb.slab = make([]connect.Record, 0, eb.rows)
	}
	eb.slab = eb.slab[:len(eb.slab)+1]
	rec := &eb.slab[len(eb.slab)-1]
	s.batch = append(s.batch, rec)
	f := fill{rec: rec, tb: tb, op: op, key: key, before: before, after: after, eb: eb, r: r, tx: tx, off: off}
	if op == "d" && o.tombstones && tb.keySchema != nil {
		f.tomb = new(connect.Record)
		s.batch = append(s.batch, f.tomb)
	}
	s.fills = append(s.fills, f)
	s.emittedEvent, s.emittedRow = s.txEventsOrZero(), r+1
	s.t.streamed.Add(1)
}

// txEventsOrZero is the event counter of the restart position.
func (s *streamer) txEventsOrZero() int64 {
	if s.inTx {
		return s.txEvents
	}
	return 0
}

// ddlHeads are the statements whose failure to parse must stop the task:
// they change table structure.
var ddlHeads = []string{"CREATE TABLE", "ALTER TABLE", "DROP TABLE", "RENAME TABLE", "TRUNCATE", "ALTER ONLINE TABLE", "ALTER IGNORE TABLE", "CREATE OR REPLACE TABLE", "CREATE TEMPORARY TABLE"}

func ddlHead(q string) bool {
	u := strings.ToUpper(strings.Join(strings.Fields(normalizeMariaDB(stripComments(q))), " "))
	for _, h := range ddlHeads {
		if strings.HasPrefix(u, h) {
			return true
		}
	}
	return false
}

func stripComments(q string) string {
	q = strings.TrimSpace(q)
	for strings.HasPrefix(q, "/*") {
		end := strings.Index(q, "*/")
		if end < 0 {
			return q
		}
		q = strings.TrimSpace(q[end+2:])
	}
	return q
}

// handleDDL parses a DDL statement from the binlog, applies it to the
// schema model, writes the resulting table definitions to the schema
// history (before any later event is emitted) and, with
// include.schema.changes, emits it to the schema change topic. Row schemas
// follow from the next TABLE_MAP events (full row metadata), which are
// checked against the model.
func (s *streamer) handleDDL(h *replication.EventHeader, evStart uint32, defaultDB, q string) error {
	o := s.t.o
	dbs := []string{defaultDB}
	var changes []histChange
	head := ddlHead(q)
	stmts, spatial, perr := parseDDL(s.ddl, q)
	next := s.t.model
	switch {
	case perr != nil && head:
		if !o.skipUnparseable {
			return &fatalError{fmt.Errorf("mysql: cannot parse DDL at %s:%d (set %s=true to skip it): %q: %v", s.file, evStart, KeySkipUnparseable, q, perr)}
		}
		s.t.log.Warn("skipping DDL the parser cannot handle", "ddl", q, "file", s.file, "pos", evStart, "error", perr)
	case perr == nil:
		dbs = ddlDatabases(stmts, defaultDB)
		next = s.t.model.clone()
		var aerr error
		next.written = spatial
		changes, aerr = next.applyDDL(stmts, defaultDB, s.t.inScope)
		next.written = nil
		if aerr != nil {
			if !o.skipUnparseable {
				return &fatalError{fmt.Errorf("mysql: cannot apply DDL at %s:%d to the schema history (set %s=true to skip it): %q: %v", s.file, evStart, KeySkipUnparseable, q, aerr)}
			}
			s.t.log.Warn("skipping DDL the schema history cannot apply", "ddl", q, "file", s.file, "pos", evStart, "error", aerr)
			next, changes = s.t.model, nil
		}
	}
	if head {
		for tid := range s.tables {
			delete(s.tables, tid)
		}
	}
	p := position{file: s.file, pos: h.LogPos, gtids: s.gtidAfter(), tsSec: int64(h.Timestamp), server: s.serverID}
	if len(changes) > 0 || perr == nil && isDatabaseDDL(stmts, s.t.inScope) {
		db := dbs[0]
		if err := s.t.hist.append(s.ctx, s.t.historyRecord(db, q, changes, p.offset())); err != nil {
			return err
		}
	}
	s.t.model = next
	if perr == nil && !o.skip["t"] && !s.skipping {
		if err := s.truncates(h, evStart, stmts, defaultDB, p); err != nil {
			return err
		}
	}
	if !o.includeSchema || s.skipping {
		return nil
	}
	for _, db := range dbs {
		if db == "" || !o.dbCaptured(db) {
			continue
		}
		var dbChanges []histChange
		for _, c := range changes {
			if k, ok := parseDebeziumID(c.ID); ok && k.db == db {
				dbChanges = append(dbChanges, c)
			}
		}
		si := &srcInfo{ts: time.Unix(int64(h.Timestamp), 0), snapshot: snapFalse, db: db, table: changedTables(dbChanges),
			serverID: s.serverID, gtid: s.txGTID, file: s.file, pos: evStart, thread: s.thread}
		s.batch = append(s.batch, s.t.schemaChangeRecord(db, q, dbChanges, si, p.offset()))
	}
	return nil
}

// isDatabaseDDL reports CREATE/ALTER/DROP DATABASE statements on captured
// databases, which the history records though they change no table.
func isDatabaseDDL(stmts []ast.StmtNode, inScope func(string) bool) bool {
	for _, st := range stmts {
		switch x := st.(type) {
		case *ast.CreateDatabaseStmt:
			return inScope(x.Name.O)
		case *ast.DropDatabaseStmt:
			return inScope(x.Name.O)
		case *ast.AlterDatabaseStmt:
			return inScope(x.Name.O)
		}
	}
	return false
}

// gtidAfter is the GTID set including the current (DDL) transaction.
func (s *streamer) gtidAfter() string {
	if s.txGTID == "" {
		return s.gtidString()
	}
	g, err := newGTIDSet(s.t.o.flavor, s.gtidString())
	if err != nil {
		return s.gtidString()
	}
	_ = g.add(s.txGTID)
	return g.String(s.t.o.gtidSourceKept)
}

// ddlDatabases returns the databases a statement touches.
func ddlDatabases(stmts []ast.StmtNode, defaultDB string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n *ast.TableName) {
		db := n.Schema.O
		if db == "" {
			db = defaultDB
		}
		if !seen[db] {
			seen[db] = true
			out = append(out, db)
		}
	}
	for _, st := range stmts {
		switch x := st.(type) {
		case *ast.CreateTableStmt:
			add(x.Table)
		case *ast.AlterTableStmt:
			add(x.Table)
		case *ast.DropTableStmt:
			for _, tn := range x.Tables {
				add(tn)
			}
		case *ast.RenameTableStmt:
			for _, tt := range x.TableToTables {
				add(tt.OldTable)
				add(tt.NewTable)
			}
		case *ast.TruncateTableStmt:
			add(x.Table)
		}
	}
	if len(out) == 0 {
		out = append(out, defaultDB)
	}
	return out
}

// signalRows hands the inserts into the signal table to onSignal (except
// those a restart already processed).
func (s *streamer) signalRows(tb *table, evStart uint32, e *replication.RowsEvent) error {
	if e.Type() != replication.EnumRowsEventTypeInsert || s.skipping && s.txEvents < s.skipEvents {
		return nil
	}
	vals := make([]any, len(tb.cols))
	for _, row := range e.Rows {
		for i := range tb.cols {
			var v any
			if i < len(row) {
				var err error
				if v, err = normalizeBinlog(&tb.cols[i], row[i]); err != nil {
					return &fatalError{fmt.Errorf("mysql: signal table %s at %s:%d: %w", tb.id(), s.file, evStart, err)}
				}
			}
			vals[i] = v
		}
		_, after, err := tb.row(s.t.o, vals)
		if err != nil {
			return &fatalError{err}
		}
		if err := s.onSignal(after); err != nil {
			return err
		}
	}
	return nil
}

// offBoxes are the fields of position.offset as interface values (nil when
// the field is omitted), boxed once per rows event.
type offBoxes struct {
	tsSec, file, pos, gtids, event, server any
}

// offset returns the offset map with row counter row, as position.offset
// builds it.
func (b *offBoxes) offset(row int64) map[string]any {
	m := make(map[string]any, 8)
	m[offTsSec], m[offFile], m[offPos] = b.tsSec, b.file, b.pos
	if b.gtids != nil {
		m[offGTIDs] = b.gtids
	}
	if b.event != nil {
		m[offEvent] = b.event
	}
	if row != 0 {
		m[offRow] = row
	}
	if b.server != nil {
		m[offServerID] = b.server
	}
	return m
}

// truncates emits a truncate event (op t, no before or after) for every
// captured table a TRUNCATE TABLE statement empties.
func (s *streamer) truncates(h *replication.EventHeader, evStart uint32, stmts []ast.StmtNode, defaultDB string, p position) error {
	for _, st := range stmts {
		x, ok := st.(*ast.TruncateTableStmt)
		if !ok {
			continue
		}
		db := x.Table.Schema.O
		if db == "" {
			db = defaultDB
		}
		name := x.Table.Name.O
		if !s.t.o.captured(db, name) {
			continue
		}
		tb := s.t.tableByName(db, name)
		if tb == nil {
			c, err := s.signalConn()
			if err != nil {
				return err
			}
			if tb, err = s.t.describeTable(c, db, name); err != nil {
				return err
			}
		}
		si := &srcInfo{ts: time.Unix(int64(h.Timestamp), 0), snapshot: snapFalse, db: db, table: tb.name, serverID: s.serverID, gtid: s.txGTID,
			file: s.file, pos: evStart, thread: s.thread}
		r := s.t.changeRecord(tb, "t", nil, nil, nil, si, nil, s.withInc(p.offset()))
		r.KeySchema, r.Key = nil, nil
		s.batch = append(s.batch, r)
	}
	return nil
}
