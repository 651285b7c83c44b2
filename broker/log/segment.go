package log

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
)

const (
	idxEntrySize  = 8
	tidxEntrySize = 16

	extLog       = ".log"
	extIndex     = ".index"
	extTimeIndex = ".timeindex"
	extSnapshot  = ".snapshot"
	extCleaned   = ".cleaned"
	extTmp       = ".tmp"
	lockFile     = "lock"
)

type idxEntry struct {
	rel uint32
	pos uint32
}

type tidxEntry struct {
	ts  int64
	rel uint32
	pos uint32
}

// segment is one N.log file with its in-memory indexes.
type segment struct {
	dir  string
	base int64
	f    File

	mu     sync.RWMutex // guards index and tindex
	index  []idxEntry
	tindex []tidxEntry

	size  atomic.Int64 // published bytes (readers never look past it)
	maxTs atomic.Int64 // largest MaxTimestamp of its batches, -1 if none

	// Writer-only state (guarded by Log.wmu).
	next     int64 // offset after the last batch (base if empty)
	lastRel  uint32
	lastPos  uint32
	rollTs   int64 // MaxTimestamp of the first batch, -1 if empty/unknown
	created  int64 // wall clock ms when created/opened, for segment.ms without timestamps
	sinceIdx int   // bytes appended since the last index entry
	ixf      *os.File
	tixf     *os.File
}

func segName(dir string, base int64, ext string) string {
	return filepath.Join(dir, fmt.Sprintf("%020d%s", base, ext))
}

func (s *segment) path(ext string) string { return segName(s.dir, s.base, ext) }

// openSegment opens (creating if needed) the data file of a segment.
func openSegment(fsys FS, dir string, base int64, nowMs int64) (*segment, error) {
	s := &segment{dir: dir, base: base, next: base, rollTs: -1, created: nowMs}
	f, err := fsys.OpenFile(s.path(extLog))
	if err != nil {
		return nil, fmt.Errorf("log: open segment: %w", err)
	}
	size, err := f.Size()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("log: stat segment: %w", err)
	}
	s.f = f
	s.size.Store(size)
	s.maxTs.Store(-1)
	return s, nil
}

// addBatch updates the in-memory indexes for a batch written at pos.
// Called by the single writer; it returns the entries that were added so
// the caller can persist them.
func (s *segment) addBatch(h BatchHeader, pos int64, interval int) (newIdx *idxEntry, newTidx *tidxEntry) {
	rel := uint32(h.BaseOffset - s.base)
	if s.rollTs < 0 && pos == 0 {
		s.rollTs = h.MaxTimestamp
	}
	if h.MaxTimestamp > s.maxTs.Load() {
		s.maxTs.Store(h.MaxTimestamp)
	}
	if s.sinceIdx >= interval && pos > 0 {
		e := idxEntry{rel: rel, pos: uint32(pos)}
		s.mu.Lock()
		s.index = append(s.index, e)
		var te *tidxEntry
		if mt := s.maxTs.Load(); mt >= 0 && (len(s.tindex) == 0 || mt > s.tindex[len(s.tindex)-1].ts) {
			t := tidxEntry{ts: mt, rel: rel, pos: uint32(pos)}
			s.tindex = append(s.tindex, t)
			te = &t
		}
		s.mu.Unlock()
		s.sinceIdx = 0
		newIdx, newTidx = &e, te
	}
	s.sinceIdx += h.Size()
	s.lastRel, s.lastPos = rel, uint32(pos)
	s.next = h.LastOffset() + 1
	return newIdx, newTidx
}

// finalTimeEntry appends a time-index entry carrying the segment's largest
// timestamp if the last entry does not already; it returns the entry added.
func (s *segment) finalTimeEntry() *tidxEntry {
	mt := s.maxTs.Load()
	if mt < 0 || s.size.Load() == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tindex) > 0 && s.tindex[len(s.tindex)-1].ts >= mt {
		return nil
	}
	t := tidxEntry{ts: mt, rel: s.lastRel, pos: s.lastPos}
	if len(s.tindex) > 0 && s.tindex[len(s.tindex)-1].pos > t.pos {
		return nil
	}
	s.tindex = append(s.tindex, t)
	return &t
}

