package log

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// AppendOptions tunes one Append.
type AppendOptions struct {
	LogAppendTime bool      // stamp the batch with the append time (message.timestamp.type=LogAppendTime)
	Now           time.Time // append time; zero = the log's clock
	// StampEpoch sets the batch's PartitionLeaderEpoch to LeaderEpoch (a
	// replicated partition's leader appending).
	StampEpoch  bool
	LeaderEpoch int32
}

// AppendResult reports where a batch was stored.
type AppendResult struct {
	BaseOffset     int64
	LastOffset     int64
	LogAppendTime  int64 // ms, or -1 when the batch keeps its CreateTime
	LogStartOffset int64
}

// Log is one partition's persistent log. It is safe for concurrent use.
type Log struct {
	dir  string
	opts options
	lg   *slog.Logger

	cleanMu sync.Mutex // serializes Clean and DeleteRecords; guards the compaction marks
	// Compaction is skipped while nothing changed since the last run: no
	// segment was sealed, no kept tombstone expired, no config change.
	compactedBelow  int64 // active segment base at the last compaction, -1 = never
	tombstoneExpiry int64 // ms when the oldest kept tombstone may go
	compactStale    atomic.Bool
	compactions     atomic.Int64 // compaction passes run (for tests)

	wmu    sync.Mutex // serializes writers; guards the fields below it
	cfg    Config
	prod   *producerState
	ckpt   checkpoint
	wclose bool

	smu    sync.RWMutex // guards segs, start and closed for readers
	segs   []*segment
	start  int64
	closed bool

	end        atomic.Int64 // next offset; published after the batch is written
	hwCap      atomic.Int64 // replicated high watermark (-1 = none); see SetHighWatermarkCap
	hwSaved    atomic.Int64 // cap last written to hwFileName (-1 = none)
	hwSaveMu   sync.Mutex   // serializes high-watermark checkpoints; guards hwSavedAt
	hwSavedAt  time.Time
	epochs     epochCache   // leader epoch -> start offset (replicated partitions); guarded by wmu
	readWindow atomic.Int64 // read-ahead for index walks (2 x IndexIntervalBytes)

	chMu     sync.Mutex
	changed  chan struct{}
	chClosed bool // Close closed changed for good; later appends must not close it again

	dmu      sync.Mutex   // group commit; guards syncing and syncDone
	durable  atomic.Int64 // every offset < durable is fsynced; only grows under dmu
	syncing  bool
	syncDone chan struct{}
	lastSync atomic.Int64 // wall clock ms of the last completed fsync (flush.ms)
	flushMs  atomic.Int64 // Config.FlushMs in ms

	// failed is set at the first fsync or write error: the log is offline.
	failed atomic.Pointer[StorageError]

	kick chan struct{} // FlushDurable: wakes the background syncer after an append

	lock *os.File // flock on dir/lock, held while open

	stopFlush chan struct{}
	flushDone chan struct{}
	stopOnce  sync.Once
}

