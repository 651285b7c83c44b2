package log

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// epochFileName holds a replicated partition's leader-epoch cache.
const epochFileName = "leader-epochs"

// EpochEntry says that leader epoch Epoch wrote its first record at
// StartOffset.
type EpochEntry struct {
	Epoch       int32
	StartOffset int64
}

// epochCache is the in-memory leader-epoch cache, ascending in both fields.
type epochCache struct {
	entries []EpochEntry
}

// encodeEpochs writes the cache as text: a version line (0), a count line,
// then one "epoch start-offset" line per entry.
func encodeEpochs(es []EpochEntry) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "0\n%d\n", len(es))
	for _, e := range es {
		fmt.Fprintf(&b, "%d %d\n", e.Epoch, e.StartOffset)
	}
	return b.Bytes()
}

func decodeEpochs(raw []byte) ([]EpochEntry, error) {
	sc := bufio.NewScanner(bytes.NewReader(raw))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) < 2 || lines[0] != "0" {
		return nil, errors.New("want version line 0 and a count line")
	}
	n, err := strconv.Atoi(lines[1])
	if err != nil || n < 0 || n != len(lines)-2 {
		return nil, fmt.Errorf("count line %q does not match %d entries", lines[1], len(lines)-2)
	}
	es := make([]EpochEntry, 0, n)
	for i, ln := range lines[2:] {
		f := strings.Fields(ln)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d %q: want \"epoch offset\"", i+3, ln)
		}
		ep, err1 := strconv.ParseInt(f[0], 10, 32)
		off, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || ep < 0 || off < 0 {
			return nil, fmt.Errorf("line %d %q: bad numbers", i+3, ln)
		}
		if k := len(es); k > 0 && (int32(ep) <= es[k-1].Epoch || off < es[k-1].StartOffset) {
			return nil, fmt.Errorf("line %d %q: entries must ascend", i+3, ln)
		}
		es = append(es, EpochEntry{Epoch: int32(ep), StartOffset: off})
	}
	return es, nil
}

// loadEpochs reads the epoch cache, dropping entries past the end offset
// (caller holds wmu or the log is not yet shared).
func (l *Log) loadEpochs() error {
	raw, err := os.ReadFile(filepath.Join(l.dir, epochFileName))
	if errors.Is(err, fs.ErrNotExist) {
		l.epochs.entries = nil
		return nil
	}
	if err != nil {
		return fmt.Errorf("log: read %s: %w", epochFileName, err)
	}
	es, err := decodeEpochs(raw)
	if err != nil {
		return fmt.Errorf("log: %s: %w", filepath.Join(l.dir, epochFileName), err)
	}
	end := l.end.Load()
	for len(es) > 0 && es[len(es)-1].StartOffset > end {
		es = es[:len(es)-1]
	}
	l.epochs.entries = es
	return nil
}

func (l *Log) saveEpochsLocked() error {
	return writeFileAtomic(filepath.Join(l.dir, epochFileName), encodeEpochs(l.epochs.entries), l.opts.sync)
}

// assignEpochLocked records that epoch starts at start (caller holds wmu).
func (l *Log) assignEpochLocked(epoch int32, start int64) error {
	es := l.epochs.entries
	if k := len(es); k > 0 && epoch <= es[k-1].Epoch {
		return nil
	}
	// An older epoch that wrote nothing before start is superseded.
	for len(es) > 0 && es[len(es)-1].StartOffset >= start {
		es = es[:len(es)-1]
	}
	l.epochs.entries = append(es, EpochEntry{Epoch: epoch, StartOffset: start})
	return l.saveEpochsLocked()
}

// AssignEpoch records that leader epoch starts at the current end offset
// (a replica becoming leader). Older or equal epochs are ignored.
func (l *Log) AssignEpoch(epoch int32) error {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if l.wclose {
		return ErrClosed
	}
	return l.assignEpochLocked(epoch, l.end.Load())
}

// LatestEpoch returns the newest leader epoch in the cache (-1 if none).
func (l *Log) LatestEpoch() int32 {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if k := len(l.epochs.entries); k > 0 {
		return l.epochs.entries[k-1].Epoch
	}
	return -1
}

// Epochs returns a copy of the leader-epoch cache.
func (l *Log) Epochs() []EpochEntry {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	return append([]EpochEntry(nil), l.epochs.entries...)
}

// EpochEndOffset answers OffsetForLeaderEpoch for epoch: the largest epoch
// in the cache that is <= epoch, and the offset after its last record (the
// next epoch's start offset, or the end offset for the newest epoch). When
// every cached epoch is newer than epoch it returns (epoch, start offset
// of the oldest cached epoch): whatever the asker wrote at or after that
// offset in epoch or earlier diverges. With an empty cache it returns
// (-1, -1).
func (l *Log) EpochEndOffset(epoch int32) (int32, int64) {
	l.wmu.Lock()
	defer l.wmu.Unlock()
	es := l.epochs.entries
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Epoch <= epoch {
			if i == len(es)-1 {
				return es[i].Epoch, l.end.Load()
			}
			return es[i].Epoch, es[i+1].StartOffset
		}
	}
	if len(es) > 0 {
		return epoch, es[0].StartOffset
	}
	return -1, -1
}

