package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Byte positions of the fields of a v2 RecordBatch header.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// BatchHeaderSize is the size of a v2 RecordBatch header (records start here).
	BatchHeaderSize = 61
	// lengthOverhead is the number of bytes before and including BatchLength.
	lengthOverhead = 12
	// minBatchLength is the smallest valid BatchLength field.
	minBatchLength = BatchHeaderSize - lengthOverhead
)

// Attribute bits of a v2 RecordBatch.
const (
	AttrCodecMask     = 0x07
	AttrLogAppendTime = 0x08
	AttrTransactional = 0x10
	AttrControl       = 0x20
)

// Compression codecs (Attributes & AttrCodecMask).
const (
	CodecNone   = 0
	CodecGzip   = 1
	CodecSnappy = 2
	CodecLZ4    = 3
	CodecZstd   = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// BatchHeader is the decoded fixed header of a v2 RecordBatch.
type BatchHeader struct {
	BaseOffset           int64
	Length               int32 // BatchLength: bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	FirstTimestamp       int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	NumRecords           int32
}

// Size is the total size of the batch in bytes (12 + Length).
func (h BatchHeader) Size() int { return int(h.Length) + lengthOverhead }

// LastOffset is BaseOffset + LastOffsetDelta.
func (h BatchHeader) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// Codec is the compression codec of the batch.
func (h BatchHeader) Codec() int { return int(h.Attributes & AttrCodecMask) }

// IsControl reports whether this is a control (transaction marker) batch.
func (h BatchHeader) IsControl() bool { return h.Attributes&AttrControl != 0 }

// IsTransactional reports whether the batch is part of a transaction.
func (h BatchHeader) IsTransactional() bool { return h.Attributes&AttrTransactional != 0 }

// LastSequence is the sequence number of the batch's last record, wrapping
// at math.MaxInt32 like Kafka.
func (h BatchHeader) LastSequence() int32 {
	return addSeq(h.BaseSequence, h.LastOffsetDelta)
}

func addSeq(seq, delta int32) int32 {
	s := int64(seq) + int64(delta)
	if s > 1<<31-1 {
		s -= 1 << 31
	}
	return int32(s)
}

// ParseBatchHeader decodes the 61-byte header at the start of b. It checks
// that the header is complete, Magic is 2, BatchLength is at least 49 and
// LastOffsetDelta and NumRecords are not negative; it does not require the
// whole batch to be present and does not check the CRC (see ValidateBatch).
func ParseBatchHeader(b []byte) (BatchHeader, error) {
	var h BatchHeader
	if len(b) < BatchHeaderSize {
		return h, corruptf("batch header truncated: have %d bytes, need %d", len(b), BatchHeaderSize)
	}
	h.BaseOffset = int64(binary.BigEndian.Uint64(b[offBaseOffset:]))
	h.Length = int32(binary.BigEndian.Uint32(b[offLength:]))
	h.PartitionLeaderEpoch = int32(binary.BigEndian.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = binary.BigEndian.Uint32(b[offCRC:])
	h.Attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:]))
	h.FirstTimestamp = int64(binary.BigEndian.Uint64(b[offFirstTimestamp:]))
	h.MaxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(binary.BigEndian.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(binary.BigEndian.Uint32(b[offBaseSequence:]))
	h.NumRecords = int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	if h.Magic != 2 {
		return h, corruptf("magic byte (byte 16) is %d, want 2", h.Magic)
	}
	if h.Length < minBatchLength {
		return h, corruptf("batch length (bytes 8..11) is %d, want >= %d", h.Length, minBatchLength)
	}
	if h.LastOffsetDelta < 0 {
		return h, corruptf("last offset delta (bytes 23..26) is %d, want >= 0", h.LastOffsetDelta)
	}
	if h.NumRecords < 0 {
		return h, corruptf("record count (bytes 57..60) is %d, want >= 0", h.NumRecords)
	}
	return h, nil
}

// ValidateBatch checks that b is exactly one complete v2 RecordBatch with a
// correct CRC and returns its header.
func ValidateBatch(b []byte) (BatchHeader, error) {
	h, err := ParseBatchHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, corruptf("batch length (bytes 8..11) says %d bytes in total, have %d", h.Size(), len(b))
	}
	if got := batchCRC(b); got != h.CRC {
		return h, corruptf("CRC (bytes 17..20) is %#08x, computed %#08x", h.CRC, got)
	}
	return h, nil
}

// ValidBatch is a batch that passed ValidateBatch (framing and CRC), so
// Log.AppendValid need not check its CRC again. Only CheckBatch and
// Recompress make one.
type ValidBatch struct {
	h BatchHeader
	b []byte
}

// Header returns the batch's header.
func (v ValidBatch) Header() BatchHeader { return v.h }

// Bytes returns the batch.
func (v ValidBatch) Bytes() []byte { return v.b }

// CheckBatch is ValidateBatch returning a ValidBatch; it also rejects an
// unknown compression codec.
func CheckBatch(b []byte) (ValidBatch, error) {
	h, err := ValidateBatch(b)
	if err != nil {
		return ValidBatch{}, err
	}
	if h.Codec() > CodecZstd {
		return ValidBatch{}, corruptf("compression codec (attributes bits 0-2) is %d, want 0..4", h.Codec())
	}
	return ValidBatch{h, b}, nil
}

// SplitBatches splits the records field of a produce request (one or more
// v2 RecordBatches back to back) into batches. The returned slices alias
// records. It validates each header (magic, length) but not the CRC.
func SplitBatches(records []byte) ([][]byte, error) {
	var out [][]byte
	pos := 0
	for pos < len(records) {
		rest := records[pos:]
		if len(rest) < lengthOverhead+5 {
			return nil, corruptf("batch at byte %d: %d trailing bytes are too few for a batch header", pos, len(rest))
		}
		h, err := ParseBatchHeader(rest)
		if err != nil {
			return nil, fmt.Errorf("batch at byte %d: %w", pos, err)
		}
		if h.Size() > len(rest) {
			return nil, corruptf("batch at byte %d: length %d exceeds the %d remaining bytes", pos, h.Size(), len(rest))
		}
		out = append(out, rest[:h.Size():h.Size()])
		pos += h.Size()
	}
	return out, nil
}

// batchCRC computes the CRC-32C over attributes..end of a complete batch.
func batchCRC(b []byte) uint32 {
	return crc32.Checksum(b[offAttributes:], castagnoli)
}

// setCRC recomputes and stores the CRC of a complete batch.
func setCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], batchCRC(b))
}

// setBaseOffset stamps the base offset (not covered by the CRC).
func setBaseOffset(b []byte, off int64) {
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// stampLogAppendTime sets the timestamp type to LogAppendTime, both batch
// timestamps to ts and recomputes the CRC.
func stampLogAppendTime(b []byte, ts int64) {
	attrs := binary.BigEndian.Uint16(b[offAttributes:])
	binary.BigEndian.PutUint16(b[offAttributes:], attrs|AttrLogAppendTime)
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(ts))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(ts))
	setCRC(b)
}
