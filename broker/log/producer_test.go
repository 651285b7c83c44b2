package log

import (
	"errors"
	"fmt"
	"math"
	"os"
	"testing"
)

func idemBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	s := spec{pid: pid, epoch: epoch, seq: seq}
	for i := 0; i < n; i++ {
		s.recs = append(s.recs, kv{key: []byte(fmt.Sprint("k", i)), value: []byte(fmt.Sprint(pid, epoch, seq))})
	}
	return makeBatch(t, s)
}

type step struct {
	pid     int64
	epoch   int16
	seq     int32
	n       int
	wantErr error
	dupOf   int // for duplicates: index of the step whose offsets are returned
}

func runSteps(t *testing.T, l *Log, steps []step, results map[int]AppendResult) {
	t.Helper()
	for i, s := range steps {
		res, err := l.Append(idemBatch(t, s.pid, s.epoch, s.seq, s.n), AppendOptions{})
		if s.wantErr == nil {
			if err != nil {
				t.Fatalf("step %d (%+v): %v", i, s, err)
			}
			results[i] = res
			continue
		}
		if !errors.Is(err, s.wantErr) {
			t.Fatalf("step %d (%+v): err = %v, want %v", i, s, err, s.wantErr)
		}
		if s.wantErr == ErrDuplicateSequence {
			var dup *DuplicateError
			if !errors.As(err, &dup) {
				t.Fatalf("step %d: %T is not *DuplicateError", i, err)
			}
			orig := results[s.dupOf]
			if dup.BaseOffset != orig.BaseOffset || dup.LastOffset != orig.LastOffset || res.BaseOffset != orig.BaseOffset {
				t.Fatalf("step %d: duplicate offsets %d..%d (res %d), want %d..%d", i, dup.BaseOffset, dup.LastOffset, res.BaseOffset, orig.BaseOffset, orig.LastOffset)
			}
		}
	}
}

func TestIdempotentProducer(t *testing.T) {
	const P, Q = 1000, 2000
	tests := []struct {
		name  string
		steps []step
	}{
		{"in order", []step{{P, 0, 0, 3, nil, 0}, {P, 0, 3, 2, nil, 0}, {P, 0, 5, 1, nil, 0}}},
		{"unknown producer may start anywhere", []step{{P, 0, 17, 2, nil, 0}, {P, 0, 19, 1, nil, 0}}},
		{"retry of last is duplicate", []step{{P, 0, 0, 3, nil, 0}, {P, 0, 0, 3, ErrDuplicateSequence, 0}}},
		{"retry of an older cached batch", []step{
			{P, 0, 0, 1, nil, 0}, {P, 0, 1, 1, nil, 0}, {P, 0, 2, 1, nil, 0}, {P, 0, 3, 1, nil, 0}, {P, 0, 4, 1, nil, 0},
			{P, 0, 0, 1, ErrDuplicateSequence, 0}, {P, 0, 2, 1, ErrDuplicateSequence, 2}, {P, 0, 5, 1, nil, 0},
		}},
		{"only five batches are cached", []step{
			{P, 0, 0, 1, nil, 0}, {P, 0, 1, 1, nil, 0}, {P, 0, 2, 1, nil, 0}, {P, 0, 3, 1, nil, 0}, {P, 0, 4, 1, nil, 0},
			{P, 0, 5, 1, nil, 0}, {P, 0, 0, 1, ErrOutOfOrderSequence, 0}, {P, 0, 1, 1, ErrDuplicateSequence, 1},
		}},
		{"gap", []step{{P, 0, 0, 3, nil, 0}, {P, 0, 4, 1, ErrOutOfOrderSequence, 0}, {P, 0, 3, 1, nil, 0}}},
		{"overlap not equal", []step{{P, 0, 0, 3, nil, 0}, {P, 0, 1, 3, ErrOutOfOrderSequence, 0}}},
		{"older epoch", []step{{P, 2, 0, 1, nil, 0}, {P, 1, 1, 1, ErrInvalidProducerEpoch, 0}, {P, 1, 0, 1, ErrInvalidProducerEpoch, 0}}},
		{"new epoch must start at 0", []step{{P, 0, 0, 2, nil, 0}, {P, 1, 2, 1, ErrOutOfOrderSequence, 0}, {P, 1, 0, 1, nil, 0}, {P, 0, 2, 1, ErrInvalidProducerEpoch, 0}}},
		{"producers independent", []step{{P, 0, 0, 2, nil, 0}, {Q, 5, 0, 1, nil, 0}, {P, 0, 2, 1, nil, 0}, {Q, 5, 1, 1, nil, 0}, {Q, 5, 0, 1, ErrDuplicateSequence, 1}}},
		{"wrap at MaxInt32", []step{
			{P, 0, math.MaxInt32 - 1, 2, nil, 0}, {P, 0, 0, 2, nil, 0}, {P, 0, 2, 1, nil, 0},
			{P, 0, 0, 2, ErrDuplicateSequence, 1},
		}},
		{"wrap inside a batch", []step{{P, 0, math.MaxInt32 - 1, 4, nil, 0}, {P, 0, 2, 1, nil, 0}, {P, 0, 1, 1, ErrOutOfOrderSequence, 0}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := mustOpen(t, t.TempDir(), smallConfig())
			defer l.Close()
			runSteps(t, l, tc.steps, map[int]AppendResult{})
		})
	}
}