// Open opens the log in dir, creating it if needed. It recovers from an
// unclean shutdown: a torn or corrupt tail is truncated, missing or invalid
// indexes are rebuilt and the idempotent-producer state is restored.
func Open(dir string, cfg Config, opts ...Option) (*Log, error) {
	o := options{logger: slog.Default(), clock: time.Now, sync: (*os.File).Sync, flush: FlushPolicy{Mode: FlushNone}}
	for _, opt := range opts {
		opt(&o)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.clock == nil {
		o.clock = time.Now
	}
	if o.sync == nil {
		o.sync = (*os.File).Sync
	}
	if o.fs == nil {
		o.fs = osFS{sync: o.sync}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("log: create dir: %w", err)
	}
	l := &Log{
		dir:     dir,
		opts:    o,
		lg:      o.logger.With("dir", dir),
		cfg:     cfg.normalized(),
		changed: make(chan struct{}),

		compactedBelow: -1,
	}
	l.hwCap.Store(-1)
	l.hwSaved.Store(-1)
	l.readWindow.Store(int64(2 * l.cfg.IndexIntervalBytes))
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l.lock = lock
	err = l.load()
	if err == nil {
		err = l.loadEpochs()
	}
	if err == nil {
		l.loadHighWatermark()
	}
	if err != nil {
		for _, s := range l.segs {
			s.close()
		}
		lock.Close()
		return nil, err
	}
	l.lastSync.Store(l.nowMs())
	l.flushMs.Store(l.cfg.FlushMs.Milliseconds())
	switch {
	case o.flush.Mode == FlushDurable:
		l.kick = make(chan struct{}, 1)
		fallthrough
	case o.flush.Mode == FlushInterval && o.flush.Interval > 0:
		l.stopFlush = make(chan struct{})
		l.flushDone = make(chan struct{})
		go l.flusher()
	}
	return l, nil
}

func (l *Log) nowMs() int64 { return l.opts.clock().UnixMilli() }

// load implements the recovery steps described in doc.go.
func (l *Log) load() error {
	ents, err := os.ReadDir(l.dir)
	if err != nil {
		return fmt.Errorf("log: read dir: %w", err)
	}
	var bases []int64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, extTmp) || strings.HasSuffix(name, extCleaned) {
			if err := os.Remove(filepath.Join(l.dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("log: remove leftover %s: %w", name, err)
			}
			continue
		}
		if !strings.HasSuffix(name, extLog) {
			continue
		}
		base, err := strconv.ParseInt(strings.TrimSuffix(name, extLog), 10, 64)
		if err != nil || base < 0 {
			l.lg.Warn("ignoring file with an unexpected name", "file", name)
			continue
		}
		bases = append(bases, base)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })

	ck, ckErr := readCheckpoint(l.dir)
	if ckErr != nil {
		if !errors.Is(ckErr, fs.ErrNotExist) {
			l.lg.Warn("checkpoint unreadable, recovering every segment", "err", ckErr)
		}
		ck = checkpoint{}
		if len(bases) > 0 {
			ck.LogStartOffset = bases[0]
		}
	}
	if len(bases) == 0 {
		bases = []int64{ck.LogStartOffset}
	}
	nowMs := l.nowMs()
	interval := l.cfg.IndexIntervalBytes
	prevLast := int64(-1)
	removeFrom := func(i int) error {
		for _, later := range bases[i:] {
			for _, ext := range []string{extLog, extIndex, extTimeIndex} {
				if err := os.Remove(segName(l.dir, later, ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("log: remove segment after corruption: %w", err)
				}
			}
		}
		return nil
	}
	for i, base := range bases {
		if base <= prevLast {
			if st, err := os.Stat(segName(l.dir, base, extLog)); err == nil && st.Size() == 0 {
				// A stray empty file inside the previous segment's range.
				l.lg.Warn("removing empty segment inside its predecessor's offsets", "segment", base)
				for _, ext := range []string{extLog, extIndex, extTimeIndex} {
					os.Remove(segName(l.dir, base, ext))
				}
				continue
			}
			// Overlaps the previous segment's data: treat it and everything
			// after it as a corrupt tail.
			l.lg.Warn("segment overlaps its predecessor, dropping it and later segments", "segment", base, "previous_last_offset", prevLast)
			if err := removeFrom(i); err != nil {
				return err
			}
			break
		}
		s, err := openSegment(l.opts.fs, l.dir, base, nowMs)
		if err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		last := i == len(bases)-1
		needScan := !ck.Clean && (last || bases[i+1] > ck.RecoveryPoint)
		if !needScan {
			if err := s.loadIndexes(); err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					l.lg.Warn("rebuilding segment indexes", "segment", base, "err", err)
				}
				needScan = true
			} else if err := s.loadTail(); err != nil {
				l.lg.Warn("segment tail invalid, rescanning", "segment", base, "err", err)
				needScan = true
			}
		}
		if needScan {
			res, err := s.scan(interval, prevLast)
			if err != nil {
				return err
			}
			if err := s.writeIndexFiles(l.opts.sync); err != nil {
				return err
			}
			if res.truncated {
				l.lg.Warn("truncated corrupt or torn log tail", "segment", base, "position", res.validEnd, "reason", res.reason)
				if err := s.f.Sync(); err != nil {
					return fmt.Errorf("log: sync truncated segment: %w", err)
				}
				// Everything after the corruption is gone.
				if err := removeFrom(i + 1); err != nil {
					return err
				}
				break
			}
		}
		if s.size.Load() > 0 {
			prevLast = s.next - 1
		}
	}
	active := l.segs[len(l.segs)-1]
	end := active.next
	if active.size.Load() == 0 {
		end = active.base
	}
	l.end.Store(end)
	start := ck.LogStartOffset
	if start < l.segs[0].base {
		start = l.segs[0].base
	}
	if start > end {
		start = end
	}
	l.start = start
	if err := active.openIndexWriters(); err != nil {
		return err
	}
	if err := l.loadProducerState(end); err != nil {
		return err
	}
	l.prod.pruneBelow(start)
	rp := ck.RecoveryPoint
	if ck.Clean || rp > active.base {
		rp = active.base
	}
	l.ckpt = checkpoint{RecoveryPoint: rp, LogStartOffset: start}
	if err := writeCheckpoint(l.dir, l.ckpt, l.opts.sync); err != nil {
		return err
	}
	l.durable.Store(end)
	if !ck.Clean {
		// Data may not be on disk yet; fsync it once before claiming durability.
		if err := active.f.Sync(); err != nil {
			return fmt.Errorf("log: sync active segment: %w", err)
		}
	}
	return nil
}

