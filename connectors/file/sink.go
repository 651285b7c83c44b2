package file

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	"log/slog"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/runtime/connect"
)

// SinkPlugin returns the FileStreamSink plugin (alias "file-sink").
func SinkPlugin(opts ...Option) connect.Plugin {
	o := newOptions(opts)
	return connect.Plugin{
		Class:   SinkClass,
		Aliases: []string{"file-sink", "FileStreamSink", "FileStreamSinkConnector"},
		Type:    "sink",
		Version: Version,
		New:     func() connect.Connector { return &SinkConnector{o: o} },
	}
}

// LogSinkPlugin returns the "log" sink, which logs every record via slog.
func LogSinkPlugin() connect.Plugin {
	return connect.Plugin{
		Class:   LogSinkClass,
		Aliases: []string{"log", "log-sink"},
		Type:    "sink",
		Version: Version,
		New:     func() connect.Connector { return &SinkConnector{logOnly: true} },
	}
}

// SinkConfigDef declares the file sink's configuration.
func SinkConfigDef() connect.ConfigDef { return (&sinkOptions{}).Keys() }

// SinkConnector is the FileStreamSink connector (or the log sink).
type SinkConnector struct {
	o       options
	logOnly bool
	cfg     connect.Config
}

// ConfigDef implements connect.Connector.
func (c *SinkConnector) ConfigDef() connect.ConfigDef { return c.options().Keys() }

// options returns a fresh configuration to bind: none for the log sink.
func (c *SinkConnector) options() connect.Options {
	if c.logOnly {
		return noOptions{}
	}
	return &sinkOptions{}
}

// Start implements connect.Connector.
func (c *SinkConnector) Start(ctx context.Context, cfg map[string]string) error {
	p, err := connect.Bind(cfg, c.options())
	if err != nil {
		return err
	}
	c.cfg = p
	return nil
}

// TaskConfigs implements connect.Connector. The file sink runs one task
// (several tasks appending to one file would interleave lines); the log
// sink runs maxTasks.
func (c *SinkConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	n := 1
	if c.logOnly && maxTasks > 1 {
		n = maxTasks
	}
	out := make([]map[string]string, n)
	for i := range out {
		t := make(map[string]string, len(c.cfg))
		for k, v := range c.cfg {
			t[k] = v
		}
		out[i] = t
	}
	return out, nil
}

// Stop implements connect.Connector.
func (c *SinkConnector) Stop() error { return nil }

// NewTask implements connect.SinkConnector.
func (c *SinkConnector) NewTask() connect.SinkTask {
	return &SinkTask{o: c.o, logOnly: c.logOnly}
}

// SinkTask appends one line per record value. Flush writes and fsyncs the
// file before returning the offsets it was given, so committed offsets
// always cover data on disk (at-least-once: after a crash, records after
// the last commit are written again). Writes always end at a line
// boundary, so a crash cannot leave half a line for the next owner to
// continue.
type SinkTask struct {
	o       options
	logOnly bool
	log     *slog.Logger
	name    string

	f   *os.File
	out io.Writer
	buf []byte // whole lines not yet written
}

// sinkWriteThreshold is how much Put buffers before writing.
const sinkWriteThreshold = 1 << 20

// Open implements connect.SinkTask.
func (t *SinkTask) Open(ctx context.Context, cfg map[string]string, tctx connect.SinkTaskContext) error {
	t.log = tctx.Logger()
	if t.logOnly {
		return nil
	}
	var o sinkOptions
	if _, err := connect.Bind(cfg, &o); err != nil {
		return err
	}
	t.name = o.filename
	if t.name == "" {
		t.log.Info("file sink writing to stdout")
		t.out = t.o.stdout
		return nil
	}
	f, err := os.OpenFile(t.name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("file sink: open %s (config %q): %w", t.name, FileConfig, err)
	}
	t.f = f
	t.out = f
	if err := t.repairTail(); err != nil {
		f.Close()
		return err
	}
	t.log.Info("file sink appending", "file", t.name)
	return nil
}

// repairTail cuts a torn last line (a write a crash interrupted) back to
// the last newline. Those bytes were never committed: every flush fsyncs
// whole lines before its offsets are committed, so the records they came
// from are delivered again and written whole.
func (t *SinkTask) repairTail() error {
	st, err := t.f.Stat()
	if err != nil || st.Size() == 0 || !st.Mode().IsRegular() {
		return err
	}
	r, err := os.Open(t.name)
	if err != nil {
		return err
	}
	defer r.Close()
	size := st.Size()
	keep := int64(0) // length up to and including the last newline
	buf := make([]byte, 64<<10)
	for end := size; end > 0 && keep == 0; {
		start := max(end-int64(len(buf)), 0)
		chunk := buf[:end-start]
		if _, err := r.ReadAt(chunk, start); err != nil {
			return fmt.Errorf("file sink: read %s: %w", t.name, err)
		}
		if i := bytes.LastIndexByte(chunk, '\n'); i >= 0 {
			keep = start + int64(i) + 1
		}
		end = start
	}
	if keep == size {
		return nil
	}
	t.log.Warn("file sink: cutting incomplete last line left by a crash", "file", t.name, "bytes", size-keep)
	if err := t.f.Truncate(keep); err != nil {
		return fmt.Errorf("file sink: truncate %s: %w", t.name, err)
	}
	return t.f.Sync()
}

