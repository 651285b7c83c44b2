package log

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// replicaBatch returns a valid batch of n records at base with leader epoch.
func replicaBatch(t *testing.T, l *Log, base int64, n int, epoch int32) ValidBatch {
	t.Helper()
	raw := simple(t, n, "r")
	setBaseOffset(raw, base)
	binary.BigEndian.PutUint32(raw[offLeaderEpoch:], uint32(epoch))
	v, err := CheckBatch(raw)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTruncateAndEpochs(t *testing.T) {
	tests := []struct {
		name     string
		segBytes int32
	}{
		{"one segment", 1 << 20},
		{"many segments", 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := DefaultConfig()
			cfg.SegmentBytes = int64(tt.segBytes)
			l, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			// Epoch 0: offsets 0..9, epoch 2: 10..19 (two records per batch).
			for off := int64(0); off < 20; off += 2 {
				ep := int32(0)
				if off >= 10 {
					ep = 2
				}
				if _, err := l.AppendReplica(replicaBatch(t, l, off, 2, ep)); err != nil {
					t.Fatal(err)
				}
			}
			if got := l.Epochs(); len(got) != 2 || got[1] != (EpochEntry{2, 10}) {
				t.Fatalf("epochs = %v", got)
			}
			for _, c := range []struct {
				ask       int32
				wantEpoch int32
				wantEnd   int64
			}{{0, 0, 10}, {1, 0, 10}, {2, 2, 20}, {5, 2, 20}} {
				if e, end := l.EpochEndOffset(c.ask); e != c.wantEpoch || end != c.wantEnd {
					t.Fatalf("EpochEndOffset(%d) = %d, %d; want %d, %d", c.ask, e, end, c.wantEpoch, c.wantEnd)
				}
			}
			if _, err := l.AppendReplica(replicaBatch(t, l, 4, 2, 2)); err == nil {
				t.Fatal("AppendReplica below the end offset succeeded")
			}
			if err := l.Truncate(13); err != nil { // inside batch 12..13: cut at 12
				t.Fatal(err)
			}
			if l.EndOffset() != 12 {
				t.Fatalf("end after truncate = %d, want 12", l.EndOffset())
			}
			if err := l.Truncate(10); err != nil {
				t.Fatal(err)
			}
			if got := l.Epochs(); len(got) != 1 || got[0] != (EpochEntry{0, 0}) {
				t.Fatalf("epochs after truncating epoch 2 away = %v", got)
			}
			// The log goes on from the new end, and survives a reopen.
			if _, err := l.AppendReplica(replicaBatch(t, l, 10, 3, 3)); err != nil {
				t.Fatal(err)
			}
			data, err := l.Read(8, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			bs, _ := SplitBatches(data)
			if len(bs) != 2 {
				t.Fatalf("read from 8: %d batches, want 2", len(bs))
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, err = Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if l.EndOffset() != 13 {
				t.Fatalf("end after reopen = %d, want 13", l.EndOffset())
			}
			if got := l.Epochs(); len(got) != 2 || got[1] != (EpochEntry{3, 10}) {
				t.Fatalf("epochs after reopen = %v", got)
			}
		})
	}
}

func TestHighWatermarkCap(t *testing.T) {
	l, err := Open(t.TempDir(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for i := 0; i < 3; i++ {
		if _, err := l.Append(simple(t, 1, "x"), AppendOptions{StampEpoch: true, LeaderEpoch: 4}); err != nil {
			t.Fatal(err)
		}
	}
	l.SetHighWatermarkCap(1)
	if hw := l.HighWatermark(); hw != 1 {
		t.Fatalf("hw = %d, want 1", hw)
	}
	data, _ := l.Read(0, 1<<20)
	if bs, _ := SplitBatches(data); len(bs) != 1 {
		t.Fatalf("Read below the cap returned %d batches, want 1", len(bs))
	}
	data, _ = l.ReadReplica(0, 1<<20)
	bs, _ := SplitBatches(data)
	if len(bs) != 3 {
		t.Fatalf("ReadReplica returned %d batches, want 3", len(bs))
	}
	if h, _ := ParseBatchHeader(bs[2]); h.PartitionLeaderEpoch != 4 {
		t.Fatalf("stamped epoch = %d, want 4", h.PartitionLeaderEpoch)
	}
}

func TestEpochEndOffsetBeforeFirstEpoch(t *testing.T) {
	l, err := Open(t.TempDir(), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if e, end := l.EpochEndOffset(3); e != -1 || end != -1 {
		t.Fatalf("empty cache: %d, %d; want -1, -1", e, end)
	}
	// Epoch 0 wrote nothing before epoch 1 took over at offset 0: it is
	// superseded, and asking for it answers epoch 1's start.
	if err := l.AssignEpoch(0); err != nil {
		t.Fatal(err)
	}
	if err := l.AssignEpoch(1); err != nil {
		t.Fatal(err)
	}
	if got := l.Epochs(); len(got) != 1 || got[0] != (EpochEntry{1, 0}) {
		t.Fatalf("epochs = %v", got)
	}
	if e, end := l.EpochEndOffset(0); e != 0 || end != 0 {
		t.Fatalf("EpochEndOffset(0) = %d, %d; want 0, 0", e, end)
	}
}

// TestTruncateFullyAndStartAt empties a follower's log and restarts it at
// an offset past its old end, as when the leader's log start moved beyond
// it, and checks that nothing of the old log survives a reopen.
func TestTruncateFullyAndStartAt(t *testing.T) {
	tests := []struct {
		name     string
		segBytes int64
		start    int64
		// truncate below a log start moved to deleteBefore, through
		// Truncate instead of TruncateFullyAndStartAt.
		truncate     bool
		deleteBefore int64
	}{
		{"one segment, past the end", 1 << 20, 100, false, 0},
		{"many segments, past the end", 300, 100, false, 0},
		{"many segments, at the end", 300, 20, false, 0},
		{"Truncate below the log start, one segment", 1 << 20, 8, true, 12},
		{"Truncate below the log start, many segments", 300, 8, true, 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := DefaultConfig()
			cfg.SegmentBytes = tt.segBytes
			l, err := Open(dir, cfg)
			if err != nil {
				t.Fatal(err)
			}
			for off := int64(0); off < 20; off += 2 {
				if _, err := l.AppendReplica(replicaBatch(t, l, off, 2, int32(off/10))); err != nil {
					t.Fatal(err)
				}
			}
			l.SetHighWatermarkCap(20)
			reset := l.TruncateFullyAndStartAt
			if tt.truncate {
				if err := l.DeleteRecords(tt.deleteBefore); err != nil {
					t.Fatal(err)
				}
				reset = l.Truncate
			}
			if err := reset(tt.start); err != nil {
				t.Fatal(err)
			}
			check := func(when string, end int64) {
				t.Helper()
				if l.StartOffset() != tt.start || l.EndOffset() != end {
					t.Fatalf("%s: start %d end %d, want %d and %d", when, l.StartOffset(), l.EndOffset(), tt.start, end)
				}
				if _, err := l.Read(0, 1<<20); !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("%s: read at 0: %v, want ErrOffsetOutOfRange", when, err)
				}
			}
			check("after the reset", tt.start)
			if got := l.Epochs(); len(got) != 0 {
				t.Fatalf("epochs after the reset = %v, want none", got)
			}
			if hw := l.HighWatermark(); hw != tt.start {
				t.Fatalf("high watermark after the reset = %d, want %d", hw, tt.start)
			}
			if _, err := l.AppendReplica(replicaBatch(t, l, tt.start-1, 1, 5)); err == nil {
				t.Fatal("AppendReplica below the new start succeeded")
			}
			if _, err := l.AppendReplica(replicaBatch(t, l, tt.start, 3, 5)); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if l, err = Open(dir, cfg); err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			check("after reopen", tt.start+3)
			if got := l.Epochs(); len(got) != 1 || got[0] != (EpochEntry{5, tt.start}) {
				t.Fatalf("epochs after reopen = %v, want [{5 %d}]", got, tt.start)
			}
			data, err := l.ReadReplica(tt.start, 1<<20) // above the high watermark
			if err != nil {
				t.Fatal(err)
			}
			if bs, _ := SplitBatches(data); len(bs) != 1 {
				t.Fatalf("read at %d after reopen: %d batches, want 1", tt.start, len(bs))
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				name := e.Name()
				if base, err := strconv.ParseInt(strings.TrimSuffix(name, filepath.Ext(name)), 10, 64); err == nil && base < tt.start {
					t.Errorf("file %s of the old log is still there", name)
				}
			}
		})
	}
}
