package worker

import (
	"fmt"
	"math"
	"testing"
)

// BenchmarkOffsetTrackerInOrderAcks tracks records of one source partition
// with a deep in-flight queue, acknowledged in order: the cost per ack must
// not grow with the queue depth.
func BenchmarkOffsetTrackerInOrderAcks(b *testing.B) {
	for _, depth := range []int{100, 10000} {
		b.Run(fmt.Sprintf("inflight=%d", depth), func(b *testing.B) {
			o := newOffsetTracker()
			part := map[string]any{"server": "shop"}
			type rec struct {
				p  *pending
				pt *partTrack
			}
			q := make([]rec, 0, depth)
			seq := uint64(0)
			push := func() {
				seq++
				p, pt, err := o.add(part, map[string]any{"lsn": seq}, seq)
				if err != nil {
					b.Fatal(err)
				}
				q = append(q, rec{p, pt})
			}
			for range depth {
				push()
			}
			b.ResetTimer()
			for range b.N {
				r := q[0]
				q = q[1:]
				o.ack(r.p, r.pt, nil)
				push()
			}
		})
	}
}

func TestOffsetTrackerAcksInOrderAndOutOfOrder(t *testing.T) {
	o := newOffsetTracker()
	part := map[string]any{"server": "shop"}
	var ps []*pending
	var pt *partTrack
	for i := 1; i <= 5; i++ {
		p, tr, err := o.add(part, map[string]any{"lsn": i}, uint64(i))
		if err != nil {
			t.Fatal(err)
		}
		ps, pt = append(ps, p), tr
	}
	for _, tc := range []struct {
		ack      int // index into ps
		wantSeq  uint64
		wantLeft int
	}{
		{1, 0, 5}, // out of order: nothing committable yet
		{0, 2, 3}, // 1 and 2 done
		{3, 2, 3}, // 4 done, 3 still in flight
		{2, 4, 1}, // 3 done: up to 4
		{4, 5, 0},
	} {
		o.ack(ps[tc.ack], pt, nil)
		if pt.ackedSeq != tc.wantSeq || len(pt.queue) != tc.wantLeft {
			t.Fatalf("after acking %d: acked seq %d, %d queued; want %d, %d", tc.ack+1, pt.ackedSeq, len(pt.queue), tc.wantSeq, tc.wantLeft)
		}
	}
	// The queue keeps working after it drained.
	p, tr, _ := o.add(part, map[string]any{"lsn": 6}, 6)
	o.ack(p, tr, nil)
	if tr.ackedSeq != 6 || len(tr.queue) != 0 {
		t.Fatalf("after draining: acked seq %d, %d queued", tr.ackedSeq, len(tr.queue))
	}
}