// SetHighWatermarkCap caps HighWatermark (what Read returns) at hw: the
// replicated high watermark a partition leader computes from its in-sync
// followers, or the one a follower learns from its leader. -1 removes the
// cap. The cap is checkpointed (at most every few seconds, and at Close)
// and restored by Open, bounded by the end offset, so a restarted leader
// starts from the high watermark it had.
func (l *Log) SetHighWatermarkCap(hw int64) {
	if l.hwCap.Swap(hw) != hw {
		l.notify()
		if err := l.saveHighWatermark(false); err != nil {
			l.lg.Warn("high-watermark checkpoint failed", "err", err)
		}
	}
}

// ReadReplica is Read up to EndOffset instead of HighWatermark: followers
// fetching from the leader.
func (l *Log) ReadReplica(offset int64, maxBytes int) ([]byte, error) {
	return l.readBelow(offset, maxBytes, true, true)
}

// AppendReplica appends a batch copied from the partition leader, keeping
// its offsets and leader epoch. BaseOffset must be at or past EndOffset. A
// leader epoch newer than the cache's starts a new cache entry.
func (l *Log) AppendReplica(v ValidBatch) (AppendResult, error) {
	res := AppendResult{BaseOffset: -1, LastOffset: -1, LogAppendTime: -1, LogStartOffset: -1}
	h, batch := v.h, v.b
	l.wmu.Lock()
	if l.wclose {
		l.wmu.Unlock()
		return res, ErrClosed
	}
	if se := l.failed.Load(); se != nil {
		l.wmu.Unlock()
		return res, se
	}
	if end := l.end.Load(); h.BaseOffset < end {
		l.wmu.Unlock()
		return res, fmt.Errorf("log: replicated batch at offset %d is below the end offset %d", h.BaseOffset, end)
	}
	if k := len(l.epochs.entries); h.PartitionLeaderEpoch >= 0 && (k == 0 || h.PartitionLeaderEpoch > l.epochs.entries[k-1].Epoch) {
		if err := l.assignEpochLocked(h.PartitionLeaderEpoch, h.BaseOffset); err != nil {
			l.wmu.Unlock()
			return res, l.fail("write leader epoch cache", err)
		}
	}
	buf := make([]byte, len(batch))
	copy(buf, batch)
	if err := l.writeLocked(buf, h, l.nowMs()); err != nil {
		l.wmu.Unlock()
		return res, err
	}
	l.wmu.Unlock()
	res.BaseOffset, res.LastOffset = h.BaseOffset, h.LastOffset()
	res.LogStartOffset = l.StartOffset()
	if l.kick != nil {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	} else {
		l.notify()
	}
	return res, nil
}

// Truncate removes every batch at or after offset (a follower dropping a
// divergent tail after OffsetForLeaderEpoch); a batch straddling offset is
// removed whole. The leader-epoch cache loses entries starting at or after
// the new end. An offset below the log start offset keeps nothing: the log
// is truncated fully and starts at offset, as TruncateFullyAndStartAt.
func (l *Log) Truncate(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("log: truncate to %d: negative offset", offset)
	}
	unlock, err := l.lockReplace()
	if err != nil {
		return err
	}
	defer unlock()
	if offset >= l.end.Load() {
		return nil
	}
	if offset < l.StartOffset() {
		return l.truncateFullyLocked(offset)
	}
	release := l.holdSyncSlot()
	err = l.truncateLocked(offset)
	end := release()
	if err != nil {
		return l.fail(fmt.Sprintf("truncate to offset %d", offset), err)
	}
	for len(l.epochs.entries) > 0 && l.epochs.entries[len(l.epochs.entries)-1].StartOffset >= end {
		l.epochs.entries = l.epochs.entries[:len(l.epochs.entries)-1]
	}
	if err := l.saveEpochsLocked(); err != nil {
		return l.fail("write leader epoch cache", err)
	}
	if l.hwCap.Load() > end {
		l.hwCap.Store(end)
	}
	l.lg.Info("log truncated", "offset", offset, "end", end)
	l.notify()
	return nil
}

// lockReplace takes cleanMu and wmu for an operation that replaces
// segments, refusing a closed or failed log; unlock releases both.
func (l *Log) lockReplace() (unlock func(), err error) {
	l.cleanMu.Lock()
	l.wmu.Lock()
	unlock = func() {
		l.wmu.Unlock()
		l.cleanMu.Unlock()
	}
	if l.wclose {
		unlock()
		return nil, ErrClosed
	}
	if se := l.failed.Load(); se != nil {
		unlock()
		return nil, se
	}
	return unlock, nil
}

