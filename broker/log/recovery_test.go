package log

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// crashLog writes batches, then abandons the log as a crash would.
// It returns the produced batches and their start positions in the last segment.
func crashLog(t *testing.T, dir string, cfg Config, n int) (produced [][]byte, lastSeg string, starts []int64) {
	t.Helper()
	l := mustOpen(t, dir, cfg)
	for i := 0; i < n; i++ {
		b := simple(t, 1+i%3, fmt.Sprint("c", i))
		produced = append(produced, b)
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	l.abandon()
	logs := segFiles(t, dir, ".log")
	lastSeg = logs[len(logs)-1]
	var base int64
	fmt.Sscanf(filepath.Base(lastSeg), "%d.log", &base)
	var pos int64
	var off int64
	for _, b := range produced {
		h, _ := ParseBatchHeader(b)
		if off >= base {
			starts = append(starts, pos)
			pos += int64(len(b))
		}
		off += int64(h.LastOffsetDelta) + 1
	}
	return produced, lastSeg, starts
}

// checkPrefix reopens dir and checks that exactly the first keep batches
// survive and that appends continue after them.
func checkPrefix(t *testing.T, dir string, cfg Config, produced [][]byte, keep int) {
	t.Helper()
	l := mustOpen(t, dir, cfg)
	var wantEnd int64
	for _, b := range produced[:keep] {
		h, _ := ParseBatchHeader(b)
		wantEnd += int64(h.LastOffsetDelta) + 1
	}
	if l.EndOffset() != wantEnd {
		t.Fatalf("EndOffset %d, want %d (keep %d batches)", l.EndOffset(), wantEnd, keep)
	}
	got := readAll(t, l)
	if len(got) != keep {
		t.Fatalf("%d batches survived, want %d", len(got), keep)
	}
	for i := range got {
		if !sameExceptBase(got[i], produced[i]) {
			t.Fatalf("batch %d differs after recovery", i)
		}
	}
	next := simple(t, 2, "after")
	res, err := l.Append(next, AppendOptions{})
	if err != nil || res.BaseOffset != wantEnd {
		t.Fatalf("append after recovery: %+v %v, want base %d", res, err, wantEnd)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// A clean reopen sees the same plus the new batch.
	l2 := mustOpen(t, dir, cfg)
	defer l2.Close()
	if got := readAll(t, l2); len(got) != keep+1 || !sameExceptBase(got[keep], next) {
		t.Fatalf("after clean reopen: %d batches", len(got))
	}
}

func TestRecoveryTruncatedTail(t *testing.T) {
	const n = 8
	probe := t.TempDir()
	_, seg, starts := crashLog(t, probe, smallConfig(), n)
	st, _ := os.Stat(seg)
	size := st.Size()
	last := starts[n-1]
	// Cut positions: inside every batch's header and body, at boundaries, 1 byte short.
	type cut struct {
		name string
		at   int64
		keep int
	}
	var cuts []cut
	for i, s := range starts {
		end := size
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		cuts = append(cuts,
			cut{fmt.Sprintf("batch%d start", i), s, i},
			cut{fmt.Sprintf("batch%d +1", i), s + 1, i},
			cut{fmt.Sprintf("batch%d in length", i), s + 10, i},
			cut{fmt.Sprintf("batch%d in header", i), s + 40, i},
			cut{fmt.Sprintf("batch%d header only", i), s + 61, i},
			cut{fmt.Sprintf("batch%d one short", i), end - 1, i},
		)
	}
	cuts = append(cuts, cut{"intact", size, n}, cut{"last mid", (last + size) / 2, n - 1})
	for _, c := range cuts {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			produced, seg, _ := crashLog(t, dir, smallConfig(), n)
			if err := os.Truncate(seg, c.at); err != nil {
				t.Fatal(err)
			}
			checkPrefix(t, dir, smallConfig(), produced, c.keep)
		})
	}
}

func TestRecoveryCorruptBytes(t *testing.T) {
	const n = 6
	probe := t.TempDir()
	_, _, starts := crashLog(t, probe, smallConfig(), n)
	tests := []struct {
		name  string
		batch int
		at    int64 // relative to the batch start
		fn    func(b byte) byte
		keep  int
	}{
		{"crc field", 2, 18, func(b byte) byte { return b ^ 1 }, 2},
		{"attributes", 3, 22, func(b byte) byte { return b ^ 0x10 }, 3},
		{"record byte", 0, 70, func(b byte) byte { return b + 1 }, 0},
		{"magic", 4, 16, func(byte) byte { return 1 }, 4},
		{"length grows", 1, 11, func(b byte) byte { return b + 1 }, 1},
		{"length shrinks", 5, 11, func(b byte) byte { return b - 1 }, 5},
		{"length huge", 2, 8, func(byte) byte { return 0x7f }, 2},
		{"base offset goes back", 3, 7, func(byte) byte { return 0 }, 3},
		{"timestamp", 5, 30, func(b byte) byte { return ^b }, 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			produced, seg, _ := crashLog(t, dir, smallConfig(), n)
			data, err := os.ReadFile(seg)
			if err != nil {
				t.Fatal(err)
			}
			p := starts[tc.batch] + tc.at
			data[p] = tc.fn(data[p])
			if err := os.WriteFile(seg, data, 0o644); err != nil {
				t.Fatal(err)
			}
			checkPrefix(t, dir, smallConfig(), produced, tc.keep)
		})
	}
}

