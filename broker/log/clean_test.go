package log

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// hourlyLog appends n one-record batches an hour apart with SegmentMs = 1h,
// so every batch gets its own segment.
func hourlyLog(t *testing.T, dir string, cfg Config, base int64, n int) *Log {
	t.Helper()
	cfg.SegmentMs = time.Hour
	l := mustOpen(t, dir, cfg)
	for i := 0; i < n; i++ {
		ts := base + int64(i)*3600e3
		b := makeBatch(t, noProducer(spec{firstTs: ts, recs: []kv{{key: []byte("k"), value: []byte(fmt.Sprint(i))}}}))
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(segFiles(t, dir, ".log")); got != n {
		t.Fatalf("%d segments, want %d", got, n)
	}
	return l
}

func TestRetentionByTime(t *testing.T) {
	base := int64(1_700_000_000_000)
	tests := []struct {
		name      string
		retention time.Duration
		delete    bool
		now       int64 // ms after base
		wantStart int64
	}{
		{"nothing expired", 10 * time.Hour, true, 5 * 3600e3, 0},
		{"two expired", 3 * time.Hour, true, 4*3600e3 + 1, 2},
		{"all but active", time.Hour, true, 100 * 3600e3, 5},
		{"unlimited", -1, true, 100 * 3600e3, 0},
		{"delete policy off", time.Hour, false, 100 * 3600e3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := smallConfig()
			cfg.RetentionMs = tc.retention
			cfg.Delete = tc.delete
			l := hourlyLog(t, dir, cfg, base, 6)
			if err := l.Clean(time.UnixMilli(base + tc.now)); err != nil {
				t.Fatal(err)
			}
			if l.StartOffset() != tc.wantStart {
				t.Fatalf("StartOffset %d, want %d", l.StartOffset(), tc.wantStart)
			}
			if got := len(segFiles(t, dir, ".log")); got != 6-int(tc.wantStart) {
				t.Fatalf("%d segments left", got)
			}
			if tc.wantStart > 0 {
				if _, err := l.Read(tc.wantStart-1, 100); !errors.Is(err, ErrOffsetOutOfRange) {
					t.Fatalf("read below start: %v", err)
				}
			}
			if got := readAll(t, l); len(got) != 6-int(tc.wantStart) {
				t.Fatalf("%d batches readable", len(got))
			}
			if l.EndOffset() != 6 {
				t.Fatalf("end moved to %d", l.EndOffset())
			}
			l.Close()
			l2 := mustOpen(t, dir, cfg)
			defer l2.Close()
			if l2.StartOffset() != tc.wantStart {
				t.Fatalf("after reopen StartOffset %d, want %d", l2.StartOffset(), tc.wantStart)
			}
		})
	}
}

func TestRetentionBySize(t *testing.T) {
	base := int64(1_700_000_000_000)
	probe := hourlyLog(t, t.TempDir(), smallConfig(), base, 6)
	segSize := probe.Size() / 6 // all batches have the same size
	probe.Close()
	tests := []struct {
		name      string
		bytes     int64
		wantStart int64
	}{
		{"fits", 6 * segSize, 0},
		{"one too many", 5 * segSize, 1},
		{"just under five", 5*segSize - 1, 1}, // never goes below retention.bytes, like Kafka
		{"four", 4 * segSize, 2},
		{"just over three", 3*segSize + 1, 2},
		{"zero keeps active", 0, 5},
		{"unlimited", -1, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := smallConfig()
			cfg.RetentionMs = -1
			cfg.RetentionBytes = tc.bytes
			l := hourlyLog(t, t.TempDir(), cfg, base, 6)
			defer l.Close()
			if err := l.Clean(time.UnixMilli(base)); err != nil {
				t.Fatal(err)
			}
			if l.StartOffset() != tc.wantStart {
				t.Fatalf("StartOffset %d, want %d (size now %d)", l.StartOffset(), tc.wantStart, l.Size())
			}
			if l.Size() != (6-tc.wantStart)*segSize {
				t.Fatalf("Size %d", l.Size())
			}
		})
	}
}

