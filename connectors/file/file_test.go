package file

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// offsets is a fake offsets store keyed by the JSON of the partition; values
// go through a JSON round trip like the real offsets topic.
type offsets map[string][]byte

func (o offsets) Offset(ctx context.Context, p map[string]any) (map[string]any, error) {
	k, _ := json.Marshal(p)
	b, ok := o[string(k)]
	if !ok {
		return nil, nil
	}
	var m map[string]any
	return m, json.Unmarshal(b, &m)
}

func (o offsets) commit(r *connect.Record) {
	k, _ := json.Marshal(r.SourcePartition)
	v, _ := json.Marshal(r.SourceOffset)
	o[string(k)] = v
}

type srcCtx struct{ offs offsets }

func (c srcCtx) Offsets() connect.OffsetReader { return c.offs }
func (c srcCtx) Logger() *slog.Logger          { return slog.New(slog.DiscardHandler) }
func (c srcCtx) ConnectorName() string         { return "src" }
func (c srcCtx) TaskID() int                   { return 0 }

func openSource(t *testing.T, cfg map[string]string, offs offsets, opts ...Option) *SourceTask {
	t.Helper()
	p := SourcePlugin(opts...)
	c := p.New().(connect.SourceConnector)
	if err := c.Start(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	tcs, err := c.TaskConfigs(4)
	if err != nil || len(tcs) != 1 {
		t.Fatalf("TaskConfigs = %v, %v", tcs, err)
	}
	task := c.NewTask().(*SourceTask)
	if err := task.Open(context.Background(), tcs[0], srcCtx{offs}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Close() })
	return task
}

// pollN polls until n records arrived or the deadline passes.
func pollN(t *testing.T, task *SourceTask, n int) []*connect.Record {
	t.Helper()
	var out []*connect.Record
	deadline := time.Now().Add(5 * time.Second)
	for len(out) < n && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		recs, err := task.Poll(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, recs...)
	}
	if len(out) != n {
		t.Fatalf("got %d records, want %d", len(out), n)
	}
	return out
}

func values(recs []*connect.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Value.(string))
	}
	return out
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func TestSourceTailResumeAndPartialLine(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.txt")
	appendFile(t, path, "one\ntwo\r\nthr")
	cfg := map[string]string{"file": path, "topic": "lines", "batch.size": "10", "poll.interval.ms": "10"}
	offs := offsets{}

	task := openSource(t, cfg, offs)
	recs := pollN(t, task, 2)
	if got := values(recs); strings.Join(got, "|") != "one|two" {
		t.Fatalf("values %q", got)
	}
	for i, r := range recs {
		if r.Topic != "lines" || r.ValueSchema != connect.StringSchema || r.SourcePartition["filename"] != path {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if p := recs[1].SourceOffset["position"]; p != int64(len("one\ntwo\r\n")) {
		t.Fatalf("position after two = %v", p)
	}
	// The partial line "thr" is not emitted.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	if extra, _ := task.Poll(ctx); len(extra) != 0 {
		t.Fatalf("partial line emitted: %q", values(extra))
	}
	cancel()
	// Complete it and append more while the task tails.
	appendFile(t, path, "ee\nfour\n")
	recs2 := pollN(t, task, 2)
	if got := values(recs2); strings.Join(got, "|") != "three|four" {
		t.Fatalf("values %q", got)
	}
	// Commit only up to "three", then restart: "four" comes again, nothing
	// before it.
	offs.commit(recs2[0])
	task.Close()
	appendFile(t, path, "five\n")

	task2 := openSource(t, cfg, offs)
	recs3 := pollN(t, task2, 2)
	if got := values(recs3); strings.Join(got, "|") != "four|five" {
		t.Fatalf("after restart %q", got)
	}
	st, _ := os.Stat(path)
	if p := recs3[1].SourceOffset["position"]; p != st.Size() {
		t.Fatalf("final position %v, file size %d", p, st.Size())
	}
}

func TestSourceBatchSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	var sb strings.Builder
	for i := 0; i < 25; i++ {
		sb.WriteString("line\n")
	}
	appendFile(t, path, sb.String())
	task := openSource(t, map[string]string{"file": path, "topic": "t", "batch.size": "10", "poll.interval.ms": "10"}, offsets{})
	recs, err := task.Poll(context.Background())
	if err != nil || len(recs) != 10 {
		t.Fatalf("first poll %d records, %v", len(recs), err)
	}
	pollN(t, task, 15)
}

func TestSourceTruncatedFileRestartsFromStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	appendFile(t, path, "a\n")
	offs := offsets{}
	k, _ := json.Marshal(map[string]any{"filename": path})
	offs[string(k)] = []byte(`{"position":100}`)
	task := openSource(t, map[string]string{"file": path, "topic": "t", "poll.interval.ms": "10"}, offs)
	if got := values(pollN(t, task, 1)); got[0] != "a" {
		t.Fatalf("got %q", got)
	}
}

func TestSourceStdin(t *testing.T) {
	pr, pw := io.Pipe()
	task := openSource(t, map[string]string{"topic": "t", "poll.interval.ms": "10"}, offsets{}, WithStdin(pr))
	go func() {
		pw.Write([]byte("x\ny"))
		pw.Write([]byte("\nz"))
		pw.Close()
	}()
	recs := pollN(t, task, 2)
	if got := values(recs); strings.Join(got, "|") != "x|y" {
		t.Fatalf("got %q", got)
	}
	if recs[0].SourcePartition != nil || recs[0].SourceOffset != nil {
		t.Fatalf("stdin records carry offsets: %+v", recs[0])
	}
	// "z" has no newline and stdin ended: it is never emitted.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if extra, err := task.Poll(ctx); err != nil || len(extra) != 0 {
		t.Fatalf("after EOF: %v %v", extra, err)
	}
}

func TestSourceConfigErrors(t *testing.T) {
	tests := []struct {
		cfg map[string]string
		key string
	}{
		{map[string]string{"file": "x"}, "topic"},
		{map[string]string{"file": "x", "topic": ""}, "topic"},
		{map[string]string{"file": "x", "topic": "t", "batch.size": "0"}, "batch.size"},
		{map[string]string{"file": "x", "topic": "t", "batch.size": "many"}, "batch.size"},
	}
	for _, tt := range tests {
		errs := SourceConfigDef().Errors(tt.cfg)
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tt.key) {
			t.Errorf("%v: errors %v, want one naming %s", tt.cfg, errs, tt.key)
		}
	}
	// A directory opens but cannot be read: Poll fails naming the path.
	dir := t.TempDir()
	task := openSource(t, map[string]string{"file": dir, "topic": "t", "poll.interval.ms": "10"}, offsets{})
	if _, err := task.Poll(context.Background()); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("poll directory: %v", err)
	}
}

func TestSourceWaitsForFileAndHandlesTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "later.txt")
	offs := offsets{}
	task := openSource(t, map[string]string{"file": path, "topic": "t", "poll.interval.ms": "10"}, offs)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	if recs, err := task.Poll(ctx); err != nil || len(recs) != 0 {
		t.Fatalf("poll before the file exists: %v %v", recs, err)
	}
	cancel()
	appendFile(t, path, "a\nb\n")
	if got := values(pollN(t, task, 2)); strings.Join(got, "|") != "a|b" {
		t.Fatalf("got %q", got)
	}
	// Truncate and rewrite a shorter file: it is read again from the start.
	if err := os.WriteFile(path, []byte("c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	recs := pollN(t, task, 1)
	if recs[0].Value != "c" || recs[0].SourceOffset["position"] != int64(2) {
		t.Fatalf("after truncation: %+v", recs[0])
	}
}

type sinkCtx struct{}

func (sinkCtx) Assignment() []connect.TopicPartition  { return nil }
func (sinkCtx) Seek(map[connect.TopicPartition]int64) {}
func (sinkCtx) RequestCommit()                        {}
func (sinkCtx) Pause(...connect.TopicPartition)       {}
func (sinkCtx) Resume(...connect.TopicPartition)      {}
func (sinkCtx) Logger() *slog.Logger                  { return slog.New(slog.DiscardHandler) }
func (sinkCtx) ConnectorName() string                 { return "snk" }
func (sinkCtx) TaskID() int                           { return 0 }

func TestSinkWritesLinesAndFlushes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	c := SinkPlugin().New().(connect.SinkConnector)
	if err := c.Start(context.Background(), map[string]string{"file": path}); err != nil {
		t.Fatal(err)
	}
	task := c.NewTask()
	if err := task.Open(context.Background(), map[string]string{"file": path}, sinkCtx{}); err != nil {
		t.Fatal(err)
	}
	schema := connect.NewStruct().Field("id", connect.Int32Schema).Field("name", connect.StringSchema).Build()
	st := connect.NewStructValue(schema).Set("id", int32(7)).Set("name", "x")
	dec := connect.Decimal{Unscaled: big.NewInt(1234), Scale: 2}
	recs := []*connect.Record{
		{Topic: "t", Partition: 0, Offset: 0, Value: "plain"},
		{Topic: "t", Partition: 0, Offset: 1, Value: st},
		{Topic: "t", Partition: 0, Offset: 2, Value: map[string]any{"a": int64(1)}},
		{Topic: "t", Partition: 0, Offset: 3, Value: nil},
		{Topic: "t", Partition: 0, Offset: 4, Value: []byte("bytes")},
		{Topic: "t", Partition: 0, Offset: 5, Value: dec},
	}
	if err := task.Put(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	tp := connect.TopicPartition{Topic: "t", Partition: 0}
	got, err := task.Flush(context.Background(), map[connect.TopicPartition]int64{tp: 6})
	if err != nil || got[tp] != 6 || len(got) != 1 {
		t.Fatalf("Flush = %v, %v", got, err)
	}
	// After Flush the data is in the file (before Close).
	b, _ := os.ReadFile(path)
	want := "plain\n{\"id\":7,\"name\":\"x\"}\n{\"a\":1}\nnull\nbytes\n12.34\n"
	if string(b) != want {
		t.Fatalf("file %q, want %q", b, want)
	}
	if err := task.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSinkStdoutAndLog(t *testing.T) {
	var out bytes.Buffer
	task := SinkPlugin(WithStdout(&out)).New().(connect.SinkConnector).NewTask()
	if err := task.Open(context.Background(), map[string]string{}, sinkCtx{}); err != nil {
		t.Fatal(err)
	}
	task.Put(context.Background(), []*connect.Record{{Value: "hello"}})
	if _, err := task.Flush(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello\n" {
		t.Fatalf("stdout %q", out.String())
	}
	lc := LogSinkPlugin().New().(connect.SinkConnector)
	if err := lc.Start(context.Background(), map[string]string{}); err != nil {
		t.Fatal(err)
	}
	if tcs, _ := lc.TaskConfigs(3); len(tcs) != 3 {
		t.Fatalf("log sink task configs %d", len(tcs))
	}
	lt := lc.NewTask()
	if err := lt.Open(context.Background(), nil, sinkCtx{}); err != nil {
		t.Fatal(err)
	}
	if err := lt.Put(context.Background(), []*connect.Record{{Value: "x"}}); err != nil {
		t.Fatal(err)
	}
}

func TestPluginsMetadata(t *testing.T) {
	for _, p := range Plugins() {
		if p.Class == "" || (p.Type != "source" && p.Type != "sink") || p.New == nil {
			t.Fatalf("plugin %+v", p)
		}
	}
	if !SourcePlugin().Matches("file-source") || !SinkPlugin().Matches("file-sink") || !LogSinkPlugin().Matches("log") {
		t.Fatal("aliases")
	}
}

func TestSinkCutsTornLine(t *testing.T) {
	tests := []struct{ name, before, after string }{
		{"torn tail", "ok\ntor", "ok\nnext\n"},
		{"only a torn line", "tor", "next\n"},
		{"whole lines", "ok\n", "ok\nnext\n"},
		{"torn tail longer than a read chunk", "ok\n" + strings.Repeat("x", 70<<10), "ok\nnext\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { testSinkCutsTornLine(t, tt.before, tt.after) })
	}
}

func testSinkCutsTornLine(t *testing.T, before, after string) {
	path := filepath.Join(t.TempDir(), "out.txt")
	if err := os.WriteFile(path, []byte(before), 0o644); err != nil {
		t.Fatal(err)
	}
	task := SinkPlugin().New().(connect.SinkConnector).NewTask()
	if err := task.Open(context.Background(), map[string]string{"file": path}, sinkCtx{}); err != nil {
		t.Fatal(err)
	}
	defer task.Close()
	if err := task.Put(context.Background(), []*connect.Record{{Value: "next"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := task.Flush(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != after {
		t.Fatalf("file %q, want %q", b, after)
	}
}
