package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// RecordError reports a record the sink cannot write, with its Kafka
// coordinates.
type RecordError struct {
	Topic     string
	Partition int32
	Offset    int64
	Err       error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("s3 sink: record %s-%d@%d: %v", e.Topic, e.Partition, e.Offset, e.Err)
}
func (e *RecordError) Unwrap() error { return e.Err }

// ErrSchemaless is wrapped by the RecordError for a schemaless record
// written with ParquetFormat.
var ErrSchemaless = errors.New("Parquet requires records with schemas; use JsonFormat or enable schemas in the value converter")

// ErrNullValue is wrapped by the RecordError for a null value when
// behavior.on.null.values=fail.
var ErrNullValue = errors.New("null record value (set behavior.on.null.values=ignore to skip tombstones)")

// Option configures a task.
type Option func(*options)

type options struct {
	now    func() time.Time
	logger *slog.Logger
}

// WithClock sets the wall clock used for Wallclock timestamps and
// rotate.schedule.interval.ms (tests).
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// WithLogger sets the task's logger (default: the task context's logger).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// NewTask returns an unopened S3 sink task.
func NewTask(opts ...Option) connect.SinkTask {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return &task{opts: o}
}

type task struct {
	opts          options
	s             *settings
	st            storage
	part          partitioner
	log           *slog.Logger
	tctx          connect.SinkTaskContext
	ctx           context.Context
	cancel        context.CancelFunc
	name          string
	writers       map[connect.TopicPartition]*tpWriter
	sinceMemCheck int
	// err is set when a commit failed: buffered records were dropped, so
	// the task must not report any further offsets and needs a restart.
	err error
}

// tpWriter holds the open files of one Kafka partition. All files of a
// partition are committed together (a "group"), so the offset after the
// last committed group is the partition's durable offset.
type tpWriter struct {
	tp         connect.TopicPartition
	files      map[string]*openFile
	order      []*openFile
	schema     *connect.Schema
	count      int64 // records in the open group
	lastOff    int64 // offset of the last record in the open group
	groupStart int64
	baseTs     int64
	curEnc     string
	nextSched  int64
	recovered  int64 // offsets below it are already in storage; -1 none
	marker     int64 // last next-offset written to the marker; -1 none
	next       int64 // offset after the last record processed (written or skipped); -1 none
}

type openFile struct {
	key   string
	count int64
	up    upload
	pq    *parquetEncoder
	js    *jsonEncoder
}

func (f *openFile) buffered() int64 {
	n := f.up.memBytes()
	if f.pq != nil {
		n += f.pq.buffered()
	} else {
		n += f.js.buffered()
	}
	return n
}

// encoded is the number of bytes buffered inside the encoder.
func (f *openFile) encoded() int64 {
	if f.pq != nil {
		return f.pq.buffered()
	}
	return f.js.buffered()
}

func (f *openFile) flushBuffered() error {
	if f.pq != nil {
		return f.pq.flushBuffered()
	}
	return f.js.flushBuffered()
}

func (t *task) Open(ctx context.Context, cfg map[string]string, tctx connect.SinkTaskContext) error {
	s, err := parseSettings(cfg)
	if err != nil {
		return err
	}
	t.s, t.tctx = s, tctx
	t.log = t.opts.logger
	if t.log == nil && tctx != nil {
		t.log = tctx.Logger()
	}
	if t.log == nil {
		t.log = slog.New(slog.DiscardHandler)
	}
	if tctx != nil {
		t.name = tctx.ConnectorName()
	}
	if t.name == "" {
		t.name = cfg["name"]
	}
	if t.name == "" {
		t.name = "s3-sink"
	}
	if t.part, err = newPartitioner(s); err != nil {
		return err
	}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	if s.local {
		t.st = &localStorage{root: s.localDir}
	} else {
		if t.st, err = newS3Storage(ctx, s); err != nil {
			return err
		}
	}
	t.writers = map[connect.TopicPartition]*tpWriter{}
	return nil
}

// markerKey names the per-partition commit marker. It lives under
// <topics.dir>/_sluice/, which Hive-style readers ignore (leading '_').
func (t *task) markerKey(tp connect.TopicPartition) string {
	return t.prefix() + "_sluice" + t.s.dirDelim + t.name + t.s.dirDelim + tp.Topic + t.s.fileDelim + strconv.Itoa(int(tp.Partition)) + ".json"
}

func (t *task) prefix() string {
	if t.s.topicsDir == "" {
		return ""
	}
	return t.s.topicsDir + t.s.dirDelim
}

type marker struct {
	NextOffset int64 `json:"next_offset"`
}

