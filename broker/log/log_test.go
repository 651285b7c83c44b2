package log

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"
)

func TestAppendReadBasics(t *testing.T) {
	l := mustOpen(t, t.TempDir(), smallConfig())
	defer l.Close()
	if l.StartOffset() != 0 || l.EndOffset() != 0 {
		t.Fatalf("empty log: start %d end %d", l.StartOffset(), l.EndOffset())
	}
	if b, err := l.Read(0, 1000); b != nil || err != nil {
		t.Fatalf("Read at end of empty log = %v, %v", b, err)
	}
	sizes := []int{1, 3, 10, 2}
	var produced [][]byte
	var next int64
	for i, n := range sizes {
		b := simple(t, n, fmt.Sprint("b", i))
		produced = append(produced, b)
		res, err := l.Append(b, AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if res.BaseOffset != next || res.LastOffset != next+int64(n)-1 || res.LogAppendTime != -1 || res.LogStartOffset != 0 {
			t.Fatalf("append %d: %+v (want base %d)", i, res, next)
		}
		next += int64(n)
	}
	if l.EndOffset() != next {
		t.Fatalf("EndOffset %d, want %d", l.EndOffset(), next)
	}
	// Reading an offset in the middle of batch 2 (offsets 4..13) returns batch 2 first.
	tests := []struct {
		offset    int64
		maxBytes  int
		wantFirst int // index into produced
		wantCount int
	}{
		{0, 1 << 20, 0, 4},
		{1, 1 << 20, 1, 3},
		{3, 1 << 20, 1, 3},
		{4, 1 << 20, 2, 2},
		{13, 1 << 20, 2, 2},
		{14, 1 << 20, 3, 1},
		{0, 1, 0, 1}, // at least one batch
		{4, 1, 2, 1}, // at least one batch, even if larger
		{0, len(produced[0]) + len(produced[1]), 0, 2}, // exact fit
		{0, len(produced[0]) + len(produced[1]) - 1, 0, 1},
	}
	for _, tc := range tests {
		got, err := l.Read(tc.offset, tc.maxBytes)
		if err != nil {
			t.Fatalf("Read(%d,%d): %v", tc.offset, tc.maxBytes, err)
		}
		bs, err := SplitBatches(got)
		if err != nil {
			t.Fatal(err)
		}
		if len(bs) != tc.wantCount {
			t.Fatalf("Read(%d,%d): %d batches, want %d", tc.offset, tc.maxBytes, len(bs), tc.wantCount)
		}
		for j, b := range bs {
			if !sameExceptBase(b, produced[tc.wantFirst+j]) {
				t.Fatalf("Read(%d,%d): batch %d differs from produced", tc.offset, tc.maxBytes, j)
			}
		}
	}
	if b, err := l.Read(next, 100); b != nil || err != nil {
		t.Fatalf("Read(end) = %v, %v", b, err)
	}
	for _, off := range []int64{-1, next + 1} {
		if _, err := l.Read(off, 100); !errors.Is(err, ErrOffsetOutOfRange) {
			t.Fatalf("Read(%d) err = %v, want ErrOffsetOutOfRange", off, err)
		}
	}
}

func TestAppendRejectsCorrupt(t *testing.T) {
	l := mustOpen(t, t.TempDir(), smallConfig())
	defer l.Close()
	b := simple(t, 2, "x")
	bad := append([]byte(nil), b...)
	bad[40] ^= 1
	// Offset range and record count disagree (CRC kept valid).
	gap := append([]byte(nil), b...)
	gap[offLastOffsetDelta+3] = 5
	setCRC(gap)
	empty := makeBatch(t, noProducer(spec{}))
	tests := map[string][]byte{
		"count mismatch": gap,
		"no records":     empty,
		"crc":            bad,
		"truncated":      b[:len(b)-1],
		"two":            append(append([]byte(nil), b...), b...),
		"short":          b[:20],
	}
	for name, in := range tests {
		if _, err := l.Append(in, AppendOptions{}); !errors.Is(err, ErrCorruptBatch) {
			t.Errorf("%s: err = %v, want ErrCorruptBatch", name, err)
		}
	}
	if l.EndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("rejected batches changed the log: end %d size %d", l.EndOffset(), l.Size())
	}
}

