package log

import (
	"context"
	"errors"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/broker/log/faultfs"
)

// faultFS adapts faultfs.FS to the log's FS interface.
type faultFS struct{ faultfs.FS }

func (fs *faultFS) OpenFile(path string) (File, error) { return fs.Open(path) }

func (fs *faultFS) crash(t *testing.T) {
	t.Helper()
	if err := fs.Crash(); err != nil {
		t.Fatalf("crash: %v", err)
	}
}

func appendOK(t *testing.T, l *Log, tag string) AppendResult {
	t.Helper()
	res, err := l.Append(simple(t, 2, tag), AppendOptions{})
	if err != nil {
		t.Fatalf("append %s: %v", tag, err)
	}
	return res
}

// A failed fsync must not be retried into "durable": the log goes offline
// (ErrStorage for appends, reads and waits) and a restart recovers what is
// really on disk.
func TestFsyncFailureTakesLogOffline(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := mustOpen(t, dir, smallConfig(), WithFS(fsys))
	a := appendOK(t, l, "a")
	if err := l.WaitDurable(context.Background(), a.LastOffset); err != nil {
		t.Fatal(err)
	}
	b := appendOK(t, l, "b")
	fsys.FailSync.Store(true)
	if err := l.WaitDurable(context.Background(), b.LastOffset); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.EIO) {
		t.Fatalf("WaitDurable after failed fsync = %v, want ErrStorage wrapping EIO", err)
	}
	// The disk "recovers": a later fsync succeeding must not make b durable.
	fsys.FailSync.Store(false)
	if err := l.WaitDurable(context.Background(), b.LastOffset); !errors.Is(err, ErrStorage) {
		t.Fatalf("second WaitDurable = %v, want ErrStorage (a retried fsync proves nothing)", err)
	}
	if err := l.WaitDurable(context.Background(), a.LastOffset); err != nil {
		t.Fatalf("offsets durable before the failure: %v", err)
	}
	if _, err := l.Append(simple(t, 1, "c"), AppendOptions{}); !errors.Is(err, ErrStorage) {
		t.Fatalf("Append on an offline log = %v, want ErrStorage", err)
	}
	if _, err := l.Read(0, 1<<20); !errors.Is(err, ErrStorage) {
		t.Fatalf("Read on an offline log = %v, want ErrStorage", err)
	}
	if l.Failed() == nil {
		t.Fatal("Failed() = nil")
	}
	if err := l.Close(); !errors.Is(err, ErrStorage) {
		t.Fatalf("Close = %v, want ErrStorage", err)
	}
	fsys.crash(t)

	l2 := mustOpen(t, dir, smallConfig())
	defer l2.Close()
	if got := l2.EndOffset(); got != a.LastOffset+1 {
		t.Fatalf("after restart end offset = %d, want %d (only the durable batch)", got, a.LastOffset+1)
	}
	if n := len(allRecords(t, l2)); n != 2 {
		t.Fatalf("after restart %d records, want 2", n)
	}
	appendOK(t, l2, "d")
}

// A short write (ENOSPC) takes the log offline too, leaves no partial batch
// behind, and the restarted log is intact.
func TestShortWriteTakesLogOffline(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := mustOpen(t, dir, smallConfig(), WithFS(fsys))
	a := appendOK(t, l, "a")
	size := l.Size()
	fsys.ShortWrite.Store(10)
	if _, err := l.Append(simple(t, 3, "b"), AppendOptions{}); !errors.Is(err, ErrStorage) || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("short write: %v, want ErrStorage wrapping ENOSPC", err)
	}
	if _, err := l.Append(simple(t, 1, "c"), AppendOptions{}); !errors.Is(err, ErrStorage) {
		t.Fatalf("append after a failed write = %v, want ErrStorage", err)
	}
	if got := l.EndOffset(); got != a.LastOffset+1 {
		t.Fatalf("end offset moved to %d", got)
	}
	if st, err := os.Stat(segName(dir, 0, extLog)); err != nil || st.Size() != size {
		t.Fatalf("segment size after the failed write: %v %v, want %d", st.Size(), err, size)
	}
	l.Close()
	l2 := mustOpen(t, dir, smallConfig())
	defer l2.Close()
	if n := len(allRecords(t, l2)); n != 2 {
		t.Fatalf("after restart %d records, want 2", n)
	}
	appendOK(t, l2, "d")
}

