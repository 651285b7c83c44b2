package mysql

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-mysql-org/go-mysql/client"
	"github.com/go-mysql-org/go-mysql/replication"
	"github.com/sluicehq/sluice/runtime/connect"
)

// Task is the MySQL/MariaDB CDC source task: an optional consistent
// snapshot followed by binlog streaming.
type Task struct {
	o         *options
	log       *slog.Logger
	quietLog  *slog.Logger
	partition map[string]any
	now       func() time.Time

	schemaChangeSchema *connect.Schema
	srcConst           [3]any // source version, connector and name, boxed once
	version            string

	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	out   chan []*connect.Record
	fatal atomic.Pointer[error]
	errc  chan struct{}
	once  sync.Once

	syncMu sync.Mutex
	syncer *replication.BinlogSyncer
	conns  []func() // close snapshot connections (idempotent), for kill/Close

	tblMu  sync.Mutex
	byName map[string]*table

	// hist is the schema history; model the table definitions as of the
	// stream's position (owned by the snapshot, then the streamer).
	hist  historyStore
	model *schemaModel

	resumeInc *incSnapshot // incremental snapshot restored from the offset

	progMu   sync.Mutex
	progress Progress
	streamed atomic.Int64

	closed atomic.Bool
}

// NewTask returns an unopened task.
func NewTask() *Task { return &Task{now: time.Now} }

// flavorOf returns the flavor a connector.class selects.
func flavorOf(class string) string {
	switch class {
	case ClassMariaDB, "mariadb", "MariaDbConnector":
		return flavorMariaDB
	}
	return flavorMySQL
}

func (t *Task) connect(ctx context.Context) (*client.Conn, error) {
	o := t.o
	dctx, cancel := context.WithTimeout(ctx, o.connectTimeout)
	defer cancel()
	var d client.Dialer = (&netDialer{}).DialContext
	c, err := client.ConnectWithDialer(dctx, "tcp", fmt.Sprintf("%s:%d", o.host, o.port), o.user, o.password, "", d)
	if err != nil {
		return nil, connect.Retriable(fmt.Errorf("mysql: connect to %s:%d as %s: %w", o.host, o.port, o.user, err))
	}
	if _, err := c.Execute("SET NAMES utf8mb4"); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("mysql: set connection character set: %w", err)
	}
	if _, err := c.Execute("SET SESSION time_zone = '+00:00'"); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("mysql: set session time zone: %w", err)
	}
	return c, nil
}

func variable(c *client.Conn, name string) (string, bool, error) {
	r, err := c.Execute("SHOW GLOBAL VARIABLES LIKE '" + name + "'")
	if err != nil {
		return "", false, err
	}
	if r.RowNumber() == 0 {
		return "", false, nil
	}
	v, _ := r.GetString(0, 1)
	return v, true, nil
}

// checkServer verifies the binlog settings CDC depends on.
func (t *Task) checkServer(c *client.Conn) error {
	r, err := c.Execute("SELECT VERSION()")
	if err != nil {
		return fmt.Errorf("mysql: read server version: %w", err)
	}
	t.version, _ = r.GetString(0, 0)
	if f := detectFlavor(t.version); f != t.o.flavor {
		return connect.Errorf("connector.class", "the server is %s (%s) but the connector class is for %s; use %s", f, t.version, t.o.flavor, map[string]string{flavorMySQL: ClassMySQL, flavorMariaDB: ClassMariaDB}[f])
	}
	checks := []struct{ name, want, why string }{
		{"log_bin", "ON", "the binary log must be enabled (log-bin)"},
		{"binlog_format", "ROW", "row-based logging is required"},
		{"binlog_row_image", "FULL", "every column must be logged in both row images; MINIMAL/NOBLOB images would be decoded as false NULLs"},
		{"binlog_row_metadata", "FULL", "column names, primary keys and ENUM/SET labels are read from the binlog's row metadata"},
	}
	for _, ch := range checks {
		v, ok, err := variable(c, ch.name)
		if err != nil {
			return fmt.Errorf("mysql: read %s: %w", ch.name, err)
		}
		if !ok {
			return fmt.Errorf("mysql: the server has no %s variable; %s (MySQL >= 8.0.1 or MariaDB >= 10.5 is required)", ch.name, ch.why)
		}
		if !strings.EqualFold(v, ch.want) {
			return fmt.Errorf("mysql: %s is %s; it must be %s: %s", ch.name, v, ch.want, ch.why)
		}
	}
	if v, ok, _ := variable(c, "binlog_row_value_options"); ok && strings.Contains(strings.ToUpper(v), "PARTIAL_JSON") {
		return fmt.Errorf("mysql: binlog_row_value_options is %s; partial JSON updates cannot be decoded to full rows, set it to ''", v)
	}
	return nil
}

