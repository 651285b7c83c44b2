package log

import (
	"encoding/binary"
	"fmt"
)

// Record is one record of a v2 RecordBatch with absolute offset and timestamp.
type Record struct {
	Offset     int64
	Timestamp  int64 // ms; for LogAppendTime batches the batch's MaxTimestamp
	Attributes int8
	Key        []byte // nil = null key
	Value      []byte // nil = null value (tombstone)
	Headers    []RecordHeader
}

// RecordHeader is one record header.
type RecordHeader struct {
	Key   string
	Value []byte // nil = null
}

// maxDecodedRecords bounds the record count accepted when decoding, so a
// corrupt count cannot trigger a huge allocation.
const maxDecodedRecords = 1 << 24

// DecodeRecords validates a complete batch (including its CRC), decompresses
// it if needed and decodes its records. The returned records may alias batch.
func DecodeRecords(batch []byte) (BatchHeader, []Record, error) {
	var c codecs
	defer c.close()
	return c.decodeRecords(batch)
}

func (c *codecs) decodeRecords(batch []byte) (BatchHeader, []Record, error) {
	h, err := ValidateBatch(batch)
	if err != nil {
		return h, nil, err
	}
	data := batch[BatchHeaderSize:]
	if h.Codec() != CodecNone {
		if data, err = c.decompress(h.Codec(), data); err != nil {
			return h, nil, corruptf("batch at offset %d: %v", h.BaseOffset, err)
		}
	}
	recs, err := decodeRecordData(h, data)
	if err != nil {
		return h, nil, err
	}
	return h, recs, nil
}

type recDecoder struct {
	b   []byte
	pos int
	err error
}

func (d *recDecoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *recDecoder) varint(field string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b[d.pos:])
	if n <= 0 {
		d.fail("%s at byte %d: bad varint", field, d.pos)
		return 0
	}
	d.pos += n
	return v
}

func (d *recDecoder) bytes(field string, n int64) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 {
		return nil
	}
	if n > int64(len(d.b)-d.pos) {
		d.fail("%s at byte %d: length %d exceeds the %d remaining bytes", field, d.pos, n, len(d.b)-d.pos)
		return nil
	}
	v := d.b[d.pos : d.pos+int(n) : d.pos+int(n)]
	d.pos += int(n)
	return v
}

func decodeRecordData(h BatchHeader, data []byte) ([]Record, error) {
	if h.NumRecords > maxDecodedRecords || int(h.NumRecords) > len(data) {
		return nil, corruptf("batch at offset %d: record count %d does not fit %d bytes", h.BaseOffset, h.NumRecords, len(data))
	}
	recs := make([]Record, 0, h.NumRecords)
	d := &recDecoder{b: data}
	for i := 0; i < int(h.NumRecords); i++ {
		length := d.varint("record length")
		if d.err != nil {
			break
		}
		if length < 0 || length > int64(len(data)-d.pos) {
			d.fail("record %d length %d at byte %d exceeds the %d remaining bytes", i, length, d.pos, len(data)-d.pos)
			break
		}
		endPos := d.pos + int(length)
		sub := &recDecoder{b: data[:endPos], pos: d.pos}
		var r Record
		if sub.pos < len(sub.b) {
			r.Attributes = int8(sub.b[sub.pos])
			sub.pos++
		} else {
			sub.fail("record %d: attributes missing", i)
		}
		tsDelta := sub.varint("timestamp delta")
		offDelta := sub.varint("offset delta")
		if kl := sub.varint("key length"); kl >= 0 {
			r.Key = sub.bytes("key", kl)
		}
		if vl := sub.varint("value length"); vl >= 0 {
			r.Value = sub.bytes("value", vl)
		}
		nh := sub.varint("header count")
		if nh < 0 || nh > int64(len(sub.b)-sub.pos) {
			sub.fail("record %d: bad header count %d", i, nh)
		}
		for j := int64(0); j < nh && sub.err == nil; j++ {
			k := sub.bytes("header key", sub.varint("header key length"))
			var v []byte
			if vl := sub.varint("header value length"); vl >= 0 {
				v = sub.bytes("header value", vl)
			}
			r.Headers = append(r.Headers, RecordHeader{Key: string(k), Value: v})
		}
		if sub.err == nil && sub.pos != endPos {
			sub.fail("record %d: %d unread bytes", i, endPos-sub.pos)
		}
		if sub.err != nil {
			d.err = sub.err
			break
		}
		r.Offset = h.BaseOffset + offDelta
		r.Timestamp = h.FirstTimestamp + tsDelta
		if h.Attributes&AttrLogAppendTime != 0 {
			r.Timestamp = h.MaxTimestamp
		}
		recs = append(recs, r)
		d.pos = endPos
	}
	if d.err == nil && d.pos != len(data) {
		d.fail("%d bytes after the last record", len(data)-d.pos)
	}
	if d.err != nil {
		return nil, corruptf("batch at offset %d: %v", h.BaseOffset, d.err)
	}
	return recs, nil
}

func appendVarint(b []byte, v int64) []byte { return binary.AppendVarint(b, v) }

