package log

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestConcurrentAppendRead(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 8 << 10
	l := mustOpen(t, dir, cfg)
	defer l.Close()
	const writers, perWriter = 4, 150
	var wg sync.WaitGroup
	var done atomic.Bool
	errc := make(chan error, 64)
	report := func(err error) {
		select {
		case errc <- err:
		default:
		}
	}
	// Readers tail the log from the start, checking every batch they see is
	// complete, valid and contiguous with the previous one.
	var readersWG sync.WaitGroup
	for r := 0; r < 3; r++ {
		readersWG.Add(1)
		go func() {
			defer readersWG.Done()
			var next int64
			for {
				ch := l.Changed()
				b, err := l.Read(next, 4096)
				if err != nil {
					report(fmt.Errorf("Read(%d): %w", next, err))
					return
				}
				if len(b) == 0 {
					if done.Load() && next == l.EndOffset() {
						return
					}
					select {
					case <-ch:
					case <-time.After(50 * time.Millisecond):
					}
					continue
				}
				bs, err := SplitBatches(b)
				if err != nil {
					report(err)
					return
				}
				for _, x := range bs {
					h, err := ValidateBatch(x)
					if err != nil {
						report(fmt.Errorf("reader saw a bad batch: %w", err))
						return
					}
					if h.BaseOffset > next || h.LastOffset() < next {
						report(fmt.Errorf("reader expected offset %d, got batch %d..%d", next, h.BaseOffset, h.LastOffset()))
						return
					}
					next = h.LastOffset() + 1
				}
			}
		}()
	}
	// A random reader hits arbitrary offsets.
	readersWG.Add(1)
	go func() {
		defer readersWG.Done()
		for i := 0; !done.Load(); i++ {
			end := l.EndOffset()
			if end == 0 {
				time.Sleep(time.Millisecond)
				continue
			}
			off := int64(i*7919) % end
			b, err := l.Read(off, 1)
			if err != nil {
				report(err)
				return
			}
			if h, err := ValidateBatch(b); err != nil || h.LastOffset() < off || h.BaseOffset > off {
				report(fmt.Errorf("random Read(%d): %v %+v", off, err, h))
				return
			}
			if _, _, err := l.OffsetForTimestamp(1_700_000_000_000); err != nil {
				report(err)
				return
			}
		}
	}()
	offsets := make([][]int64, writers)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				// Half idempotent (one producer per writer), half plain.
				var b []byte
				if w%2 == 0 {
					b = idemBatch(t, int64(w+1), 0, int32(i*2), 2)
				} else {
					b = simple(t, 2, fmt.Sprint(w, "-", i))
				}
				res, err := l.Append(b, AppendOptions{})
				if err != nil {
					report(err)
					return
				}
				offsets[w] = append(offsets[w], res.BaseOffset)
				if i%25 == 0 {
					if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
						report(err)
						return
					}
				}
			}
		}(w)
	}
	wg.Wait()
	done.Store(true)
	readersWG.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if l.EndOffset() != writers*perWriter*2 {
		t.Fatalf("end %d", l.EndOffset())
	}
	seen := map[int64]bool{}
	for w := range offsets {
		for i, o := range offsets[w] {
			if seen[o] || (i > 0 && o <= offsets[w][i-1]) {
				t.Fatalf("writer %d got offset %d twice or out of order", w, o)
			}
			seen[o] = true
		}
	}
	if got := readAll(t, l); len(got) != writers*perWriter {
		t.Fatalf("%d batches, want %d", len(got), writers*perWriter)
	}
}

func TestConcurrentCleanAndRead(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 2 << 10
	cfg.RetentionBytes = 8 << 10
	cfg.RetentionMs = -1
	cfg.Compact = true
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	var done atomic.Bool
	var wg sync.WaitGroup
	errc := make(chan error, 8)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for !done.Load() {
			if err := l.Clean(time.Now()); err != nil {
				errc <- err
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	go func() {
		defer wg.Done()
		for !done.Load() {
			start := l.StartOffset()
			b, err := l.Read(start, 1<<16)
			if err != nil && !errors.Is(err, ErrOffsetOutOfRange) {
				errc <- err
				return
			}
			if len(b) > 0 {
				if _, err := SplitBatches(b); err != nil {
					errc <- err
					return
				}
			}
		}
	}()
	for i := 0; i < 300; i++ {
		if _, err := l.Append(simple(t, 3, fmt.Sprint("k", i%5)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	done.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if err := l.Clean(time.Now()); err != nil {
		t.Fatal(err)
	}
	if l.Size() > cfg.RetentionBytes+cfg.SegmentBytes*2 {
		t.Fatalf("size %d not bounded by retention", l.Size())
	}
}