// holdSyncSlot keeps fsyncs out while segments are replaced (caller holds
// wmu). The returned release marks everything up to the new end durable
// (the replacement synced it), frees the slot and returns that end.
func (l *Log) holdSyncSlot() (release func() int64) {
	var done chan struct{}
	for {
		l.dmu.Lock()
		if !l.syncing {
			l.syncing = true
			done = make(chan struct{})
			l.syncDone = done
			l.dmu.Unlock()
			break
		}
		ch := l.syncDone
		l.dmu.Unlock()
		<-ch
	}
	return func() int64 {
		l.dmu.Lock()
		defer l.dmu.Unlock()
		end := l.end.Load()
		l.durable.Store(end)
		l.syncing = false
		close(done)
		return end
	}
}

// TruncateFullyAndStartAt empties the log and restarts it at offset, for a
// follower whose end is below its leader's log start offset (after
// DeleteRecords or retention on the leader while the follower was away):
// every segment, index and producer snapshot is removed, the leader-epoch
// cache is cleared, and the log start, end and high watermark become
// offset. Appends then continue at offset.
func (l *Log) TruncateFullyAndStartAt(offset int64) error {
	if offset < 0 {
		return fmt.Errorf("log: start at %d: negative offset", offset)
	}
	unlock, err := l.lockReplace()
	if err != nil {
		return err
	}
	defer unlock()
	return l.truncateFullyLocked(offset)
}

// truncateFullyLocked is TruncateFullyAndStartAt under lockReplace.
func (l *Log) truncateFullyLocked(offset int64) error {
	release := l.holdSyncSlot()
	err := l.resetLocked(offset)
	end := release()
	if err != nil {
		return l.fail(fmt.Sprintf("truncate fully and start at offset %d", offset), err)
	}
	l.epochs.entries = nil
	if err := l.saveEpochsLocked(); err != nil {
		return l.fail("write leader epoch cache", err)
	}
	l.hwCap.Store(end)
	if err := l.saveHighWatermark(true); err != nil {
		return l.fail("write high watermark", err)
	}
	l.lg.Info("log truncated fully", "start", end)
	l.notify()
	return nil
}

// resetLocked removes every segment's files and producer snapshot, and
// reloads the log empty at offset (caller holds cleanMu, wmu and the sync
// slot).
func (l *Log) resetLocked(offset int64) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	for _, s := range l.segs {
		if err := s.remove(); err != nil {
			return err
		}
	}
	snaps, err := listSnapshots(l.dir)
	if err != nil {
		return err
	}
	for _, off := range snaps {
		if err := os.Remove(segName(l.dir, off, extSnapshot)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	if err := writeCheckpoint(l.dir, checkpoint{RecoveryPoint: offset, LogStartOffset: offset}, l.opts.sync); err != nil {
		return err
	}
	if err := syncDir(l.dir, l.opts.sync); err != nil {
		return err
	}
	l.segs = nil
	return l.load()
}

// truncateLocked cuts the files and reloads the log from disk (caller
// holds cleanMu, wmu and the sync slot).
func (l *Log) truncateLocked(offset int64) error {
	l.smu.Lock()
	defer l.smu.Unlock()
	cut := -1 // index of the segment cut in the middle
	var cutPos int64
	for i, s := range l.segs {
		if s.base >= offset {
			break
		}
		size := s.size.Load()
		w := newWindowReader(s.f, size)
		pos, _, found, err := s.findBatch(w, offset)
		if err != nil {
			return err
		}
		if found {
			cut, cutPos = i, pos
			break
		}
	}
	first := l.segs[0].base
	for _, s := range l.segs {
		s.close()
	}
	recovery := l.ckpt.RecoveryPoint
	for i, s := range l.segs {
		switch {
		case i == cut:
			if err := os.Truncate(s.path(extLog), cutPos); err != nil {
				return err
			}
			for _, ext := range []string{extIndex, extTimeIndex} {
				if err := os.Remove(s.path(ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
			if s.base < recovery {
				recovery = s.base
			}
		case s.base >= offset && s.base == first:
			// Keep the first segment's file (it fixes the log's base).
			if err := os.Truncate(s.path(extLog), 0); err != nil {
				return err
			}
			for _, ext := range []string{extIndex, extTimeIndex} {
				os.Remove(s.path(ext))
			}
			if s.base < recovery {
				recovery = s.base
			}
		case s.base >= offset:
			for _, ext := range []string{extLog, extIndex, extTimeIndex} {
				if err := os.Remove(s.path(ext)); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return err
				}
			}
		}
	}
	if err := syncDir(l.dir, l.opts.sync); err != nil {
		return err
	}
	ck := checkpoint{RecoveryPoint: recovery, LogStartOffset: l.start}
	if err := writeCheckpoint(l.dir, ck, l.opts.sync); err != nil {
		return err
	}
	l.segs = nil
	return l.load()
}

// DurableOffset is the offset below which this replica's records are
// stored as its flush policy demands (fsynced with FlushDurable; appended
// otherwise): the leader's own contribution to the replicated high
// watermark.
func (l *Log) DurableOffset() int64 {
	end := l.end.Load()
	if l.kick == nil {
		return end
	}
	if d := l.durable.Load(); d < end {
		return d
	}
	return end
}
