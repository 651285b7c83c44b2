package log

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// syncProbe counts fsyncs of segment data files and records, for every
// completed fsync, the sequence number at which it started.
type syncProbe struct {
	delay     atomic.Int64 // ns
	started   atomic.Int64
	completed atomic.Int64 // largest start sequence of a completed fsync
	count     atomic.Int64
	fail      atomic.Bool
	// syncedSize is the largest file size seen at the start of a completed
	// fsync: every byte below it is durable.
	syncedSize atomic.Int64
}

func (p *syncProbe) sync(f *os.File) error {
	if fi, err := f.Stat(); err == nil && fi.IsDir() {
		return f.Sync()
	}
	if len(f.Name()) < 4 || f.Name()[len(f.Name())-4:] != ".log" {
		return f.Sync()
	}
	seq := p.started.Add(1)
	p.count.Add(1)
	var sizeAtStart int64
	if fi, err := f.Stat(); err == nil {
		sizeAtStart = fi.Size()
	}
	time.Sleep(time.Duration(p.delay.Load()))
	if p.fail.Load() {
		return errors.New("injected fsync failure")
	}
	err := f.Sync()
	for {
		c := p.syncedSize.Load()
		if sizeAtStart <= c || p.syncedSize.CompareAndSwap(c, sizeAtStart) {
			break
		}
	}
	for {
		c := p.completed.Load()
		if seq <= c || p.completed.CompareAndSwap(c, seq) {
			break
		}
	}
	return err
}

func TestWaitDurableGroupCommit(t *testing.T) {
	probe := &syncProbe{}
	probe.delay.Store(int64(20 * time.Millisecond))
	l := mustOpen(t, t.TempDir(), smallConfig(), WithSyncFunc(probe.sync))
	defer l.Close()
	before := probe.count.Load()
	const N = 40
	var wg sync.WaitGroup
	errs := make(chan error, N)
	start := make(chan struct{})
	for i := 0; i < N; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			b := simple(t, 1, "d")
			res, err := l.Append(b, AppendOptions{})
			if err != nil {
				errs <- err
				return
			}
			if err := l.WaitDurable(context.Background(), res.LastOffset); err != nil {
				errs <- err
				return
			}
			// All batches have the same size and one offset each.
			if end := (res.LastOffset + 1) * int64(len(b)); probe.syncedSize.Load() < end {
				errs <- fmt.Errorf("WaitDurable(%d) returned but only %d of %d bytes were fsynced", res.LastOffset, probe.syncedSize.Load(), end)
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	syncs := probe.count.Load() - before
	t.Logf("%d concurrent waiters caused %d fsyncs", N, syncs)
	if syncs >= N {
		t.Fatalf("%d waiters caused %d fsyncs; group commit should share them", N, syncs)
	}
	if syncs < 1 {
		t.Fatal("no fsync at all")
	}
	// Already durable offsets return immediately without a new fsync.
	c := probe.count.Load()
	if err := l.WaitDurable(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if probe.count.Load() != c {
		t.Fatalf("fsync for already durable data (%d -> %d)", c, probe.count.Load())
	}
}

func TestWaitDurableContextAndErrors(t *testing.T) {
	probe := &syncProbe{}
	probe.delay.Store(int64(300 * time.Millisecond))
	l := mustOpen(t, t.TempDir(), smallConfig(), WithSyncFunc(probe.sync))
	defer l.Close()
	if _, err := l.Append(simple(t, 1, "x"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	go l.WaitDurable(context.Background(), 0) // a slow fsync in flight
	time.Sleep(20 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := l.WaitDurable(ctx, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want deadline exceeded", err)
	}
	probe.delay.Store(0)
	time.Sleep(350 * time.Millisecond)
	if _, err := l.Append(simple(t, 1, "y"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	probe.fail.Store(true)
	if err := l.WaitDurable(context.Background(), 1); err == nil {
		t.Fatal("fsync failure not reported")
	}
	// A later successful fsync proves nothing about the lost pages: the log
	// stays offline (see TestFsyncFailureTakesLogOffline).
	probe.fail.Store(false)
	if err := l.WaitDurable(context.Background(), 1); !errors.Is(err, ErrStorage) {
		t.Fatalf("after a failed fsync: %v, want ErrStorage", err)
	}
}

func TestFlushPolicies(t *testing.T) {
	t.Run("flush.messages=1", func(t *testing.T) {
		probe := &syncProbe{}
		cfg := smallConfig()
		cfg.FlushMessages = 1
		l := mustOpen(t, t.TempDir(), cfg, WithSyncFunc(probe.sync), WithFlushPolicy(FlushPolicy{Mode: FlushNone}))
		defer l.Close()
		for i := 0; i < 3; i++ {
			c := probe.started.Load()
			if _, err := l.Append(simple(t, 1, "a"), AppendOptions{}); err != nil {
				t.Fatal(err)
			}
			if probe.completed.Load() <= c {
				t.Fatalf("append %d returned before an fsync", i)
			}
		}
	})
	t.Run("interval", func(t *testing.T) {
		probe := &syncProbe{}
		l := mustOpen(t, t.TempDir(), smallConfig(), WithSyncFunc(probe.sync), WithFlushPolicy(FlushPolicy{Mode: FlushInterval, Interval: 10 * time.Millisecond}))
		defer l.Close()
		c := probe.count.Load()
		if _, err := l.Append(simple(t, 1, "a"), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for probe.count.Load() == c {
			if time.Now().After(deadline) {
				t.Fatal("background flusher never synced")
			}
			time.Sleep(5 * time.Millisecond)
		}
		// Nothing new appended: the flusher does not fsync again.
		time.Sleep(30 * time.Millisecond)
		c = probe.count.Load()
		time.Sleep(50 * time.Millisecond)
		if probe.count.Load() != c {
			t.Fatalf("flusher fsynced an idle log (%d -> %d)", c, probe.count.Load())
		}
	})
}

func TestRealFsyncPath(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	l := mustOpen(t, dir, cfg, WithSyncFunc((*os.File).Sync))
	var last int64
	for i := 0; i < 20; i++ {
		res, err := l.Append(simple(t, 2, "fs"), AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		last = res.LastOffset
	}
	if err := l.WaitDurable(context.Background(), last); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitDurable(context.Background(), last); err != nil {
		t.Fatalf("WaitDurable of durable data after Close: %v", err)
	}
	l2 := mustOpen(t, dir, cfg, WithSyncFunc((*os.File).Sync))
	if l2.EndOffset() != last+1 {
		t.Fatalf("end %d", l2.EndOffset())
	}
	if err := l2.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("Remove left the directory: %v", err)
	}
}
