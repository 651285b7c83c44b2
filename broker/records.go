package broker

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Record batch (magic 2) header offsets.
const (
	batchHeaderLen   = 61
	offMagic         = 16
	offCRC           = 17
	offAttributes    = 21
	offLastOffDelta  = 23
	offFirstTS       = 27
	offMaxTS         = 35
	offProducerID    = 43
	offProducerEpoch = 51
	offBaseSeq       = 53
	offNumRecords    = 57

	attrCompressionMask = 0x07
	attrLogAppendTime   = 0x08
	attrTransactional   = 0x10
	attrControl         = 0x20
)

// maxDecompressed bounds decompressed message sets (defence against
// compression bombs).
const maxDecompressed = 256 << 20

// batchInfo is the part of a v2 batch header the broker needs.
type batchInfo struct {
	attributes      int16
	lastOffsetDelta int32
	maxTimestamp    int64
	producerID      int64
	numRecords      int32
}

// splitEntries splits a produce request's records field into entries (v2
// batches or v0/v1 messages), checking each entry's framing.
func splitEntries(b []byte) ([][]byte, error) {
	var out [][]byte
	pos := 0
	for pos < len(b) {
		if len(b)-pos < 17 {
			return nil, fmt.Errorf("truncated entry at byte %d: %d bytes left, need at least 17", pos, len(b)-pos)
		}
		n := int32(binary.BigEndian.Uint32(b[pos+8:]))
		if n < 5 || int64(n) > int64(len(b)-pos-12) {
			return nil, fmt.Errorf("entry at byte %d has length %d but %d bytes follow", pos, n, len(b)-pos-12)
		}
		out = append(out, b[pos:pos+12+int(n)])
		pos += 12 + int(n)
	}
	return out, nil
}

// castagnoli returns the CRC-32C table (crc32 caches it).
func castagnoli() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) }

// checkBatch validates a magic-2 batch's framing and CRC.
func checkBatch(b []byte) (batchInfo, error) {
	var bi batchInfo
	if len(b) < batchHeaderLen {
		return bi, fmt.Errorf("record batch is %d bytes, shorter than the %d-byte header", len(b), batchHeaderLen)
	}
	if b[offMagic] != 2 {
		return bi, fmt.Errorf("record batch magic %d at byte %d, want 2", b[offMagic], offMagic)
	}
	want := binary.BigEndian.Uint32(b[offCRC:])
	if got := crc32.Checksum(b[offAttributes:], castagnoli()); got != want {
		return bi, fmt.Errorf("record batch CRC mismatch: header says %08x, computed %08x", want, got)
	}
	bi.attributes = int16(binary.BigEndian.Uint16(b[offAttributes:]))
	bi.lastOffsetDelta = int32(binary.BigEndian.Uint32(b[offLastOffDelta:]))
	bi.maxTimestamp = int64(binary.BigEndian.Uint64(b[offMaxTS:]))
	bi.producerID = int64(binary.BigEndian.Uint64(b[offProducerID:]))
	bi.numRecords = int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	if bi.numRecords < 0 || bi.lastOffsetDelta < 0 {
		return bi, fmt.Errorf("record batch has %d records and last offset delta %d", bi.numRecords, bi.lastOffsetDelta)
	}
	if bi.numRecords > 0 && bi.lastOffsetDelta != bi.numRecords-1 {
		return bi, fmt.Errorf("record batch has %d records but last offset delta %d", bi.numRecords, bi.lastOffsetDelta)
	}
	if c := bi.attributes & attrCompressionMask; c > 4 {
		return bi, fmt.Errorf("record batch compression codec %d is unknown", c)
	}
	return bi, nil
}

// simpleRecord is one record for building batches.
type simpleRecord struct {
	timestamp int64
	key       []byte
	value     []byte
	headers   []kmsg.Header
}

// buildBatch encodes an uncompressed magic-2 batch (base offset 0, no
// producer id).
func buildBatch(recs []simpleRecord) []byte {
	if len(recs) == 0 {
		return nil
	}
	first, max := recs[0].timestamp, recs[0].timestamp
	for _, r := range recs {
		if r.timestamp > max {
			max = r.timestamp
		}
	}
	b := make([]byte, batchHeaderLen, batchHeaderLen+64*len(recs))
	binary.BigEndian.PutUint32(b[12:], 0xffffffff) // partition leader epoch -1
	b[offMagic] = 2
	binary.BigEndian.PutUint32(b[offLastOffDelta:], uint32(len(recs)-1))
	binary.BigEndian.PutUint64(b[offFirstTS:], uint64(first))
	binary.BigEndian.PutUint64(b[offMaxTS:], uint64(max))
	binary.BigEndian.PutUint64(b[offProducerID:], 0xffffffffffffffff)
	binary.BigEndian.PutUint16(b[offProducerEpoch:], 0xffff)
	binary.BigEndian.PutUint32(b[offBaseSeq:], 0xffffffff)
	binary.BigEndian.PutUint32(b[offNumRecords:], uint32(len(recs)))
	var body []byte
	for i, r := range recs {
		body = body[:0]
		body = append(body, 0) // attributes
		body = binary.AppendVarint(body, r.timestamp-first)
		body = binary.AppendVarint(body, int64(i))
		body = appendVarBytes(body, r.key)
		body = appendVarBytes(body, r.value)
		body = binary.AppendVarint(body, int64(len(r.headers)))
		for _, h := range r.headers {
			body = appendVarBytes(body, []byte(h.Key))
			body = appendVarBytes(body, h.Value)
		}
		b = binary.AppendVarint(b, int64(len(body)))
		b = append(b, body...)
	}
	binary.BigEndian.PutUint32(b[8:], uint32(len(b)-12))
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli()))
	return b
}

func appendVarBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	b = binary.AppendVarint(b, int64(len(v)))
	return append(b, v...)
}

// batchRecords decodes the records of one magic-2 batch (decompressing
// when needed) and returns them with their absolute offsets.
func batchRecords(b []byte) (base int64, recs []kmsg.Record, err error) {
	if len(b) < batchHeaderLen || b[offMagic] != 2 {
		return 0, nil, errors.New("not a magic 2 record batch")
	}
	base = int64(binary.BigEndian.Uint64(b))
	attrs := int16(binary.BigEndian.Uint16(b[offAttributes:]))
	n := int32(binary.BigEndian.Uint32(b[offNumRecords:]))
	data := b[batchHeaderLen:]
	if c := attrs & attrCompressionMask; c != 0 {
		if data, err = decompress(int8(c), data); err != nil {
			return 0, nil, err
		}
	}
	if n < 0 || int(n) > len(data) {
		return 0, nil, fmt.Errorf("record batch claims %d records in %d bytes", n, len(data))
	}
	recs = make([]kmsg.Record, 0, n)
	for i := int32(0); i < n; i++ {
		l, used := binary.Varint(data)
		if used <= 0 || l < 0 || l > int64(len(data)-used) {
			return 0, nil, fmt.Errorf("record %d: bad length", i)
		}
		var r kmsg.Record
		if err := r.ReadFrom(data[:used+int(l)]); err != nil {
			return 0, nil, fmt.Errorf("record %d: %w", i, err)
		}
		recs = append(recs, r)
		data = data[used+int(l):]
	}
	return base, recs, nil
}

// decompress inflates data compressed with a Kafka codec (1 gzip, 2
// snappy, 3 lz4, 4 zstd).
func decompress(codec int8, data []byte) ([]byte, error) {
	var r io.Reader
	switch codec {
	case 1:
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		defer zr.Close()
		r = zr
	case 2:
		return unsnappy(data)
	case 3:
		return unlz4(data)
	case 4:
		zr, err := zstd.NewReader(bytes.NewReader(data), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecompressed))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		defer zr.Close()
		r = zr
	default:
		return nil, fmt.Errorf("unknown compression codec %d", codec)
	}
	out, err := io.ReadAll(io.LimitReader(r, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("decompress codec %d: %w", codec, err)
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("decompressed data exceeds %d bytes", maxDecompressed)
	}
	return out, nil
}

// unlz4 decodes an LZ4 frame block by block. It ignores the frame
// header checksum because Kafka's magic 0 messages were written with a
// miscomputed one.
func unlz4(data []byte) ([]byte, error) {
	if len(data) < 7 || binary.LittleEndian.Uint32(data) != 0x184D2204 {
		return nil, errors.New("lz4: not an LZ4 frame")
	}
	flg := data[4]
	hdr := 7 // magic, FLG, BD, HC
	if flg&0x08 != 0 {
		hdr += 8 // content size
	}
	if flg&0x01 != 0 {
		hdr += 4 // dictionary id
	}
	blockChecksum := flg&0x10 != 0
	maxBlock := 4 << 20
	if len(data) < hdr {
		return nil, errors.New("lz4: truncated frame header")
	}
	data = data[hdr:]
	var out []byte
	buf := make([]byte, maxBlock)
	for {
		if len(data) < 4 {
			return nil, errors.New("lz4: truncated block size")
		}
		sz := binary.LittleEndian.Uint32(data)
		data = data[4:]
		if sz == 0 {
			return out, nil // end mark (a content checksum may follow)
		}
		raw := sz&0x80000000 != 0
		sz &= 0x7fffffff
		if uint64(sz) > uint64(len(data)) {
			return nil, fmt.Errorf("lz4: block of %d bytes, %d left", sz, len(data))
		}
		if raw {
			out = append(out, data[:sz]...)
		} else {
			n, err := lz4.UncompressBlock(data[:sz], buf)
			if err != nil {
				return nil, fmt.Errorf("lz4: %w", err)
			}
			out = append(out, buf[:n]...)
		}
		if len(out) > maxDecompressed {
			return nil, fmt.Errorf("decompressed data exceeds %d bytes", maxDecompressed)
		}
		data = data[sz:]
		if blockChecksum {
			if len(data) < 4 {
				return nil, errors.New("lz4: truncated block checksum")
			}
			data = data[4:]
		}
	}
}

