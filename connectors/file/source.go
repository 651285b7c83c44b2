// Package file holds sluice's built-in test connectors, compatible with
// Kafka's FileStream connectors: FileStreamSource tails a text file (or
// stdin) and produces one string record per line; FileStreamSink writes one
// line per record to a file (or stdout). A "log" sink logs records via
// slog. They exist for demos and end-to-end tests of the runtime.
package file

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Class names, as in Apache Kafka.
const (
	SourceClass = "org.apache.kafka.connect.file.FileStreamSourceConnector"
	SinkClass   = "org.apache.kafka.connect.file.FileStreamSinkConnector"
	// LogSinkClass is sluice's record-logging sink.
	LogSinkClass = "io.sluice.connect.log.LogSinkConnector"
)

// Version is reported by /connector-plugins.
const Version = "1.0.0"

// Configuration keys.
const (
	FileConfig      = "file"
	TopicConfig     = "topic"
	BatchSizeConfig = "batch.size"
	// PollIntervalConfig is how long Poll waits for new data at end of file.
	PollIntervalConfig = "poll.interval.ms"
)

// Source partition and offset keys, as in Kafka's FileStreamSourceTask.
const (
	FilenameField = "filename"
	PositionField = "position"
)

type options struct {
	stdin  io.Reader
	stdout io.Writer
}

// Option configures the plugins (for tests: replace stdin and stdout).
type Option func(*options)

// WithStdin sets the reader a source with an empty file reads (default
// os.Stdin).
func WithStdin(r io.Reader) Option { return func(o *options) { o.stdin = r } }

// WithStdout sets the writer a sink with an empty file writes (default
// os.Stdout).
func WithStdout(w io.Writer) Option { return func(o *options) { o.stdout = w } }

