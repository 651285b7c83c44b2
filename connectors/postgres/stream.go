package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/sluicehq/sluice/runtime/connect"
)

// streamer decodes pgoutput messages into records. Its position survives
// reconnects so that transactions streamed again are not emitted twice.
type streamer struct {
	t   *Task
	pos position // what has been handed to Poll (or is in the batch)

	relations map[uint32]*table
	fast      map[*table][]colFast // fast paths of the relations' value columns
	row       rowMsg               // the row message being handled, reused

	// Allocation of streamed events: structs and records come from shared
	// blocks, and values common to a transaction are boxed once.
	arena   connect.StructArena
	box     boxer
	recs    []connect.Record
	txb     txBoxes
	prefixV any
	dbV     any
	stamp   stamp
	stampAt time.Time
	batch   []*connect.Record
	pending []*connect.Record // records of the last event, held until the next message
	pendOff map[string]any
	lastOff map[string]any

	// current transaction
	inTx       bool
	xid        uint32
	finalLSN   uint64
	commitTime time.Time
	seq        int64
	txSkip     bool // whole transaction already emitted
	resumed    bool // transaction partially emitted before a restart
	prevEnd    uint64
	lastCommit uint64 // commit LSN of the previous transaction (source.sequence)
	perColl    map[string]int64
	collOrder  []string
	txEmitted  int64
	idleLSN    uint64
	pingWindow time.Time
	pings      int
	inc        *incSnapshot
	replyReq   chan struct{} // ask the server for a keepalive (with its WAL position)
	started    bool
	lastLSN    uint64
}

type readResult struct {
	data []byte
	err  error
}

// run streams on conn until an error; the caller reconnects.
func (s *streamer) run(ctx context.Context, conn *pgconn.PgConn) error {
	t := s.t
	o := t.o
	s.relations = map[uint32]*table{}
	s.fast = nil
	s.inTx = false
	s.txb.ok = false
	start := s.pos.commitEnd
	if c := t.committed.Load(); c > start {
		start = c
	}
	args := []string{"proto_version '1'", "publication_names '" + strings.ReplaceAll(quoteIdent(o.publication), "'", "''") + "'"}
	if s.inc != nil && s.inc.plan != nil && o.signal == "" {
		// Watermarks of the resumed snapshot are WAL messages.
		args = append(args, "messages 'true'")
	}
	if err := pglogrepl.StartReplication(ctx, conn, o.slot, pglogrepl.LSN(start), pglogrepl.StartReplicationOptions{PluginArgs: args}); err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "42704" { // the slot does not exist (any more)
			return &fatalError{fmt.Errorf("postgres: start replication on slot %s: %w", o.slot, err)}
		}
		return fmt.Errorf("postgres: start replication: %w", err)
	}
	t.log.Info("streaming changes", "slot", o.slot, "from", pglogrepl.LSN(start))
	s.onStreaming()
	if s.inc != nil && s.inc.resume {
		// An incremental snapshot restored from the committed offset.
		s.inc.resume = false
		if len(s.inc.tables) > 0 {
			t.log.Info("resuming incremental snapshot", "id", s.inc.id, "tables", s.inc.tables)
		}
		if err := s.nextChunk(); err != nil {
			return err
		}
	}

	s.replyReq = make(chan struct{}, 1)
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	msgs := make(chan readResult, 1024)
	done := make(chan struct{})
	go func() { // reader: owns reads of conn
		defer close(done)
		var cp msgCopier
		for {
			msg, err := conn.ReceiveMessage(context.Background())
			if err != nil {
				select {
				case msgs <- readResult{err: err}:
				case <-sctx.Done():
				}
				return
			}
			var rr readResult
			switch m := msg.(type) {
			case *pgproto3.CopyData:
				rr.data = cp.copy(m.Data)
			case *pgproto3.ErrorResponse:
				rr.err = pgconn.ErrorResponseToPgError(m)
			case *pgproto3.CopyDone:
				rr.err = errors.New("postgres: server ended the replication stream")
			default:
				continue
			}
			select {
			case msgs <- rr:
			case <-sctx.Done():
				return
			}
			if rr.err != nil {
				return
			}
		}
	}()
	statusDone := make(chan struct{})
	go func() { // status sender: the only writer of conn
		defer close(statusDone)
		tick := time.NewTicker(o.statusInterval)
		defer tick.Stop()
		for {
			reply := false
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
			case <-t.nudge:
			case <-s.replyReq:
				reply = true
			}
			// Written straight to the socket: pgconn's frontend buffer is
			// not safe to share with the reader goroutine.
			if _, err := conn.Conn().Write(standbyStatus(t.committed.Load(), reply, time.Now())); err != nil {
				return
			}
		}
	}()
	defer func() {
		cancel()
		<-statusDone
		// The reader exits when the connection is closed by the supervisor.
	}()

	var hb <-chan time.Time
	if o.heartbeat > 0 {
		tk := time.NewTicker(o.heartbeat)
		defer tk.Stop()
		hb = tk.C
	}
	for {
		// Records are handed to Poll whenever it is ready; while it is
		// busy they accumulate into larger batches (up to max.batch.size).
		var outCh chan<- []*connect.Record
		if len(s.batch) > 0 {
			outCh = t.out
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case outCh <- s.batch:
			s.batch = nil
		case <-hb:
			s.heartbeat(ctx)
		case rr := <-msgs:
			if rr.err != nil {
				s.flushPending()
				t.emit(ctx, s.takeBatch())
				return rr.err
			}
			if err := s.handle(rr.data); err != nil {
				s.flushPending()
				t.emit(ctx, s.takeBatch())
				return err
			}
			if len(msgs) == 0 && !s.inTx {
				s.flushPending()
			}
			if len(s.batch) >= o.maxBatch && !t.emit(ctx, s.takeBatch()) {
				return ctx.Err()
			}
		}
	}
}