// loadProducerState restores producer state from the newest valid snapshot
// and replays the batches after it.
func (l *Log) loadProducerState(end int64) error {
	offs, err := listSnapshots(l.dir)
	if err != nil {
		return fmt.Errorf("log: list snapshots: %w", err)
	}
	l.prod = newProducerState()
	from := l.segs[0].base
	for i := len(offs) - 1; i >= 0; i-- {
		path := segName(l.dir, offs[i], extSnapshot)
		if offs[i] > end {
			os.Remove(path)
			continue
		}
		b, err := os.ReadFile(path)
		if err == nil {
			var ps *producerState
			if ps, err = decodeSnapshot(b); err == nil {
				l.prod, from = ps, offs[i]
				break
			}
		}
		l.lg.Warn("ignoring producer snapshot", "file", filepath.Base(path), "err", err)
	}
	for _, s := range l.segs {
		size := s.size.Load()
		if size == 0 || s.next <= from {
			continue
		}
		w := newWindowReader(s.f, size)
		pos := s.lookup(from)
		for pos < size {
			h, err := w.batchAt(pos)
			if err != nil {
				return fmt.Errorf("log: replay producer state in segment %d: %w", s.base, err)
			}
			if h.BaseOffset >= from {
				l.prod.update(h)
			}
			pos += int64(h.Size())
		}
	}
	return nil
}

// Append stores one v2 RecordBatch as produced: it must be a single complete
// batch with a valid CRC, magic 2, at least one record and LastOffsetDelta =
// NumRecords-1 (else ErrCorruptBatch). See the package documentation for
// offsets, LogAppendTime and the idempotent-producer checks.
func (l *Log) Append(batch []byte, opts AppendOptions) (AppendResult, error) {
	v, err := CheckBatch(batch)
	if err != nil {
		return AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: -1}, err
	}
	return l.AppendValid(v, opts)
}

// AppendValid is Append for a batch CheckBatch already validated (its CRC
// is not computed again).
func (l *Log) AppendValid(v ValidBatch, opts AppendOptions) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	h, batch := v.h, v.b
	// Like Kafka's LogValidator: a produced batch holds one record per offset.
	if h.NumRecords <= 0 || int64(h.LastOffsetDelta)+1 != int64(h.NumRecords) {
		return res, corruptf("batch has %d records (bytes 57..60) but last offset delta %d (bytes 23..26); want count = delta+1 >= 1",
			h.NumRecords, h.LastOffsetDelta)
	}
	now := opts.Now
	if now.IsZero() {
		now = l.opts.clock()
	}
	nowMs := now.UnixMilli()

	l.wmu.Lock()
	if l.wclose {
		l.wmu.Unlock()
		return res, ErrClosed
	}
	if se := l.failed.Load(); se != nil {
		l.wmu.Unlock()
		return res, se
	}
	if idempotent(h) {
		if err := l.prod.check(h); err != nil {
			l.wmu.Unlock()
			var dup *DuplicateError
			if errors.As(err, &dup) {
				res.BaseOffset, res.LastOffset = dup.BaseOffset, dup.LastOffset
				res.LogStartOffset = l.StartOffset()
			}
			return res, err
		}
	}
	base := l.end.Load()
	buf := make([]byte, len(batch))
	copy(buf, batch)
	setBaseOffset(buf, base)
	h.BaseOffset = base
	if opts.LogAppendTime {
		stampLogAppendTime(buf, nowMs)
		h.Attributes |= AttrLogAppendTime
		h.FirstTimestamp, h.MaxTimestamp = nowMs, nowMs
		res.LogAppendTime = nowMs
	}
	if opts.StampEpoch {
		binary.BigEndian.PutUint32(buf[offLeaderEpoch:], uint32(opts.LeaderEpoch))
		h.PartitionLeaderEpoch = opts.LeaderEpoch
	}
	if err := l.writeLocked(buf, h, nowMs); err != nil {
		l.wmu.Unlock()
		return res, err
	}
	flushMsgs := l.cfg.FlushMessages
	l.wmu.Unlock()

	res.BaseOffset, res.LastOffset = h.BaseOffset, h.LastOffset()
	res.LogStartOffset = l.StartOffset()
	if l.kick != nil {
		// FlushDurable: readers see the batch once the syncer fsynced it.
		select {
		case l.kick <- struct{}{}:
		default:
		}
	} else {
		l.notify()
	}
	if flushMsgs > 0 && res.LastOffset+1-l.durable.Load() >= flushMsgs {
		if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
			return res, err
		}
	}
	return res, nil
}