func TestNonIdempotentBatchesSkipChecks(t *testing.T) {
	l := mustOpen(t, t.TempDir(), smallConfig())
	defer l.Close()
	b := simple(t, 2, "plain")
	for i := 0; i < 3; i++ {
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			t.Fatalf("append %d of the same non-idempotent batch: %v", i, err)
		}
	}
}

func TestProducerStateSurvivesRestart(t *testing.T) {
	const P = 77
	modes := []struct {
		name     string
		shutdown func(l *Log)
		prep     func(t *testing.T, dir string)
	}{
		{"clean close", func(l *Log) { l.Close() }, nil},
		{"crash", func(l *Log) { l.abandon() }, nil},
		{"crash without snapshots", func(l *Log) { l.abandon() }, func(t *testing.T, dir string) {
			for _, f := range segFiles(t, dir, extSnapshot) {
				os.Remove(f)
			}
		}},
		{"corrupt snapshot", func(l *Log) { l.Close() }, func(t *testing.T, dir string) {
			for _, f := range segFiles(t, dir, extSnapshot) {
				os.WriteFile(f, []byte("SLPS broken"), 0o644)
			}
		}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			cfg.SegmentBytes = 700 // several rolls, so snapshots are written mid-log
			l := mustOpen(t, dir, cfg)
			results := map[int]AppendResult{}
			var steps []step
			for i := 0; i < 12; i++ {
				steps = append(steps, step{P, 3, int32(2 * i), 2, nil, 0})
			}
			runSteps(t, l, steps, results)
			m.shutdown(l)
			if m.prep != nil {
				m.prep(t, dir)
			}
			l2 := mustOpen(t, dir, cfg)
			defer l2.Close()
			// The last five batches are still recognized as duplicates with their offsets.
			for i := 7; i < 12; i++ {
				_, err := l2.Append(idemBatch(t, P, 3, int32(2*i), 2), AppendOptions{})
				var dup *DuplicateError
				if !errors.As(err, &dup) || dup.BaseOffset != results[i].BaseOffset {
					t.Fatalf("batch %d after restart: %v", i, err)
				}
			}
			if _, err := l2.Append(idemBatch(t, P, 3, 30, 1), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
				t.Fatalf("gap after restart: %v", err)
			}
			if _, err := l2.Append(idemBatch(t, P, 2, 0, 1), AppendOptions{}); !errors.Is(err, ErrInvalidProducerEpoch) {
				t.Fatalf("old epoch after restart: %v", err)
			}
			res, err := l2.Append(idemBatch(t, P, 3, 24, 1), AppendOptions{})
			if err != nil || res.BaseOffset != 24 {
				t.Fatalf("next in sequence after restart: %+v %v", res, err)
			}
		})
	}
}

func TestSnapshotCodec(t *testing.T) {
	ps := newProducerState()
	for i := 0; i < 7; i++ {
		ps.update(BatchHeader{ProducerID: 5, ProducerEpoch: 1, BaseSequence: int32(i * 3), LastOffsetDelta: 2, BaseOffset: int64(i * 10), MaxTimestamp: int64(i)})
	}
	ps.update(BatchHeader{ProducerID: 9, ProducerEpoch: 0, BaseSequence: 0, BaseOffset: 100})
	b := ps.encode()
	got, err := decodeSnapshot(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.m) != 2 || len(got.m[5].batches) != 5 || got.m[5].batches[4].baseOffset != 60 || got.m[5].lastTs != 6 || got.m[9].epoch != 0 {
		t.Fatalf("decoded %+v", got.m[5])
	}
	for i := range b {
		c := append([]byte(nil), b...)
		c[i] ^= 0x01
		if _, err := decodeSnapshot(c); err == nil {
			t.Fatalf("flip at byte %d not detected", i)
		}
	}
	if _, err := decodeSnapshot(b[:len(b)-1]); err == nil {
		t.Fatal("truncated snapshot accepted")
	}
}

func TestProducerForgottenBelowStartOffset(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	if _, err := l.Append(idemBatch(t, 1, 0, 0, 2), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(idemBatch(t, 2, 0, 0, 2), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	// Producer 1 still has data at offset 1: a gap is out of order.
	if err := l.DeleteRecords(1); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(idemBatch(t, 1, 0, 5, 1), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("producer 1 with data left: %v", err)
	}
	// Producer 1's batches are all deleted: it is unknown now and may continue anywhere.
	if err := l.DeleteRecords(2); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(idemBatch(t, 1, 0, 5, 1), AppendOptions{}); err != nil {
		t.Fatalf("forgotten producer 1: %v", err)
	}
	l.Close()
	l2 := mustOpen(t, dir, smallConfig())
	defer l2.Close()
	if _, err := l2.Append(idemBatch(t, 2, 0, 7, 1), AppendOptions{}); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("producer 2 after restart: %v", err)
	}
	if _, err := l2.Append(idemBatch(t, 1, 0, 6, 1), AppendOptions{}); err != nil {
		t.Fatalf("producer 1 after restart: %v", err)
	}
}
