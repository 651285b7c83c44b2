package worker

import (
	"fmt"
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