// msgCopier copies received messages (whose buffer the connection reuses)
// into shared slabs, so that small messages cost no allocation each.
// Copies are never written to; a slab is freed once no copy in it is
// referenced.
type msgCopier struct{ slab []byte }

// Slab size of msgCopier, and the largest message copied into a slab.
const (
	copySlab   = 64 << 10
	copyInSlab = 4 << 10
)

func (c *msgCopier) copy(b []byte) []byte {
	if len(b) > copyInSlab {
		return append([]byte(nil), b...)
	}
	if cap(c.slab)-len(c.slab) < len(b) {
		c.slab = make([]byte, 0, copySlab)
	}
	start := len(c.slab)
	c.slab = append(c.slab, b...)
	// The capacity limit keeps appends to a copy from reaching the next.
	return c.slab[start:len(c.slab):len(c.slab)]
}

// onStreaming is called once replication started; the supervisor's
// reconnect clock restarts on the first message.
func (s *streamer) onStreaming() { s.started = true }

// standbyStatus encodes a Standby Status Update (CopyData 'r') reporting
// lsn as written, flushed and applied.
func standbyStatus(lsn uint64, reply bool, now time.Time) []byte {
	b := make([]byte, 0, 39)
	b = append(b, 'd', 0, 0, 0, 38, 'r')
	for i := 0; i < 3; i++ {
		b = binary.BigEndian.AppendUint64(b, lsn)
	}
	pgEpoch := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	b = binary.BigEndian.AppendUint64(b, uint64(now.Sub(pgEpoch).Microseconds()))
	if reply {
		return append(b, 1)
	}
	return append(b, 0)
}

func (s *streamer) takeBatch() []*connect.Record {
	b := s.batch
	s.batch = nil
	return b
}

// flushPending moves the held records into the batch.
func (s *streamer) flushPending() {
	s.batch = append(s.batch, s.pending...)
	clear(s.pending)
	s.pending = s.pending[:0] // reused: its records are in the batch now
	s.pendOff = nil
}

