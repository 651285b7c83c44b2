package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pglogrepl"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/sluicehq/sluice/runtime/connect"
)

const defaultQueryTimeout = 30 * time.Second

// ErrSlotInUse is returned when the replication slot stays held by another
// connection.
var ErrSlotInUse = errors.New("postgres: replication slot is in use by another connection")

// Task is the PostgreSQL CDC source task: an optional consistent snapshot
// followed by pgoutput logical replication.
type Task struct {
	o         *options
	log       *slog.Logger
	partition map[string]any
	now       func() time.Time

	cat   *catalog
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	out   chan []*connect.Record
	fatal atomic.Pointer[error]
	errc  chan struct{}
	once  sync.Once

	// committed is the LSN confirmed to the server as flushed: the end of
	// the last transaction whose events Kafka acknowledged.
	committed atomic.Uint64
	nudge     chan struct{}

	replMu sync.Mutex
	repl   *pgconn.PgConn

	progMu   sync.Mutex
	progress Progress

	warned sync.Map
	closed atomic.Bool

	textCopy   bool         // snapshot chunks use text COPY only (tests)
	builders   int          // snapshot record builders per chunk: 0 one per core, <0 none (benchmarks)
	binChunks  atomic.Int64 // snapshot chunks read with binary COPY
	textChunks atomic.Int64 // and with text COPY
}

// NewTask returns an unopened task.
func NewTask() *Task { return &Task{now: time.Now} }

func (t *Task) warnOnce(msg string, args ...any) {
	key := msg + fmt.Sprint(args...)
	if _, loaded := t.warned.LoadOrStore(key, true); !loaded {
		t.log.Warn(msg, args...)
	}
}

func (o *options) connDSN(replication bool) string {
	return o.dsn(replication) + "&timezone=UTC&datestyle=ISO&intervalstyle=postgres"
}

