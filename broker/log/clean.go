package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"time"
)

// Clean applies retention (with Config.Delete: whole non-active segments
// older than RetentionMs or beyond RetentionBytes; always: segments wholly
// below the log start offset) and, with Config.Compact, compaction.
func (l *Log) Clean(now time.Time) error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.wmu.Lock()
	if l.wclose {
		l.wmu.Unlock()
		return ErrClosed
	}
	if se := l.failed.Load(); se != nil {
		l.wmu.Unlock()
		return se
	}
	cfg := l.cfg
	err := l.retain(now, cfg)
	l.wmu.Unlock()
	if err != nil {
		return err
	}
	if cfg.Compact {
		return l.compact(now, cfg)
	}
	return nil
}

// retain deletes expired segments (caller holds cleanMu and wmu).
func (l *Log) retain(now time.Time, cfg Config) error {
	l.smu.RLock()
	segs := append([]*segment(nil), l.segs...)
	start := l.start
	l.smu.RUnlock()
	candidates := segs[:len(segs)-1] // never the active segment
	n := 0                           // delete candidates[:n]
	// Wholly below the log start offset.
	for n < len(candidates) && segs[n+1].base <= start {
		n++
	}
	if cfg.Delete {
		if cfg.RetentionMs >= 0 {
			limit := now.Add(-cfg.RetentionMs).UnixMilli()
			for n < len(candidates) {
				ts := candidates[n].maxTs.Load()
				if ts < 0 {
					st, err := os.Stat(candidates[n].path(extLog))
					if err != nil {
						break
					}
					ts = st.ModTime().UnixMilli()
				}
				if ts >= limit {
					break
				}
				n++
			}
		}
		if cfg.RetentionBytes >= 0 {
			var total int64
			for _, s := range segs {
				total += s.size.Load()
			}
			for _, s := range candidates[:n] {
				total -= s.size.Load()
			}
			for n < len(candidates) && total-candidates[n].size.Load() >= cfg.RetentionBytes {
				total -= candidates[n].size.Load()
				n++
			}
		}
	}
	if n == 0 {
		return nil
	}
	return l.dropSegments(n)
}

// dropSegments deletes the n oldest segments and moves the log start offset
// to the base of the first remaining one (caller holds wmu).
func (l *Log) dropSegments(n int) error {
	l.smu.Lock()
	dropped := append([]*segment(nil), l.segs[:n]...)
	l.segs = append([]*segment(nil), l.segs[n:]...)
	if b := l.segs[0].base; b > l.start {
		l.start = b
	}
	start := l.start
	l.smu.Unlock()
	l.prod.pruneBelow(start)
	l.ckpt.LogStartOffset = start
	if err := writeCheckpoint(l.dir, l.ckpt, l.opts.sync); err != nil {
		return err
	}
	var first error
	for _, s := range dropped {
		l.lg.Info("deleting segment", "segment", s.base, "bytes", s.size.Load())
		if err := s.remove(); err != nil && first == nil {
			first = fmt.Errorf("log: delete segment %d: %w", s.base, err)
		}
	}
	return first
}

// DeleteRecords advances the log start offset to before (the DeleteRecords
// API) and deletes segments that lie wholly below it. before must be <= EndOffset.
func (l *Log) DeleteRecords(before int64) error {
	l.cleanMu.Lock()
	defer l.cleanMu.Unlock()
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.wclose {
		return ErrClosed
	}
	end := l.end.Load()
	if before < 0 || before > end {
		return fmt.Errorf("%w: delete before %d, end offset is %d", ErrOffsetOutOfRange, before, end)
	}
	l.smu.Lock()
	if before <= l.start {
		l.smu.Unlock()
		return nil
	}
	l.start = before
	n := 0
	for n+1 < len(l.segs) && l.segs[n+1].base <= before {
		n++
	}
	l.smu.Unlock()
	if n > 0 {
		return l.dropSegments(n)
	}
	l.prod.pruneBelow(before)
	l.ckpt.LogStartOffset = before
	return writeCheckpoint(l.dir, l.ckpt, l.opts.sync)
}

// Special timestamps of ListOffsets.
const (
	TimestampLatest   = -1 // the end offset
	TimestampEarliest = -2 // the log start offset
	TimestampMax      = -3 // the record with the largest timestamp
)