// binlogStatus reads the current binlog file, position and GTID set.
func (t *Task) binlogStatus(c *client.Conn) (position, error) {
	var p position
	r, err := c.Execute(binlogStatusStatement(t.o.flavor, t.version))
	if err != nil {
		return p, fmt.Errorf("mysql: read binlog position: %w", err)
	}
	if r.RowNumber() == 0 {
		return p, errors.New("mysql: the server reports no binlog position; is log-bin enabled?")
	}
	p.file, _ = r.GetString(0, 0)
	pos, _ := r.GetUint(0, 1)
	p.pos = uint32(pos)
	g, err := c.Execute(gtidStatement(t.o.flavor))
	if err == nil && g.RowNumber() > 0 {
		s, _ := g.GetString(0, 0)
		set, perr := newGTIDSet(t.o.flavor, strings.ReplaceAll(s, "\n", ""))
		if perr == nil {
			p.gtids = set.String(t.o.gtidSourceKept)
		}
	}
	p.tsSec = t.now().Unix()
	return p, nil
}

// binlogAvailable reports whether the offset's binlog file is still on the
// server.
func binlogAvailable(c *client.Conn, file string) (bool, error) {
	r, err := c.Execute("SHOW BINARY LOGS")
	if err != nil {
		return false, fmt.Errorf("mysql: SHOW BINARY LOGS: %w", err)
	}
	for i := 0; i < r.RowNumber(); i++ {
		if n, _ := r.GetString(i, 0); n == file {
			return true, nil
		}
	}
	return false, nil
}

// Open connects, checks the server, and starts the snapshot and/or binlog
// streaming in the background from the committed offset.
func (t *Task) Open(ctx context.Context, cfg map[string]string, tctx connect.SourceTaskContext) error {
	o, err := parseOptions(cfg, flavorOf(cfg["connector.class"]))
	if err != nil {
		return err
	}
	t.o = o
	t.log = tctx.Logger()
	if t.log == nil {
		t.log = slog.Default()
	}
	t.quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))
	t.partition = map[string]any{"server": o.prefix}
	t.out = make(chan []*connect.Record, max(1, o.maxQueue/o.maxBatch))
	t.errc = make(chan struct{})
	t.byName = map[string]*table{}
	t.schemaChangeSchema = o.schemaChangeValueSchema()
	t.srcConst = [3]any{DebeziumVersion, o.flavor, o.prefix}

	c, err := t.connect(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := t.checkServer(c); err != nil {
		return err
	}
	if err := t.openHistory(ctx); err != nil {
		return err
	}
	opened := false
	defer func() {
		if !opened {
			t.hist.close()
		}
	}()
	off, err := tctx.Offsets().Offset(ctx, t.partition)
	if err != nil {
		return connect.Retriable(fmt.Errorf("mysql: read committed offset: %w", err))
	}
	pos, snapshotting, hasOffset := parsePosition(off)
	available := true
	if hasOffset && !snapshotting {
		if available, err = binlogAvailable(c, pos.file); err != nil {
			return err
		}
	}
	needSnapshot := false
	switch o.snapshotMode {
	case "always":
		needSnapshot = true
	case "initial", "initial_only":
		needSnapshot = !hasOffset || snapshotting
	case "when_needed":
		needSnapshot = !hasOffset || snapshotting || !available
	case "no_data", "recovery":
		needSnapshot = false
	}
	if snapshotting && needSnapshot {
		t.log.Warn("the previous snapshot did not complete; taking it again: its records already delivered will be delivered twice", "emitted_offset", off)
	}
	t.ctx, t.stop = context.WithCancel(context.Background())
	if o.snapshotMode == "initial_only" && !needSnapshot {
		t.log.Info("initial_only snapshot already completed; nothing to do")
		opened = true
		return nil
	}
	if !needSnapshot && hasOffset && !available {
		return fmt.Errorf("%w: binlog file %s (offset %s:%d, gtids %q) is not listed by SHOW BINARY LOGS; set %s=when_needed to take a new snapshot, or reset the connector's offsets",
			ErrBinlogPurged, pos.file, pos.file, pos.pos, pos.gtids, KeySnapshotMode)
	}
	if !hasOffset && !needSnapshot || snapshotting && !needSnapshot {
		if pos, err = t.binlogStatus(c); err != nil {
			return err
		}
		t.log.Info("no committed offset and no snapshot: streaming from the current binlog position", "file", pos.file, "pos", pos.pos, "gtids", pos.gtids)
	}
	if needSnapshot {
		if hasOffset && !available {
			t.log.Warn("the binlog position in the committed offset was purged; taking a new snapshot (snapshot.mode=when_needed)", "file", pos.file, "pos", pos.pos)
		}
		t.setProgress(func(p *Progress) { p.Running = true; p.Started = t.now() })
		t.wg.Add(1)
		go func() {
			defer t.wg.Done()
			start, err := t.snapshot(t.ctx)
			if err != nil {
				t.fail(err)
				return
			}
			if o.snapshotMode == "initial_only" {
				t.log.Info("initial_only snapshot completed; not streaming")
				return
			}
			t.supervise(start)
		}()
		opened = true
		return nil
	}
	if err := t.loadSchema(ctx, c, pos, hasOffset && !snapshotting); err != nil {
		return err
	}
	if hasOffset && !snapshotting {
		t.resumeInc = restoreInc(off)
	}
	t.setProgress(func(p *Progress) { p.Skipped = true })
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		t.supervise(pos)
	}()
	opened = true
	return nil
}

