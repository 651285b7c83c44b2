package broker

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"

	blog "github.com/sluicehq/sluice/broker/log"
)

// fetchMagic is the message format a Fetch version's clients understand:
// v0-v1 (Kafka 0.8-0.9) magic 0, v2-v3 (0.10.x) magic 1, v4+ record
// batches (magic 2).
func fetchMagic(version int16) int8 {
	switch {
	case version <= 1:
		return 0
	case version <= 3:
		return 1
	}
	return 2
}

// downConvert rewrites v2 record batches as an uncompressed magic 0 or 1
// message set for old consumers, as Kafka does: one message per record,
// headers dropped (magic 0/1 has none), control batches skipped, magic 0
// without timestamps. Records below minOffset are left out.
func downConvert(data []byte, magic int8, minOffset int64) ([]byte, error) {
	batches, err := blog.SplitBatches(data)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, b := range batches {
		h, recs, err := blog.DecodeRecords(b)
		if err != nil {
			return nil, fmt.Errorf("down-convert batch at offset %d: %w", h.BaseOffset, err)
		}
		if h.IsControl() {
			continue
		}
		var attrs int8
		if magic == 1 && h.Attributes&blog.AttrLogAppendTime != 0 {
			attrs = 0x08
		}
		for _, r := range recs {
			if r.Offset < minOffset {
				continue
			}
			out = appendLegacyMessage(out, magic, attrs, r)
		}
	}
	return out, nil
}

// appendLegacyMessage appends one magic 0/1 message: Offset int64,
// MessageSize int32, CRC uint32 (IEEE, over Magic..end), Magic int8,
// Attributes int8, [Timestamp int64 for magic 1], Key bytes, Value bytes.
func appendLegacyMessage(out []byte, magic, attrs int8, r blog.Record) []byte {
	out = binary.BigEndian.AppendUint64(out, uint64(r.Offset))
	sizeAt := len(out)
	out = append(out, 0, 0, 0, 0, 0, 0, 0, 0) // size, crc
	body := len(out)
	out = append(out, byte(magic), byte(attrs))
	if magic == 1 {
		out = binary.BigEndian.AppendUint64(out, uint64(r.Timestamp))
	}
	out = appendLegacyBytes(out, r.Key)
	out = appendLegacyBytes(out, r.Value)
	binary.BigEndian.PutUint32(out[sizeAt:], uint32(len(out)-sizeAt-4))
	binary.BigEndian.PutUint32(out[sizeAt+4:], crc32.ChecksumIEEE(out[body:]))
	return out
}

func appendLegacyBytes(out, v []byte) []byte {
	if v == nil {
		return binary.BigEndian.AppendUint32(out, 0xffffffff)
	}
	out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
	return append(out, v...)
}