// Open connects, prepares the publication and slot, and starts the
// snapshot and/or streaming in the background from the committed offset.
func (t *Task) Open(ctx context.Context, cfg map[string]string, tctx connect.SourceTaskContext) error {
	o, err := parseOptions(cfg)
	if err != nil {
		return err
	}
	t.o = o
	t.log = tctx.Logger()
	if t.log == nil {
		t.log = slog.Default()
	}
	t.partition = map[string]any{"server": o.prefix}
	t.out = make(chan []*connect.Record, max(1, o.maxQueue/o.maxBatch))
	t.nudge = make(chan struct{}, 1)
	t.errc = make(chan struct{})

	meta, err := pgx.Connect(ctx, o.connDSN(false))
	if err != nil {
		return connect.Retriable(fmt.Errorf("postgres: connect to %s:%d/%s: %w", o.host, o.port, o.dbname, err))
	}
	t.cat = &catalog{dsn: o.connDSN(false), conn: meta, types: map[uint32]*typeInfo{}}
	ok := false
	defer func() {
		if !ok {
			_ = meta.Close(context.Background())
		}
	}()
	if err := t.ensurePublication(ctx); err != nil {
		return err
	}
	off, err := tctx.Offsets().Offset(ctx, t.partition)
	if err != nil {
		return connect.Retriable(fmt.Errorf("postgres: read committed offset: %w", err))
	}
	pos, snapshotting, hasOffset := parsePosition(off)
	slot, err := t.slotInfo(ctx)
	if err != nil {
		return err
	}
	needSnapshot := false
	switch o.snapshotMode {
	case "always":
		needSnapshot = true
	case "initial", "initial_only":
		needSnapshot = !hasOffset || snapshotting
	case "when_needed":
		needSnapshot = !hasOffset || snapshotting || !slot.exists
	}
	if o.snapshotMode == "initial_only" && !needSnapshot {
		t.log.Info("initial_only snapshot already completed; nothing to do")
		t.ctx, t.stop = context.WithCancel(context.Background())
		ok = true
		return nil
	}
	repl, err := pgconn.Connect(ctx, o.connDSN(true))
	if err != nil {
		return connect.Retriable(fmt.Errorf("postgres: replication connection: %w", err))
	}
	t.repl = repl
	defer func() {
		if !ok {
			_ = repl.Close(context.Background())
		}
	}()
	if slot.exists && slot.activePID != 0 {
		if err := t.waitSlotFree(ctx, slot.activePID); err != nil {
			return err
		}
	}
	t.ctx, t.stop = context.WithCancel(context.Background())
	if needSnapshot && snapshotting && o.snapshotMode != "always" && slot.exists {
		if rs := parseSnapResume(off); rs != nil && slot.confirmed <= rs.lsn {
			// An interrupted snapshot: the slot still holds every change
			// since its consistent point. The chunks not yet acknowledged
			// are read under watermarks while streaming from that point
			// (see planState); initial_only, which must not stream, and
			// servers without WAL messages (before 14) and without a
			// signal table read them in a new snapshot first.
			t.committed.Store(rs.lsn)
			t.setProgress(func(p *Progress) { p.Running = true; p.Started = t.now() })
			if o.snapshotMode != "initial_only" && (o.signal != "" || t.serverMajor() >= 14) {
				t.log.Info("resuming interrupted snapshot", "slot", o.slot, "lsn", pglogrepl.LSN(rs.lsn), "chunks", len(rs.plan), "chunks_done", len(rs.done))
				inc := &incSnapshot{id: "resume", plan: newPlanState(rs), resume: true}
				t.wg.Add(1)
				go func() {
					defer t.wg.Done()
					t.supervise(position{commitEnd: rs.lsn}, inc)
				}()
				ok = true
				return nil
			}
			t.log.Warn("resuming interrupted snapshot in a new snapshot before streaming", "slot", o.slot, "lsn", pglogrepl.LSN(rs.lsn), "chunks", len(rs.plan), "chunks_done", len(rs.done))
			t.wg.Add(1)
			go func() {
				defer t.wg.Done()
				if err := t.snapshot(t.ctx, "", rs.lsn, rs); err != nil {
					t.fail(err)
					return
				}
				if o.snapshotMode == "initial_only" {
					t.log.Info("initial_only snapshot completed; not streaming")
					return
				}
				t.supervise(position{commitEnd: rs.lsn}, nil)
			}()
			ok = true
			return nil
		}
	}
	if needSnapshot {
		if slot.exists {
			t.log.Info("dropping existing replication slot to take a consistent snapshot", "slot", o.slot)
			if _, err := repl.Exec(ctx, "DROP_REPLICATION_SLOT "+o.slot+" WAIT").ReadAll(); err != nil {
				return fmt.Errorf("postgres: drop slot %s: %w", o.slot, err)
			}
		}
		res, err := pglogrepl.ParseCreateReplicationSlot(repl.Exec(ctx, fmt.Sprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'export')", o.slot)))
		if err != nil {
			return fmt.Errorf("postgres: create slot %s: %w", o.slot, err)
		}
		lsn, err := pglogrepl.ParseLSN(res.ConsistentPoint)
		if err != nil {
			return fmt.Errorf("postgres: slot consistent point %q: %w", res.ConsistentPoint, err)
		}
		t.log.Info("created replication slot with exported snapshot", "slot", o.slot, "lsn", res.ConsistentPoint, "snapshot", res.SnapshotName)
		t.committed.Store(uint64(lsn))
		t.setProgress(func(p *Progress) { p.Running = true; p.Started = t.now() })
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			if err := t.snapshot(t.ctx, res.SnapshotName, uint64(lsn), nil); err != nil {
				t.fail(err)
				return
			}
			if o.snapshotMode == "initial_only" {
				t.log.Info("initial_only snapshot completed; not streaming")
				return
			}
			t.supervise(position{commitEnd: uint64(lsn)}, nil)
		}()
		ok = true
		return nil
	}
	start := pos.commitEnd
	if !slot.exists {
		res, err := pglogrepl.ParseCreateReplicationSlot(repl.Exec(ctx, fmt.Sprintf("CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'nothing')", o.slot)))
		if err != nil {
			return fmt.Errorf("postgres: create slot %s: %w", o.slot, err)
		}
		lsn, _ := pglogrepl.ParseLSN(res.ConsistentPoint)
		if hasOffset {
			t.log.Warn("replication slot was missing and has been recreated; changes between the committed offset and now are lost", "slot", o.slot, "offset_lsn", pglogrepl.LSN(pos.commitEnd), "slot_lsn", lsn)
		}
		if uint64(lsn) > start {
			start = uint64(lsn)
		}
	} else if slot.confirmed > start {
		start = slot.confirmed
	}
	if start > pos.commitEnd {
		pos = position{commitEnd: start}
	}
	t.committed.Store(start)
	var inc *incSnapshot
	if off != nil {
		inc = restoreInc(off, o.signal != "")
	}
	if inc != nil && inc.plan != nil {
		// A resumed snapshot interrupted again: carry on under watermarks.
		t.setProgress(func(p *Progress) { p.Running = true; p.Started = t.now() })
	} else {
		t.setProgress(func(p *Progress) { p.Skipped = true })
	}
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.supervise(pos, inc)
	}()
	ok = true
	return nil
}