func TestRecoveryGarbageTail(t *testing.T) {
	tests := []struct {
		name string
		tail []byte
	}{
		{"zeros", make([]byte, 4096)},
		{"one byte", []byte{7}},
		{"copy of a batch header", nil}, // filled below
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			produced, seg, _ := crashLog(t, dir, smallConfig(), 5)
			tail := tc.tail
			if tail == nil {
				tail = produced[0][:61]
			}
			f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(tail)
			f.Close()
			checkPrefix(t, dir, smallConfig(), produced, 5)
		})
	}
}

func TestRecoveryMultiSegment(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 600
	dir := t.TempDir()
	produced, seg, starts := crashLog(t, dir, cfg, 30)
	if len(segFiles(t, dir, ".log")) < 3 {
		t.Fatal("expected several segments")
	}
	// Tear the last segment in its second batch (or first if it has one).
	k := len(starts) - 1
	if len(starts) > 1 {
		k = 1
	}
	if err := os.Truncate(seg, starts[k]+5); err != nil {
		t.Fatal(err)
	}
	keep := len(produced) - len(starts) + k
	checkPrefix(t, dir, cfg, produced, keep)
}

func TestRecoveryCorruptCheckpointScansAll(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 600
	dir := t.TempDir()
	l := mustOpen(t, dir, cfg)
	var produced [][]byte
	for i := 0; i < 30; i++ {
		b := simple(t, 2, fmt.Sprint("q", i))
		produced = append(produced, b)
		l.Append(b, AppendOptions{})
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	// Corrupt the first segment's second batch and the checkpoint: with no
	// trustworthy checkpoint everything is scanned and the log ends there.
	first := segFiles(t, dir, ".log")[0]
	data, _ := os.ReadFile(first)
	p := len(produced[0]) + 30
	data[p] ^= 0xff
	os.WriteFile(first, data, 0o644)
	os.WriteFile(filepath.Join(dir, checkpointFile), []byte("garbage"), 0o644)
	checkPrefix(t, dir, cfg, produced, 1)
	if n := len(segFiles(t, dir, ".log")); n != 1 {
		t.Fatalf("%d segments remain after corruption in the first, want 1", n)
	}
}

func TestCleanShutdownSkipsScan(t *testing.T) {
	// After a clean Close, Open trusts the data: it must not need to read
	// batch bodies. Flip a body byte: the batch is still served as stored.
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	b := simple(t, 3, "clean")
	l.Append(b, AppendOptions{})
	l.Append(b, AppendOptions{})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	seg := segFiles(t, dir, ".log")[0]
	data, _ := os.ReadFile(seg)
	data[len(data)-3] ^= 1
	os.WriteFile(seg, data, 0o644)
	l2 := mustOpen(t, dir, smallConfig())
	if l2.EndOffset() != 6 {
		t.Fatalf("end %d after clean reopen", l2.EndOffset())
	}
	got, err := l2.Read(3, 1<<20)
	if err != nil || !bytes.Equal(got, data[len(b):]) {
		t.Fatalf("read %v", err)
	}
	// The marker is consumed: a crash now makes the next open scan and truncate.
	l2.abandon()
	l3 := mustOpen(t, dir, smallConfig())
	defer l3.Close()
	if l3.EndOffset() != 3 {
		t.Fatalf("end %d after crash, want 3 (corrupt batch dropped)", l3.EndOffset())
	}
}

func TestRecoveryOverlappingSegments(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 600
	tests := []struct {
		name string
		// stray returns the base and content of an extra segment file.
		stray    func(first []byte) (int64, []byte)
		keepSegs int // segments whose batches survive (-1 = all)
	}{
		{"stray empty file", func([]byte) (int64, []byte) { return 2, nil }, -1},
		{"overlapping copy", func(first []byte) (int64, []byte) { return 2, first }, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, cfg)
			var produced [][]byte
			for i := 0; i < 20; i++ {
				b := simple(t, 2, fmt.Sprint("o", i))
				produced = append(produced, b)
				if _, err := l.Append(b, AppendOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			segs := segFiles(t, dir, ".log")
			first, _ := os.ReadFile(segs[0])
			base, data := tc.stray(first)
			os.WriteFile(filepath.Join(dir, fmt.Sprintf("%020d.log", base)), data, 0o644)
			keep := len(produced)
			if tc.keepSegs >= 0 {
				keep = 0
				for _, b := range produced {
					if keep*len(b) >= len(first) {
						break
					}
					keep++
				}
			}
			checkPrefix(t, dir, cfg, produced, keep)
		})
	}
}
