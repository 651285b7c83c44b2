package log

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kv is a test record.
type kv struct {
	key, value []byte
	ts         int64 // absolute ms; 0 = batch first timestamp
}

// spec describes a test batch, encoded independently of the package under
// test with franz-go's kmsg types.
type spec struct {
	recs     []kv
	firstTs  int64
	pid      int64
	epoch    int16
	seq      int32
	codec    int
	xerial   bool // snappy with xerial framing instead of raw
	ctrl     bool
	leaderEp int32
}

func noProducer(s spec) spec {
	s.pid, s.epoch, s.seq = -1, -1, -1
	return s
}

// makeBatch builds a v2 batch with kmsg, compressing with the libraries
// directly (not this package's codec code).
func makeBatch(t testing.TB, s spec) []byte {
	t.Helper()
	if s.firstTs == 0 {
		s.firstTs = 1_700_000_000_000
	}
	var raw []byte
	maxTs := s.firstTs
	for i, r := range s.recs {
		ts := r.ts
		if ts == 0 {
			ts = s.firstTs
		}
		if ts > maxTs {
			maxTs = ts
		}
		rec := kmsg.Record{TimestampDelta64: ts - s.firstTs, OffsetDelta: int32(i), Key: r.key, Value: r.value}
		body := rec.AppendTo(nil)
		rec.Length = int32(len(body) - 1) // Length 0 took one varint byte
		raw = rec.AppendTo(raw)
	}
	data := raw
	switch s.codec {
	case CodecGzip:
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write(raw)
		w.Close()
		data = b.Bytes()
	case CodecSnappy:
		if s.xerial {
			var b bytes.Buffer
			b.Write([]byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1})
			for len(raw) > 0 {
				n := min(len(raw), 100)
				blk := snappy.Encode(nil, raw[:n])
				binary.Write(&b, binary.BigEndian, uint32(len(blk)))
				b.Write(blk)
				raw = raw[n:]
			}
			data = b.Bytes()
		} else {
			data = snappy.Encode(nil, raw)
		}
	case CodecLZ4:
		var b bytes.Buffer
		w := lz4.NewWriter(&b)
		w.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
		w.Write(raw)
		w.Close()
		data = b.Bytes()
	case CodecZstd:
		enc, err := zstd.NewWriter(nil)
		if err != nil {
			t.Fatal(err)
		}
		data = enc.EncodeAll(raw, nil)
		enc.Close()
	}
	attrs := int16(s.codec)
	if s.ctrl {
		attrs |= AttrControl | AttrTransactional
	}
	rb := kmsg.RecordBatch{
		FirstOffset:          0,
		Length:               int32(49 + len(data)),
		PartitionLeaderEpoch: s.leaderEp,
		Magic:                2,
		Attributes:           attrs,
		LastOffsetDelta:      int32(len(s.recs) - 1),
		FirstTimestamp:       s.firstTs,
		MaxTimestamp:         maxTs,
		ProducerID:           s.pid,
		ProducerEpoch:        s.epoch,
		FirstSequence:        s.seq,
		NumRecords:           int32(len(s.recs)),
		Records:              data,
	}
	b := rb.AppendTo(nil)
	crc := crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(b[17:], crc)
	return b
}

// simple returns a non-idempotent batch of n records "k<i>"="v<i>".
func simple(t testing.TB, n int, tag string) []byte {
	t.Helper()
	s := spec{}
	for i := 0; i < n; i++ {
		s.recs = append(s.recs, kv{key: []byte(tag + "-k"), value: []byte(tag + "-v" + string(rune('a'+i%26)))})
	}
	return makeBatch(t, noProducer(s))
}

// fakeClock is a settable clock.
type fakeClock struct{ ms atomic.Int64 }