// With FlushDurable readers only see fsynced data: the high watermark is
// the durable offset, so after a power loss nothing a reader saw is gone.
func TestDurableHighWatermarkHidesUnsyncedData(t *testing.T) {
	dir := t.TempDir()
	fsys := &faultFS{}
	l := mustOpen(t, dir, smallConfig(), WithFS(fsys), WithFlushPolicy(FlushPolicy{Mode: FlushDurable}))
	a := appendOK(t, l, "a")
	waitFor(t, "first batch durable", func() bool { return l.HighWatermark() == a.LastOffset+1 })

	release := fsys.HoldSyncs()
	defer release()
	changed := l.Changed()
	b := appendOK(t, l, "b")
	if hw := l.HighWatermark(); hw != a.LastOffset+1 {
		t.Fatalf("high watermark %d includes the unsynced batch (end %d)", hw, l.EndOffset())
	}
	data, err := l.Read(a.LastOffset+1, 1<<20)
	if err != nil || data != nil {
		t.Fatalf("Read past the durable offset = %d bytes, %v; want nothing", len(data), err)
	}
	all, err := l.Read(0, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if bs, _ := SplitBatches(all); len(bs) != 1 {
		t.Fatalf("Read from 0 returned %d batches, want only the durable one", len(bs))
	}
	seenHW := l.HighWatermark()

	// Power loss while the fsync is still pending.
	fsys.crash(t)
	release()
	l.abandon()
	l2 := mustOpen(t, dir, smallConfig())
	defer l2.Close()
	if l2.EndOffset() < seenHW {
		t.Fatalf("after the crash end offset %d < high watermark %d a reader saw", l2.EndOffset(), seenHW)
	}
	if l2.EndOffset() > b.BaseOffset {
		t.Fatalf("unsynced batch survived the simulated power loss (end %d)", l2.EndOffset())
	}
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed when the log was closed")
	}

	// And the syncer does expose data once the fsync completes.
	fsys2 := &faultFS{}
	l3 := mustOpen(t, t.TempDir(), smallConfig(), WithFS(fsys2), WithFlushPolicy(FlushPolicy{Mode: FlushDurable}))
	defer l3.Close()
	rel := fsys2.HoldSyncs()
	ch := l3.Changed()
	c := appendOK(t, l3, "c")
	if l3.HighWatermark() != 0 {
		t.Fatal("visible before fsync")
	}
	rel()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("Changed did not fire after the background fsync")
	}
	waitFor(t, "durable", func() bool { return l3.HighWatermark() == c.LastOffset+1 })
}

// Close racing with appends must neither panic (closing the change channel
// twice) nor lose an acknowledged append.
func TestCloseRacingAppends(t *testing.T) {
	for iter := 0; iter < 200; iter++ {
		l := mustOpen(t, t.TempDir(), smallConfig())
		batch := simple(t, 1, "x")
		var wg sync.WaitGroup
		start := make(chan struct{})
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for {
					if _, err := l.Append(batch, AppendOptions{}); err != nil {
						if !errors.Is(err, ErrClosed) {
							t.Errorf("append: %v", err)
						}
						return
					}
				}
			}()
		}
		close(start)
		for l.EndOffset() < int64(iter%7) {
			time.Sleep(time.Microsecond)
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
	}
}

// flush.messages fsyncs inside Append; FlushIfDue honours flush.ms.
func TestTopicFlushSettings(t *testing.T) {
	fsys := &faultFS{}
	cfg := smallConfig()
	cfg.FlushMessages = 4
	l := mustOpen(t, t.TempDir(), cfg, WithFS(fsys))
	defer l.Close()
	base := fsys.Syncs.Load() // Open's own fsync
	appendOK(t, l, "a")       // 2 unflushed
	if n := fsys.Syncs.Load() - base; n != 0 {
		t.Fatalf("%d fsyncs below flush.messages", n)
	}
	appendOK(t, l, "b") // 4 unflushed -> fsync
	if n := fsys.Syncs.Load() - base; n != 1 {
		t.Fatalf("%d fsyncs at flush.messages, want 1", n)
	}

	clock := newFakeClock(1_000_000)
	fsys2 := &faultFS{}
	cfg2 := smallConfig()
	cfg2.FlushMs = time.Second
	l2 := mustOpen(t, t.TempDir(), cfg2, WithFS(fsys2), WithClock(clock.now))
	defer l2.Close()
	base2 := fsys2.Syncs.Load()
	appendOK(t, l2, "a")
	if err := l2.FlushIfDue(clock.now().Add(500 * time.Millisecond)); err != nil || fsys2.Syncs.Load() != base2 {
		t.Fatalf("flushed before flush.ms: %v, %d", err, fsys2.Syncs.Load())
	}
	if err := l2.FlushIfDue(clock.now().Add(time.Second)); err != nil || fsys2.Syncs.Load() != base2+1 {
		t.Fatalf("not flushed at flush.ms: %v, %d", err, fsys2.Syncs.Load())
	}
}

// ReadStrict never returns a batch larger than maxBytes (KIP-74: only the
// first non-empty partition of a fetch may exceed the limit).
func TestReadStrict(t *testing.T) {
	l := mustOpen(t, t.TempDir(), smallConfig())
	defer l.Close()
	appendOK(t, l, "a")
	appendOK(t, l, "b")
	one, err := l.Read(0, 1)
	if err != nil || len(one) == 0 {
		t.Fatalf("Read(0, 1) = %d bytes, %v; want the first batch", len(one), err)
	}
	if got, err := l.ReadStrict(0, len(one)-1); err != nil || got != nil {
		t.Fatalf("ReadStrict below the batch size = %d bytes, %v", len(got), err)
	}
	if got, err := l.ReadStrict(0, len(one)+1); err != nil || len(got) != len(one) {
		t.Fatalf("ReadStrict = %d bytes, %v; want %d", len(got), err, len(one))
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