func newOptions(opts []Option) options {
	o := options{stdin: os.Stdin, stdout: os.Stdout}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// SourcePlugin returns the FileStreamSource plugin (alias "file-source").
func SourcePlugin(opts ...Option) connect.Plugin {
	o := newOptions(opts)
	return connect.Plugin{
		Class:   SourceClass,
		Aliases: []string{"file-source", "FileStreamSource", "FileStreamSourceConnector"},
		Type:    "source",
		Version: Version,
		New:     func() connect.Connector { return &SourceConnector{o: o} },
	}
}

// Plugins returns every plugin of this package.
func Plugins(opts ...Option) []connect.Plugin {
	return []connect.Plugin{SourcePlugin(opts...), SinkPlugin(opts...), LogSinkPlugin()}
}

// SourceConfigDef declares the source's configuration.
func SourceConfigDef() connect.ConfigDef { return (&sourceOptions{}).Keys() }

// SourceConnector is the FileStreamSource connector. It always runs one
// task.
type SourceConnector struct {
	o   options
	cfg connect.Config
}

// ConfigDef implements connect.Connector.
func (c *SourceConnector) ConfigDef() connect.ConfigDef { return SourceConfigDef() }

// Start implements connect.Connector.
func (c *SourceConnector) Start(ctx context.Context, cfg map[string]string) error {
	p, err := connect.Bind(cfg, &sourceOptions{})
	if err != nil {
		return err
	}
	c.cfg = p
	return nil
}

// TaskConfigs implements connect.Connector: one task, whatever maxTasks.
func (c *SourceConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	t := make(map[string]string, len(c.cfg))
	for k, v := range c.cfg {
		t[k] = v
	}
	return []map[string]string{t}, nil
}

// Stop implements connect.Connector.
func (c *SourceConnector) Stop() error { return nil }

// NewTask implements connect.SourceConnector.
func (c *SourceConnector) NewTask() connect.SourceTask { return &SourceTask{o: c.o} }

// SourceTask tails one file. Each complete line becomes one record whose
// source offset is the byte position just after the line's newline, so a
// restart from a committed offset resumes exactly after the last committed
// line. A trailing partial line is held back until its newline arrives.
type SourceTask struct {
	o         options
	topic     string
	filename  string // "" for stdin
	batchSize int
	interval  time.Duration

	f        *os.File
	pos      int64  // file position of buf[0]
	buf      []byte // bytes read but not yet emitted (starts at a line boundary)
	eof      bool   // stdin ended
	chunks   chan []byte
	stdinErr chan error
	readBuf  []byte

	log           *slog.Logger
	offsets       connect.OffsetReader
	warnedMissing bool

	closeOnce sync.Once
	done      chan struct{}
}

// Open implements connect.SourceTask.
func (t *SourceTask) Open(ctx context.Context, cfg map[string]string, tctx connect.SourceTaskContext) error {
	var o sourceOptions
	if _, err := connect.Bind(cfg, &o); err != nil {
		return err
	}
	t.topic, t.filename, t.batchSize, t.interval = o.topic, o.filename, o.batchSize, o.interval
	t.readBuf = make([]byte, 64<<10)
	t.done = make(chan struct{})
	log := tctx.Logger()
	if t.filename == "" {
		t.chunks = make(chan []byte, 16)
		t.stdinErr = make(chan error, 1)
		go t.readStdin()
		log.Info("file source reading stdin", "topic", t.topic)
		return nil
	}
	t.log = log
	t.offsets = tctx.Offsets()
	if err := t.openFile(ctx); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// openFile opens the file and seeks to the committed position. A missing
// file is reported (once) and retried by Poll, as Kafka's FileStreamSource
// waits for the file to appear.
func (t *SourceTask) openFile(ctx context.Context) error {
	f, err := os.Open(t.filename)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if !t.warnedMissing {
				t.log.Warn("file source: file does not exist yet; waiting for it", "file", t.filename)
				t.warnedMissing = true
			}
			return err
		}
		return fmt.Errorf("file source: open %s (config %q): %w", t.filename, FileConfig, err)
	}
	off, err := t.offsets.Offset(ctx, t.partition())
	if err != nil {
		f.Close()
		return fmt.Errorf("file source: read committed offset: %w", err)
	}
	var pos int64
	if off != nil {
		if pos, err = position(off[PositionField]); err != nil {
			f.Close()
			return fmt.Errorf("file source: committed offset for %s: %w", t.filename, err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return err
		}
		if pos > st.Size() {
			// The file was truncated or replaced: start over rather than
			// skip data (at-least-once).
			t.log.Warn("file source: committed position beyond end of file, reading from the start",
				"file", t.filename, "position", pos, "size", st.Size())
			pos = 0
		}
		if _, err := f.Seek(pos, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("file source: seek %s to %d: %w", t.filename, pos, err)
		}
		t.log.Info("file source resuming", "file", t.filename, "position", pos)
	} else {
		t.log.Info("file source starting at the beginning", "file", t.filename)
	}
	t.f, t.pos, t.buf = f, pos, nil
	return nil
}

// checkTruncated restarts from the beginning when the file shrank below
// the read position (truncated or replaced while tailed).
func (t *SourceTask) checkTruncated() error {
	st, err := os.Stat(t.filename)
	if err != nil {
		return nil // removed: keep the open handle, nothing more to read
	}
	readPos := t.pos + int64(len(t.buf))
	if st.Size() >= readPos {
		return nil
	}
	t.log.Warn("file source: file shrank below the read position, reading it again from the start",
		"file", t.filename, "position", readPos, "size", st.Size())
	f, err := os.Open(t.filename)
	if err != nil {
		return fmt.Errorf("file source: reopen %s: %w", t.filename, err)
	}
	t.f.Close()
	t.f, t.pos, t.buf = f, 0, nil
	return nil
}

func (t *SourceTask) partition() map[string]any {
	return map[string]any{FilenameField: t.filename}
}

// position converts a committed offset value (a JSON number after a round
// trip through the offsets topic) to an int64.
func position(v any) (int64, error) {
	switch x := v.(type) {
	case int64:
		return x, nil
	case int:
		return int64(x), nil
	case int32:
		return int64(x), nil
	case float64:
		if x < 0 || x != math.Trunc(x) || x > math.MaxInt64 {
			return 0, fmt.Errorf("%s %v is not a non-negative integer", PositionField, x)
		}
		return int64(x), nil
	case json.Number:
		n, err := x.Int64()
		if err != nil {
			return 0, fmt.Errorf("%s %v is not an integer", PositionField, x)
		}
		return n, nil
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s %q is not an integer", PositionField, x)
		}
		return n, nil
	default:
		return 0, fmt.Errorf("%s has type %T, want a number", PositionField, v)
	}
}