// loadSchema sets the schema model for streaming from pos: recovered from
// the history topic when resuming from a committed offset, else captured
// from the current table definitions (and written to the history).
func (t *Task) loadSchema(ctx context.Context, c *client.Conn, pos position, fromOffset bool) error {
	switch {
	case fromOffset && t.hist.durable() && t.o.snapshotMode != "recovery":
		return t.recoverSchema(ctx, pos)
	case t.o.snapshotMode == "recovery":
		t.log.Warn("snapshot.mode=recovery: rebuilding the schema history from the current table definitions; rows written before a DDL that ran after the offset will not match it", "file", pos.file, "pos", pos.pos)
	case fromOffset:
		t.log.Warn("no schema history topic (" + KeyHistoryTopic + "): table definitions for schema change events come from the live database, not from the committed offset's position")
	}
	off := pos.offset()
	off[offSnapshot] = snapshotInitial // a schema-only snapshot
	return t.captureSchema(ctx, c, off)
}

func (t *Task) rememberTable(tb *table) {
	t.tblMu.Lock()
	t.byName[tb.id()] = tb
	t.tblMu.Unlock()
}

func (t *Task) tableByName(db, name string) *table {
	t.tblMu.Lock()
	defer t.tblMu.Unlock()
	return t.byName[db+"."+name]
}

// supervise streams from pos, reconnecting after connection failures.
func (t *Task) supervise(pos position) {
	s, err := newStreamer(t, pos)
	if err != nil {
		t.fail(err)
		return
	}
	s.inc = t.resumeInc
	defer s.closeSQL()
	var lostAt time.Time
	backoff := 200 * time.Millisecond
	for {
		if t.ctx.Err() != nil {
			return
		}
		syncer, st, err := s.open()
		if err == nil {
			t.syncMu.Lock()
			if t.closed.Load() {
				t.syncMu.Unlock()
				syncer.Close()
				return
			}
			t.syncer = syncer
			t.syncMu.Unlock()
			t.log.Info("streaming binlog", "file", s.start.file, "pos", s.start.pos, "gtids", s.start.gtids, "skip_events", s.start.event, "skip_rows", s.start.row)
			before := t.streamed.Load()
			err = s.run(t.ctx, st)
			t.closeSyncer()
			if t.streamed.Load() > before {
				lostAt, backoff = time.Time{}, 200*time.Millisecond
			}
		}
		if t.ctx.Err() != nil {
			return
		}
		var fatal *fatalError
		if errors.As(err, &fatal) {
			t.fail(fatal.err)
			return
		}
		if lostAt.IsZero() {
			lostAt = t.now()
		}
		if t.o.reconnectMax > 0 && t.now().Sub(lostAt) > t.o.reconnectMax {
			t.fail(connect.Retriable(fmt.Errorf("mysql: binlog stream kept failing for %s: %w", t.o.reconnectMax, err)))
			return
		}
		t.log.Warn("binlog stream interrupted; reconnecting", "error", err, "backoff", backoff)
		s.reset(s.resumePosition())
		select {
		case <-t.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// resumePosition is where a reconnect continues: after the last record
// handed out (its offset), or where the previous connection started.
func (s *streamer) resumePosition() position {
	p := s.restart()
	if s.inTx {
		p.event, p.row = s.emittedEvent, s.emittedRow
	}
	return p
}

func (t *Task) closeSyncer() {
	t.syncMu.Lock()
	s := t.syncer
	t.syncer = nil
	t.syncMu.Unlock()
	if s != nil {
		s.Close()
	}
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
		t.log.Error("mysql source task failed", "error", err)
		t.fatal.Store(&err)
		close(t.errc)
	})
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

// Commit needs no upstream acknowledgement: the binlog is read, not
// consumed, so the committed offset alone defines the restart point.
func (t *Task) Commit(context.Context, []connect.SourceOffset) error { return nil }

// Close stops the task.
func (t *Task) Close() error {
	if !t.closed.CompareAndSwap(false, true) {
		return nil
	}
	t.halt()
	return nil
}

// kill simulates a crash: everything stops without any cleanup.
func (t *Task) kill() {
	t.closed.Store(true)
	t.halt()
}

func (t *Task) halt() {
	if t.stop != nil {
		t.stop()
	}
	t.closeSyncer()
	t.syncMu.Lock()
	for _, closeFn := range t.conns {
		closeFn()
	}
	t.syncMu.Unlock()
	t.wg.Wait()
	if t.hist != nil {
		t.hist.close()
	}
}