// OffsetForTimestamp returns the offset and timestamp of the first record
// with timestamp >= ts, or offset -1 (and timestamp -1) if there is none.
// TimestampEarliest returns the start offset and TimestampLatest the end
// offset, both with timestamp -1; TimestampMax returns the first record with
// the largest timestamp. Other negative values are treated as 0.
func (l *Log) OffsetForTimestamp(ts int64) (int64, int64, error) {
	l.smu.RLock()
	defer l.smu.RUnlock()
	if l.closed {
		return -1, -1, ErrClosed
	}
	switch {
	case ts == TimestampEarliest:
		return l.start, -1, nil
	case ts == TimestampLatest:
		return l.end.Load(), -1, nil
	case ts == TimestampMax:
		return l.maxTimestampRecord()
	case ts < 0:
		ts = 0
	}
	for _, s := range l.segs {
		if s.maxTs.Load() < ts {
			continue
		}
		size := s.size.Load()
		w := newWindowReader(s.f, size)
		pos := s.lookupTime(ts)
		for pos < size {
			h, err := w.batchAt(pos)
			if err != nil {
				return -1, -1, err
			}
			if h.MaxTimestamp >= ts && h.LastOffset() >= l.start && !h.IsControl() {
				b, err := w.body(pos, h)
				if err != nil {
					return -1, -1, err
				}
				_, recs, err := DecodeRecords(b)
				if err != nil {
					return -1, -1, err
				}
				for _, r := range recs {
					if r.Timestamp >= ts && r.Offset >= l.start {
						return r.Offset, r.Timestamp, nil
					}
				}
			}
			pos += int64(h.Size())
		}
	}
	return -1, -1, nil
}

// maxTimestampRecord finds the first record carrying the log's largest
// timestamp (caller holds smu).
func (l *Log) maxTimestampRecord() (int64, int64, error) {
	var best *segment
	for _, s := range l.segs {
		if mt := s.maxTs.Load(); mt >= 0 && (best == nil || mt > best.maxTs.Load()) {
			best = s
		}
	}
	if best == nil {
		return -1, -1, nil
	}
	want := best.maxTs.Load()
	size := best.size.Load()
	w := newWindowReader(best.f, size)
	for pos := int64(0); pos < size; {
		h, err := w.batchAt(pos)
		if err != nil {
			return -1, -1, err
		}
		if h.MaxTimestamp == want && h.LastOffset() >= l.start && !h.IsControl() {
			b, err := w.body(pos, h)
			if err != nil {
				return -1, -1, err
			}
			_, recs, err := DecodeRecords(b)
			if err != nil {
				return -1, -1, err
			}
			for _, r := range recs {
				if r.Timestamp == want && r.Offset >= l.start {
					return r.Offset, r.Timestamp, nil
				}
			}
		}
		pos += int64(h.Size())
	}
	// The record was compacted away or lies below the start offset.
	return -1, -1, nil
}