func TestLogAppendTime(t *testing.T) {
	clk := newFakeClock(1_800_000_000_000)
	l := mustOpen(t, t.TempDir(), smallConfig(), WithClock(clk.now))
	defer l.Close()
	b := simple(t, 3, "lat")
	res, err := l.Append(b, AppendOptions{LogAppendTime: true})
	if err != nil {
		t.Fatal(err)
	}
	if res.LogAppendTime != 1_800_000_000_000 {
		t.Fatalf("LogAppendTime = %d", res.LogAppendTime)
	}
	now := time.UnixMilli(1_900_000_000_000)
	if res, err = l.Append(b, AppendOptions{LogAppendTime: true, Now: now}); err != nil || res.LogAppendTime != now.UnixMilli() {
		t.Fatalf("explicit Now: %+v %v", res, err)
	}
	// (The second batch is 10^8 s newer, so it also rolled a segment.)
	bs := readAll(t, l)
	if len(bs) != 2 {
		t.Fatalf("%d batches", len(bs))
	}
	for i, want := range []int64{1_800_000_000_000, 1_900_000_000_000} {
		h, recs, err := DecodeRecords(bs[i])
		if err != nil {
			t.Fatalf("stamped batch invalid: %v", err)
		}
		if h.Attributes&AttrLogAppendTime == 0 || h.MaxTimestamp != want || h.FirstTimestamp != want {
			t.Fatalf("batch %d header %+v", i, h)
		}
		for _, r := range recs {
			if r.Timestamp != want {
				t.Fatalf("record timestamp %d, want %d", r.Timestamp, want)
			}
		}
	}
}

func TestChanged(t *testing.T) {
	l := mustOpen(t, t.TempDir(), smallConfig())
	defer l.Close()
	ch := l.Changed()
	select {
	case <-ch:
		t.Fatal("Changed fired before an append")
	default:
	}
	if _, err := l.Append(simple(t, 1, "c"), AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("Changed did not fire")
	}
	ch2 := l.Changed()
	select {
	case <-ch2:
		t.Fatal("new Changed channel already closed")
	default:
	}
	// A rejected append does not fire it.
	if _, err := l.Append([]byte("junk"), AppendOptions{}); err == nil {
		t.Fatal("junk accepted")
	}
	select {
	case <-ch2:
		t.Fatal("Changed fired on a failed append")
	default:
	}
	// Close wakes waiters.
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch2:
	case <-time.After(time.Second):
		t.Fatal("Close did not fire Changed")
	}
}

func segFiles(t *testing.T, dir, ext string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*"+ext))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(m)
	return m
}

