package log

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestParseBatchHeaderFields(t *testing.T) {
	b := makeBatch(t, spec{
		recs:     []kv{{key: []byte("a"), value: []byte("1")}, {key: []byte("b"), value: []byte("2"), ts: 1_700_000_000_500}},
		firstTs:  1_700_000_000_000,
		pid:      42,
		epoch:    3,
		seq:      7,
		leaderEp: 9,
	})
	h, err := ParseBatchHeader(b)
	if err != nil {
		t.Fatal(err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	want := BatchHeader{
		BaseOffset: kb.FirstOffset, Length: kb.Length, PartitionLeaderEpoch: 9, Magic: 2,
		CRC: uint32(kb.CRC), Attributes: 0, LastOffsetDelta: 1,
		FirstTimestamp: 1_700_000_000_000, MaxTimestamp: 1_700_000_000_500,
		ProducerID: 42, ProducerEpoch: 3, BaseSequence: 7, NumRecords: 2,
	}
	if h != want {
		t.Fatalf("header\n got %+v\nwant %+v", h, want)
	}
	if h.Size() != len(b) || h.LastSequence() != 8 {
		t.Fatalf("Size %d (len %d) LastSequence %d", h.Size(), len(b), h.LastSequence())
	}
	if _, err := ValidateBatch(b); err != nil {
		t.Fatalf("ValidateBatch: %v", err)
	}
}

func TestLastSequenceWraps(t *testing.T) {
	h := BatchHeader{BaseSequence: math.MaxInt32 - 1, LastOffsetDelta: 3}
	if got := h.LastSequence(); got != 1 {
		t.Fatalf("LastSequence = %d, want 1", got)
	}
}

func TestParseBatchHeaderErrors(t *testing.T) {
	good := simple(t, 2, "x")
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"short", good[:60], "truncated"},
		{"magic", mod(func(b []byte) { b[16] = 1 }), "magic"},
		{"length", mod(func(b []byte) { binary.BigEndian.PutUint32(b[8:], 10) }), "batch length"},
		{"negative delta", mod(func(b []byte) { binary.BigEndian.PutUint32(b[23:], 0xffffffff) }), "last offset delta"},
		{"negative count", mod(func(b []byte) { binary.BigEndian.PutUint32(b[57:], 0xffffffff) }), "record count"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseBatchHeader(tc.in)
			if !errors.Is(err, ErrCorruptBatch) || !bytes.Contains([]byte(err.Error()), []byte(tc.want)) {
				t.Fatalf("err = %v, want ErrCorruptBatch mentioning %q", err, tc.want)
			}
		})
	}
}

func TestValidateBatchCRC(t *testing.T) {
	good := simple(t, 3, "crc")
	for _, pos := range []int{21, 30, 60, len(good) - 1} {
		b := append([]byte(nil), good...)
		b[pos] ^= 0x40
		if _, err := ValidateBatch(b); !errors.Is(err, ErrCorruptBatch) {
			t.Errorf("flip at %d: err = %v, want ErrCorruptBatch", pos, err)
		}
	}
	// Bytes outside the CRC (base offset, leader epoch) may change.
	b := append([]byte(nil), good...)
	binary.BigEndian.PutUint64(b, 12345)
	binary.BigEndian.PutUint32(b[12:], 77)
	if _, err := ValidateBatch(b); err != nil {
		t.Fatalf("base offset/leader epoch change broke CRC: %v", err)
	}
	if _, err := ValidateBatch(append(b, 0)); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("trailing byte accepted: %v", err)
	}
}