func (s *streamer) handle(data []byte) error {
	if len(data) == 0 {
		return nil
	}
	switch data[0] {
	case pglogrepl.PrimaryKeepaliveMessageByteID:
		ka, err := pglogrepl.ParsePrimaryKeepaliveMessage(data[1:])
		if err != nil {
			return fmt.Errorf("postgres: keepalive: %w", err)
		}
		if !s.inTx && uint64(ka.ServerWALEnd) > s.idleLSN {
			s.idleLSN = uint64(ka.ServerWALEnd)
		}
		if ka.ReplyRequested {
			// A walsender that is shutting down asks for replies in a tight
			// loop until the client confirms everything it sent. We must not
			// confirm unacknowledged data, so we disconnect instead and
			// reconnect once the server is back.
			now := time.Now()
			if now.Sub(s.pingWindow) > 2*time.Second {
				s.pingWindow, s.pings = now, 0
			}
			s.pings++
			if s.pings >= 5 {
				return errors.New("postgres: server is shutting down (walsender waiting for confirmation)")
			}
			select {
			case s.t.nudge <- struct{}{}:
			default:
			}
		}
		return nil
	case pglogrepl.XLogDataByteID:
		xld, err := pglogrepl.ParseXLogData(data[1:])
		if err != nil {
			return fmt.Errorf("postgres: xlogdata: %w", err)
		}
		if w := xld.WALData; len(w) > 0 && (w[0] == 'I' || w[0] == 'U' || w[0] == 'D') {
			// Row messages are most of the stream: decoded in place.
			if err := s.row.decode(w); err != nil {
				return fmt.Errorf("postgres: decode pgoutput message at %s: %w", xld.WALStart, err)
			}
			s.lastLSN = uint64(xld.WALStart)
			return s.change(&s.row, uint64(xld.WALStart))
		}
		msg, err := pglogrepl.Parse(xld.WALData)
		if err != nil {
			return fmt.Errorf("postgres: decode pgoutput message at %s: %w", xld.WALStart, err)
		}
		s.lastLSN = uint64(xld.WALStart)
		return s.message(msg, uint64(xld.WALStart))
	}
	return nil
}

func (s *streamer) message(msg pglogrepl.Message, lsn uint64) error {
	t := s.t
	switch m := msg.(type) {
	case *pglogrepl.BeginMessage:
		s.inTx = true
		s.txb.ok = false
		s.xid = m.Xid
		s.finalLSN = uint64(m.FinalLSN)
		s.commitTime = m.CommitTime
		s.seq = 0
		s.txEmitted = 0
		s.perColl = map[string]int64{}
		s.collOrder = s.collOrder[:0]
		s.prevEnd = s.pos.commitEnd
		s.lastOff = nil
		s.txSkip = s.finalLSN < s.pos.commitEnd
		s.resumed = s.xid == s.pos.xid && s.pos.seq > 0
	case *pglogrepl.CommitMessage:
		end := uint64(m.TransactionEndLSN)
		if !s.txSkip {
			done := s.doneOffset(end, lsn)
			if t.o.txMetadata && s.txEmitted > 0 {
				s.flushPending()
				s.batch = append(s.batch, t.txRecord("END", s.txID(), s.commitTime, s.seq, s.perColl, s.collOrder, done))
			} else if s.pendOff != nil {
				for k := range s.pendOff {
					delete(s.pendOff, k)
				}
				for k, v := range done {
					s.pendOff[k] = v
				}
			}
		}
		s.flushPending()
		if end > s.pos.commitEnd {
			s.pos = position{commitEnd: end}
		}
		s.lastCommit = uint64(m.CommitLSN)
		s.inTx = false
		s.txb.ok = false
	case *pglogrepl.LogicalDecodingMessage:
		return s.onMessage(m, lsn)
	case *pglogrepl.RelationMessage:
		meta, err := t.cat.tableMeta(context.Background(), m.RelationID)
		if err != nil {
			return err
		}
		captured := t.o.captured(meta.schema, meta.name)
		signal := t.o.isSignalTable(meta.schema, meta.name)
		if !captured && !signal {
			s.relations[m.RelationID] = nil
			return nil
		}
		cols := make([]catColumn, len(m.Columns))
		for i, c := range m.Columns {
			cols[i] = catColumn{name: c.Name, typeOID: c.DataType, typmod: c.TypeModifier, pk: c.Flags&1 == 1}
		}
		tb, err := t.buildTable(meta, cols)
		if err != nil {
			return &fatalError{err}
		}
		tb.captured, tb.signal = captured, signal
		s.setRelation(m.RelationID, tb, cols)
	case *pglogrepl.TruncateMessage:
		for _, rel := range m.RelationIDs {
			tb := s.relations[rel]
			if tb == nil || !tb.captured || !s.next(tb) {
				continue
			}
			s.truncateInWindow(tb)
			if t.o.skip["t"] {
				continue
			}
			off := s.offset(lsn, "TRUNCATE")
			s.push(off, t.truncateRecord(tb, s.src(tb, lsn), s.block(tb), off))
		}
	}
	return nil
}

