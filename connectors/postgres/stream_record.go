package postgres

import (
	"strconv"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// txBoxes holds the values shared by the events of the transaction being
// streamed, boxed once per transaction instead of once per event.
type txBoxes struct {
	ok        bool
	tsMs      any // commit time, for source.ts_ms, ts_us and ts_ns
	tsUs      any // also the offsets' ts_usec
	tsNs      any
	xid       any    // source.txId and the offsets' txId
	prevEnd   any    // the offsets' lsn_commit
	seqPrefix []byte // source.sequence up to the event's LSN
}

// Boxed message types of offsets.
var (
	msgInsert any = "INSERT"
	msgUpdate any = "UPDATE"
	msgDelete any = "DELETE"
)

// boxes returns the current transaction's boxed values.
func (s *streamer) boxes() *txBoxes {
	b := &s.txb
	if b.ok {
		return b
	}
	us := s.commitTime.UnixMicro()
	b.tsMs, b.tsUs, b.tsNs = us/1000, us, us*1000
	b.xid, b.prevEnd = int64(s.xid), int64(s.prevEnd)
	b.seqPrefix = append(b.seqPrefix[:0], '[')
	if s.lastCommit != 0 {
		b.seqPrefix = append(b.seqPrefix, '"')
		b.seqPrefix = strconv.AppendUint(b.seqPrefix, s.lastCommit, 10)
		b.seqPrefix = append(b.seqPrefix, '"')
	} else {
		b.seqPrefix = append(b.seqPrefix, "null"...)
	}
	b.seqPrefix = append(b.seqPrefix, ',', '"')
	if s.prefixV == nil {
		s.prefixV, s.dbV = s.t.o.prefix, s.t.o.dbname
	}
	b.ok = true
	return b
}

// source builds the source block of a streamed event at lsn (lsnV is
// int64(lsn) boxed); it holds what Task.sourceStruct builds from s.src.
func (s *streamer) source(tb *table, lsn uint64, lsnV any) *connect.Struct {
	b := s.boxes()
	src := s.arena.NewStructValue(sourceSchema)
	src.SetAt(0, DebeziumVersion)
	src.SetAt(1, "postgresql")
	src.SetAt(2, s.prefixV)
	src.SetAt(3, b.tsMs)
	src.SetAt(4, snapFalse)
	src.SetAt(5, s.dbV)
	if lsn != 0 {
		seq := s.box.textSpace(len(b.seqPrefix) + 22)
		seq = strconv.AppendUint(append(seq, b.seqPrefix...), lsn, 10)
		seq = append(seq, '"', ']')
		src.SetAt(6, s.box.str(s.box.textTake(seq)))
		src.SetAt(12, lsnV)
	}
	src.SetAt(7, b.tsUs)
	src.SetAt(8, b.tsNs)
	schemaV, tableV := tb.schemaV, tb.tableV
	if schemaV == nil {
		schemaV, tableV = tb.meta.schema, tb.meta.name
	}
	src.SetAt(9, schemaV)
	src.SetAt(10, tableV)
	src.SetAt(11, b.xid)
	return src
}

// rowOffset is s.offset(lsn, typ) with the transaction's boxed values.
func (s *streamer) rowOffset(lsnV, typ any) map[string]any {
	b := s.boxes()
	return s.withInc(map[string]any{
		offLSN: lsnV, offLSNProc: lsnV, offLSNCommit: b.prevEnd,
		offTxID: b.xid, offTsUsec: b.tsUs, offMessageType: typ, offTxSeq: s.box.int64(s.seq),
	})
}

// stampNow returns the processing time stamp of an event: one is boxed per
// millisecond and shared by the events built within it.
func (s *streamer) stampNow() *stamp {
	now := s.t.now()
	if d := now.Sub(s.stampAt); d < 0 || d >= time.Millisecond || s.stamp.ms == nil {
		s.stamp, s.stampAt = newStamp(now), now
	}
	return &s.stamp
}

// record builds a streamed change event, its structs and the record itself
// allocated in shared blocks.
func (s *streamer) record(tb *table, op string, key, before, after *connect.Struct, lsn uint64, lsnV any, off map[string]any) *connect.Record {
	if len(s.recs) == 0 {
		s.recs = make([]connect.Record, 256)
	}
	r := &s.recs[0]
	s.recs = s.recs[1:]
	s.t.fillRecord(&s.arena, r, tb, op, key, before, after, s.source(tb, lsn, lsnV), s.block(tb), off, s.stampNow())
	return r
}