// writeLocked appends buf (batch h, offsets already set) to the active
// segment, rolling first if needed, and publishes the new end offset
// (caller holds wmu).
func (l *Log) writeLocked(buf []byte, h BatchHeader, nowMs int64) error {
	s := l.active()
	if l.shouldRoll(s, h, len(buf), nowMs) {
		if err := l.roll(nowMs); err != nil {
			return l.fail(fmt.Sprintf("roll segment %d", s.base), err)
		}
		s = l.active()
	}
	pos := s.size.Load()
	if _, err := s.f.WriteAt(buf, pos); err != nil {
		// Drop whatever part was written (recovery would cut it anyway)
		// and go offline: the file's state is no longer known.
		if terr := s.f.Truncate(pos); terr != nil {
			err = errors.Join(err, fmt.Errorf("truncate back to %d: %w", pos, terr))
		}
		return l.fail(fmt.Sprintf("write segment %d at position %d", s.base, pos), err)
	}
	ie, te := s.addBatch(h, pos, l.cfg.IndexIntervalBytes)
	if err := s.persistEntries(ie, te); err != nil {
		// The index is rebuilt on recovery; the data is what matters.
		l.lg.Warn("index write failed", "err", err)
	}
	s.size.Store(pos + int64(len(buf)))
	l.end.Store(h.LastOffset() + 1)
	l.prod.update(h)
	return nil
}

// notify wakes everyone waiting on Changed.
func (l *Log) notify() {
	l.chMu.Lock()
	if !l.chClosed {
		close(l.changed)
		l.changed = make(chan struct{})
	}
	l.chMu.Unlock()
}

// fail takes the log offline after an I/O error and returns the error
// every later call gets (the first one, if the log already failed).
func (l *Log) fail(op string, err error) *StorageError {
	se := &StorageError{Op: op, Err: err}
	if !l.failed.CompareAndSwap(nil, se) {
		return l.failed.Load()
	}
	l.lg.Error("PARTITION OFFLINE: storage failure; refusing produce and fetch until restart, which recovers the log from disk",
		"op", op, "err", err)
	l.notify()
	return se
}

// Failed returns the storage error that took the log offline, or nil.
func (l *Log) Failed() error {
	if se := l.failed.Load(); se != nil {
		return se
	}
	return nil
}

// active returns the active segment (caller holds wmu).
func (l *Log) active() *segment {
	l.smu.RLock()
	defer l.smu.RUnlock()
	return l.segs[len(l.segs)-1]
}

func (l *Log) shouldRoll(s *segment, h BatchHeader, n int, nowMs int64) bool {
	size := s.size.Load()
	if size == 0 {
		return false
	}
	if size+int64(n) > l.cfg.SegmentBytes {
		return true
	}
	if h.LastOffset()-s.base > maxRelOffset {
		return true
	}
	segMs := l.cfg.SegmentMs.Milliseconds()
	if s.rollTs >= 0 && h.MaxTimestamp >= 0 {
		return h.MaxTimestamp-s.rollTs >= segMs
	}
	return nowMs-s.created >= segMs
}