func appendNullableBytes(b, v []byte) []byte {
	if v == nil {
		return appendVarint(b, -1)
	}
	b = appendVarint(b, int64(len(v)))
	return append(b, v...)
}

// encodeRecordData encodes records relative to base offset and first timestamp.
func encodeRecordData(baseOffset, firstTs int64, recs []Record) []byte {
	var out, body []byte
	for _, r := range recs {
		body = body[:0]
		body = append(body, byte(r.Attributes))
		body = appendVarint(body, r.Timestamp-firstTs)
		body = appendVarint(body, r.Offset-baseOffset)
		body = appendNullableBytes(body, r.Key)
		body = appendNullableBytes(body, r.Value)
		body = appendVarint(body, int64(len(r.Headers)))
		for _, hd := range r.Headers {
			body = appendNullableBytes(body, []byte(hd.Key))
			body = appendNullableBytes(body, hd.Value)
		}
		out = appendVarint(out, int64(len(body)))
		out = append(out, body...)
	}
	return out
}

// EncodeBatch builds a v2 RecordBatch from h's BaseOffset,
// PartitionLeaderEpoch, Attributes (codec, timestamp type, flags),
// FirstTimestamp, MaxTimestamp, ProducerID, ProducerEpoch, BaseSequence and
// LastOffsetDelta (raised if a record lies past it) and the records (offsets
// and timestamps absolute). Length, NumRecords and CRC are computed.
func EncodeBatch(h BatchHeader, recs []Record) ([]byte, error) {
	var c codecs
	defer c.close()
	return c.encodeBatch(h, recs)
}

func (c *codecs) encodeBatch(h BatchHeader, recs []Record) ([]byte, error) {
	data := encodeRecordData(h.BaseOffset, h.FirstTimestamp, recs)
	if codec := h.Codec(); codec != CodecNone {
		var err error
		if data, err = c.compress(codec, data); err != nil {
			return nil, err
		}
	}
	for _, r := range recs {
		if d := r.Offset - h.BaseOffset; d > int64(h.LastOffsetDelta) {
			if d > maxRelOffset {
				return nil, fmt.Errorf("log: record offset %d too far from base offset %d", r.Offset, h.BaseOffset)
			}
			h.LastOffsetDelta = int32(d)
		}
	}
	b := make([]byte, BatchHeaderSize, BatchHeaderSize+len(data))
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(h.BaseOffset))
	binary.BigEndian.PutUint32(b[offLength:], uint32(BatchHeaderSize-lengthOverhead+len(data)))
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(h.PartitionLeaderEpoch))
	b[offMagic] = 2
	binary.BigEndian.PutUint16(b[offAttributes:], uint16(h.Attributes))
	binary.BigEndian.PutUint32(b[offLastOffsetDelta:], uint32(h.LastOffsetDelta))
	binary.BigEndian.PutUint64(b[offFirstTimestamp:], uint64(h.FirstTimestamp))
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], uint64(h.MaxTimestamp))
	binary.BigEndian.PutUint64(b[offProducerID:], uint64(h.ProducerID))
	binary.BigEndian.PutUint16(b[offProducerEpoch:], uint16(h.ProducerEpoch))
	binary.BigEndian.PutUint32(b[offBaseSequence:], uint32(h.BaseSequence))
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(len(recs)))
	b = append(b, data...)
	setCRC(b)
	return b, nil
}

// NewBatch builds a non-idempotent, CreateTime batch holding recs with
// offsets 0..len-1 (Record.Offset is ignored) and the given codec; the log
// assigns real offsets on Append. It is meant for the broker's own records.
func NewBatch(recs []Record, codec int) ([]byte, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("log: NewBatch needs at least one record")
	}
	rs := make([]Record, len(recs))
	copy(rs, recs)
	first, maxTs := rs[0].Timestamp, rs[0].Timestamp
	for i := range rs {
		rs[i].Offset = int64(i)
		if rs[i].Timestamp < first {
			first = rs[i].Timestamp
		}
		if rs[i].Timestamp > maxTs {
			maxTs = rs[i].Timestamp
		}
	}
	h := BatchHeader{
		Attributes: int16(codec & AttrCodecMask), LastOffsetDelta: int32(len(rs) - 1),
		FirstTimestamp: first, MaxTimestamp: maxTs,
		ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
	}
	return EncodeBatch(h, rs)
}

// Recompress returns the batch with its records compressed with codec
// (CodecNone = uncompressed), as Kafka rewrites batches whose codec differs
// from a topic's compression.type. Every header field but the codec bits is
// kept; length and CRC are recomputed. A batch already using codec is
// returned unchanged.
func Recompress(v ValidBatch, codec int) (ValidBatch, error) {
	if v.h.Codec() == codec {
		return v, nil
	}
	var c codecs
	defer c.close()
	h, recs, err := c.decodeRecords(v.b)
	if err != nil {
		return ValidBatch{}, err
	}
	h.Attributes = h.Attributes&^AttrCodecMask | int16(codec&AttrCodecMask)
	b, err := c.encodeBatch(h, recs)
	if err != nil {
		return ValidBatch{}, err
	}
	return CheckBatch(b)
}
