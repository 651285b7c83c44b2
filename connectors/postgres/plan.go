package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sluicehq/sluice/runtime/connect"
	"golang.org/x/sync/errgroup"
)

// planState finishes an initial snapshot interrupted by a crash. The
// exported snapshot died with the old session, so rows read now may be
// newer than the changes the slot still has to stream since its consistent
// point. The chunks not yet emitted are therefore read as watermark windows
// of the incremental snapshot while streaming (up to snapshot.max.threads
// chunks per window, in one shared snapshot): a streamed change of a row in
// the window that the window's snapshot does not include wins over the
// read row, so no key ever goes back to an older state.
//
// The plan and the chunks emitted stay in every offset until the last
// chunk is emitted, so a second crash resumes again. The last row of each
// window is held back until the next window (or the end) so that the
// snapshot's final row can be marked source.snapshot=last; its chunks count
// as done only once it is emitted.
type planState struct {
	planOff []any
	todo    []chunk // remaining chunks, in plan order
	done    map[int]bool
	doneStr string
	sts     []*snapTable // by chunk.tbl, resolved on the first window
	ids     []string     // table id of each plan entry

	window  []int           // plan indexes of the chunks in the open window
	pending []int           // chunks whose rows wait for the held tail
	tail    *connect.Record // held last row
	tailSI  *srcInfo
	xid     int64 // the last window's transaction id (source.txId)
}

func newPlanState(rs *snapResume) *planState {
	p := &planState{done: rs.done, planOff: make([]any, len(rs.plan)), ids: make([]string, len(rs.plan))}
	for i, e := range rs.plan {
		p.planOff[i] = e
		id, where, _ := strings.Cut(e, "\x00")
		p.ids[i] = id
		if !rs.done[i] {
			p.todo = append(p.todo, chunk{tbl: -1, idx: i, where: where})
		}
	}
	p.doneStr = encodeChunkSet(p.done)
	return p
}

func (p *planState) markDone(idx ...int) {
	for _, i := range idx {
		p.done[i] = true
	}
	p.doneStr = encodeChunkSet(p.done)
}

// resolve finds the tables of the remaining chunks; chunks of tables no
// longer captured count as done.
func (s *streamer) resolvePlan(ctx context.Context) error {
	t, p := s.t, s.inc.plan
	if p.sts != nil {
		return nil
	}
	tables, err := t.snapshotTables(ctx)
	if err != nil {
		return err
	}
	byID := map[string]int{}
	p.sts = []*snapTable{}
	todo := p.todo[:0]
	var gone []int
	for _, c := range p.todo {
		id := p.ids[c.idx]
		ti, ok := byID[id]
		if !ok {
			ti = -1
			for _, tb := range tables {
				if tb.id == id {
					ti = len(p.sts)
					p.sts = append(p.sts, &snapTable{tb: tb})
				}
			}
			byID[id] = ti
		}
		if ti < 0 {
			gone = append(gone, c.idx)
			continue
		}
		c.tbl = ti
		p.sts[ti].chunks++
		todo = append(todo, c)
	}
	p.todo = todo
	p.markDone(gone...)
	t.setProgress(func(pr *Progress) {
		pr.Running, pr.Skipped = true, false
		if pr.Started.IsZero() {
			pr.Started = t.now()
		}
		pr.TablesTotal = len(p.sts)
		pr.Tables = pr.Tables[:0]
		for _, st := range p.sts {
			pr.Tables = append(pr.Tables, TableProgress{Table: st.tb.id, Chunks: st.chunks})
		}
	})
	t.log.Info("resuming interrupted snapshot with watermarks", "tables", len(p.sts), "chunks", len(p.todo), "chunks_done", len(p.done))
	return nil
}

// readPlanWindow reads the next chunks of the plan into a new window, in
// parallel transactions sharing one snapshot, and returns the row count.
func (s *streamer) readPlanWindow(ctx context.Context) (int, error) {
	t, inc := s.t, s.inc
	p := inc.plan
	if err := s.resolvePlan(ctx); err != nil {
		return 0, err
	}
	if len(p.todo) == 0 {
		return 0, nil
	}
	cs := p.todo[:min(len(p.todo), max(1, t.o.threads))]
	p.window = p.window[:0]
	for _, c := range cs {
		p.window = append(p.window, c.idx)
	}
	conns := make([]*pgconn.PgConn, len(cs))
	defer func() {
		for _, c := range conns {
			if c != nil {
				_ = c.Close(context.Background())
			}
		}
	}()
	for i := range cs {
		c, err := pgconn.Connect(ctx, t.o.connDSN(false))
		if err != nil {
			return 0, fmt.Errorf("postgres: snapshot connection: %w", err)
		}
		conns[i] = c
	}
	// The first transaction exports its snapshot to the others and records
	// it: stream events are judged by visibility in it.
	res, err := conns[0].Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ; SELECT pg_export_snapshot(), pg_current_snapshot()::text, txid_current()").ReadAll()
	if err != nil || len(res) != 2 || len(res[1].Rows) != 1 {
		return 0, fmt.Errorf("postgres: snapshot for resumed chunks: %v", err)
	}
	row := res[1].Rows[0]
	if inc.vis, err = parseSnapshot(string(row[1])); err != nil {
		return 0, err
	}
	if p.xid, err = strconv.ParseInt(string(row[2]), 10, 64); err != nil {
		return 0, fmt.Errorf("postgres: snapshot transaction id %q: %w", row[2], err)
	}
	for _, c := range conns[1:] {
		if _, err := c.Exec(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '"+string(row[0])+"'").ReadAll(); err != nil {
			return 0, fmt.Errorf("postgres: import snapshot %s: %w", row[0], err)
		}
	}
	win := newWindow()
	results := make(chan snapMsg, 2*len(cs))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range cs {
		conn := conns[i]
		g.Go(func() error { return t.readChunk(gctx, conn, p.sts[c.tbl].tb, c, results) })
	}
	var werr error
	go func() { werr = g.Wait(); close(results) }()
	for m := range results {
		tb := p.sts[m.tbl].tb
		for _, r := range m.recs {
			win.add(tb, r)
		}
	}
	if werr != nil {
		return 0, werr
	}
	for _, c := range conns {
		_, _ = c.Exec(ctx, "COMMIT").ReadAll()
	}
	inc.win = win
	return len(win.recs), nil
}