// roll seals the active segment and starts a new one at the end offset
// (caller holds wmu).
func (l *Log) roll(nowMs int64) error {
	old := l.active()
	if te := old.finalTimeEntry(); te != nil {
		if err := old.persistEntries(nil, te); err != nil {
			return err
		}
	}
	if err := old.f.Sync(); err != nil {
		return fmt.Errorf("log: sync segment %d: %w", old.base, err)
	}
	if err := old.closeIndexWriters(l.opts.sync); err != nil {
		return fmt.Errorf("log: sync indexes of segment %d: %w", old.base, err)
	}
	base := l.end.Load()
	s, err := openSegment(l.opts.fs, l.dir, base, nowMs)
	if err != nil {
		return err
	}
	if s.size.Load() != 0 {
		// A stale file with this name (cannot happen after recovery); start over.
		if err := s.f.Truncate(0); err != nil {
			s.close()
			return fmt.Errorf("log: truncate stale segment %d: %w", base, err)
		}
		s.size.Store(0)
	}
	if err := s.openIndexWriters(); err != nil {
		s.close()
		return err
	}
	if err := syncDir(l.dir, l.opts.sync); err != nil {
		s.close()
		return err
	}
	l.smu.Lock()
	l.segs = append(l.segs, s)
	l.smu.Unlock()
	if err := l.prod.writeSnapshot(l.dir, base, l.opts.sync); err != nil {
		l.lg.Warn("producer snapshot failed", "err", err)
	}
	l.ckpt.RecoveryPoint = base
	return writeCheckpoint(l.dir, l.ckpt, l.opts.sync)
}

// Read returns whole batches starting with the batch that contains offset,
// up to maxBytes but at least one batch, and only batches below
// HighWatermark. Offsets in [HighWatermark, EndOffset] return (nil, nil);
// offsets outside [StartOffset, EndOffset] return ErrOffsetOutOfRange; an
// offline log returns its StorageError.
func (l *Log) Read(offset int64, maxBytes int) ([]byte, error) {
	return l.read(offset, maxBytes, true)
}

// ReadStrict is Read without the "at least one batch" rule: when the first
// batch is larger than maxBytes it returns (nil, nil). Fetch uses it for
// every partition after the first non-empty one (KIP-74).
func (l *Log) ReadStrict(offset int64, maxBytes int) ([]byte, error) {
	return l.read(offset, maxBytes, false)
}

func (l *Log) read(offset int64, maxBytes int, minOne bool) ([]byte, error) {
	return l.readBelow(offset, maxBytes, minOne, false)
}

// readBelow reads below HighWatermark, or below EndOffset when toEnd.
func (l *Log) readBelow(offset int64, maxBytes int, minOne, toEnd bool) ([]byte, error) {
	l.smu.RLock()
	defer l.smu.RUnlock()
	if l.closed {
		return nil, ErrClosed
	}
	if se := l.failed.Load(); se != nil {
		return nil, se
	}
	hw := l.HighWatermark()
	end := l.end.Load()
	if toEnd {
		hw = end
	}
	if offset < l.start || offset > end {
		return nil, fmt.Errorf("%w: offset %d, log has [%d, %d)", ErrOffsetOutOfRange, offset, l.start, end)
	}
	if offset >= hw {
		return nil, nil
	}
	i := sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
	if i < 0 {
		i = 0
	}
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		size := s.size.Load()
		w := newSmallWindowReader(s.f, size, l.readWindow.Load())
		pos, _, found, err := s.findBatch(w, offset)
		if err != nil {
			return nil, err
		}
		if found {
			return readBatches(s.f, pos, size, maxBytes, hw, minOne)
		}
	}
	return nil, nil
}

