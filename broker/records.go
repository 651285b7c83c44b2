package broker

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/sluicehq/sluice/broker/log"
)

// offMagic is the position of the magic byte in both a v2 batch and a
// v0/v1 message, so entries of either kind can be told apart.
const offMagic = 16

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

// simpleRecord is one record for building batches.
type simpleRecord struct {
	timestamp int64
	key       []byte
	value     []byte
	headers   []kmsg.Header
}

// buildBatch encodes an uncompressed magic-2 batch (base offset 0, no
// producer id) with the log's encoder.
func buildBatch(recs []simpleRecord) ([]byte, error) {
	rs := make([]blog.Record, len(recs))
	for i, r := range recs {
		rs[i] = blog.Record{Timestamp: r.timestamp, Key: r.key, Value: r.value}
		for _, h := range r.headers {
			rs[i].Headers = append(rs[i].Headers, blog.RecordHeader{Key: h.Key, Value: h.Value})
		}
	}
	return blog.NewBatch(rs, blog.CodecNone)
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
	return buildBatch(recs)
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
	codec := int8(attrs & blog.AttrCodecMask)
	if codec == 0 {
		return append(recs, simpleRecord{timestamp: ts, key: key, value: val}), nil
	}
	if depth > 0 {
		return nil, errors.New("nested compressed legacy message")
	}
	if codec > 3 {
		return nil, fmt.Errorf("legacy message codec %d is not valid for magic %d", codec, magic)
	}
	inner, err := blog.Decompress(int(codec), val)
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
