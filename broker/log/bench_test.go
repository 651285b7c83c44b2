package log

import (
	"fmt"
	"testing"
)

func benchBatch(b *testing.B, records, valueSize int) []byte {
	b.Helper()
	s := noProducer(spec{})
	for i := 0; i < records; i++ {
		v := make([]byte, valueSize)
		for j := range v {
			v[j] = byte(i + j)
		}
		s.recs = append(s.recs, kv{key: []byte(fmt.Sprint("key-", i)), value: v})
	}
	return makeBatch(b, s)
}

// BenchmarkAppend measures appending 16 KiB batches (page cache, no fsync).
func BenchmarkAppend(b *testing.B) {
	batch := benchBatch(b, 16, 1000)
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l := mustOpen(b, b.TempDir(), cfg)
	defer l.Close()
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendParallel measures concurrent appenders.
func BenchmarkAppendParallel(b *testing.B) {
	batch := benchBatch(b, 16, 1000)
	cfg := DefaultConfig()
	cfg.SegmentBytes = 64 << 20
	l := mustOpen(b, b.TempDir(), cfg)
	defer l.Close()
	b.SetBytes(int64(len(batch)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := l.Append(batch, AppendOptions{}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkRead measures sequential 1 MiB fetches from a 64 MiB log.
func BenchmarkRead(b *testing.B) {
	batch := benchBatch(b, 16, 1000)
	cfg := DefaultConfig()
	cfg.SegmentBytes = 16 << 20
	l := mustOpen(b, b.TempDir(), cfg)
	defer l.Close()
	for l.Size() < 64<<20 {
		if _, err := l.Append(batch, AppendOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	var total int64
	off := int64(0)
	for i := 0; i < b.N; i++ {
		if off >= l.EndOffset() {
			off = 0
		}
		data, err := l.Read(off, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		total += int64(len(data))
		h, err := ParseBatchHeader(data[len(data)-len(batch):])
		if err != nil {
			b.Fatal(err)
		}
		off = h.LastOffset() + 1
	}
	b.SetBytes(total / int64(b.N))
}