// readBatches reads whole batches below offset hw from pos within size, at
// most maxBytes unless minOne and the first batch alone is larger.
func readBatches(f io.ReaderAt, pos, size int64, maxBytes int, hw int64, minOne bool) ([]byte, error) {
	if minOne && maxBytes < BatchHeaderSize {
		maxBytes = BatchHeaderSize
	}
	if maxBytes < lengthOverhead {
		return nil, nil
	}
	n := size - pos
	if n > int64(maxBytes) {
		n = int64(maxBytes)
	}
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, pos); err != nil {
		return nil, fmt.Errorf("log: read at position %d: %w", pos, err)
	}
	p := 0
	stopped := false // stopped at the high watermark or the size limit
	for p+lengthOverhead <= len(buf) {
		if int64(binary.BigEndian.Uint64(buf[p:])) >= hw {
			stopped = true
			break
		}
		bl := int(int32(binary.BigEndian.Uint32(buf[p+offLength:]))) + lengthOverhead
		if bl < BatchHeaderSize || p+bl > len(buf) {
			if bl >= BatchHeaderSize && pos+int64(p+bl) <= size {
				if p == 0 && minOne {
					// The first batch is larger than maxBytes: return it whole.
					big := make([]byte, bl)
					if _, err := f.ReadAt(big, pos); err != nil {
						return nil, fmt.Errorf("log: read at position %d: %w", pos, err)
					}
					return big, nil
				}
				stopped = true
			}
			break
		}
		p += bl
	}
	if p == 0 {
		if stopped {
			return nil, nil
		}
		return nil, corruptf("no complete batch at position %d", pos)
	}
	return buf[:p:p], nil
}

// StartOffset returns the log start offset.
func (l *Log) StartOffset() int64 {
	l.smu.RLock()
	defer l.smu.RUnlock()
	return l.start
}

// EndOffset returns the next offset to be assigned (the log end offset).
func (l *Log) EndOffset() int64 { return l.end.Load() }

// HighWatermark returns the offset below which records are visible to
// readers: the durable offset with FlushDurable (so nothing a crash could
// take back is ever read), else EndOffset.
func (l *Log) HighWatermark() int64 {
	end := l.end.Load()
	if l.kick != nil {
		if d := l.durable.Load(); d < end {
			end = d
		}
	}
	if c := l.hwCap.Load(); c >= 0 && c < end {
		return c
	}
	return end
}

// Changed returns a channel closed when HighWatermark may have grown (at
// the next Append, or fsync with FlushDurable), when the log goes offline
// or when it is closed.
func (l *Log) Changed() <-chan struct{} {
	l.chMu.Lock()
	defer l.chMu.Unlock()
	return l.changed
}

// Size returns the total size of the segment files in bytes.
func (l *Log) Size() int64 {
	l.smu.RLock()
	defer l.smu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size.Load()
	}
	return n
}

// SetConfig replaces the configuration; it applies to later appends and Clean calls.
func (l *Log) SetConfig(cfg Config) {
	l.wmu.Lock()
	l.cfg = cfg.normalized()
	l.readWindow.Store(int64(2 * l.cfg.IndexIntervalBytes))
	l.flushMs.Store(l.cfg.FlushMs.Milliseconds())
	l.wmu.Unlock()
	l.compactStale.Store(true)
}

// WaitDurable blocks until every offset <= offset is fsynced (offsets at or
// past the end offset mean everything appended so far). Concurrent waiters
// share one fsync. A failed fsync takes the log offline: this and every
// later wait for data not yet durable returns the StorageError.
func (l *Log) WaitDurable(ctx context.Context, offset int64) error {
	for {
		l.dmu.Lock()
		if end := l.end.Load(); offset >= end {
			offset = end - 1
		}
		if offset < l.durable.Load() {
			l.dmu.Unlock()
			return nil
		}
		if se := l.failed.Load(); se != nil {
			l.dmu.Unlock()
			return se
		}
		if l.syncing {
			ch := l.syncDone
			l.dmu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		l.syncing = true
		ch := make(chan struct{})
		l.syncDone = ch
		l.dmu.Unlock()

		target, err := l.syncActive()

		l.dmu.Lock()
		advanced := err == nil && target > l.durable.Load()
		if advanced {
			l.durable.Store(target)
		}
		if err == nil {
			l.lastSync.Store(l.nowMs())
		}
		l.syncing = false
		close(ch)
		l.dmu.Unlock()
		if advanced && l.kick != nil {
			l.notify()
		}
		if err != nil {
			return err
		}
	}
}

// syncActive fsyncs the active segment and returns the end offset it covers.
func (l *Log) syncActive() (int64, error) {
	// Read end before picking the segment: data below end is either in this
	// segment or in a sealed one, which roll fsynced already.
	target := l.end.Load()
	l.smu.RLock()
	if l.closed {
		l.smu.RUnlock()
		return 0, ErrClosed
	}
	s := l.segs[len(l.segs)-1]
	l.smu.RUnlock()
	if err := s.f.Sync(); err != nil {
		if errors.Is(err, os.ErrClosed) {
			// The segment was sealed (and fsynced) or deleted meanwhile.
			return target, nil
		}
		// The kernel may have dropped the dirty pages and will not report
		// it again: never retry and call the data durable.
		return 0, l.fail(fmt.Sprintf("fsync segment %d", s.base), err)
	}
	return target, nil
}

// Sync fsyncs everything appended so far.
func (l *Log) Sync() error {
	return l.WaitDurable(context.Background(), l.end.Load())
}

// FlushIfDue fsyncs when the topic sets flush.ms (Config.FlushMs) and data
// has been unflushed at least that long since the last fsync; the broker
// calls it periodically.
func (l *Log) FlushIfDue(now time.Time) error {
	ms := l.flushMs.Load()
	if ms <= 0 || l.durable.Load() >= l.end.Load() || now.UnixMilli()-l.lastSync.Load() < ms {
		return nil
	}
	return l.Sync()
}

// flusher is the background fsync loop: with FlushDurable it syncs after
// every append wake-up (group-committing whatever arrived meanwhile), with
// FlushInterval on a ticker.
func (l *Log) flusher() {
	defer close(l.flushDone)
	var tick <-chan time.Time
	if l.opts.flush.Mode == FlushInterval {
		t := time.NewTicker(l.opts.flush.Interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-l.stopFlush:
			return
		case <-l.kick:
		case <-tick:
		}
		if err := l.Sync(); err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrStorage) {
			l.lg.Error("background flush failed", "err", err)
		}
	}
}