// compact rewrites the non-active segments keeping the newest record per
// key (caller holds cleanMu, not wmu).
func (l *Log) compact(now time.Time, cfg Config) error {
	l.smu.RLock()
	segs := append([]*segment(nil), l.segs[:len(l.segs)-1]...)
	activeBase := l.segs[len(l.segs)-1].base
	l.smu.RUnlock()
	if len(segs) == 0 {
		return nil
	}
	stale := l.compactStale.Swap(false)
	if !stale && activeBase == l.compactedBelow && now.UnixMilli() < l.tombstoneExpiry {
		return nil
	}
	l.compactions.Add(1)
	ok := false
	defer func() {
		if !ok {
			l.compactStale.Store(true)
		}
	}()
	cc := &codecs{}
	defer cc.close()
	// Pass 1: the newest offset of every key in the cleanable range.
	latest := make(map[string]int64)
	for _, s := range segs {
		err := forEachBatch(s, func(h BatchHeader, b []byte) error {
			if h.IsControl() {
				return nil
			}
			_, recs, err := cc.decodeRecords(b)
			if err != nil {
				return err
			}
			for _, r := range recs {
				if r.Key != nil {
					latest[string(r.Key)] = r.Offset
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("log: compaction scan of segment %d: %w", s.base, err)
		}
	}
	tombLimit := now.Add(-cfg.DeleteRetentionMs).UnixMilli()
	expiry := int64(math.MaxInt64)
	keep := func(r Record) bool {
		if r.Key == nil {
			return true
		}
		if latest[string(r.Key)] != r.Offset {
			return false
		}
		if r.Value != nil {
			return true
		}
		if r.Timestamp < tombLimit {
			return false
		}
		// A kept tombstone: the next compaction is due when it expires.
		if e := r.Timestamp + cfg.DeleteRetentionMs.Milliseconds() + 1; e < expiry {
			expiry = e
		}
		return true
	}
	// Pass 2: rewrite segment by segment.
	for _, s := range segs {
		if err := l.compactSegment(cc, s, keep, cfg.IndexIntervalBytes); err != nil {
			return fmt.Errorf("log: compact segment %d: %w", s.base, err)
		}
	}
	l.compactedBelow, l.tombstoneExpiry = activeBase, expiry
	ok = true
	return nil
}

// forEachBatch calls fn for every batch of a sealed segment.
func forEachBatch(s *segment, fn func(h BatchHeader, b []byte) error) error {
	size := s.size.Load()
	w := newWindowReader(s.f, size)
	for pos := int64(0); pos < size; {
		h, err := w.batchAt(pos)
		if err != nil {
			return err
		}
		b, err := w.body(pos, h)
		if err != nil {
			return err
		}
		if err := fn(h, b); err != nil {
			return err
		}
		pos += int64(h.Size())
	}
	return nil
}

func (l *Log) compactSegment(cc *codecs, s *segment, keep func(Record) bool, interval int) error {
	tmpPath := s.path(extCleaned)
	os.Remove(tmpPath)
	f, err := l.opts.fs.OpenFile(tmpPath)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmpPath)
		}
	}()
	changed := false
	var pos int64
	err = forEachBatch(s, func(h BatchHeader, b []byte) error {
		out := b
		if !h.IsControl() {
			_, recs, err := cc.decodeRecords(b)
			if err != nil {
				return err
			}
			kept := recs[:0:0]
			for _, r := range recs {
				if keep(r) {
					kept = append(kept, r)
				}
			}
			switch {
			case len(kept) == len(recs):
			case len(kept) == 0:
				changed = true
				return nil
			default:
				changed = true
				if out, err = cc.encodeBatch(h, kept); err != nil {
					return err
				}
			}
		}
		if _, err := f.WriteAt(out, pos); err != nil {
			return err
		}
		pos += int64(len(out))
		return nil
	})
	if err != nil || !changed {
		return err
	}
	if err := f.Sync(); err != nil {
		return err
	}
	ns := &segment{dir: s.dir, base: s.base, f: f, next: s.base, rollTs: -1, created: s.created}
	ns.size.Store(pos)
	ns.maxTs.Store(-1)
	res, err := ns.scan(interval, -1)
	if err != nil {
		return err
	}
	if res.truncated {
		return fmt.Errorf("compacted data failed validation: %w", res.reason)
	}
	if ns.maxTs.Load() < s.maxTs.Load() && ns.size.Load() > 0 {
		// Keep the segment's age for retention even if its newest record went.
		ns.maxTs.Store(s.maxTs.Load())
	}
	ns.finalTimeEntry()

	// Close and retention wait for cleanMu (held by our caller) and appends
	// never touch sealed segments, so only readers run concurrently; they
	// keep using the old file descriptor until the swap below.
	l.smu.RLock()
	idx := -1
	for i, c := range l.segs {
		if c == s {
			idx = i
		}
	}
	active := idx == len(l.segs)-1
	l.smu.RUnlock()
	if idx < 0 || active {
		return nil // cannot happen under cleanMu
	}
	// Remove the old indexes durably before the rename, so a crash can never
	// leave old indexes next to new data (missing ones are rebuilt on open).
	for _, ext := range []string{extIndex, extTimeIndex} {
		if err := os.Remove(s.path(ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := syncDir(l.dir, l.opts.sync); err != nil {
		return err
	}
	if err := os.Rename(tmpPath, s.path(extLog)); err != nil {
		return err
	}
	ok = true
	l.smu.Lock()
	l.segs[idx] = ns
	l.smu.Unlock()
	s.close()
	if err := syncDir(l.dir, l.opts.sync); err != nil {
		return err
	}
	return ns.writeIndexFiles(l.opts.sync)
}