// emptyWindow finishes a window whose chunks had no rows.
func (p *planState) emptyWindow() {
	p.markDone(p.window...)
	p.todo = p.todo[len(p.window):]
	p.window = nil
}

// closePlanWindow emits the window's rows still buffered at the close
// watermark (at lsn).
func (s *streamer) closePlanWindow(lsn uint64) {
	t, inc := s.t, s.inc
	p := inc.plan
	recs, tbls := inc.win.rows()
	inc.win = nil
	chunks := append([]int(nil), p.window...)
	p.todo = p.todo[len(p.window):]
	p.window = nil
	var out []*connect.Record
	if len(recs) == 0 {
		p.markDone(chunks...)
	} else {
		if p.tail != nil {
			p.markDone(p.pending...)
			p.tail.SourceOffset = s.posOffset(lsn)
			out = append(out, p.tail)
		}
		off := s.posOffset(lsn)
		srcs := map[*table]*srcInfo{}
		structs := map[*table]*connect.Struct{}
		for i, r := range recs {
			tb := tbls[i]
			if srcs[tb] == nil {
				srcs[tb] = &srcInfo{ts: t.now(), snapshot: snapTrue, schema: tb.meta.schema, table: tb.meta.name, txID: p.xid, hasTxID: true, lsn: lsn}
				structs[tb] = t.sourceStruct(srcs[tb])
			}
			r.Value.(*connect.Struct).SetAt(2, structs[tb])
			r.SourceOffset = off
		}
		p.tail, p.tailSI, p.pending = recs[len(recs)-1], srcs[tbls[len(recs)-1]], chunks
		out = append(out, recs[:len(recs)-1]...)
	}
	perTbl := map[string]int64{}
	for _, tb := range tbls {
		perTbl[tb.id]++
	}
	t.setProgress(func(pr *Progress) {
		pr.Rows += int64(len(recs))
		for i := range pr.Tables {
			tp := &pr.Tables[i]
			tp.Rows += perTbl[tp.Table]
			for _, c := range chunks {
				if p.ids[c] == tp.Table {
					tp.ChunksDone++
				}
			}
			if !tp.Done && tp.ChunksDone >= tp.Chunks {
				tp.Done = true
				pr.TablesDone++
			}
		}
	})
	s.flushPending()
	s.batch = append(s.batch, out...)
}

// finishPlan emits the held last row marked snapshot=last, with an offset
// that no longer records the plan: the snapshot is complete.
func (s *streamer) finishPlan(lsn uint64) {
	t, inc := s.t, s.inc
	p := inc.plan
	inc.plan = nil
	if p.tail != nil {
		si := *p.tailSI
		si.snapshot = snapLast
		p.tail.Value.(*connect.Struct).SetAt(2, t.sourceStruct(&si))
		p.tail.SourceOffset = s.posOffset(lsn)
		s.flushPending()
		s.batch = append(s.batch, p.tail)
	}
	t.setProgress(func(pr *Progress) {
		pr.Running = false
		pr.Completed = true
		pr.Finished = t.now()
		pr.TablesDone = pr.TablesTotal
		for i := range pr.Tables {
			pr.Tables[i].Done = true
		}
	})
	pr := t.SnapshotProgress()
	t.log.Info("snapshot completed", "tables", pr.TablesTotal, "rows", pr.Rows, "resumed", true)
}

// posOffset is the offset of a record emitted at lsn by the snapshot
// machinery: inside a transaction its event position, else the stream's
// position after the last whole transaction.
func (s *streamer) posOffset(lsn uint64) map[string]any {
	if s.inTx {
		return s.offset(lsn, "INSERT")
	}
	end := s.pos.commitEnd
	return s.withInc(map[string]any{offLSN: int64(end), offLSNProc: int64(end), offLSNCommit: int64(end),
		offTxID: int64(s.xid), offTsUsec: s.t.now().UnixMicro(), offTxDone: true})
}