func (t *task) Assign(ctx context.Context, partitions []connect.TopicPartition) error {
	seek := map[connect.TopicPartition]int64{}
	for _, tp := range partitions {
		if _, ok := t.writers[tp]; ok {
			continue
		}
		w := &tpWriter{tp: tp, files: map[string]*openFile{}, recovered: -1, marker: -1, groupStart: -1, next: -1}
		t.writers[tp] = w
		if !t.s.recovery {
			continue
		}
		b, err := t.st.get(ctx, t.markerKey(tp))
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return connect.Retriable(err)
		}
		var m marker
		if err := json.Unmarshal(b, &m); err != nil || m.NextOffset < 0 {
			t.log.Warn("s3 sink: ignoring unreadable commit marker", "key", t.markerKey(tp), "error", err)
			continue
		}
		w.recovered, w.marker = m.NextOffset, m.NextOffset
		seek[tp] = m.NextOffset
	}
	if len(seek) > 0 && t.tctx != nil {
		t.log.Info("s3 sink: resuming after data already in storage", "offsets", fmt.Sprint(seek))
		t.tctx.Seek(seek)
	}
	return nil
}

func (t *task) writer(tp connect.TopicPartition) *tpWriter {
	w := t.writers[tp]
	if w == nil {
		// Records for a partition never assigned (tests, or a runtime that
		// skipped Assign): track it without recovery.
		w = &tpWriter{tp: tp, files: map[string]*openFile{}, recovered: -1, marker: -1, groupStart: -1, next: -1}
		t.writers[tp] = w
	}
	return w
}

func (t *task) Put(ctx context.Context, records []*connect.Record) error {
	if t.err != nil {
		return t.err
	}
	for _, r := range records {
		tp, off := r.KafkaCoordinates()
		w := t.writer(tp)
		if err := t.putOne(ctx, w, r, off); err != nil {
			if t.err != nil {
				return t.err
			}
			return &RecordError{Topic: tp.Topic, Partition: tp.Partition, Offset: off, Err: err}
		}
		w.next = off + 1
		if t.sinceMemCheck++; t.sinceMemCheck >= 512 {
			if err := t.checkMemory(); err != nil {
				return err
			}
		}
	}
	// Hand batched rows to the encoders before returning, so no record
	// memory is referenced after Put.
	for _, w := range t.writers {
		for _, f := range w.order {
			if f.pq != nil {
				if err := f.pq.writeBatch(); err != nil {
					t.err = fmt.Errorf("s3 sink: %s: %w", f.key, err)
					return t.err
				}
			}
		}
	}
	return t.checkMemory()
}

func (t *task) putOne(ctx context.Context, w *tpWriter, r *connect.Record, off int64) error {
	if w.recovered >= 0 && off < w.recovered {
		return nil // already in storage (see Assign)
	}
	s := t.s
	if r.Value == nil {
		switch s.nullValues {
		case "ignore":
			return nil
		case "fail":
			return ErrNullValue
		}
	}
	if s.format == "parquet" && r.ValueSchema == nil {
		return ErrSchemaless
	}
	value, schema := r.Value, r.ValueSchema
	// A Parquet file has one schema; newline-delimited JSON needs no
	// rotation on schema change.
	if s.format == "parquet" && w.count > 0 && schemaChanged(w.schema, schema) {
		projected, ok := t.project(w.schema, schema, value)
		if ok {
			value, schema = projected, w.schema
		} else if err := t.commit(ctx, w, "schema change"); err != nil {
			return err
		}
	}
	var now time.Time // the wall clock is read only when something uses it
	if s.rotateScheduleMs > 0 || s.extractor == "wallclock" {
		now = t.opts.now()
	}
	var ts int64
	if t.part.timeBased() || s.rotateIntervalMs > 0 {
		var err error
		if ts, err = timestampOf(s, r, now); err != nil {
			return err
		}
	}
	enc, err := t.part.encode(r, w.tp, ts)
	if err != nil {
		return err
	}
	if w.count > 0 {
		periodic := s.rotateIntervalMs > 0 && (ts-w.baseTs >= s.rotateIntervalMs || enc != w.curEnc)
		scheduled := s.rotateScheduleMs > 0 && now.UnixMilli() >= w.nextSched
		if periodic || scheduled {
			if err := t.commit(ctx, w, "time"); err != nil {
				return err
			}
		}
	}
	if w.count == 0 {
		w.groupStart, w.baseTs, w.schema = off, ts, schema
		if s.rotateScheduleMs > 0 {
			w.nextSched = nextSchedule(now, s.rotateScheduleMs, s.tz)
		}
	}
	f := w.files[enc]
	if f == nil {
		if f, err = t.newFile(r, w, enc, off, schema); err != nil {
			return err
		}
	}
	if f.pq != nil {
		err = f.pq.write(value)
	} else {
		err = f.js.write(schema, value)
	}
	if err != nil {
		if f.count == 0 { // do not leave an empty file named after this record
			f.up.abort(t.ctx)
			delete(w.files, enc)
			w.order = w.order[:len(w.order)-1]
		}
		return err
	}
	f.count++
	w.count++
	w.lastOff = off
	w.curEnc = enc
	if f.encoded() >= s.rowGroupMax {
		if err := f.flushBuffered(); err != nil {
			return err
		}
	}
	if w.count >= s.flushSize {
		return t.commit(ctx, w, "flush.size")
	}
	return nil
}