func TestRollBySizeAndReopen(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 2000
	l := mustOpen(t, dir, cfg)
	var produced [][]byte
	for i := 0; i < 60; i++ {
		b := simple(t, 1+i%4, fmt.Sprint("r", i))
		produced = append(produced, b)
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	logs := segFiles(t, dir, ".log")
	if min := int((l.Size() + cfg.SegmentBytes - 1) / cfg.SegmentBytes); len(logs) < min || len(logs) < 3 {
		t.Fatalf("only %d segments for %d bytes with 2000-byte segments", len(logs), l.Size())
	}
	for _, p := range logs {
		st, _ := os.Stat(p)
		if st.Size() > cfg.SegmentBytes {
			t.Fatalf("%s is %d bytes > SegmentBytes", p, st.Size())
		}
	}
	// Segment names are the base offsets of their first batch.
	end := l.EndOffset()
	check := func(l *Log) {
		t.Helper()
		got := readAll(t, l)
		if len(got) != len(produced) {
			t.Fatalf("read %d batches, want %d", len(got), len(produced))
		}
		for i := range got {
			if !sameExceptBase(got[i], produced[i]) {
				t.Fatalf("batch %d differs", i)
			}
		}
		// Every offset reads back the batch containing it.
		for off := int64(0); off < end; off++ {
			b, err := l.Read(off, 1)
			if err != nil {
				t.Fatal(err)
			}
			h, err := ValidateBatch(b)
			if err != nil || h.BaseOffset > off || h.LastOffset() < off {
				t.Fatalf("Read(%d) gave batch %d..%d (%v)", off, h.BaseOffset, h.LastOffset(), err)
			}
		}
	}
	check(l)
	size := l.Size()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(produced[0], AppendOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, err := l.Read(0, 10); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	l2 := mustOpen(t, dir, cfg)
	defer l2.Close()
	if l2.EndOffset() != end || l2.Size() != size {
		t.Fatalf("reopened: end %d size %d, want %d %d", l2.EndOffset(), l2.Size(), end, size)
	}
	check(l2)
	res, err := l2.Append(produced[0], AppendOptions{})
	if err != nil || res.BaseOffset != end {
		t.Fatalf("append after reopen: %+v %v", res, err)
	}
}

func TestRollBySegmentMs(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentMs = time.Hour
	l := mustOpen(t, dir, cfg)
	defer l.Close()
	base := int64(1_700_000_000_000)
	tss := []int64{0, 10 * 60e3, 59 * 60e3, 60 * 60e3, 61 * 60e3, 125 * 60e3}
	for i, d := range tss {
		b := makeBatch(t, noProducer(spec{firstTs: base + d, recs: []kv{{key: []byte("k"), value: []byte(fmt.Sprint(i))}}}))
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Rolls before the batch at +60m (60m after the first) and at +125m.
	got := segFiles(t, dir, ".log")
	want := []string{fmt.Sprintf("%020d.log", 0), fmt.Sprintf("%020d.log", 3), fmt.Sprintf("%020d.log", 5)}
	if len(got) != len(want) {
		t.Fatalf("segments %v, want %v", got, want)
	}
	for i := range got {
		if filepath.Base(got[i]) != want[i] {
			t.Fatalf("segments %v, want %v", got, want)
		}
	}
}

func TestIndexesWrittenAndRebuilt(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 4000
	l := mustOpen(t, dir, cfg)
	for i := 0; i < 80; i++ {
		if _, err := l.Append(simple(t, 2, fmt.Sprint("i", i)), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	want := readAll(t, l)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	idx := segFiles(t, dir, ".index")
	if len(idx) < 2 {
		t.Fatalf("index files: %v", idx)
	}
	st, _ := os.Stat(idx[0])
	if st.Size() == 0 || st.Size()%idxEntrySize != 0 {
		t.Fatalf("sealed index %s size %d", idx[0], st.Size())
	}
	// Damage indexes in several ways; reopen must rebuild them and read the same data.
	damage := []struct {
		name string
		do   func()
	}{
		{"delete", func() { os.Remove(idx[0]) }},
		{"odd size", func() { os.WriteFile(idx[0], []byte{1, 2, 3}, 0o644) }},
		{"garbage", func() { os.WriteFile(idx[0], bytes.Repeat([]byte{0xff}, 16), 0o644) }},
		{"wrong target", func() {
			os.WriteFile(idx[1], encodeIndex([]idxEntry{{rel: 1, pos: 0x50}}), 0o644)
		}},
		{"time index", func() { os.WriteFile(segFiles(t, dir, ".timeindex")[0], []byte{9}, 0o644) }},
	}
	for _, d := range damage {
		d.do()
		l2 := mustOpen(t, dir, cfg)
		got := readAll(t, l2)
		if len(got) != len(want) {
			t.Fatalf("%s: %d batches after rebuild, want %d", d.name, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%s: batch %d differs", d.name, i)
			}
		}
		if err := l2.Close(); err != nil {
			t.Fatal(err)
		}
		st, _ := os.Stat(idx[0])
		if st.Size() == 0 || st.Size()%idxEntrySize != 0 {
			t.Fatalf("%s: index not rebuilt (size %d)", d.name, st.Size())
		}
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1500
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	base := int64(1_700_000_000_000)
	// Batch i has 3 records with timestamps base+10i, +10i+2, +10i+5 (offsets 3i..3i+2),
	// alternating codecs.
	codecs := []int{CodecNone, CodecGzip, CodecZstd, CodecLZ4, CodecSnappy}
	for i := 0; i < 40; i++ {
		t0 := base + int64(10*i)
		s := noProducer(spec{firstTs: t0, codec: codecs[i%len(codecs)], recs: []kv{
			{key: []byte("a"), value: []byte("1"), ts: t0},
			{key: []byte("b"), value: []byte("2"), ts: t0 + 2},
			{key: []byte("c"), value: []byte("3"), ts: t0 + 5},
		}})
		if _, err := l.Append(makeBatch(t, s), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		ts, wantOff, wantTs int64
	}{
		{0, 0, base},
		{base, 0, base},
		{base + 1, 1, base + 2},
		{base + 3, 2, base + 5},
		{base + 6, 3, base + 10},
		{base + 10*25 + 4, 3*25 + 2, base + 10*25 + 5},
		{base + 10*39 + 5, 3*39 + 2, base + 10*39 + 5},
		{base + 10*39 + 6, -1, -1},
		{-2, 0, -1},
		{-1, 120, -1},
		{-3, 3*39 + 2, base + 10*39 + 5},
		{-7, 0, base},
	}
	for _, tc := range tests {
		off, ts, err := l.OffsetForTimestamp(tc.ts)
		if err != nil || off != tc.wantOff || ts != tc.wantTs {
			t.Errorf("OffsetForTimestamp(%d) = %d, %d, %v; want %d, %d", tc.ts, off, ts, err, tc.wantOff, tc.wantTs)
		}
	}
}

func TestIndexLookupIsSparseAndTight(t *testing.T) {
	cfg := smallConfig()
	cfg.IndexIntervalBytes = 512
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	base := int64(1_700_000_000_000)
	type loc struct{ off, pos, ts int64 }
	var locs []loc
	var pos int64
	for i := 0; i < 200; i++ {
		b := makeBatch(t, noProducer(spec{firstTs: base + int64(i), recs: []kv{{key: []byte("k"), value: []byte(fmt.Sprint(i))}}}))
		res, err := l.Append(b, AppendOptions{})
		if err != nil {
			t.Fatal(err)
		}
		locs = append(locs, loc{res.BaseOffset, pos, base + int64(i)})
		pos += int64(len(b))
	}
	s := l.segs[0]
	batchLen := locs[1].pos
	n := len(s.index)
	if want := int(pos / (int64(cfg.IndexIntervalBytes) + batchLen)); n < want-1 || n > int(pos)/cfg.IndexIntervalBytes {
		t.Fatalf("%d index entries for %d bytes at interval %d", n, pos, cfg.IndexIntervalBytes)
	}
	for _, lc := range locs {
		p := s.lookup(lc.off)
		if p > lc.pos || lc.pos-p > int64(cfg.IndexIntervalBytes)+batchLen {
			t.Fatalf("lookup(%d) = %d, batch is at %d", lc.off, p, lc.pos)
		}
		tp := s.lookupTime(lc.ts)
		if tp > lc.pos || lc.pos-tp > int64(cfg.IndexIntervalBytes)+2*batchLen {
			t.Fatalf("lookupTime(%d) = %d, batch is at %d", lc.ts, tp, lc.pos)
		}
	}
}

func TestDirectoryLock(t *testing.T) {
	dir := t.TempDir()
	l := mustOpen(t, dir, smallConfig())
	if _, err := Open(dir, smallConfig(), testOpts()...); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2 := mustOpen(t, dir, smallConfig())
	l2.abandon() // a crash releases the lock too
	l3 := mustOpen(t, dir, smallConfig())
	if err := l3.Remove(); err != nil {
		t.Fatal(err)
	}
}

func TestOffsetForMaxTimestamp(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 200 // about two batches per segment
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	if off, ts, err := l.OffsetForTimestamp(TimestampMax); off != -1 || ts != -1 || err != nil {
		t.Fatalf("empty log: %d %d %v", off, ts, err)
	}
	base := int64(1_700_000_000_000)
	// Record timestamps, in offset order; the largest (base+900) is at offset 4.
	tss := []int64{100, 500, 300, 200, 900, 850, 100, 900}
	for i, d := range tss {
		b := makeBatch(t, noProducer(spec{firstTs: base + d, recs: []kv{{key: []byte("k"), value: []byte(fmt.Sprint(i))}}}))
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	off, ts, err := l.OffsetForTimestamp(TimestampMax)
	if err != nil || off != 4 || ts != base+900 {
		t.Fatalf("max timestamp: %d %d %v, want 4 %d", off, ts, err, base+900)
	}
	// The first record with timestamp >= base+400 is offset 1, although later ones are smaller.
	if off, ts, err := l.OffsetForTimestamp(base + 400); err != nil || off != 1 || ts != base+500 {
		t.Fatalf(">= +400: %d %d %v", off, ts, err)
	}
}
