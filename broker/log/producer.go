package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// maxCachedBatches is how many recent batches per producer are kept for
// duplicate detection (Kafka keeps 5: max.in.flight.requests.per.connection).
const maxCachedBatches = 5

type batchMeta struct {
	firstSeq, lastSeq      int32
	baseOffset, lastOffset int64
}

type producerEntry struct {
	epoch   int16
	lastTs  int64
	batches []batchMeta // oldest first, at most maxCachedBatches
}

// producerState is the idempotent-producer state of a log (guarded by Log.wmu).
type producerState struct {
	m map[int64]*producerEntry
}

func newProducerState() *producerState { return &producerState{m: make(map[int64]*producerEntry)} }

// idempotent reports whether sequence checks apply to the batch.
func idempotent(h BatchHeader) bool {
	return h.ProducerID >= 0 && h.BaseSequence >= 0 && !h.IsControl()
}

func inSequence(last, next int32) bool {
	return next == last+1 || (last == math.MaxInt32 && next == 0)
}

// check validates the batch's producer epoch and sequence. It returns a
// *DuplicateError for a retry of a cached batch.
func (ps *producerState) check(h BatchHeader) error {
	e := ps.m[h.ProducerID]
	if e == nil {
		// Unknown producer (new, or its state was removed): accept any
		// sequence, like Kafka >= 2.5.
		return nil
	}
	switch {
	case h.ProducerEpoch < e.epoch:
		return fmt.Errorf("%w: producer %d epoch %d is older than the current epoch %d",
			ErrInvalidProducerEpoch, h.ProducerID, h.ProducerEpoch, e.epoch)
	case h.ProducerEpoch > e.epoch:
		if h.BaseSequence != 0 {
			return fmt.Errorf("%w: producer %d new epoch %d must start at sequence 0, got %d",
				ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, h.BaseSequence)
		}
		return nil
	}
	last := h.LastSequence()
	for _, b := range e.batches {
		if b.firstSeq == h.BaseSequence && b.lastSeq == last {
			return &DuplicateError{BaseOffset: b.baseOffset, LastOffset: b.lastOffset}
		}
	}
	if n := len(e.batches); n > 0 && !inSequence(e.batches[n-1].lastSeq, h.BaseSequence) {
		return fmt.Errorf("%w: producer %d epoch %d: expected sequence %d, got %d",
			ErrOutOfOrderSequence, h.ProducerID, h.ProducerEpoch, addSeq(e.batches[n-1].lastSeq, 1), h.BaseSequence)
	}
	return nil
}

// update records an appended batch (h carries its assigned offsets).
func (ps *producerState) update(h BatchHeader) {
	if !idempotent(h) {
		return
	}
	e := ps.m[h.ProducerID]
	if e == nil {
		e = &producerEntry{epoch: h.ProducerEpoch}
		ps.m[h.ProducerID] = e
	}
	if h.ProducerEpoch != e.epoch {
		e.epoch = h.ProducerEpoch
		e.batches = e.batches[:0]
	}
	e.lastTs = h.MaxTimestamp
	e.batches = append(e.batches, batchMeta{
		firstSeq: h.BaseSequence, lastSeq: h.LastSequence(),
		baseOffset: h.BaseOffset, lastOffset: h.LastOffset(),
	})
	if len(e.batches) > maxCachedBatches {
		e.batches = append(e.batches[:0], e.batches[len(e.batches)-maxCachedBatches:]...)
	}
}

// pruneBelow forgets producers whose newest batch lies wholly below
// offset (their batches were deleted), like Kafka does when the log start
// offset moves; such a producer is then accepted as unknown.
func (ps *producerState) pruneBelow(offset int64) {
	for id, e := range ps.m {
		if n := len(e.batches); n == 0 || e.batches[n-1].lastOffset < offset {
			delete(ps.m, id)
		}
	}
}

var snapshotMagic = [4]byte{'S', 'L', 'P', 'S'}