func (t *task) newFile(r *connect.Record, w *tpWriter, enc string, off int64, schema *connect.Schema) (*openFile, error) {
	s := t.s
	ext := ".json"
	if s.format == "parquet" {
		ext = parquetExt(s.codec)
	} else if s.gzipLevel != noGzip {
		ext = ".json.gz"
	}
	dirTopic := r.Topic
	if dirTopic == "" {
		dirTopic = w.tp.Topic
	}
	key := t.prefix() + dirTopic + s.dirDelim + enc + s.dirDelim +
		w.tp.Topic + s.fileDelim + strconv.Itoa(int(w.tp.Partition)) + s.fileDelim + fmt.Sprintf("%010d", off) + ext
	up, err := t.st.create(t.ctx, key)
	if err != nil {
		return nil, err
	}
	f := &openFile{key: key, up: up}
	if s.format == "parquet" {
		if f.pq, err = newParquetEncoder(up, schema, s.codec); err != nil {
			up.abort(t.ctx)
			return nil, err
		}
	} else if f.js, err = newJSONEncoder(up, s.jsonDecimalNum, s.gzipLevel); err != nil {
		up.abort(t.ctx)
		return nil, err
	}
	w.files[enc] = f
	w.order = append(w.order, f)
	return f, nil
}

// commit finishes and uploads every open file of the partition, then
// records the new durable offset in the marker. On failure the partition's
// buffered data is dropped and the error is returned: the records will be
// consumed again from the last committed offset.
func (t *task) commit(ctx context.Context, w *tpWriter, why string) error {
	if w.count == 0 {
		return nil
	}
	for i, f := range w.order {
		var err error
		if f.pq != nil {
			err = f.pq.close()
		} else {
			err = f.js.close()
		}
		if err == nil {
			err = f.up.commit(ctx)
		}
		if err != nil {
			for _, g := range w.order[i:] {
				g.up.abort(context.WithoutCancel(ctx))
			}
			t.reset(w)
			t.err = fmt.Errorf("s3 sink: commit %s failed, buffered records of %s-%d were dropped and will be consumed again after a restart: %w",
				f.key, w.tp.Topic, w.tp.Partition, err)
			return t.err
		}
		t.log.Debug("s3 sink: committed file", "key", f.key, "records", f.count, "reason", why)
	}
	// Every record of the group is now in storage.
	next := w.lastOff + 1
	t.reset(w)
	if err := t.writeMarker(ctx, w, next); err != nil {
		// The files are durable; only the marker is stale, which costs a
		// re-consume (identical rewrite) after a restart, not correctness.
		t.log.Warn("s3 sink: write commit marker", "key", t.markerKey(w.tp), "error", err)
	}
	return nil
}

func (t *task) reset(w *tpWriter) {
	w.files = map[string]*openFile{}
	w.order = nil
	w.count = 0
	w.groupStart = -1
	w.curEnc = ""
}

// writeMarker records next as the partition's durable offset.
func (t *task) writeMarker(ctx context.Context, w *tpWriter, next int64) error {
	if !t.s.recovery || next <= w.marker {
		return nil
	}
	b, _ := json.Marshal(marker{NextOffset: next})
	if err := t.st.put(ctx, t.markerKey(w.tp), b); err != nil {
		return err
	}
	w.marker = next
	if w.recovered < next {
		w.recovered = next
	}
	return nil
}

func nextSchedule(now time.Time, interval int64, tz *time.Location) int64 {
	_, off := now.In(tz).Zone()
	local := now.UnixMilli() + int64(off)*1000
	return local - floorMod(local, interval) + interval - int64(off)*1000
}

func floorMod(a, b int64) int64 { return a - floorDiv(a, b)*b }

// schemaChanged reports whether a record's value schema differs from the
// schema of the open files.
func schemaChanged(cur, next *connect.Schema) bool {
	if cur == next {
		return false
	}
	if cur == nil || next == nil {
		return true
	}
	return !cur.Equal(next)
}