// change handles a row message (insert, update or delete) at lsn.
func (s *streamer) change(m *rowMsg, lsn uint64) error {
	t := s.t
	lsnV := s.box.int64(int64(lsn)) // shared by the source block and the offset
	switch m.op {
	case 'I':
		tb := s.relations[m.rel]
		if tb == nil {
			return nil
		}
		if tb.signal && !s.txSkip {
			v, _ := t.makeValue(tb, len(m.new), tupleSource(m.new), nil)
			if err := s.onSignal(tb, v, lsn); err != nil {
				return err
			}
		}
		if !tb.captured || !s.next(tb) {
			return nil
		}
		after, verr := s.makeValue(tb, m.new, nil)
		key := tb.keyIn(&s.arena, after)
		s.inWindow(tb, nil, after)
		if skip, err := t.badValue(tb, key, verr); skip || err != nil {
			return err
		}
		if t.o.skip["c"] {
			return nil
		}
		off := s.rowOffset(lsnV, msgInsert)
		s.push(off, s.record(tb, "c", key, nil, after, lsn, lsnV, off))
	case 'U':
		tb := s.relations[m.rel]
		if tb == nil || !tb.captured || !s.next(tb) {
			return nil
		}
		var before *connect.Struct
		var verr *ValueError
		if m.hasOld {
			before, verr = s.makeValue(tb, m.old, nil)
		}
		after, verr2 := s.makeValue(tb, m.new, before)
		if verr == nil {
			verr = verr2
		}
		key := tb.keyIn(&s.arena, after)
		s.inWindow(tb, before, after)
		if skip, err := t.badValue(tb, key, verr); skip || err != nil {
			return err
		}
		off := s.rowOffset(lsnV, msgUpdate)
		if before != nil && tb.key != nil {
			if oldKey := tb.keyIn(&s.arena, before); !sameKey(oldKey, key) {
				// Primary key change: delete (and tombstone) of the old key,
				// then create of the new one.
				// Debezium marks the pair with the other key as a header.
				var recs []*connect.Record
				if !t.o.skip["d"] {
					del := s.record(tb, "d", oldKey, before, nil, lsn, lsnV, off)
					del.Headers = append(del.Headers, t.keyHeader(HeaderNewKey, tb, key))
					recs = append(recs, del)
					if t.o.tombstones {
						recs = append(recs, tombstone(del))
					}
				}
				if !t.o.skip["c"] {
					c := s.record(tb, "c", key, nil, after, lsn, lsnV, off)
					c.Headers = append(c.Headers, t.keyHeader(HeaderOldKey, tb, oldKey))
					recs = append(recs, c)
				}
				s.push(off, recs...)
				return nil
			}
		}
		if t.o.skip["u"] {
			return nil
		}
		s.push(off, s.record(tb, "u", key, before, after, lsn, lsnV, off))
	case 'D':
		tb := s.relations[m.rel]
		if tb == nil || !tb.captured || !s.next(tb) {
			return nil
		}
		var before *connect.Struct
		var verr *ValueError
		if m.hasOld {
			before, verr = s.makeValue(tb, m.old, nil)
		}
		s.inWindow(tb, before, nil)
		if skip, err := t.badValue(tb, tb.keyIn(&s.arena, before), verr); skip || err != nil {
			return err
		}
		if t.o.skip["d"] {
			return nil
		}
		off := s.rowOffset(lsnV, msgDelete)
		del := s.record(tb, "d", tb.keyIn(&s.arena, before), before, nil, lsn, lsnV, off)
		if t.o.tombstones {
			s.push(off, del, tombstone(del))
		} else {
			s.push(off, del)
		}
	}
	return nil
}