// serverMajor returns the server's major version, 0 when unknown.
func (t *Task) serverMajor() int {
	v := t.cat.conn.PgConn().ParameterStatus("server_version")
	n, _ := strconv.Atoi(strings.SplitN(strings.SplitN(v, ".", 2)[0], " ", 2)[0])
	return n
}

type slotState struct {
	exists    bool
	confirmed uint64
	activePID int32
}

func (t *Task) slotInfo(ctx context.Context) (slotState, error) {
	var s slotState
	var plugin, db *string
	var confirmed *string
	var pid *int32
	t.cat.mu.Lock()
	err := t.cat.conn.QueryRow(ctx, `SELECT plugin, database, confirmed_flush_lsn::text, active_pid FROM pg_replication_slots WHERE slot_name = $1`, t.o.slot).
		Scan(&plugin, &db, &confirmed, &pid)
	t.cat.mu.Unlock()
	if errors.Is(err, pgx.ErrNoRows) {
		return s, nil
	}
	if err != nil {
		return s, connect.Retriable(fmt.Errorf("postgres: read slot %s: %w", t.o.slot, err))
	}
	if plugin == nil || *plugin != "pgoutput" {
		return s, connect.Errorf(KeySlotName, "slot %s exists but is not a pgoutput logical slot", t.o.slot)
	}
	if db != nil && *db != t.o.dbname {
		return s, connect.Errorf(KeySlotName, "slot %s belongs to database %s, not %s", t.o.slot, *db, t.o.dbname)
	}
	s.exists = true
	if confirmed != nil {
		l, err := pglogrepl.ParseLSN(*confirmed)
		if err == nil {
			s.confirmed = uint64(l)
		}
	}
	if pid != nil {
		s.activePID = *pid
	}
	return s, nil
}