// Close syncs and closes the log, recording a clean shutdown.
func (l *Log) Close() error {
	if l.stopFlush != nil {
		l.stopOnce.Do(func() {
			close(l.stopFlush)
			<-l.flushDone
		})
	}
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.wclose {
		return ErrClosed
	}
	l.wclose = true
	if se := l.failed.Load(); se != nil {
		// Record no clean shutdown: the next Open must recover from what
		// is really on disk.
		l.smu.Lock()
		l.closed = true
		for _, s := range l.segs {
			s.close()
		}
		l.smu.Unlock()
		l.lock.Close()
		l.closeChanged()
		return se
	}
	var first error
	keep := func(err error) {
		if err != nil && first == nil {
			first = err
		}
	}
	s := l.active()
	if te := s.finalTimeEntry(); te != nil {
		keep(s.persistEntries(nil, te))
	}
	keep(s.f.Sync())
	keep(s.closeIndexWriters(l.opts.sync))
	end := l.end.Load()
	keep(l.prod.writeSnapshot(l.dir, end, l.opts.sync))
	keep(l.saveHighWatermark(true))
	if first == nil {
		ck := l.ckpt
		ck.Clean = true
		keep(writeCheckpoint(l.dir, ck, l.opts.sync))
	}
	l.smu.Lock()
	l.closed = true
	for _, s := range l.segs {
		keep(s.close())
	}
	l.smu.Unlock()
	keep(l.lock.Close())
	l.closeChanged()
	l.dmu.Lock()
	if first == nil && end > l.durable.Load() {
		l.durable.Store(end)
	}
	l.dmu.Unlock()
	return first
}

// closeChanged wakes long-polling readers for good; they will see ErrClosed.
func (l *Log) closeChanged() {
	l.chMu.Lock()
	if !l.chClosed {
		close(l.changed)
		l.chClosed = true
	}
	l.chMu.Unlock()
}

// Remove closes the log and deletes its directory.
func (l *Log) Remove() error {
	if err := l.Close(); err != nil && !errors.Is(err, ErrClosed) {
		l.lg.Warn("close before remove failed", "err", err)
	}
	if err := os.RemoveAll(l.dir); err != nil {
		return fmt.Errorf("log: remove dir: %w", err)
	}
	return nil
}

// abandon closes the files without syncing or recording a clean shutdown,
// as a crash would leave them; tests use it to exercise recovery.
func (l *Log) abandon() {
	if l.stopFlush != nil {
		l.stopOnce.Do(func() {
			close(l.stopFlush)
			<-l.flushDone
		})
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	l.wclose = true
	l.smu.Lock()
	defer l.smu.Unlock()
	l.closed = true
	for _, s := range l.segs {
		s.close()
	}
	l.lock.Close()
}
