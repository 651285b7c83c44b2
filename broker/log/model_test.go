package log

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"
)

// TestRandomOpsAgainstModel runs random appends, reads, restarts, crashes
// (with torn tails), DeleteRecords and size retention, and compares the log
// with a simple in-memory model after every step.
func TestRandomOpsAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			runModel(t, seed, 250)
		})
	}
}

type modelBatch struct {
	data       []byte // as produced
	base, last int64
}

func runModel(t *testing.T, seed uint64, steps int) {
	rnd := rand.New(rand.NewPCG(seed, seed*7))
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = int64(300 + rnd.IntN(900))
	cfg.RetentionMs = -1
	l := mustOpen(t, dir, cfg)
	defer func() { l.Close() }()
	var model []modelBatch
	start, end := int64(0), int64(0)
	seq := map[int64]int32{} // next sequence per producer
	verify := func(what string) {
		t.Helper()
		if l.StartOffset() != start || l.EndOffset() != end {
			t.Fatalf("after %s: start/end %d/%d, model %d/%d", what, l.StartOffset(), l.EndOffset(), start, end)
		}
		got := readAll(t, l)
		var want []modelBatch
		for _, m := range model {
			if m.last >= start {
				want = append(want, m)
			}
		}
		if len(got) != len(want) {
			t.Fatalf("after %s: %d batches, model %d", what, len(got), len(want))
		}
		for i := range got {
			h, _ := ParseBatchHeader(got[i])
			if h.BaseOffset != want[i].base || !sameExceptBase(got[i], want[i].data) {
				t.Fatalf("after %s: batch %d at %d differs (model base %d)", what, i, h.BaseOffset, want[i].base)
			}
		}
	}
	for step := 0; step < steps; step++ {
		switch op := rnd.IntN(100); {
		case op < 60: // append
			n := 1 + rnd.IntN(4)
			var b []byte
			pid := int64(rnd.IntN(3)) // 0 = plain
			if pid == 0 {
				b = simple(t, n, fmt.Sprint("m", step))
			} else {
				b = idemBatch(t, pid, 0, seq[pid], n)
			}
			res, err := l.Append(b, AppendOptions{})
			if err != nil {
				t.Fatalf("step %d append: %v", step, err)
			}
			if res.BaseOffset != end {
				t.Fatalf("step %d: base %d, model end %d", step, res.BaseOffset, end)
			}
			model = append(model, modelBatch{b, end, end + int64(n) - 1})
			end += int64(n)
			if pid != 0 {
				seq[pid] += int32(n)
				// A retry is a duplicate.
				if _, err := l.Append(b, AppendOptions{}); !errors.Is(err, ErrDuplicateSequence) {
					t.Fatalf("step %d retry: %v", step, err)
				}
			}
		case op < 70: // clean restart
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l = mustOpen(t, dir, cfg)
			verify("restart")
		case op < 80: // crash, maybe tearing the last batch
			l.abandon()
			if len(model) > 0 && model[len(model)-1].base >= start && rnd.IntN(2) == 0 {
				segs := segFiles(t, dir, ".log")
				last := segs[len(segs)-1]
				st, _ := os.Stat(last)
				m := model[len(model)-1]
				if st.Size() >= int64(len(m.data)) {
					cut := st.Size() - int64(1+rnd.IntN(len(m.data)))
					if err := os.Truncate(last, cut); err != nil {
						t.Fatal(err)
					}
					model = model[:len(model)-1]
					end = m.base
					if start > end {
						start = end
					}
					// The torn batch's sequence numbers are free again.
					if h, _ := ParseBatchHeader(m.data); h.ProducerID > 0 {
						seq[h.ProducerID] = h.BaseSequence
					}
				}
			}
			l = mustOpen(t, dir, cfg)
			verify("crash")
		case op < 85: // DeleteRecords
			if end > start {
				before := start + rnd.Int64N(end-start+1)
				if err := l.DeleteRecords(before); err != nil {
					t.Fatal(err)
				}
				start = before
				verify("DeleteRecords")
			}
		case op < 90: // size retention
			c := cfg
			c.RetentionBytes = int64(rnd.IntN(3000))
			l.SetConfig(c)
			if err := l.Clean(timeNowForModel()); err != nil {
				t.Fatal(err)
			}
			l.SetConfig(cfg)
			// Retention only drops whole segments from the front: adopt the new start.
			if s := l.StartOffset(); s < start {
				t.Fatalf("retention moved start back: %d < %d", s, start)
			} else {
				start = s
			}
			verify("retention")
		default: // random read
			if end > start {
				off := start + rnd.Int64N(end-start)
				b, err := l.Read(off, rnd.IntN(500))
				if err != nil {
					t.Fatal(err)
				}
				bs, err := SplitBatches(b)
				if err != nil || len(bs) == 0 {
					t.Fatalf("Read(%d): %d batches, %v", off, len(bs), err)
				}
				h, err := ValidateBatch(bs[0])
				if err != nil {
					t.Fatalf("Read(%d): %v", off, err)
				}
				if h.BaseOffset > off || h.LastOffset() < off {
					t.Fatalf("Read(%d) starts with batch %d..%d", off, h.BaseOffset, h.LastOffset())
				}
			}
		}
	}
	verify("end")
}

func timeNowForModel() time.Time { return time.UnixMilli(1_700_000_000_000) }