func TestDeleteRecords(t *testing.T) {
	base := int64(1_700_000_000_000)
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentMs = time.Hour
	l := mustOpen(t, dir, cfg)
	// Three segments of two 2-record batches: offsets [0..3] [4..7] [8..11].
	for i := 0; i < 6; i++ {
		ts := base + int64(i/2)*3600e3
		b := makeBatch(t, noProducer(spec{firstTs: ts, recs: []kv{{key: []byte("a"), value: []byte("1")}, {key: []byte("b"), value: []byte("2")}}}))
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.DeleteRecords(13); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("past end: %v", err)
	}
	if err := l.DeleteRecords(3); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 3 || len(segFiles(t, dir, ".log")) != 3 {
		t.Fatalf("start %d, %d segments", l.StartOffset(), len(segFiles(t, dir, ".log")))
	}
	if _, err := l.Read(2, 100); !errors.Is(err, ErrOffsetOutOfRange) {
		t.Fatalf("read below start: %v", err)
	}
	// The batch containing offset 3 starts at 2; it is returned whole.
	b, err := l.Read(3, 1)
	if h, _ := ParseBatchHeader(b); err != nil || h.BaseOffset != 2 {
		t.Fatalf("read at start: base %d, %v", h.BaseOffset, err)
	}
	if err := l.DeleteRecords(1); err != nil || l.StartOffset() != 3 {
		t.Fatalf("moving start back: %v, start %d", err, l.StartOffset())
	}
	if err := l.DeleteRecords(9); err != nil {
		t.Fatal(err)
	}
	if l.StartOffset() != 9 || len(segFiles(t, dir, ".log")) != 1 {
		t.Fatalf("start %d, %d segments", l.StartOffset(), len(segFiles(t, dir, ".log")))
	}
	res, err := l.Append(simple(t, 1, "x"), AppendOptions{})
	if err != nil || res.LogStartOffset != 9 || res.BaseOffset != 12 {
		t.Fatalf("append: %+v %v", res, err)
	}
	if off, _, err := l.OffsetForTimestamp(-2); err != nil || off != 9 {
		t.Fatalf("earliest = %d %v", off, err)
	}
	l.abandon() // the start offset must survive a crash too
	l2 := mustOpen(t, dir, cfg)
	defer l2.Close()
	if l2.StartOffset() != 9 || l2.EndOffset() != 13 {
		t.Fatalf("after crash start %d end %d", l2.StartOffset(), l2.EndOffset())
	}
	if err := l2.DeleteRecords(13); err != nil || l2.StartOffset() != 13 {
		t.Fatalf("delete all: %v start %d", err, l2.StartOffset())
	}
	if b, err := l2.Read(13, 100); b != nil || err != nil {
		t.Fatalf("read at end: %v %v", b, err)
	}
}

func TestCompaction(t *testing.T) {
	codecs := []struct {
		name  string
		codec int
	}{{"none", CodecNone}, {"gzip", CodecGzip}, {"snappy", CodecSnappy}, {"lz4", CodecLZ4}, {"zstd", CodecZstd}}
	for _, cc := range codecs {
		t.Run(cc.name, func(t *testing.T) {
			testCompaction(t, cc.codec)
		})
	}
}