// waitSlotFree waits for the slot's previous holder (for example a task of
// a crashed worker) to go away, then terminates it.
func (t *Task) waitSlotFree(ctx context.Context, pid int32) error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		s, err := t.slotInfo(ctx)
		if err != nil {
			return err
		}
		if s.activePID == 0 {
			return nil
		}
		pid = s.activePID
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.log.Warn("replication slot still held by another connection; terminating it", "slot", t.o.slot, "pid", pid)
	t.cat.mu.Lock()
	_, err := t.cat.conn.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	t.cat.mu.Unlock()
	if err != nil {
		return connect.Retriable(fmt.Errorf("%w: %v", ErrSlotInUse, err))
	}
	for i := 0; i < 50; i++ {
		s, err := t.slotInfo(ctx)
		if err != nil {
			return err
		}
		if s.activePID == 0 {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return connect.Retriable(ErrSlotInUse)
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// ensurePublication creates or checks the publication per
// publication.autocreate.mode.
func (t *Task) ensurePublication(ctx context.Context) error {
	o := t.o
	t.cat.mu.Lock()
	defer t.cat.mu.Unlock()
	conn := t.cat.conn
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = $1)", o.publication).Scan(&exists); err != nil {
		return connect.Retriable(fmt.Errorf("postgres: check publication: %w", err))
	}
	switch o.pubMode {
	case "disabled":
		if !exists {
			return connect.Errorf(KeyPublicationName, "publication %s does not exist and %s is disabled", o.publication, KeyPublicationAuto)
		}
	case "all_tables":
		if !exists {
			if _, err := conn.Exec(ctx, "CREATE PUBLICATION "+quoteIdent(o.publication)+" FOR ALL TABLES"); err != nil {
				return fmt.Errorf("postgres: create publication %s: %w", o.publication, err)
			}
		}
	case "filtered":
		rows, err := conn.Query(ctx, `SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind IN ('r','p') AND n.nspname NOT IN ('pg_catalog','information_schema') AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'`)
		if err != nil {
			return fmt.Errorf("postgres: list tables: %w", err)
		}
		var names []string
		for rows.Next() {
			var s, n string
			if err := rows.Scan(&s, &n); err != nil {
				rows.Close()
				return err
			}
			if o.captured(s, n) {
				names = append(names, quoteIdent(s)+"."+quoteIdent(n))
			}
		}
		rows.Close()
		if len(names) == 0 {
			return connect.Errorf(KeyTableInclude, "no table matches the table filters; cannot create filtered publication %s", o.publication)
		}
		stmt := "CREATE PUBLICATION " + quoteIdent(o.publication) + " FOR TABLE " + strings.Join(names, ", ")
		if exists {
			stmt = "ALTER PUBLICATION " + quoteIdent(o.publication) + " SET TABLE " + strings.Join(names, ", ")
		}
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("postgres: %s: %w", stmt, err)
		}
	}
	return nil
}

// Poll returns the next batch of records.
func (t *Task) Poll(ctx context.Context) ([]*connect.Record, error) {
	if e := t.fatal.Load(); e != nil {
		return nil, *e
	}
	select {
	case b := <-t.out:
		return b, nil
	case <-t.errc:
		select {
		case b := <-t.out:
			return b, nil
		default:
		}
		return nil, *t.fatal.Load()
	case <-ctx.Done():
		return nil, nil
	case <-time.After(time.Second):
		return nil, nil
	}
}

func (t *Task) fail(err error) {
	if err == nil || t.ctx.Err() != nil {
		return
	}
	t.once.Do(func() {
		t.log.Error("postgres source task failed", "error", err)
		t.fatal.Store(&err)
		close(t.errc)
	})
}

// Commit advances the slot's confirmed flush position to the end of the
// last transaction whose events were all acknowledged.
func (t *Task) Commit(_ context.Context, offsets []connect.SourceOffset) error {
	if t.o == nil {
		return nil
	}
	for _, so := range offsets {
		if so.Partition["server"] != nil && fmt.Sprint(so.Partition["server"]) != t.o.prefix {
			continue
		}
		pos, snapshotting, ok := parsePosition(so.Offset)
		if !ok || snapshotting {
			continue
		}
		for {
			cur := t.committed.Load()
			if pos.commitEnd <= cur {
				break
			}
			if t.committed.CompareAndSwap(cur, pos.commitEnd) {
				select {
				case t.nudge <- struct{}{}:
				default:
				}
				break
			}
		}
	}
	return nil
}