// project implements schema.compatibility for a record whose schema differs
// from the open files' schema. It returns the value projected onto cur and
// true when the record can stay in the open files; false means rotate.
func (t *task) project(cur, next *connect.Schema, v any) (any, bool) {
	switch t.s.compat {
	case "BACKWARD", "FORWARD", "FULL":
	default:
		return nil, false
	}
	if cur == nil || next == nil || cur.Version == 0 || next.Version == 0 || next.Version >= cur.Version {
		return nil, false
	}
	st, ok := v.(*connect.Struct)
	if !ok || cur.Type != connect.StructT {
		return nil, false
	}
	out, err := projectStruct(st, cur)
	if err != nil {
		return nil, false
	}
	return out, true
}

func projectStruct(st *connect.Struct, to *connect.Schema) (*connect.Struct, error) {
	out := connect.NewStructValue(to)
	from := st.Schema()
	for i, f := range to.Fields {
		src := from.Field(f.Name)
		if src == nil {
			if f.Schema.Default == nil && !f.Schema.Optional {
				return nil, fmt.Errorf("field %s missing and required", f.Name)
			}
			out.SetAt(i, f.Schema.Default)
			continue
		}
		v := st.At(src.Index)
		if f.Schema.Type == connect.StructT {
			if sv, ok := v.(*connect.Struct); ok {
				p, err := projectStruct(sv, f.Schema)
				if err != nil {
					return nil, err
				}
				v = p
			}
		} else if src.Schema.Type != f.Schema.Type || src.Schema.Name != f.Schema.Name {
			return nil, fmt.Errorf("field %s changed type", f.Name)
		}
		out.SetAt(i, v)
	}
	return out, out.Validate()
}

// checkMemory keeps the bytes held in memory across all open files under
// sluice.buffer.max.bytes by flushing row groups and spilling buffers of
// the largest files to disk. It never rotates files, so object boundaries
// stay a deterministic function of the input.
func (t *task) checkMemory() error {
	t.sinceMemCheck = 0
	var total int64
	for _, w := range t.writers {
		for _, f := range w.order {
			total += f.buffered()
		}
	}
	for total > t.s.bufferMax {
		var big *openFile
		var bigN int64
		for _, w := range t.writers {
			for _, f := range w.order {
				if n := f.buffered(); n > bigN {
					big, bigN = f, n
				}
			}
		}
		if big == nil {
			return nil
		}
		if err := big.flushBuffered(); err != nil {
			return err
		}
		if err := big.up.spill(); err != nil {
			return err
		}
		total -= bigN - big.buffered()
		if big.buffered() >= bigN {
			return nil
		}
	}
	return nil
}

func (t *task) Flush(ctx context.Context, current map[connect.TopicPartition]int64) (map[connect.TopicPartition]int64, error) {
	if t.err != nil {
		return nil, t.err
	}
	now := t.opts.now()
	out := make(map[connect.TopicPartition]int64, len(current))
	for tp, off := range current {
		w := t.writers[tp]
		if w == nil {
			out[tp] = off
			continue
		}
		if w.count > 0 {
			due := t.s.rotateScheduleMs > 0 && now.UnixMilli() >= w.nextSched
			if t.s.rotateIntervalMs > 0 && t.s.extractor == "wallclock" && now.UnixMilli()-w.baseTs >= t.s.rotateIntervalMs {
				due = true
			}
			if due {
				if err := t.commit(ctx, w, "time"); err != nil {
					return nil, err
				}
			}
		}
		if w.count > 0 {
			out[tp] = w.groupStart
			continue
		}
		// Nothing buffered: every record processed is in storage or was
		// skipped on purpose. Never report past the last record processed
		// (a Put that failed part-way did not process the rest).
		if w.next >= 0 && off > w.next {
			off = w.next
		}
		if off < w.recovered {
			off = w.recovered
		}
		if err := t.writeMarker(ctx, w, off); err != nil {
			return nil, connect.Retriable(err)
		}
		out[tp] = off
	}
	return out, nil
}

func (t *task) Revoke(ctx context.Context, partitions []connect.TopicPartition) error {
	for _, tp := range partitions {
		if w := t.writers[tp]; w != nil {
			t.abort(ctx, w)
			delete(t.writers, tp)
		}
	}
	return nil
}

func (t *task) abort(ctx context.Context, w *tpWriter) {
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	for _, f := range w.order {
		if err := f.up.abort(actx); err != nil {
			t.log.Warn("s3 sink: abort upload", "key", f.key, "error", err)
		}
	}
	t.reset(w)
}

func (t *task) Close() error {
	if t.cancel != nil {
		t.cancel() // stops part uploads in flight
	}
	for _, w := range t.writers {
		t.abort(context.Background(), w)
	}
	t.writers = nil
	return nil
}