func testCompaction(t *testing.T, codec int) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 1200
	cfg.Compact = true
	cfg.Delete = false
	cfg.DeleteRetentionMs = time.Hour
	base := int64(1_700_000_000_000)
	l := mustOpen(t, dir, cfg)
	keys := []string{"a", "b", "c", "d"}
	// latest[key] = (offset, value, ts) of the newest write, computed independently.
	type w struct {
		off   int64
		value []byte
		ts    int64
	}
	latest := map[string]w{}
	var off int64
	var nulls []int64
	for i := 0; i < 120; i++ {
		s := noProducer(spec{codec: codec, firstTs: base + int64(i)*1000})
		for j := 0; j < 3; j++ {
			k := keys[(i*3+j*7)%len(keys)]
			v := []byte(fmt.Sprintf("%s=%d", k, i*3+j))
			if k == "d" && i >= 100 {
				v = nil // d ends as a tombstone
			}
			ts := base + int64(i)*1000 + int64(j)
			r := kv{key: []byte(k), value: v, ts: ts}
			if i%37 == 5 && j == 0 {
				r.key = nil // keyless records are kept
				nulls = append(nulls, off)
			} else {
				latest[k] = w{off, v, ts}
			}
			s.recs = append(s.recs, r)
			off++
		}
		if _, err := l.Append(makeBatch(t, s), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Keyless filler so that every keyed record ends up in a non-active segment.
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 4; i++ {
		filler := make([]byte, 500)
		for j := range filler {
			filler[j] = byte(rnd.Uint32())
		}
		s := noProducer(spec{codec: codec, firstTs: base + 200*1000, recs: []kv{{value: filler}}})
		nulls = append(nulls, off)
		off++
		if _, err := l.Append(makeBatch(t, s), AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if len(segFiles(t, dir, ".log")) < 4 {
		t.Fatal("want several segments")
	}
	if ab := l.segs[len(l.segs)-1].base; ab <= latest["d"].off {
		t.Fatalf("tombstone at %d is in the active segment (base %d)", latest["d"].off, ab)
	}
	before := allRecords(t, l)
	sizeBefore := l.Size()
	activeBase := l.segs[len(l.segs)-1].base
	// First clean: the tombstone is recent, so it stays.
	if err := l.Clean(time.UnixMilli(base + 200*1000)); err != nil {
		t.Fatal(err)
	}
	check := func(l *Log, tombstoneKept bool) {
		t.Helper()
		// Compacted batches must also decode with independent code.
		for _, b := range readAll(t, l) {
			h, _ := ParseBatchHeader(b)
			if n := len(indepDecode(t, b)); n != int(h.NumRecords) || h.Codec() != codec {
				t.Fatalf("batch at %d: %d records decoded, header says %d, codec %d", h.BaseOffset, n, h.NumRecords, h.Codec())
			}
		}
		after := allRecords(t, l)
		if l.EndOffset() != off {
			t.Fatalf("end offset %d, want %d", l.EndOffset(), off)
		}
		byOff := map[int64]Record{}
		for _, r := range before {
			byOff[r.Offset] = r
		}
		prev := int64(-1)
		seen := map[string]bool{}
		for _, r := range after {
			if r.Offset <= prev {
				t.Fatalf("offsets not increasing: %d after %d", r.Offset, prev)
			}
			prev = r.Offset
			orig, ok := byOff[r.Offset]
			if !ok || !bytes.Equal(orig.Key, r.Key) || !bytes.Equal(orig.Value, r.Value) || orig.Timestamp != r.Timestamp {
				t.Fatalf("record at %d changed: %+v vs %+v", r.Offset, r, orig)
			}
			if r.Offset >= activeBase || r.Key == nil {
				continue
			}
			k := string(r.Key)
			if latest[k].off >= activeBase {
				// A newer write lives in the active segment; the cleaned part keeps the
				// newest one among the cleaned segments only.
				if seen[k] {
					t.Fatalf("key %s appears twice in the cleaned segments", k)
				}
				seen[k] = true
				continue
			}
			if r.Offset != latest[k].off {
				t.Fatalf("key %s kept at %d, newest is %d", k, r.Offset, latest[k].off)
			}
		}
		// Every key's newest write, keyless records and (maybe) the tombstone survive.
		have := map[int64]bool{}
		for _, r := range after {
			have[r.Offset] = true
		}
		for k, w := range latest {
			if k == "d" {
				if have[w.off] != tombstoneKept {
					t.Fatalf("tombstone of d present=%v, want %v", have[w.off], tombstoneKept)
				}
				continue
			}
			if !have[w.off] {
				t.Fatalf("newest write of %s (offset %d) lost", k, w.off)
			}
		}
		for _, n := range nulls {
			if !have[n] {
				t.Fatalf("keyless record at %d dropped", n)
			}
		}
		// Every offset still reads the batch containing it or the next one.
		for o := l.StartOffset(); o < l.EndOffset(); o += 7 {
			b, err := l.Read(o, 1)
			if err != nil {
				t.Fatalf("Read(%d): %v", o, err)
			}
			h, err := ValidateBatch(b)
			if err != nil || h.LastOffset() < o || h.Codec() != codec {
				t.Fatalf("Read(%d) gave %+v %v", o, h, err)
			}
		}
	}
	check(l, true)
	if l.Size() >= sizeBefore {
		t.Fatalf("compaction did not shrink the log: %d -> %d", sizeBefore, l.Size())
	}
	// Later clean: tombstone older than DeleteRetentionMs goes away.
	if err := l.Clean(time.UnixMilli(base + 200*1000 + 2*3600e3)); err != nil {
		t.Fatal(err)
	}
	check(l, false)
	// Survives reopen after a crash (indexes of compacted segments rebuilt or loaded).
	l.abandon()
	l2 := mustOpen(t, dir, cfg)
	defer l2.Close()
	check(l2, false)
	res, err := l2.Append(simple(t, 1, "z"), AppendOptions{})
	if err != nil || res.BaseOffset != off {
		t.Fatalf("append after compaction: %+v %v", res, err)
	}
}

func TestCompactionSkipsWhenNothingChanged(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 400
	cfg.Compact = true
	cfg.Delete = false
	cfg.DeleteRetentionMs = time.Hour
	l := mustOpen(t, t.TempDir(), cfg)
	defer l.Close()
	base := int64(1_700_000_000_000)
	appendKV := func(k string, v []byte) {
		t.Helper()
		b := makeBatch(t, noProducer(spec{firstTs: base, recs: []kv{{key: []byte(k), value: v}}}))
		if _, err := l.Append(b, AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ {
		appendKV(fmt.Sprint("k", i%3), []byte("value"))
	}
	appendKV("k0", nil) // tombstone
	for i := 0; i < 8; i++ {
		appendKV("other", []byte("x"))
	}
	now := time.UnixMilli(base)
	steps := []struct {
		name string
		do   func()
		now  time.Time
		runs int64
	}{
		{"first", func() {}, now, 1},
		{"nothing changed", func() {}, now, 1},
		{"still nothing", func() {}, now.Add(30 * time.Minute), 1},
		{"tombstone expired", func() {}, now.Add(time.Hour + time.Second), 2},
		{"after expiry nothing pending", func() {}, now.Add(2 * time.Hour), 2},
		{"config change", func() { l.SetConfig(cfg) }, now.Add(2 * time.Hour), 3},
		{"new sealed segment", func() {
			for i := 0; i < 8; i++ {
				appendKV("more", []byte("y"))
			}
		}, now.Add(2 * time.Hour), 4},
	}
	for _, st := range steps {
		st.do()
		if err := l.Clean(st.now); err != nil {
			t.Fatal(err)
		}
		if got := l.compactions.Load(); got != st.runs {
			t.Fatalf("%s: %d compaction passes, want %d", st.name, got, st.runs)
		}
	}
	// The tombstone of k0 is gone, the newest values of k1, k2 remain.
	keys := map[string]int{}
	for _, r := range allRecords(t, l) {
		keys[string(r.Key)]++
	}
	if keys["k0"] != 0 || keys["k1"] != 1 || keys["k2"] != 1 {
		t.Fatalf("keys after compaction: %v", keys)
	}
}