// lookup returns the position of the last indexed batch with base <= off.
func (s *segment) lookup(off int64) int64 {
	if off <= s.base {
		return 0
	}
	rel := off - s.base
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := sort.Search(len(s.index), func(i int) bool { return int64(s.index[i].rel) > rel })
	if i == 0 {
		return 0
	}
	return int64(s.index[i-1].pos)
}

// lookupTime returns the position of the last time-indexed batch all of
// whose records (and those before it) are older than ts.
func (s *segment) lookupTime(ts int64) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	i := sort.Search(len(s.tindex), func(i int) bool { return s.tindex[i].ts >= ts })
	if i == 0 {
		return 0
	}
	return int64(s.tindex[i-1].pos)
}

// findBatch walks batch headers from the indexed position to the first
// batch whose last offset is >= off. found is false if there is none.
func (s *segment) findBatch(w *windowReader, off int64) (pos int64, h BatchHeader, found bool, err error) {
	pos = s.lookup(off)
	for pos < w.limit {
		h, err = w.batchAt(pos)
		if err != nil {
			return 0, h, false, err
		}
		if h.LastOffset() >= off {
			return pos, h, true, nil
		}
		pos += int64(h.Size())
	}
	return 0, h, false, nil
}

// encodeIndex serializes the offset index.
func encodeIndex(entries []idxEntry) []byte {
	b := make([]byte, len(entries)*idxEntrySize)
	for i, e := range entries {
		binary.BigEndian.PutUint32(b[i*idxEntrySize:], e.rel)
		binary.BigEndian.PutUint32(b[i*idxEntrySize+4:], e.pos)
	}
	return b
}

func encodeTimeIndex(entries []tidxEntry) []byte {
	b := make([]byte, len(entries)*tidxEntrySize)
	for i, e := range entries {
		o := i * tidxEntrySize
		binary.BigEndian.PutUint64(b[o:], uint64(e.ts))
		binary.BigEndian.PutUint32(b[o+8:], e.rel)
		binary.BigEndian.PutUint32(b[o+12:], e.pos)
	}
	return b
}

var errBadIndex = errors.New("log: invalid index file")