// Close stops the task; with slot.drop.on.stop it drops the slot.
func (t *Task) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	if t.stop != nil {
		t.stop()
	}
	t.closeRepl()
	t.wg.Wait()
	var err error
	if t.o != nil && t.o.dropSlot && t.cat != nil {
		ctx, cancel := context.WithTimeout(context.Background(), defaultQueryTimeout)
		for i := 0; i < 50; i++ {
			var active bool
			t.cat.mu.Lock()
			qerr := t.cat.conn.QueryRow(ctx, "SELECT active FROM pg_replication_slots WHERE slot_name = $1", t.o.slot).Scan(&active)
			t.cat.mu.Unlock()
			if qerr != nil || !active {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		t.cat.mu.Lock()
		_, err = t.cat.conn.Exec(ctx, "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1", t.o.slot)
		t.cat.mu.Unlock()
		cancel()
		if err != nil {
			err = fmt.Errorf("postgres: drop slot %s: %w", t.o.slot, err)
		}
	}
	if t.cat != nil {
		_ = t.cat.conn.Close(context.Background())
	}
	return err
}

// kill simulates a crash: everything stops without any cleanup.
func (t *Task) kill() {
	t.closed.Store(true)
	if t.stop != nil {
		t.stop()
	}
	t.closeRepl()
	t.wg.Wait()
	if t.cat != nil {
		_ = t.cat.conn.Close(context.Background())
	}
}

func (t *Task) closeRepl() {
	t.replMu.Lock()
	c := t.repl
	t.repl = nil
	t.replMu.Unlock()
	if c != nil {
		// Closing the socket (not PgConn.Close, which is not safe while the
		// reader goroutine is receiving) ends the walsender session.
		_ = c.Conn().Close()
	}
}

func (t *Task) emit(ctx context.Context, batch []*connect.Record) bool {
	if len(batch) == 0 {
		return true
	}
	select {
	case t.out <- batch:
		return true
	case <-ctx.Done():
		return false
	}
}

// supervise streams from pos, reconnecting after connection failures.
func (t *Task) supervise(pos position, inc *incSnapshot) {
	s := &streamer{t: t, pos: pos, inc: inc}
	var lostAt time.Time
	backoff := 200 * time.Millisecond
	for {
		t.replMu.Lock()
		conn := t.repl
		t.replMu.Unlock()
		if conn == nil {
			if t.ctx.Err() != nil {
				return
			}
			c, err := pgconn.Connect(t.ctx, t.o.connDSN(true))
			if err == nil {
				t.replMu.Lock()
				if t.closed.Load() {
					t.replMu.Unlock()
					_ = c.Close(context.Background())
					return
				}
				t.repl = c
				t.replMu.Unlock()
				conn = c
			} else {
				if lostAt.IsZero() {
					lostAt = t.now()
				}
				if t.o.reconnectMax > 0 && t.now().Sub(lostAt) > t.o.reconnectMax {
					t.fail(connect.Retriable(fmt.Errorf("postgres: reconnect gave up after %s: %w", t.o.reconnectMax, err)))
					return
				}
				t.log.Warn("postgres replication connection failed; retrying", "error", err, "backoff", backoff)
				select {
				case <-t.ctx.Done():
					return
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, 5*time.Second)
				continue
			}
		}
		err := t.cat.reconnect(t.ctx)
		if err == nil {
			err = s.run(t.ctx, conn)
		}
		if t.ctx.Err() != nil {
			return
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			t.fail(fatal.err)
			return
		}
		t.log.Warn("postgres replication stream interrupted; reconnecting", "error", err, "backoff", backoff)
		t.closeRepl()
		if s.started || lostAt.IsZero() {
			lostAt = t.now()
			if s.started {
				backoff = 200 * time.Millisecond
			}
			s.started = false
		}
		if t.o.reconnectMax > 0 && t.now().Sub(lostAt) > t.o.reconnectMax {
			t.fail(connect.Retriable(fmt.Errorf("postgres: replication stream kept failing for %s: %w", t.o.reconnectMax, err)))
			return
		}
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// fatalError marks stream errors that reconnecting cannot fix.
type fatalError struct{ err error }

func (e *fatalError) Error() string { return e.err.Error() }
