package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// memOffsets is an offset store that round-trips offsets through JSON, as
// the offsets topic does.
type memOffsets struct {
	mu  sync.Mutex
	raw []byte
}

func (m *memOffsets) Offset(_ context.Context, p map[string]any) (map[string]any, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.raw == nil {
		return nil, nil
	}
	var out map[string]any
	err := json.Unmarshal(m.raw, &out)
	return out, err
}

func (m *memOffsets) store(off map[string]any) {
	b, err := json.Marshal(off)
	if err != nil {
		panic(err)
	}
	m.mu.Lock()
	m.raw = b
	m.mu.Unlock()
}

type fakeCtx struct {
	offs *memOffsets
	log  *slog.Logger
}

func (f *fakeCtx) Offsets() connect.OffsetReader { return f.offs }
func (f *fakeCtx) Logger() *slog.Logger          { return f.log }
func (f *fakeCtx) ConnectorName() string         { return "pg-test" }
func (f *fakeCtx) TaskID() int                   { return 0 }

func testLogger() *slog.Logger {
	if os.Getenv("SLUICE_PG_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// env is one database on the shared server.
type env struct {
	pg   *testenv.Postgres
	db   string
	offs *memOffsets
}

var dbCounter atomic.Int32

func newEnv(t testing.TB, pg *testenv.Postgres) *env {
	t.Helper()
	db := fmt.Sprintf("db%d", dbCounter.Add(1))
	pg.Exec(t, "postgres", "CREATE DATABASE "+db)
	return &env{pg: pg, db: db, offs: &memOffsets{}}
}

func (e *env) exec(t testing.TB, sql string) { e.pg.Exec(t, e.db, sql) }

func (e *env) config(extra ...string) map[string]string {
	cfg := map[string]string{
		KeyHostname:       e.pg.Host,
		KeyPort:           strconv.Itoa(e.pg.Port),
		KeyUser:           e.pg.User,
		KeyPassword:       e.pg.Password,
		KeyDBName:         e.db,
		KeyTopicPrefix:    "srv",
		KeySlotName:       "slot_" + e.db,
		KeyStatusInterval: "200",
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	return cfg
}

func (e *env) open(t *testing.T, cfg map[string]string) *Task {
	t.Helper()
	task := NewTask()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := task.Open(ctx, cfg, &fakeCtx{offs: e.offs, log: testLogger()}); err != nil {
		t.Fatalf("open: %v", err)
	}
	return task
}

// collect polls until pred is satisfied by the accumulated records.
func collect(t *testing.T, task *Task, timeout time.Duration, pred func([]*connect.Record) bool) []*connect.Record {
	t.Helper()
	var all []*connect.Record
	deadline := time.Now().Add(timeout)
	for !pred(all) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s with %d records: %s", timeout, len(all), summary(all))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		recs, err := task.Poll(ctx)
		cancel()
		if err != nil {
			t.Fatalf("poll: %v", err)
		}
		all = append(all, recs...)
	}
	return all
}

// changes keeps only data change records (not heartbeats or tx metadata).
func changes(recs []*connect.Record, topic string) []*connect.Record {
	var out []*connect.Record
	for _, r := range recs {
		if r.Topic == topic {
			out = append(out, r)
		}
	}
	return out
}

func countTopic(topic string, n int) func([]*connect.Record) bool {
	return func(rs []*connect.Record) bool { return len(changes(rs, topic)) >= n }
}

func summary(rs []*connect.Record) string {
	s := ""
	for i, r := range rs {
		if i > 20 {
			s += "..."
			break
		}
		s += fmt.Sprintf("[%s op=%s key=%v] ", r.Topic, op(r), r.Key)
	}
	return s
}

func op(r *connect.Record) string {
	if r.Value == nil {
		return "tombstone"
	}
	st, ok := r.Value.(*connect.Struct)
	if !ok || st.Schema().Field("op") == nil {
		return ""
	}
	s, _ := st.Get("op").(string)
	return s
}

func after(r *connect.Record) *connect.Struct {
	env, _ := r.Value.(*connect.Struct)
	if env == nil {
		return nil
	}
	v, _ := env.Get("after").(*connect.Struct)
	return v
}

func before(r *connect.Record) *connect.Struct {
	env, _ := r.Value.(*connect.Struct)
	if env == nil {
		return nil
	}
	v, _ := env.Get("before").(*connect.Struct)
	return v
}

func source(r *connect.Record) *connect.Struct {
	return r.Value.(*connect.Struct).Get("source").(*connect.Struct)
}

// commit stores the last record's offset and tells the task, as the
// runtime does after Kafka acknowledged the records.
func (e *env) commit(t *testing.T, task *Task, recs []*connect.Record) {
	t.Helper()
	if len(recs) == 0 {
		return
	}
	last := recs[len(recs)-1]
	e.offs.store(last.SourceOffset)
	off, _ := e.offs.Offset(context.Background(), nil)
	if err := task.Commit(context.Background(), []connect.SourceOffset{{Partition: last.SourcePartition, Offset: off}}); err != nil {
		t.Fatalf("commit: %v", err)
	}
}

func (e *env) query(t testing.TB, sql string, dest ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, e.pg.DSN(e.db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

func (e *env) slotFlushLSN(t testing.TB, slot string) uint64 {
	var s string
	e.query(t, "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = '"+slot+"'", &s)
	var hi, lo uint64
	fmt.Sscanf(s, "%X/%X", &hi, &lo)
	return hi<<32 | lo
}

// intOf returns an integer field of a struct as int64.
func intOf(st *connect.Struct, f string) int64 {
	switch v := st.Get(f).(type) {
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case int64:
		return v
	}
	return -1 << 62
}