// TestOffsetTrackerPartitionKey checks that records whose source
// partitions have the same canonical JSON share one track, and any other
// partition (another value, another type, -0, a nested value, a map the
// source changed after handing it over) gets its own, whether or not it
// follows an equal one.
func TestOffsetTrackerPartitionKey(t *testing.T) {
	reused := map[string]any{"server": "a"}
	tests := []struct {
		name string
		a, b map[string]any
		same bool
	}{
		{"equal maps", map[string]any{"server": "a", "n": int64(1)}, map[string]any{"n": int64(1), "server": "a"}, true},
		{"same map", reused, reused, true},
		{"other value", map[string]any{"server": "a"}, map[string]any{"server": "b"}, false},
		{"other key", map[string]any{"server": "a"}, map[string]any{"host": "a"}, false},
		{"extra key", map[string]any{"server": "a"}, map[string]any{"server": "a", "db": "x"}, false},
		{"int and int64 encode alike", map[string]any{"n": 1}, map[string]any{"n": int64(1)}, true},
		{"int and float encode alike", map[string]any{"n": int64(1)}, map[string]any{"n": float64(1)}, true},
		{"zero and minus zero", map[string]any{"n": 0.0}, map[string]any{"n": math.Copysign(0, -1)}, false},
		{"nested equal", map[string]any{"m": map[string]any{"x": "1"}}, map[string]any{"m": map[string]any{"x": "1"}}, true},
		{"nested other", map[string]any{"m": map[string]any{"x": "1"}}, map[string]any{"m": map[string]any{"x": "2"}}, false},
		{"empty", map[string]any{}, map[string]any{}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := newOffsetTracker()
			_, pa, err := o.add(tc.a, map[string]any{"o": int64(1)}, 1)
			if err != nil {
				t.Fatal(err)
			}
			_, pb, err := o.add(tc.b, map[string]any{"o": int64(2)}, 2)
			if err != nil {
				t.Fatal(err)
			}
			if (pa == pb) != tc.same {
				t.Fatalf("same track = %v, want %v", pa == pb, tc.same)
			}
			// And back to the first partition after the second.
			_, pc, err := o.add(tc.a, map[string]any{"o": int64(3)}, 3)
			if err != nil || pc != pa {
				t.Fatalf("third add of the first partition: other track (%v)", err)
			}
		})
	}
	t.Run("map changed in place", func(t *testing.T) {
		o := newOffsetTracker()
		m := map[string]any{"server": "a"}
		_, pa, _ := o.add(m, map[string]any{"o": int64(1)}, 1)
		m["server"] = "b"
		_, pb, _ := o.add(m, map[string]any{"o": int64(2)}, 2)
		if pa == pb {
			t.Fatal("a partition map changed in place shares the old partition's track")
		}
	})
	t.Run("unencodable", func(t *testing.T) {
		o := newOffsetTracker()
		if _, _, err := o.add(map[string]any{"n": math.NaN()}, map[string]any{"o": int64(1)}, 1); err == nil {
			t.Fatal("NaN partition: no error")
		}
		if _, _, err := o.add(map[string]any{"n": math.NaN()}, map[string]any{"o": int64(1)}, 2); err == nil {
			t.Fatal("NaN partition again: no error")
		}
	})
}

// TestBufPoolsBounded checks that the record and decompression buffer
// free lists keep at most their bound and never keep oversized buffers.
func TestBufPoolsBounded(t *testing.T) {
	var bp bufPool
	for range maxFreeBufs + 10 {
		bp.put(&encBufs{val: make([]byte, 0, 100)})
	}
	bp.put(&encBufs{val: make([]byte, 0, maxPooledSize+1)})
	if len(bp.free) != maxFreeBufs {
		t.Fatalf("record buffers kept %d, bound %d", len(bp.free), maxFreeBufs)
	}
	for range maxFreeBufs {
		if eb := bp.get(); cap(eb.val) != 100 {
			t.Fatalf("got a buffer of capacity %d, want a kept one (100)", cap(eb.val))
		}
	}
	if eb := bp.get(); eb == nil || eb.val != nil {
		t.Fatalf("empty list: got %v, want a new empty pair", eb)
	}
	var dp decompressPool
	if b := dp.GetDecompressBytes(nil, 0); b != nil {
		t.Fatalf("empty pool returned a buffer of %d", cap(b))
	}
	for i := range maxFreeDecompress + 5 {
		dp.PutDecompressBytes(make([]byte, 10+i))
	}
	dp.PutDecompressBytes(make([]byte, maxDecompressBytes+1))
	if len(dp.free) != maxFreeDecompress {
		t.Fatalf("decompression buffers kept %d, bound %d", len(dp.free), maxFreeDecompress)
	}
	if b := dp.GetDecompressBytes(make([]byte, 12), 0); cap(b) != 13 {
		t.Fatalf("got capacity %d, want the smallest kept larger than the batch (13)", cap(b))
	}
	// A small batch never takes a buffer much larger than it.
	var big decompressPool
	big.PutDecompressBytes(make([]byte, 1<<20))
	if b := big.GetDecompressBytes(make([]byte, 100), 0); b != nil {
		t.Fatalf("a 100-byte batch got a buffer of %d", cap(b))
	}
	if b := big.GetDecompressBytes(make([]byte, 1<<16), 0); cap(b) != 1<<20 {
		t.Fatalf("a 64 KiB batch got a buffer of %d, want the 1 MiB one", cap(b))
	}
}