func (t *SourceTask) readStdin() {
	for {
		b := make([]byte, 64<<10)
		n, err := t.o.stdin.Read(b)
		if n > 0 {
			select {
			case t.chunks <- b[:n]:
			case <-t.done:
				return
			}
		}
		if err != nil {
			t.stdinErr <- err
			close(t.chunks)
			return
		}
	}
}

// Poll implements connect.SourceTask.
func (t *SourceTask) Poll(ctx context.Context) ([]*connect.Record, error) {
	for {
		if recs := t.lines(); len(recs) > 0 {
			return recs, nil
		}
		if t.eof {
			// stdin closed: nothing more will come.
			select {
			case <-ctx.Done():
				return nil, nil
			case <-time.After(t.interval):
				return nil, nil
			}
		}
		got, err := t.fill(ctx)
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, nil
		}
		if !got {
			select {
			case <-ctx.Done():
				return nil, nil
			case <-time.After(t.interval):
				return nil, nil // let the runtime check for pause/stop
			}
		}
	}
}

// fill reads more bytes into buf; it reports whether any arrived.
func (t *SourceTask) fill(ctx context.Context) (bool, error) {
	if t.filename != "" && t.f == nil {
		if err := t.openFile(ctx); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return false, nil
			}
			return false, err
		}
	}
	if t.f == nil {
		select {
		case b, ok := <-t.chunks:
			if !ok {
				t.eof = true
				if err := <-t.stdinErr; err != nil && err != io.EOF {
					return false, fmt.Errorf("file source: read stdin: %w", err)
				}
				return false, nil
			}
			t.buf = append(t.buf, b...)
			return true, nil
		case <-ctx.Done():
			return false, nil
		case <-time.After(t.interval):
			return false, nil
		}
	}
	n, err := t.f.Read(t.readBuf)
	if n > 0 {
		t.buf = append(t.buf, t.readBuf[:n]...)
	}
	if err != nil && err != io.EOF {
		return n > 0, fmt.Errorf("file source: read %s: %w", t.filename, err)
	}
	if n == 0 {
		return false, t.checkTruncated()
	}
	return true, nil
}

// lines cuts up to batchSize complete lines off buf into records.
func (t *SourceTask) lines() []*connect.Record {
	var recs []*connect.Record
	for len(recs) < t.batchSize {
		i := bytes.IndexByte(t.buf, '\n')
		if i < 0 {
			break
		}
		line := t.buf[:i]
		line = bytes.TrimSuffix(line, []byte{'\r'})
		t.pos += int64(i + 1)
		r := &connect.Record{
			Topic:       t.topic,
			Partition:   -1,
			ValueSchema: connect.StringSchema,
			Value:       string(line),
		}
		if t.filename != "" {
			r.SourcePartition = t.partition()
			r.SourceOffset = map[string]any{PositionField: t.pos}
		}
		recs = append(recs, r)
		t.buf = t.buf[i+1:]
	}
	if len(t.buf) == 0 {
		t.buf = t.buf[:0:0] // let the old backing array go
	}
	return recs
}

// Commit implements connect.SourceTask. The file is never modified, so
// there is nothing to acknowledge.
func (t *SourceTask) Commit(ctx context.Context, offsets []connect.SourceOffset) error { return nil }

// Close implements connect.SourceTask.
func (t *SourceTask) Close() error {
	var err error
	t.closeOnce.Do(func() {
		if t.done != nil {
			close(t.done)
		}
		if t.f != nil {
			err = t.f.Close()
		}
	})
	return err
}
