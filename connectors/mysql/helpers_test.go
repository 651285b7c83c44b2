package mysql

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

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// memOffsets is an offset store that round-trips offsets through JSON, as
// the offsets topic does.
type memOffsets struct {
	mu  sync.Mutex
	raw []byte
}

func (m *memOffsets) Offset(_ context.Context, _ map[string]any) (map[string]any, error) {
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
func (f *fakeCtx) ConnectorName() string         { return "mysql-test" }
func (f *fakeCtx) TaskID() int                   { return 0 }

func testLogger() *slog.Logger {
	if os.Getenv("SLUICE_MYSQL_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

var (
	sharedOnce sync.Once
	sharedDB   *testenv.MariaDB
	dbCounter  atomic.Int32
	sidCounter atomic.Int32
)

// sharedServer returns the package's shared MariaDB (tests use their own
// databases on it); tests that restart or reconfigure the server start
// their own.
func sharedServer(t *testing.T) *testenv.MariaDB {
	t.Helper()
	sharedOnce.Do(func() { sharedDB = testenv.StartMariaDB(&onceTB{T: t}) })
	if sharedDB == nil {
		t.Skip("shared MariaDB did not start")
	}
	return sharedDB
}

// onceTB lets the shared server outlive the first test that starts it:
// cleanups run when the test binary exits (TestMain).
type onceTB struct{ *testing.T }

var sharedCleanups []func()

func (o *onceTB) Cleanup(f func()) { sharedCleanups = append(sharedCleanups, f) }

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(sharedCleanups) - 1; i >= 0; i-- {
		sharedCleanups[i]()
	}
	os.Exit(code)
}

// env is one database on a server.
type env struct {
	m    *testenv.MariaDB
	db   string
	offs *memOffsets
}

func newEnv(t *testing.T, m *testenv.MariaDB) *env {
	t.Helper()
	db := fmt.Sprintf("db%d", dbCounter.Add(1))
	m.Query(t, "CREATE DATABASE "+db)
	return &env{m: m, db: db, offs: &memOffsets{}}
}

func (e *env) exec(t testing.TB, sql string) { e.m.Query(t, "USE "+e.db+"; "+sql) }

func (e *env) config(extra ...string) map[string]string {
	cfg := map[string]string{
		"connector.class":  ClassMariaDB,
		KeyHostname:        e.m.Host,
		KeyPort:            strconv.Itoa(e.m.Port),
		KeyUser:            e.m.User,
		KeyPassword:        e.m.Password,
		KeyServerID:        strconv.Itoa(1000 + int(sidCounter.Add(1))),
		KeyTopicPrefix:     "srv",
		KeyDatabaseInclude: e.db,
	}
	for i := 0; i+1 < len(extra); i += 2 {
		cfg[extra[i]] = extra[i+1]
	}
	return cfg
}

func (e *env) open(t *testing.T, cfg map[string]string) *Task {
	t.Helper()
	task, err := e.tryOpen(cfg)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return task
}

func (e *env) tryOpen(cfg map[string]string) (*Task, error) {
	task := NewTask()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := task.Open(ctx, cfg, &fakeCtx{offs: e.offs, log: testLogger()}); err != nil {
		return nil, err
	}
	return task, nil
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

// pollErr polls until the task reports an error.
func pollErr(t *testing.T, task *Task, timeout time.Duration) error {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		_, err := task.Poll(ctx)
		cancel()
		if err != nil {
			return err
		}
	}
	t.Fatalf("no error after %s", timeout)
	return nil
}

func changes(recs []*connect.Record, topic string) []*connect.Record {
	var out []*connect.Record
	for _, r := range recs {
		if r.Topic == topic && r.Value != nil {
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
			return s + " ..."
		}
		s += fmt.Sprintf("\n  %s %v", r.Topic, r.Value)
	}
	return s
}

func env0(r *connect.Record) *connect.Struct { return r.Value.(*connect.Struct) }

func after(r *connect.Record) *connect.Struct {
	v, _ := env0(r).Get("after").(*connect.Struct)
	return v
}

func before(r *connect.Record) *connect.Struct {
	v, _ := env0(r).Get("before").(*connect.Struct)
	return v
}

func op(r *connect.Record) string { return env0(r).Get("op").(string) }

func source(r *connect.Record) *connect.Struct { return env0(r).Get("source").(*connect.Struct) }