// next counts a captured change and reports whether it is new, i.e. not
// emitted before a restart or reconnect.
func (s *streamer) next(tb *table) bool {
	s.seq++
	if _, ok := s.perColl[tb.id]; !ok {
		s.collOrder = append(s.collOrder, tb.id)
	}
	s.perColl[tb.id]++
	if s.txSkip {
		return false
	}
	if s.xid == s.pos.xid && s.seq <= s.pos.seq {
		return false
	}
	return true
}

func (s *streamer) txID() string {
	return strconv.FormatUint(uint64(s.xid), 10) + ":" + strconv.FormatUint(s.finalLSN, 10)
}

func (s *streamer) block(tb *table) *txBlock {
	if !s.t.o.txMetadata {
		return nil
	}
	return &txBlock{id: s.txID(), total: s.seq, collection: s.perColl[tb.id]}
}

func (s *streamer) src(tb *table, lsn uint64) *srcInfo {
	return &srcInfo{ts: s.commitTime, snapshot: snapFalse, schema: tb.meta.schema, table: tb.meta.name,
		txID: int64(s.xid), hasTxID: true, lsn: lsn, lastCommt: s.lastCommit}
}

func (s *streamer) offset(lsn uint64, typ string) map[string]any {
	return s.withInc(map[string]any{
		offLSN: int64(lsn), offLSNProc: int64(lsn), offLSNCommit: int64(s.prevEnd),
		offTxID: int64(s.xid), offTsUsec: s.commitTime.UnixMicro(), offMessageType: typ, offTxSeq: s.seq,
	})
}

func (s *streamer) doneOffset(end, lsn uint64) map[string]any {
	return s.withInc(map[string]any{
		offLSN: int64(lsn), offLSNProc: int64(end), offLSNCommit: int64(end),
		offTxID: int64(s.xid), offTsUsec: s.commitTime.UnixMicro(), offMessageType: "COMMIT", offTxSeq: s.seq, offTxDone: true,
	})
}

// push queues the records of one event, holding them until the next
// message so the last event of a transaction can carry the commit position.
func (s *streamer) push(off map[string]any, recs ...*connect.Record) {
	if len(recs) == 0 {
		return
	}
	t := s.t
	s.flushPending()
	if t.o.txMetadata && s.txEmitted == 0 && !s.resumed {
		begin := map[string]any{}
		for k, v := range off {
			begin[k] = v
		}
		begin[offTxSeq] = s.seq - 1
		s.batch = append(s.batch, t.txRecord("BEGIN", s.txID(), s.commitTime, 0, nil, nil, begin))
	}
	s.txEmitted++
	s.pending = append(s.pending[:0], recs...)
	s.pendOff = off
	s.lastOff = off
	s.pos.xid, s.pos.seq = s.xid, s.seq
	if len(s.batch) >= t.o.maxBatch {
		// keep batches bounded inside huge transactions
		s.t.emit(t.ctx, s.takeBatch())
	}
}

// heartbeat emits a heartbeat record carrying the current position and
// runs heartbeat.action.query.
func (s *streamer) heartbeat(ctx context.Context) {
	t := s.t
	if q := t.o.heartbeatQuery; q != "" {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		t.cat.mu.Lock()
		_, err := t.cat.conn.Exec(qctx, q)
		t.cat.mu.Unlock()
		cancel()
		if err != nil {
			t.warnOnce("heartbeat.action.query failed", "error", err.Error())
		}
	}
	var off map[string]any
	if s.inTx {
		if s.lastOff == nil {
			return
		}
		s.flushPending()
		off = map[string]any{}
		for k, v := range s.lastOff {
			off[k] = v
		}
	} else {
		// Ask for a keepalive: its WAL position lets the next heartbeat
		// advance the slot past WAL that holds no captured change.
		select {
		case s.replyReq <- struct{}{}:
		default:
		}
		s.flushPending()
		end := s.pos.commitEnd
		if s.idleLSN > end {
			end = s.idleLSN
		}
		off = s.withInc(map[string]any{offLSN: int64(end), offLSNProc: int64(end), offLSNCommit: int64(end), offTxID: int64(s.xid), offTsUsec: t.now().UnixMicro(), offTxDone: true})
	}
	s.batch = append(s.batch, t.heartbeatRecord(off))
	t.emit(ctx, s.takeBatch())
}