// xerialHeader starts snappy data framed the way Java clients write it.
const xerialHeader = "\x82SNAPPY\x00"

// unsnappy handles raw snappy blocks and the xerial framing used by Java
// clients.
func unsnappy(data []byte) ([]byte, error) {
	if !bytes.HasPrefix(data, []byte(xerialHeader)) {
		if n, err := snappy.DecodedLen(data); err != nil || n > maxDecompressed {
			return nil, fmt.Errorf("snappy: bad block (decoded length %d, %v)", n, err)
		}
		out, err := snappy.Decode(nil, data)
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		return out, nil
	}
	if len(data) < 16 {
		return nil, errors.New("snappy: truncated xerial header")
	}
	data = data[16:]
	var out []byte
	for len(data) > 0 {
		if len(data) < 4 {
			return nil, errors.New("snappy: truncated xerial chunk length")
		}
		n := binary.BigEndian.Uint32(data)
		data = data[4:]
		if uint64(n) > uint64(len(data)) {
			return nil, fmt.Errorf("snappy: xerial chunk of %d bytes, %d left", n, len(data))
		}
		dl, err := snappy.DecodedLen(data[:n])
		if err != nil || len(out)+dl > maxDecompressed {
			return nil, fmt.Errorf("snappy: bad xerial chunk (%v)", err)
		}
		chunk, err := snappy.Decode(nil, data[:n])
		if err != nil {
			return nil, fmt.Errorf("snappy: %w", err)
		}
		out = append(out, chunk...)
		data = data[n:]
	}
	return out, nil
}

// convertMessageSet converts magic 0/1 messages (possibly compressed
// wrappers) into one uncompressed magic-2 batch.
func convertMessageSet(entries [][]byte) ([]byte, error) {
	var recs []simpleRecord
	for _, e := range entries {
		var err error
		recs, err = appendLegacy(recs, e, 0)
		if err != nil {
			return nil, err
		}
	}
	if len(recs) == 0 {
		return nil, errors.New("message set has no messages")
	}
	return buildBatch(recs), nil
}

func appendLegacy(recs []simpleRecord, e []byte, depth int) ([]simpleRecord, error) {
	if len(e) < 12+14 {
		return nil, fmt.Errorf("legacy message is %d bytes, too short", len(e))
	}
	magic := e[16]
	if magic > 1 {
		return nil, fmt.Errorf("message magic %d mixed with legacy messages", magic)
	}
	want := binary.BigEndian.Uint32(e[12:])
	if got := crc32.ChecksumIEEE(e[16:]); got != want {
		return nil, fmt.Errorf("legacy message CRC mismatch: header says %08x, computed %08x", want, got)
	}
	attrs := e[17]
	p := e[18:]
	ts := int64(-1)
	if magic == 1 {
		if len(p) < 8 {
			return nil, errors.New("legacy message v1 truncated before timestamp")
		}
		ts = int64(binary.BigEndian.Uint64(p))
		p = p[8:]
	}
	key, p, err := legacyBytes(p)
	if err != nil {
		return nil, fmt.Errorf("legacy message key: %w", err)
	}
	val, _, err := legacyBytes(p)
	if err != nil {
		return nil, fmt.Errorf("legacy message value: %w", err)
	}
	codec := int8(attrs & attrCompressionMask)
	if codec == 0 {
		return append(recs, simpleRecord{timestamp: ts, key: key, value: val}), nil
	}
	if depth > 0 {
		return nil, errors.New("nested compressed legacy message")
	}
	if codec > 3 {
		return nil, fmt.Errorf("legacy message codec %d is not valid for magic %d", codec, magic)
	}
	inner, err := decompress(codec, val)
	if err != nil {
		return nil, err
	}
	entries, err := splitEntries(inner)
	if err != nil {
		return nil, fmt.Errorf("compressed legacy message set: %w", err)
	}
	for _, ie := range entries {
		if recs, err = appendLegacy(recs, ie, depth+1); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func legacyBytes(p []byte) (v, rest []byte, err error) {
	if len(p) < 4 {
		return nil, nil, errors.New("truncated length")
	}
	n := int32(binary.BigEndian.Uint32(p))
	p = p[4:]
	if n < 0 {
		return nil, p, nil
	}
	if int64(n) > int64(len(p)) {
		return nil, nil, fmt.Errorf("length %d exceeds the %d bytes left", n, len(p))
	}
	return p[:n], p[n:], nil
}
