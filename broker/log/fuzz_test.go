package log

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"
)

func fuzzSeeds(f *testing.F) {
	f.Helper()
	a := simple(f, 3, "seed")
	z := makeBatch(f, noProducer(spec{codec: CodecZstd, recs: []kv{{key: []byte("k"), value: []byte("v")}}}))
	s := makeBatch(f, noProducer(spec{codec: CodecSnappy, xerial: true, recs: []kv{{key: []byte("k"), value: []byte("v")}}}))
	g := makeBatch(f, noProducer(spec{codec: CodecGzip, recs: []kv{{key: []byte("k"), value: []byte("v")}}}))
	l4 := makeBatch(f, noProducer(spec{codec: CodecLZ4, recs: []kv{{key: []byte("k"), value: []byte("v")}}}))
	f.Add([]byte{})
	f.Add(a)
	f.Add(append(append([]byte(nil), a...), z...))
	f.Add(append(append([]byte(nil), s...), g...))
	f.Add(l4)
	f.Add(a[:len(a)-1])
	f.Add(a[:61])
	f.Add(append(append([]byte(nil), a...), 0, 0, 0, 0, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff))
	bad := append([]byte(nil), a...)
	bad[70] ^= 0xff
	f.Add(bad)
}

func FuzzBatchParsing(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		ParseBatchHeader(data)
		ValidateBatch(data)
		bs, err := SplitBatches(data)
		if err != nil {
			return
		}
		n := 0
		for _, b := range bs {
			n += len(b)
			h, err := ParseBatchHeader(b)
			if err != nil || h.Size() != len(b) {
				t.Fatalf("SplitBatches returned an invalid batch: %v", err)
			}
			if _, recs, err := DecodeRecords(b); err == nil && len(recs) != int(h.NumRecords) {
				t.Fatalf("decoded %d records, header says %d", len(recs), h.NumRecords)
			}
		}
		if n != len(data) {
			t.Fatalf("batches cover %d of %d bytes", n, len(data))
		}
	})
}

func FuzzRecovery(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), data, 0o644); err != nil {
			t.Fatal(err)
		}
		// Also garbage index files, to exercise validation.
		os.WriteFile(filepath.Join(dir, "00000000000000000000.index"), data, 0o644)
		os.WriteFile(filepath.Join(dir, "00000000000000000000.timeindex"), data, 0o644)
		l, err := Open(dir, smallConfig(), testOpts()...)
		if err != nil {
			t.Fatalf("Open on arbitrary bytes: %v", err)
		}
		defer l.Close()
		got := readAll(t, l)
		var n int
		for _, b := range got {
			n += len(b)
		}
		if int64(n) != l.Size() {
			t.Fatalf("recovered %d readable bytes, size %d", n, l.Size())
		}
		end := l.EndOffset()
		res, err := l.Append(simple(t, 1, "after"), AppendOptions{})
		if err != nil || res.BaseOffset != end {
			t.Fatalf("append after recovery: %+v %v (end %d)", res, err, end)
		}
		l.OffsetForTimestamp(0)
	})
}

// FuzzDecodeRecords feeds arbitrary record sections (with a valid header
// and CRC, so the decoder itself is exercised) for every codec.
func FuzzDecodeRecords(f *testing.F) {
	for _, c := range []int{CodecNone, CodecGzip, CodecSnappy, CodecLZ4, CodecZstd} {
		b := makeBatch(f, noProducer(spec{codec: c, recs: []kv{{key: []byte("k"), value: []byte("v")}, {value: []byte("w")}}}))
		f.Add(uint8(c), int32(2), b[BatchHeaderSize:])
	}
	f.Add(uint8(0), int32(1), []byte{0x02, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, codec uint8, n int32, data []byte) {
		h := BatchHeader{Attributes: int16(codec & 7), LastOffsetDelta: max(n-1, 0), ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
		b, err := EncodeBatch(h, nil)
		if err != nil {
			return
		}
		b = append(b[:BatchHeaderSize], data...)
		binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-lengthOverhead))
		binary.BigEndian.PutUint32(b[offNumRecords:], uint32(n))
		setCRC(b)
		hh, recs, err := DecodeRecords(b)
		if err == nil {
			if len(recs) != int(hh.NumRecords) {
				t.Fatalf("%d records, header says %d", len(recs), hh.NumRecords)
			}
			// What decodes re-encodes and decodes to the same records.
			again, err := EncodeBatch(hh, recs)
			if err != nil {
				return // e.g. offset deltas beyond the int32 range
			}
			_, recs2, err := DecodeRecords(again)
			if err != nil || len(recs2) != len(recs) {
				t.Fatalf("re-encode: %v", err)
			}
		}
	})
}
