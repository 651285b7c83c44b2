package s3

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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

	// Background commits: at most cap(sem) groups upload at once.
	sem        chan struct{}
	jobs       sync.WaitGroup
	asyncMu    sync.Mutex
	asyncErr   error
	pendingMem atomic.Int64 // in-memory bytes of groups uploading
}

// commitJob uploads the closed files of one group in the background, then
// advances the partition's marker once the previous group of the same
// partition is done.
type commitJob struct {
	files      []*openFile
	start      int64 // first offset of the group: everything before it is durable
	next       int64
	mem        int64
	prev       *commitJob
	done       chan struct{}
	err        error
	markerDone bool
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
	pending    []*commitJob
	last       *openFile // the open file of curEnc
	defaultEnc string    // the default partitioner's path for tp
}

type openFile struct {
	key     string
	tp      connect.TopicPartition
	start   int64
	lastOff int64
	count   int64
	up      upload
	pq      *parquetEncoder
	js      *jsonEncoder
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
	t.sem = make(chan struct{}, s.uploadConcurrency)
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

// marker is the per-partition commit marker: the offset after the last
// committed record and, while a group uploads, the keys it is writing
// (removed on recovery: they may hold records past next_offset).
type marker struct {
	NextOffset int64    `json:"next_offset"`
	Pending    []string `json:"pending,omitempty"`
}

func (t *task) Assign(ctx context.Context, partitions []connect.TopicPartition) error {
	t.removeTemps(partitions)
	for _, tp := range partitions {
		if _, ok := t.writers[tp]; ok {
			continue
		}
		w := &tpWriter{tp: tp, files: map[string]*openFile{}, recovered: -1, marker: -1, groupStart: -1, next: -1}
		if !t.s.recovery {
			t.writers[tp] = w
			continue
		}
		// The writer is registered only once recovery succeeded, so a
		// retried Assign reads the marker again.
		b, err := t.st.get(ctx, t.markerKey(tp))
		if errors.Is(err, errNotFound) {
			t.writers[tp] = w
			continue
		}
		if err != nil {
			return connect.Retriable(err)
		}
		var m marker
		if err := json.Unmarshal(b, &m); err != nil || m.NextOffset < 0 {
			t.log.Warn("s3 sink: ignoring unreadable commit marker", "key", t.markerKey(tp), "error", err)
			t.writers[tp] = w
			continue
		}
		// Files of a group whose upload was cut short may exist past the
		// marker; they would overlap files written with different rotation
		// settings, so remove them (their records are consumed again).
		for _, key := range m.Pending {
			if err := t.st.remove(ctx, key); err != nil {
				return connect.Retriable(err)
			}
			t.log.Info("s3 sink: removed file of an unfinished commit", "key", key)
		}
		w.recovered, w.marker = m.NextOffset, m.NextOffset
		t.writers[tp] = w
		if t.tctx != nil {
			t.log.Info("s3 sink: resuming after data already in storage", "topic", tp.Topic, "partition", tp.Partition, "offset", m.NextOffset)
			t.tctx.Seek(map[connect.TopicPartition]int64{tp: m.NextOffset})
		}
	}
	return nil
}

// removeTemps deletes the temporary files that a crashed task left in
// local storage for the newly assigned partitions: data files under each
// topic's directory named "<topic><file.delim><partition><file.delim><offset>..."
// and the partitions' commit markers. Partitions already held have files
// being written and are skipped. Failures are logged: a leftover file
// does not stop the task.
func (t *task) removeTemps(partitions []connect.TopicPartition) {
	l, ok := t.st.(*localStorage)
	if !ok {
		return
	}
	mine := map[string]map[int32]bool{} // topic -> new partitions
	for _, tp := range partitions {
		if _, held := t.writers[tp]; held {
			continue
		}
		if mine[tp.Topic] == nil {
			mine[tp.Topic] = map[int32]bool{}
		}
		mine[tp.Topic][tp.Partition] = true
	}
	if len(mine) == 0 {
		return
	}
	fd := t.s.fileDelim
	// ownPartition reports whether name is "<topic><fd><p>" + rest for a new
	// partition p of topic, with rest accepted by tail.
	ownPartition := func(topic, name string, tail func(string) bool) bool {
		rest, ok := strings.CutPrefix(name, topic+fd)
		if !ok {
			return false
		}
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		p, err := strconv.ParseInt(rest[:i], 10, 32)
		return i > 0 && err == nil && mine[topic][int32(p)] && tail(rest[i:])
	}
	dataTail := func(rest string) bool { // <fd><offset, 10 digits or more>.<ext>
		rest, ok := strings.CutPrefix(rest, fd)
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		return ok && i >= 10 && i < len(rest) && rest[i] == '.'
	}
	markerTail := func(rest string) bool { return rest == ".json" }
	var removed []string
	var errs []error
	for topic := range mine {
		r, err := l.removeTemps(t.prefix()+topic, func(final string) bool { return ownPartition(topic, final, dataTail) })
		removed = append(removed, r...)
		errs = append(errs, err)
	}
	r, err := l.removeTemps(t.prefix()+"_sluice"+t.s.dirDelim+t.name, func(final string) bool {
		for topic := range mine {
			if ownPartition(topic, final, markerTail) {
				return true
			}
		}
		return false
	})
	removed = append(removed, r...)
	for _, key := range removed {
		t.log.Info("s3 sink: removed temporary file left by a crash", "key", key)
	}
	if err := errors.Join(append(errs, err)...); err != nil {
		t.log.Warn("s3 sink: removing temporary files left by a crash", "error", err)
	}
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
	if err := t.failure(); err != nil {
		return err
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
	needTs := t.part.timeBased() || s.rotateIntervalMs > 0
	var now time.Time // the wall clock is read only when something uses it
	if s.rotateScheduleMs > 0 || (needTs && s.extractor == "wallclock") {
		now = t.opts.now()
	}
	var ts int64
	if needTs {
		var err error
		if ts, err = timestampOf(s, r, now); err != nil {
			return err
		}
	}
	var enc string
	if _, ok := t.part.(defaultPartitioner); ok && w.defaultEnc != "" {
		enc = w.defaultEnc // the same for every record of the partition
	} else {
		var err error
		if enc, err = t.part.encode(r, w.tp, ts); err != nil {
			return err
		}
		if ok {
			w.defaultEnc = enc
		}
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
	f := w.last
	if f == nil || enc != w.curEnc {
		f = w.files[enc]
	}
	var err error
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
	f.lastOff = off
	w.count++
	w.lastOff = off
	w.curEnc, w.last = enc, f
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
	f := &openFile{key: key, up: up, tp: w.tp, start: off}
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

// commit hands every open file of the partition to a background job that
// finishes (encodes the last pages and footer) and uploads them, at most
// sluice.upload.concurrency groups at once; Flush waits for the jobs
// before reporting offsets. When a group fails, the task fails: it reports
// no further offsets and the records are consumed again from the last
// committed offset after a restart.
func (t *task) commit(ctx context.Context, w *tpWriter, why string) error {
	if w.count == 0 {
		return nil
	}
	for i, f := range w.order {
		if f.pq == nil {
			continue
		}
		// Batched rows go to the column writers now: the job must not
		// read record memory after Put returns.
		if err := f.pq.writeBatch(); err != nil {
			for _, g := range w.order[i:] {
				g.up.abort(context.WithoutCancel(ctx))
			}
			t.reset(w)
			t.err = fmt.Errorf("s3 sink: finish %s failed, buffered records of %s-%d were dropped and will be consumed again after a restart: %w",
				f.key, w.tp.Topic, w.tp.Partition, err)
			return t.err
		}
		// Footer metadata: where the rows came from.
		f.pq.w.SetKeyValueMetadata("kafka.topic", f.tp.Topic)
		f.pq.w.SetKeyValueMetadata("kafka.partition", strconv.Itoa(int(f.tp.Partition)))
		f.pq.w.SetKeyValueMetadata("kafka.offset.start", strconv.FormatInt(f.start, 10))
		f.pq.w.SetKeyValueMetadata("kafka.offset.end", strconv.FormatInt(f.lastOff, 10))
	}
	job := &commitJob{files: w.order, start: w.groupStart, next: w.lastOff + 1, done: make(chan struct{})}
	t.reap(w)
	if n := len(w.pending); n > 0 {
		job.prev = w.pending[n-1]
	}
	for _, f := range job.files {
		job.mem += f.buffered() // what the upload will hold, at most
	}
	t.pendingMem.Add(job.mem)
	t.log.Debug("s3 sink: committing files", "partition", fmt.Sprint(w.tp), "files", len(w.order), "reason", why)
	t.reset(w)
	w.pending = append(w.pending, job)
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		// The job cannot start: drop its files and fail the task.
		for _, f := range job.files {
			f.up.abort(context.WithoutCancel(ctx))
		}
		t.pendingMem.Add(-job.mem)
		job.err = ctx.Err()
		close(job.done)
		t.setFailure(job.err)
		return t.failure()
	}
	t.jobs.Add(1)
	go t.run(job, w.tp)
	return t.failure()
}

// run uploads one group. Groups of the same partition upload one after
// the other: the marker first lists the group's keys as pending, then the
// files are uploaded, then the marker advances past the group.
func (t *task) run(job *commitJob, tp connect.TopicPartition) {
	defer t.jobs.Done()
	defer func() { <-t.sem }()
	defer close(job.done)
	defer t.pendingMem.Add(-job.mem)
	defer func() { job.files = nil }() // release the finished files' buffers
	fail := func(i int, err error) {
		for _, g := range job.files[i:] {
			g.up.abort(context.WithoutCancel(t.ctx))
		}
		job.err = err
		t.setFailure(err)
	}
	// Finishing the files is CPU work that overlaps with the task encoding
	// the next group.
	for _, f := range job.files {
		var err error
		if f.pq != nil {
			err = f.pq.close()
		} else {
			err = f.js.close()
		}
		if err != nil {
			fail(0, fmt.Errorf("s3 sink: finish %s failed, buffered records of %s-%d were dropped and will be consumed again after a restart: %w",
				f.key, tp.Topic, tp.Partition, err))
			return
		}
	}
	if job.prev != nil {
		<-job.prev.done
		if job.prev.err != nil {
			fail(0, job.prev.err)
			return
		}
	}
	if t.s.recovery {
		m := marker{NextOffset: job.start}
		for _, f := range job.files {
			m.Pending = append(m.Pending, f.key)
		}
		b, _ := json.Marshal(m)
		if err := t.st.put(t.ctx, t.markerKey(tp), b); err != nil {
			fail(0, fmt.Errorf("s3 sink: write commit marker for %s-%d: %w", tp.Topic, tp.Partition, err))
			return
		}
	}
	for i, f := range job.files {
		if err := f.up.commit(t.ctx); err != nil {
			fail(i+1, fmt.Errorf("s3 sink: commit %s failed, buffered records of %s-%d were dropped and will be consumed again after a restart: %w",
				f.key, tp.Topic, tp.Partition, err))
			return
		}
	}
	if t.s.recovery {
		b, _ := json.Marshal(marker{NextOffset: job.next})
		if err := t.st.put(t.ctx, t.markerKey(tp), b); err != nil {
			// The files are durable; a stale marker only makes a restart
			// remove and rewrite them.
			t.log.Warn("s3 sink: write commit marker", "key", t.markerKey(tp), "error", err)
			return
		}
		job.markerDone = true
	}
}

func (t *task) setFailure(err error) {
	t.asyncMu.Lock()
	defer t.asyncMu.Unlock()
	if t.asyncErr == nil {
		t.asyncErr = err
	}
}

// failure returns the error that failed the task, if any.
func (t *task) failure() error {
	if t.err != nil {
		return t.err
	}
	t.asyncMu.Lock()
	defer t.asyncMu.Unlock()
	if t.asyncErr != nil {
		t.err = t.asyncErr
	}
	return t.err
}

// reap drops finished background commits from the head of the partition's
// queue without waiting.
func (t *task) reap(w *tpWriter) {
	for len(w.pending) > 0 {
		select {
		case <-w.pending[0].done:
			t.noteDone(w, w.pending[0])
			w.pending = w.pending[1:]
		default:
			return
		}
	}
}

func (t *task) noteDone(w *tpWriter, job *commitJob) {
	if job.err == nil && job.markerDone && job.next > w.marker {
		w.marker = job.next
	}
	if w.recovered < w.marker {
		w.recovered = w.marker
	}
}

// settle waits for the partition's background commits and records their
// markers.
func (t *task) settle(w *tpWriter) error {
	for _, job := range w.pending {
		<-job.done
		t.noteDone(w, job)
	}
	w.pending = nil
	return t.failure()
}

func (t *task) reset(w *tpWriter) {
	w.files = map[string]*openFile{}
	w.order = nil
	w.count = 0
	w.groupStart = -1
	w.curEnc, w.last = "", nil
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
	if cur == nil || next == nil || cur.Version == 0 || next.Version == 0 || next.Version == cur.Version {
		return nil, false
	}
	// BACKWARD and FULL keep the newest schema: older records are projected
	// onto it, a newer schema starts new files. FORWARD keeps the oldest:
	// newer records are projected (new fields dropped), an older schema
	// starts new files.
	if (t.s.compat == "FORWARD") != (next.Version > cur.Version) {
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
	total := t.pendingMem.Load()
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
			// Only uploads in flight hold memory: wait for them.
			if t.pendingMem.Load() > 0 {
				t.jobs.Wait()
			}
			return t.failure()
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
	if err := t.failure(); err != nil {
		return nil, err
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
		if err := t.settle(w); err != nil {
			return nil, err
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
			t.settle(w) // committed groups finish uploading; errors already failed the task
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
		t.cancel() // stops uploads in flight
	}
	t.jobs.Wait()
	for _, w := range t.writers {
		t.abort(context.Background(), w)
	}
	t.writers = nil
	return nil
}