// loadIndexes reads both index files and validates them against the data.
func (s *segment) loadIndexes() error {
	size := s.size.Load()
	ib, err := os.ReadFile(s.path(extIndex))
	if err != nil {
		return err
	}
	tb, err := os.ReadFile(s.path(extTimeIndex))
	if err != nil {
		return err
	}
	if len(ib)%idxEntrySize != 0 || len(tb)%tidxEntrySize != 0 {
		return fmt.Errorf("%w: size not a multiple of the entry size", errBadIndex)
	}
	idx := make([]idxEntry, len(ib)/idxEntrySize)
	for i := range idx {
		e := idxEntry{
			rel: binary.BigEndian.Uint32(ib[i*idxEntrySize:]),
			pos: binary.BigEndian.Uint32(ib[i*idxEntrySize+4:]),
		}
		if int64(e.pos) >= size || (i > 0 && (e.rel <= idx[i-1].rel || e.pos <= idx[i-1].pos)) {
			return fmt.Errorf("%w: offset index entry %d out of order or past the data", errBadIndex, i)
		}
		idx[i] = e
	}
	tidx := make([]tidxEntry, len(tb)/tidxEntrySize)
	for i := range tidx {
		o := i * tidxEntrySize
		e := tidxEntry{
			ts:  int64(binary.BigEndian.Uint64(tb[o:])),
			rel: binary.BigEndian.Uint32(tb[o+8:]),
			pos: binary.BigEndian.Uint32(tb[o+12:]),
		}
		if int64(e.pos) >= size || e.ts < 0 || (i > 0 && (e.ts <= tidx[i-1].ts || e.rel < tidx[i-1].rel || e.pos < tidx[i-1].pos)) {
			return fmt.Errorf("%w: time index entry %d out of order or past the data", errBadIndex, i)
		}
		tidx[i] = e
	}
	w := newWindowReader(s.f, size)
	check := func(rel uint32, pos uint32) error {
		h, err := w.batchAt(int64(pos))
		if err != nil {
			return fmt.Errorf("%w: %v", errBadIndex, err)
		}
		if h.BaseOffset != s.base+int64(rel) {
			return fmt.Errorf("%w: entry points at offset %d, want %d", errBadIndex, h.BaseOffset, s.base+int64(rel))
		}
		return nil
	}
	if len(idx) > 0 {
		if err := check(idx[len(idx)-1].rel, idx[len(idx)-1].pos); err != nil {
			return err
		}
	}
	if len(tidx) > 0 {
		if err := check(tidx[len(tidx)-1].rel, tidx[len(tidx)-1].pos); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.index, s.tindex = idx, tidx
	s.mu.Unlock()
	if len(tidx) > 0 {
		s.maxTs.Store(tidx[len(tidx)-1].ts)
	}
	return nil
}

// loadTail walks the batch headers after the last index entry to restore
// the writer state (next offset, largest timestamp, ...) without a full scan.
func (s *segment) loadTail() error {
	size := s.size.Load()
	w := newWindowReader(s.f, size)
	if size == 0 {
		return nil
	}
	h0, err := w.batchAt(0)
	if err != nil {
		return err
	}
	s.rollTs = h0.MaxTimestamp
	var pos int64
	s.mu.RLock()
	if n := len(s.index); n > 0 {
		pos = int64(s.index[n-1].pos)
	}
	s.mu.RUnlock()
	s.sinceIdx = 0
	prevLast := s.base - 1
	for pos < size {
		h, err := w.batchAt(pos)
		if err != nil {
			return err
		}
		if h.BaseOffset <= prevLast || h.BaseOffset < s.base || h.LastOffset()-s.base > maxRelOffset {
			return corruptf("batch at position %d: base offset %d does not follow %d", pos, h.BaseOffset, prevLast)
		}
		prevLast = h.LastOffset()
		if h.MaxTimestamp > s.maxTs.Load() {
			s.maxTs.Store(h.MaxTimestamp)
		}
		s.lastRel, s.lastPos = uint32(h.BaseOffset-s.base), uint32(pos)
		s.next = h.LastOffset() + 1
		s.sinceIdx += h.Size()
		pos += int64(h.Size())
	}
	return nil
}

// maxRelOffset bounds offsets relative to the segment base (they are
// stored as uint32; Kafka uses the int32 range).
const maxRelOffset = 1<<31 - 1

// scanResult reports what a full scan found.
type scanResult struct {
	validEnd  int64 // bytes of valid batches
	truncated bool  // the data had an invalid tail
	reason    error
}

// scan validates every batch from the start of the data, rebuilds both
// indexes and the writer state and truncates an invalid tail.
func (s *segment) scan(interval int, prevLast int64) (scanResult, error) {
	size := s.size.Load()
	w := newWindowReader(s.f, size)
	s.mu.Lock()
	s.index, s.tindex = nil, nil
	s.mu.Unlock()
	s.maxTs.Store(-1)
	s.rollTs, s.sinceIdx, s.next = -1, 0, s.base
	if prevLast < s.base-1 {
		prevLast = s.base - 1
	}
	var res scanResult
	var pos int64
	for pos < size {
		h, err := w.batchAt(pos)
		if err == nil {
			var b []byte
			b, err = w.body(pos, h)
			if err == nil {
				if got := batchCRC(b); got != h.CRC {
					err = corruptf("batch at position %d: CRC is %#08x, computed %#08x", pos, h.CRC, got)
				}
			}
		}
		if err == nil && (h.BaseOffset <= prevLast || h.LastOffset()-s.base > maxRelOffset) {
			err = corruptf("batch at position %d: base offset %d does not follow offset %d", pos, h.BaseOffset, prevLast)
		}
		if err != nil {
			if !errors.Is(err, ErrCorruptBatch) {
				return res, err
			}
			res.truncated, res.reason = true, err
			break
		}
		s.addBatch(h, pos, interval)
		prevLast = h.LastOffset()
		pos += int64(h.Size())
	}
	res.validEnd = pos
	if res.truncated {
		if err := s.f.Truncate(pos); err != nil {
			return res, fmt.Errorf("log: truncate segment %d: %w", s.base, err)
		}
		s.size.Store(pos)
	}
	return res, nil
}

// writeIndexFiles replaces both index files with the in-memory indexes.
func (s *segment) writeIndexFiles(sync func(*os.File) error) error {
	s.mu.RLock()
	ib := encodeIndex(s.index)
	tb := encodeTimeIndex(s.tindex)
	s.mu.RUnlock()
	if err := writeFileAtomic(s.path(extIndex), ib, sync); err != nil {
		return err
	}
	return writeFileAtomic(s.path(extTimeIndex), tb, sync)
}

// openIndexWriters opens the index files of the active segment for appends.
func (s *segment) openIndexWriters() error {
	var err error
	if s.ixf, err = os.OpenFile(s.path(extIndex), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return fmt.Errorf("log: open index: %w", err)
	}
	if s.tixf, err = os.OpenFile(s.path(extTimeIndex), os.O_RDWR|os.O_CREATE, 0o644); err != nil {
		return fmt.Errorf("log: open time index: %w", err)
	}
	s.mu.RLock()
	ni, nt := len(s.index), len(s.tindex)
	s.mu.RUnlock()
	if err := s.ixf.Truncate(int64(ni * idxEntrySize)); err != nil {
		return fmt.Errorf("log: truncate index: %w", err)
	}
	if err := s.tixf.Truncate(int64(nt * tidxEntrySize)); err != nil {
		return fmt.Errorf("log: truncate time index: %w", err)
	}
	return nil
}

// persistEntries appends newly added index entries to the open index files.
func (s *segment) persistEntries(ie *idxEntry, te *tidxEntry) error {
	s.mu.RLock()
	ni, nt := len(s.index), len(s.tindex)
	s.mu.RUnlock()
	if ie != nil && s.ixf != nil {
		if _, err := s.ixf.WriteAt(encodeIndex([]idxEntry{*ie}), int64((ni-1)*idxEntrySize)); err != nil {
			return fmt.Errorf("log: write index: %w", err)
		}
	}
	if te != nil && s.tixf != nil {
		if _, err := s.tixf.WriteAt(encodeTimeIndex([]tidxEntry{*te}), int64((nt-1)*tidxEntrySize)); err != nil {
			return fmt.Errorf("log: write time index: %w", err)
		}
	}
	return nil
}

// closeIndexWriters closes the index files (after an optional sync).
func (s *segment) closeIndexWriters(sync func(*os.File) error) error {
	var first error
	for _, f := range []*os.File{s.ixf, s.tixf} {
		if f == nil {
			continue
		}
		if sync != nil {
			if err := sync(f); err != nil && first == nil {
				first = err
			}
		}
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	s.ixf, s.tixf = nil, nil
	return first
}

// close closes all files of the segment.
func (s *segment) close() error {
	err := s.closeIndexWriters(nil)
	if e := s.f.Close(); e != nil && err == nil {
		err = e
	}
	return err
}

// remove closes and deletes all files of the segment.
func (s *segment) remove() error {
	s.close()
	var first error
	for _, ext := range []string{extLog, extIndex, extTimeIndex} {
		if err := os.Remove(s.path(ext)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = err
		}
	}
	return first
}

// WriteFileAtomic replaces the file at path with data so that a crash
// leaves either the old or the new contents, never a mix: it writes
// path.tmp, fsyncs it, renames it over path and fsyncs the directory. It is
// the one atomic-file helper of the broker (segment indexes, producer
// snapshots, checkpoints and the broker's topic metadata).
func WriteFileAtomic(path string, data []byte) error {
	return writeFileAtomic(path, data, (*os.File).Sync)
}

// writeFileAtomic is WriteFileAtomic with the fsync call given, so the
// log's fault-injecting tests can fail it.
func writeFileAtomic(path string, data []byte, sync func(*os.File) error) error {
	tmp := path + extTmp
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("log: create %s: %w", filepath.Base(tmp), err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("log: write %s: %w", filepath.Base(tmp), err)
	}
	if err := sync(f); err != nil {
		f.Close()
		return fmt.Errorf("log: sync %s: %w", filepath.Base(tmp), err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("log: close %s: %w", filepath.Base(tmp), err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("log: rename %s: %w", filepath.Base(tmp), err)
	}
	return syncDir(filepath.Dir(path), sync)
}

func syncDir(dir string, sync func(*os.File) error) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("log: open dir: %w", err)
	}
	defer d.Close()
	if err := sync(d); err != nil {
		return fmt.Errorf("log: sync dir: %w", err)
	}
	return nil
}