func newFakeClock(ms int64) *fakeClock {
	c := &fakeClock{}
	c.ms.Store(ms)
	return c
}
func (c *fakeClock) now() time.Time { return time.UnixMilli(c.ms.Load()) }
func quietLogger() *slog.Logger     { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testOpts skips real fsyncs (they only matter for power loss, which tests
// cannot simulate; crashes are simulated by abandon). Durability tests pass
// their own WithSyncFunc, which overrides this.
func testOpts(extra ...Option) []Option {
	return append([]Option{WithLogger(quietLogger()), WithSyncFunc(func(*os.File) error { return nil })}, extra...)
}

func smallConfig() Config {
	c := DefaultConfig()
	c.IndexIntervalBytes = 128
	return c
}

// mustOpen opens a log and registers cleanup.
func mustOpen(t testing.TB, dir string, cfg Config, opts ...Option) *Log {
	t.Helper()
	l, err := Open(dir, cfg, testOpts(opts...)...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l
}

// readAll reads every batch from the start offset to the end offset.
func readAll(t testing.TB, l *Log) [][]byte {
	t.Helper()
	var out [][]byte
	off := l.StartOffset()
	for off < l.EndOffset() {
		b, err := l.Read(off, 1<<20)
		if err != nil {
			t.Fatalf("Read(%d): %v", off, err)
		}
		if len(b) == 0 {
			break
		}
		bs, err := SplitBatches(b)
		if err != nil {
			t.Fatalf("SplitBatches at %d: %v", off, err)
		}
		for _, x := range bs {
			h, err := ValidateBatch(x)
			if err != nil {
				t.Fatalf("batch read at %d invalid: %v", off, err)
			}
			out = append(out, x)
			off = h.LastOffset() + 1
		}
	}
	return out
}

// allRecords decodes every record of the log.
func allRecords(t testing.TB, l *Log) []Record {
	t.Helper()
	var out []Record
	for _, b := range readAll(t, l) {
		_, recs, err := DecodeRecords(b)
		if err != nil {
			t.Fatalf("DecodeRecords: %v", err)
		}
		out = append(out, recs...)
	}
	return out
}

// sameExceptBase reports whether a stored batch equals the produced one
// apart from the base offset.
func sameExceptBase(stored, produced []byte) bool {
	return len(stored) == len(produced) && bytes.Equal(stored[8:], produced[8:])
}

// indepDecode decodes a batch's records with kmsg and the compression
// libraries directly, as a cross-check of this package's encoder.
func indepDecode(t testing.TB, batch []byte) []kmsg.Record {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		t.Fatalf("kmsg.RecordBatch: %v", err)
	}
	if got := crc32.Checksum(batch[21:], crc32.MakeTable(crc32.Castagnoli)); uint32(rb.CRC) != got {
		t.Fatalf("CRC %#x, computed %#x", uint32(rb.CRC), got)
	}
	raw := rb.Records
	var err error
	switch rb.Attributes & 7 {
	case CodecGzip:
		var zr *gzip.Reader
		if zr, err = gzip.NewReader(bytes.NewReader(raw)); err == nil {
			raw, err = io.ReadAll(zr)
		}
	case CodecSnappy:
		if bytes.HasPrefix(raw, []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}) {
			p := raw[16:]
			var out []byte
			for len(p) > 0 && err == nil {
				n := binary.BigEndian.Uint32(p)
				var blk []byte
				blk, err = snappy.Decode(nil, p[4:4+n])
				out = append(out, blk...)
				p = p[4+n:]
			}
			raw = out
		} else {
			raw, err = snappy.Decode(nil, raw)
		}
	case CodecLZ4:
		raw, err = io.ReadAll(lz4.NewReader(bytes.NewReader(raw)))
	case CodecZstd:
		var d *zstd.Decoder
		if d, err = zstd.NewReader(nil); err == nil {
			raw, err = d.DecodeAll(raw, nil)
			d.Close()
		}
	}
	if err != nil {
		t.Fatalf("decompress: %v", err)
	}
	var recs []kmsg.Record
	for i := 0; i < int(rb.NumRecords); i++ {
		l, n := binary.Varint(raw)
		if n <= 0 || int(l)+n > len(raw) {
			t.Fatalf("record %d: bad length", i)
		}
		var r kmsg.Record
		if err := r.ReadFrom(raw[:n+int(l)]); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
		recs = append(recs, r)
		raw = raw[n+int(l):]
	}
	if len(raw) != 0 {
		t.Fatalf("%d bytes after the records", len(raw))
	}
	return recs
}