const snapshotHeader = 10

// encode serializes the state in the snapshot format described in doc.go.
func (ps *producerState) encode() []byte {
	ids := make([]int64, 0, len(ps.m))
	for id := range ps.m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := make([]byte, snapshotHeader, snapshotHeader+4+len(ids)*(19+maxCachedBatches*24))
	copy(b, snapshotMagic[:])
	binary.BigEndian.PutUint16(b[4:], 1)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := ps.m[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lastTs))
		b = append(b, byte(len(e.batches)))
		for _, m := range e.batches {
			b = binary.BigEndian.AppendUint32(b, uint32(m.firstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(m.lastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(m.baseOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(m.lastOffset))
		}
	}
	binary.BigEndian.PutUint32(b[6:], crc32.Checksum(b[snapshotHeader:], castagnoli))
	return b
}

// decodeSnapshot parses a snapshot file's bytes.
func decodeSnapshot(b []byte) (*producerState, error) {
	if len(b) < snapshotHeader+4 || [4]byte(b[:4]) != snapshotMagic {
		return nil, fmt.Errorf("log: producer snapshot: bad magic or too short (%d bytes)", len(b))
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != 1 {
		return nil, fmt.Errorf("log: producer snapshot: unsupported version %d", v)
	}
	if got, want := crc32.Checksum(b[snapshotHeader:], castagnoli), binary.BigEndian.Uint32(b[6:]); got != want {
		return nil, fmt.Errorf("log: producer snapshot: CRC is %#08x, computed %#08x", want, got)
	}
	p := b[snapshotHeader:]
	n := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	ps := newProducerState()
	for i := 0; i < n; i++ {
		if len(p) < 19 {
			return nil, fmt.Errorf("log: producer snapshot: entry %d truncated", i)
		}
		id := int64(binary.BigEndian.Uint64(p))
		e := &producerEntry{epoch: int16(binary.BigEndian.Uint16(p[8:])), lastTs: int64(binary.BigEndian.Uint64(p[10:]))}
		nb := int(p[18])
		p = p[19:]
		if nb > maxCachedBatches || len(p) < nb*24 {
			return nil, fmt.Errorf("log: producer snapshot: entry %d has a bad batch count %d", i, nb)
		}
		for j := 0; j < nb; j++ {
			e.batches = append(e.batches, batchMeta{
				firstSeq:   int32(binary.BigEndian.Uint32(p)),
				lastSeq:    int32(binary.BigEndian.Uint32(p[4:])),
				baseOffset: int64(binary.BigEndian.Uint64(p[8:])),
				lastOffset: int64(binary.BigEndian.Uint64(p[16:])),
			})
			p = p[24:]
		}
		ps.m[id] = e
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("log: producer snapshot: %d trailing bytes", len(p))
	}
	return ps, nil
}

// listSnapshots returns the offsets of the snapshot files in dir, ascending.
func listSnapshots(dir string) ([]int64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var offs []int64
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, extSnapshot) {
			continue
		}
		off, err := strconv.ParseInt(strings.TrimSuffix(name, extSnapshot), 10, 64)
		if err != nil || off < 0 {
			continue
		}
		offs = append(offs, off)
	}
	sort.Slice(offs, func(i, j int) bool { return offs[i] < offs[j] })
	return offs, nil
}

// writeSnapshot persists the state as of offset and keeps the two newest snapshots.
func (ps *producerState) writeSnapshot(dir string, offset int64, sync func(*os.File) error) error {
	if err := writeFileAtomic(segName(dir, offset, extSnapshot), ps.encode(), sync); err != nil {
		return err
	}
	offs, err := listSnapshots(dir)
	if err != nil {
		return err
	}
	if len(offs) > 2 {
		for _, o := range offs[:len(offs)-2] {
			os.Remove(filepath.Join(dir, fmt.Sprintf("%020d%s", o, extSnapshot)))
		}
	}
	return nil
}