func TestSplitBatches(t *testing.T) {
	a, b, c := simple(t, 1, "a"), simple(t, 5, "b"), simple(t, 2, "c")
	all := append(append(append([]byte(nil), a...), b...), c...)
	tests := []struct {
		name    string
		in      []byte
		want    [][]byte
		wantErr bool
	}{
		{"empty", nil, nil, false},
		{"one", a, [][]byte{a}, false},
		{"three", all, [][]byte{a, b, c}, false},
		{"truncated last", all[:len(all)-1], nil, true},
		{"trailing garbage", append(append([]byte(nil), a...), 1, 2, 3), nil, true},
		{"header only", all[:61], nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SplitBatches(tc.in)
			if tc.wantErr {
				if !errors.Is(err, ErrCorruptBatch) {
					t.Fatalf("err = %v, want ErrCorruptBatch", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("%d batches, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Fatalf("batch %d differs", i)
				}
			}
		})
	}
}

func TestDecodeRecordsCodecs(t *testing.T) {
	recs := []kv{
		{key: []byte("k1"), value: []byte("hello"), ts: 1_700_000_000_000},
		{key: nil, value: bytes.Repeat([]byte("z"), 300), ts: 1_700_000_000_010},
		{key: []byte("k3"), value: nil, ts: 1_700_000_000_005},
	}
	tests := []struct {
		name   string
		codec  int
		xerial bool
	}{
		{"none", CodecNone, false},
		{"gzip", CodecGzip, false},
		{"snappy raw", CodecSnappy, false},
		{"snappy xerial", CodecSnappy, true},
		{"lz4", CodecLZ4, false},
		{"zstd", CodecZstd, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := makeBatch(t, noProducer(spec{recs: recs, codec: tc.codec, xerial: tc.xerial}))
			setBaseOffset(b, 100)
			h, got, err := DecodeRecords(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Codec() != tc.codec || len(got) != len(recs) {
				t.Fatalf("codec %d, %d records", h.Codec(), len(got))
			}
			for i, r := range got {
				w := recs[i]
				if r.Offset != int64(100+i) || r.Timestamp != w.ts || !bytes.Equal(r.Key, w.key) || !bytes.Equal(r.Value, w.value) ||
					(r.Key == nil) != (w.key == nil) || (r.Value == nil) != (w.value == nil) {
					t.Fatalf("record %d = %+v, want %+v", i, r, w)
				}
			}
			// Re-encode with our encoder in the same codec; the result must decode the same.
			again, err := EncodeBatch(h, got)
			if err != nil {
				t.Fatal(err)
			}
			_, got2, err := DecodeRecords(again)
			if err != nil {
				t.Fatalf("re-encoded batch: %v", err)
			}
			var kb kmsg.RecordBatch
			if err := kb.ReadFrom(again); err != nil || kb.NumRecords != 3 || kb.Attributes&7 != int16(tc.codec) {
				t.Fatalf("kmsg read of re-encoded batch: %v %+v", err, kb)
			}
			// Independent decode of our encoding.
			for i, r := range indepDecode(t, again) {
				w := recs[i]
				if int(r.OffsetDelta) != i || kb.FirstTimestamp+r.TimestampDelta64 != w.ts ||
					!bytes.Equal(r.Key, w.key) || !bytes.Equal(r.Value, w.value) || (r.Value == nil) != (w.value == nil) {
					t.Fatalf("independently decoded record %d = %+v, want %+v", i, r, w)
				}
			}
			for i := range got2 {
				if got2[i].Offset != got[i].Offset || !bytes.Equal(got2[i].Value, got[i].Value) || got2[i].Timestamp != got[i].Timestamp {
					t.Fatalf("record %d changed on re-encode", i)
				}
			}
		})
	}
}

func TestNewBatchReadableByKmsg(t *testing.T) {
	b, err := NewBatch([]Record{
		{Key: []byte("a"), Value: []byte("1"), Timestamp: 5, Headers: []RecordHeader{{Key: "h", Value: []byte("v")}}},
		{Key: []byte("b"), Value: nil, Timestamp: 9},
	}, CodecNone)
	if err != nil {
		t.Fatal(err)
	}
	var kb kmsg.RecordBatch
	if err := kb.ReadFrom(b); err != nil {
		t.Fatal(err)
	}
	if kb.NumRecords != 2 || kb.LastOffsetDelta != 1 || kb.FirstTimestamp != 5 || kb.MaxTimestamp != 9 || kb.ProducerID != -1 {
		t.Fatalf("header %+v", kb)
	}
	var r kmsg.Record
	if err := r.ReadFrom(kb.Records); err != nil {
		t.Fatal(err)
	}
	if string(r.Key) != "a" || string(r.Value) != "1" || len(r.Headers) != 1 || r.Headers[0].Key != "h" {
		t.Fatalf("record %+v", r)
	}
}

func TestDecodeRecordsCorrupt(t *testing.T) {
	b := simple(t, 3, "c")
	// Break the first record's length varint but keep the CRC valid.
	b[61] = 0x7f
	setCRC(b)
	if _, _, err := DecodeRecords(b); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("err = %v, want ErrCorruptBatch", err)
	}
	z := makeBatch(t, noProducer(spec{recs: []kv{{key: []byte("a"), value: []byte("b")}}, codec: CodecZstd}))
	z[len(z)-2] ^= 0xff
	setCRC(z)
	if _, _, err := DecodeRecords(z); !errors.Is(err, ErrCorruptBatch) {
		t.Fatalf("corrupt zstd: err = %v, want ErrCorruptBatch", err)
	}
}