// Assign implements connect.SinkTask.
func (t *SinkTask) Assign(ctx context.Context, partitions []connect.TopicPartition) error {
	return nil
}

// Put implements connect.SinkTask.
func (t *SinkTask) Put(ctx context.Context, records []*connect.Record) error {
	for _, r := range records {
		line, err := FormatValue(r.Value)
		if err != nil {
			tp, off := r.KafkaCoordinates()
			return fmt.Errorf("file sink: record %s-%d@%d: %w", tp.Topic, tp.Partition, off, err)
		}
		if t.logOnly {
			tp, off := r.KafkaCoordinates()
			t.log.Info("record", "topic", tp.Topic, "partition", tp.Partition, "offset", off,
				"key", fmt.Sprint(r.Key), "value", line)
			continue
		}
		t.buf = append(t.buf, line...)
		t.buf = append(t.buf, '\n')
	}
	if len(t.buf) >= sinkWriteThreshold {
		return t.write()
	}
	return nil
}

// write writes the buffered lines in one call.
func (t *SinkTask) write() error {
	if len(t.buf) == 0 || t.out == nil {
		return nil
	}
	if _, err := t.out.Write(t.buf); err != nil {
		return fmt.Errorf("file sink: write %s: %w", t.name, err)
	}
	t.buf = t.buf[:0]
	return nil
}

// Flush implements connect.SinkTask: everything handed to Put is made
// durable, then current is returned unchanged.
func (t *SinkTask) Flush(ctx context.Context, current map[connect.TopicPartition]int64) (map[connect.TopicPartition]int64, error) {
	if err := t.write(); err != nil {
		return nil, err
	}
	if t.f != nil {
		if err := t.f.Sync(); err != nil {
			return nil, fmt.Errorf("file sink: fsync %s: %w", t.name, err)
		}
	}
	return current, nil
}

// Revoke implements connect.SinkTask. Flush ran before, so nothing is
// buffered.
func (t *SinkTask) Revoke(ctx context.Context, partitions []connect.TopicPartition) error {
	return nil
}

// Close implements connect.SinkTask. Unflushed data is written but its
// offsets were not committed, so it will be delivered again.
func (t *SinkTask) Close() error {
	err := t.write()
	if t.f != nil {
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// FormatValue renders a record value as one line: strings as they are,
// nil as "null", []byte as text when valid UTF-8 (else base64), and other
// values (structs, maps, arrays, numbers) as JSON.
func FormatValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		return x, nil
	case []byte:
		if utf8.Valid(x) {
			return string(x), nil
		}
		return base64.StdEncoding.EncodeToString(x), nil
	}
	j, err := jsonable(v)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(j); err != nil {
		return "", err
	}
	return strings.TrimSuffix(sb.String(), "\n"), nil
}

// orderedObject encodes struct fields in schema order.
type orderedObject struct {
	keys []string
	vals []any
}

func (o orderedObject) MarshalJSON() ([]byte, error) {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		sb.Write(kb)
		sb.WriteByte(':')
		vb, err := json.Marshal(o.vals[i])
		if err != nil {
			return nil, err
		}
		sb.Write(vb)
	}
	sb.WriteByte('}')
	return []byte(sb.String()), nil
}

// jsonable converts connect values to values encoding/json renders.
func jsonable(v any) (any, error) {
	switch x := v.(type) {
	case *connect.Struct:
		if x == nil {
			return nil, nil
		}
		s := x.Schema()
		o := orderedObject{}
		for i, f := range s.Fields {
			fv, err := jsonable(x.At(i))
			if err != nil {
				return nil, fmt.Errorf("field %s: %w", f.Name, err)
			}
			o.keys = append(o.keys, f.Name)
			o.vals = append(o.vals, fv)
		}
		return o, nil
	case map[any]any:
		keys := make([]string, 0, len(x))
		vals := make(map[string]any, len(x))
		for k, e := range x {
			ks := fmt.Sprint(k)
			ev, err := jsonable(e)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", ks, err)
			}
			keys = append(keys, ks)
			vals[ks] = ev
		}
		sort.Strings(keys)
		o := orderedObject{keys: keys}
		for _, k := range keys {
			o.vals = append(o.vals, vals[k])
		}
		return o, nil
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			ev, err := jsonable(e)
			if err != nil {
				return nil, fmt.Errorf("key %s: %w", k, err)
			}
			out[k] = ev
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			ev, err := jsonable(e)
			if err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
			out[i] = ev
		}
		return out, nil
	case connect.Decimal:
		return json.Number(x.String()), nil
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano), nil
	default:
		return v, nil
	}
}
