package s3

import (
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
)

// versity starts versitygw with a bucket and returns the connector config.
func versity(t *testing.T) (map[string]string, s3Objects) {
	t.Helper()
	srv := testenv.StartS3(t)
	srv.CreateBucket(t, "lake")
	cfg := map[string]string{
		KeyBucket: "lake", KeyRegion: srv.Region, KeyStoreURL: srv.Endpoint, KeyPathStyle: "true",
		KeyAccessKeyID: srv.AccessKey, KeySecretAccessKey: srv.SecretKey,
	}
	return cfg, s3Objects{c: srv.Client(t), bucket: "lake"}
}

var blobSchema = connect.NewStruct().Name("blob").Field("id", connect.Int32Schema).Field("data", connect.BytesSchema).Build()

func blobRecord(rng *rand.Rand, off int64, size int) *connect.Record {
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	return &connect.Record{Topic: "blobs", Partition: 0, Offset: off, ValueSchema: blobSchema,
		Value: connect.NewStructValue(blobSchema).Set("id", int32(off)).Set("data", data)}
}

func multipartUploads(t *testing.T, o s3Objects) int {
	t.Helper()
	out, err := o.c.ListMultipartUploads(context.Background(), &awss3.ListMultipartUploadsInput{Bucket: &o.bucket})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	return len(out.Uploads)
}

func TestMultipartUploadVersity(t *testing.T) {
	cfg, store := versity(t)
	cfg = withCfg(cfg, KeyFlushSize, "180", KeyFormatClass, ParquetFormatClass, KeyPartSize, itoa(5<<20),
		KeyRowGroupBytes, itoa(1<<20))
	tp := connect.TopicPartition{Topic: "blobs", Partition: 0}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{tp})
	defer tk.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	for off := range int64(150) { // ~6 MiB of incompressible data: one part uploaded
		mustPut(t, tk, blobRecord(rng, off, 40<<10))
	}
	if n := multipartUploads(t, store); n != 1 {
		t.Fatalf("in-progress multipart uploads = %d, want 1 (parts stream while the file fills)", n)
	}
	if keys := dataKeys(store.list(t)); len(keys) != 0 {
		t.Fatalf("object visible before commit: %v", keys)
	}
	for off := int64(150); off < 180; off++ {
		mustPut(t, tk, blobRecord(rng, off, 40<<10))
	}
	keys := dataKeys(store.list(t))
	if len(keys) != 1 {
		t.Fatalf("keys = %v", keys)
	}
	head, err := store.c.HeadObject(context.Background(), &awss3.HeadObjectInput{Bucket: &store.bucket, Key: &keys[0]})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt64(head.ContentLength) <= 5<<20 || !strings.Contains(aws.ToString(head.ETag), "-2") {
		t.Errorf("object size %d etag %s: want > 5 MiB in 2 parts", aws.ToInt64(head.ContentLength), aws.ToString(head.ETag))
	}
	rows := readMaps(t, store.read(t, keys[0]))
	if len(rows) != 180 {
		t.Fatalf("rows = %d", len(rows))
	}
	for i, r := range rows {
		if n := len(fmt.Sprint(r["data"])); r["id"] != int32(i) || n != 40<<10 {
			t.Fatalf("row %d: id %v len %d", i, r["id"], n)
		}
	}
	if n := multipartUploads(t, store); n != 0 {
		t.Errorf("multipart uploads left: %d", n)
	}
}

func TestCloseAbortsInFlightMultipartVersity(t *testing.T) {
	cfg, store := versity(t)
	cfg = withCfg(cfg, KeyFlushSize, "1000", KeyFormatClass, ParquetFormatClass, KeyPartSize, itoa(5<<20),
		KeyRowGroupBytes, itoa(1<<20))
	tp := connect.TopicPartition{Topic: "blobs", Partition: 0}
	tk, _ := openTask(t, cfg, []connect.TopicPartition{tp})
	rng := rand.New(rand.NewPCG(3, 4))
	for off := range int64(150) {
		mustPut(t, tk, blobRecord(rng, off, 40<<10))
	}
	if n := multipartUploads(t, store); n != 1 {
		t.Fatalf("in-progress multipart uploads = %d, want 1", n)
	}
	if err := tk.Close(); err != nil {
		t.Fatal(err)
	}
	if n := multipartUploads(t, store); n != 0 {
		t.Errorf("multipart uploads after Close = %d, want 0", n)
	}
	if keys := dataKeys(store.list(t)); len(keys) != 0 {
		t.Errorf("objects after Close = %v", keys)
	}
}

// runtimeSim plays the worker: it delivers records of several partitions
// in batches from a position, calls Flush every few batches and keeps the
// offsets Flush returned, as the consumer group would.
type runtimeSim struct {
	parts     []connect.TopicPartition
	total     int64
	committed map[connect.TopicPartition]int64
}

func (rs *runtimeSim) record(tp connect.TopicPartition, off int64) *connect.Record {
	r := flatRecord(tp.Topic, tp.Partition, off, int(tp.Partition)*100000+int(off))
	return r
}

// run delivers records from pos until each partition reaches stop[tp] (or
// the end), flushing every flushEvery batches. It returns the positions
// reached.
func (rs *runtimeSim) run(t *testing.T, tk *task, fc *fakeCtx, pos, stop map[connect.TopicPartition]int64, batch, flushEvery int) {
	t.Helper()
	n := 0
	for {
		// The runtime honours Seek before the next fetch.
		fc.mu.Lock()
		for tp, o := range fc.seeks {
			pos[tp] = o
		}
		fc.seeks = nil
		fc.mu.Unlock()
		var recs []*connect.Record
		for _, tp := range rs.parts {
			end := min(rs.total, stop[tp])
			for i := 0; i < batch && pos[tp] < end; i++ {
				recs = append(recs, rs.record(tp, pos[tp]))
				pos[tp]++
			}
		}
		if len(recs) == 0 {
			break
		}
		// Put without waiting for background uploads, like the runtime.
		if err := tk.Put(context.Background(), recs); err != nil {
			t.Fatalf("put: %v", err)
		}
		if n++; n%flushEvery == 0 {
			rs.flush(t, tk, pos)
		}
	}
}

func (rs *runtimeSim) flush(t *testing.T, tk *task, pos map[connect.TopicPartition]int64) {
	t.Helper()
	cur := map[connect.TopicPartition]int64{}
	for tp, o := range pos {
		cur[tp] = o
	}
	got, err := tk.Flush(context.Background(), cur)
	if err != nil {
		t.Fatalf("flush: %v", err)
	}
	for tp, o := range got {
		if o > cur[tp] {
			t.Fatalf("Flush returned %d for %v beyond current %d", o, tp, cur[tp])
		}
		rs.committed[tp] = o
	}
}

// bucketIDs reads every data file and counts each row id.
func bucketIDs(t *testing.T, store objectStore) map[int32]int {
	t.Helper()
	ids := map[int32]int{}
	for _, k := range dataKeys(store.list(t)) {
		for _, r := range readMaps(t, store.read(t, k)) {
			ids[r["id"].(int32)]++
		}
	}
	return ids
}

func TestCrashRecoveryExactlyOnceVersity(t *testing.T) {
	cfg0, store0 := versity(t)
	cases := []struct {
		name          string
		kv1, kv2      []string // config of the crashed task and of the new task
		flushEvery    int      // in the crashed run; 0 = never flushed (consumer offset stays at 0)
		wantDuplicate bool     // negative control
		wantSeek      bool     // the new task must seek past uploaded data
		ticking       bool     // the crashed task's wall clock advances 1s per reading
	}{
		{"committed offsets, deterministic rewrite", []string{KeyFlushSize, "7"}, []string{KeyFlushSize, "7"}, 3, false, true, false},
		{"deterministic rewrite alone (recovery disabled)", []string{KeyFlushSize, "7", KeyRecovery, "false"},
			[]string{KeyFlushSize, "7", KeyRecovery, "false"}, 0, false, false, false},
		{"consumer offset behind storage (never flushed)", []string{KeyFlushSize, "7"}, []string{KeyFlushSize, "7"}, 0, false, true, false},
		{"flush.size changed across restart, seek past uploaded data", []string{KeyFlushSize, "7"}, []string{KeyFlushSize, "5"}, 0, false, true, false},
		{"wall-clock rotation (non-deterministic boundaries)", []string{KeyFlushSize, "1000", KeyRotateSchedule, "20000"},
			[]string{KeyFlushSize, "1000"}, 2, false, true, true},
		{"negative control: recovery disabled and flush.size changed", []string{KeyFlushSize, "7", KeyRecovery, "false"},
			[]string{KeyFlushSize, "5", KeyRecovery, "false"}, 0, true, false, false},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := fmt.Sprintf("run%d", i)
			base := withCfg(cfg0, KeyFormatClass, ParquetFormatClass, KeyTopicsDir, dir)
			store := prefixed{store0, dir + "/"}
			parts := []connect.TopicPartition{{Topic: "orders", Partition: 0}, {Topic: "orders", Partition: 1}}
			rs := &runtimeSim{parts: parts, total: 70, committed: map[connect.TopicPartition]int64{}}

			// First task: consume part of the stream, then die without Close.
			var opts1 []Option
			if tc.ticking {
				var mu1 sync.Mutex
				c1 := baseTime
				opts1 = append(opts1, WithClock(func() time.Time { mu1.Lock(); defer mu1.Unlock(); c1 = c1.Add(time.Second); return c1 }))
			}
			tk1, fc1 := openTask(t, withCfg(base, tc.kv1...), parts, opts1...)
			pos := map[connect.TopicPartition]int64{parts[0]: 0, parts[1]: 0}
			stop := map[connect.TopicPartition]int64{parts[0]: 40, parts[1]: 33}
			every := tc.flushEvery
			if every == 0 {
				every = 1 << 30
			}
			rs.run(t, tk1, fc1, pos, stop, 4, every)
			// kill -9: tk1 is abandoned with buffered records and open files;
			// its uploads in flight die with it. Requests already at the
			// server finish before the partition's next owner starts (the
			// consumer group's session timeout sees to that in real life).
			tk1.cancel()
			tk1.jobs.Wait()

			// Second task resumes from the consumer group's committed offsets.
			// The new task also rotates on a wall-clock schedule so the final
			// partial files can be committed by advancing its clock.
			var mu sync.Mutex
			clock := baseTime
			now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
			tk2, fc2 := openTask(t, withCfg(base, append(tc.kv2, KeyRotateSchedule, "3600000")...), parts, WithClock(now))
			defer tk2.Close()
			fc2.mu.Lock()
			seeks := maps.Clone(fc2.seeks)
			fc2.mu.Unlock()
			if tc.wantSeek != (len(seeks) == 2) {
				t.Fatalf("seeks on assign = %v, want seek: %v", seeks, tc.wantSeek)
			}
			for tp, o := range seeks {
				if o < rs.committed[tp] {
					t.Fatalf("seek for %v to %d is behind the committed offset %d", tp, o, rs.committed[tp])
				}
			}
			pos2 := map[connect.TopicPartition]int64{parts[0]: rs.committed[parts[0]], parts[1]: rs.committed[parts[1]]}
			all := map[connect.TopicPartition]int64{parts[0]: 70, parts[1]: 70}
			rs.run(t, tk2, fc2, pos2, all, 4, 2)
			mu.Lock()
			clock = clock.Add(2 * time.Hour)
			mu.Unlock()
			rs.flush(t, tk2, pos2)

			ids := bucketIDs(t, store)
			dups, missing := 0, 0
			for _, tp := range parts {
				for off := range int64(70) {
					id := int32(int(tp.Partition)*100000 + int(off))
					switch c := ids[id]; {
					case c == 0:
						missing++
					case c > 1:
						dups++
					}
				}
			}
			if tc.wantDuplicate {
				if dups == 0 {
					t.Fatalf("negative control found no duplicates; the test would not detect them")
				}
				return
			}
			if dups != 0 || missing != 0 || len(ids) != 140 {
				keys := dataKeys(store.list(t))
				sort.Strings(keys)
				t.Fatalf("duplicates %d, missing %d, distinct %d; files %v", dups, missing, len(ids), keys)
			}
			for _, tp := range parts {
				if rs.committed[tp] != 70 {
					t.Errorf("final committed offset for %v = %d, want 70", tp, rs.committed[tp])
				}
			}
		})
	}
}

// prefixed restricts an object listing to a key prefix.
type prefixed struct {
	s3Objects
	prefix string
}

func (p prefixed) list(t *testing.T) []string {
	var out []string
	for _, k := range p.s3Objects.list(t) {
		if strings.HasPrefix(k, p.prefix) {
			out = append(out, k)
		}
	}
	return out
}

func TestMultipartManyPartsInFlightFakeS3(t *testing.T) {
	cfg, store := fakeS3(t)
	cfg = withCfg(cfg, KeyFlushSize, "560", KeyFormatClass, ParquetFormatClass, KeyParquetCodec, "none",
		KeyPartSize, itoa(5<<20), KeyRowGroupBytes, itoa(1<<20))
	tk, _ := openTask(t, cfg, nil)
	defer tk.Close()
	rng := rand.New(rand.NewPCG(5, 6))
	var want []string
	for off := range int64(560) { // ~23 MiB: 4 background parts + the last one
		r := blobRecord(rng, off, 40<<10)
		want = append(want, string(r.Value.(*connect.Struct).Get("data").([]byte)[:16]))
		mustPut(t, tk, r)
	}
	keys := dataKeys(store.list(t))
	if len(keys) != 1 {
		t.Fatalf("keys = %v", keys)
	}
	b := store.read(t, keys[0])
	if len(b) < 20<<20 {
		t.Fatalf("object is %d bytes", len(b))
	}
	rows := readMaps(t, b)
	if len(rows) != 560 {
		t.Fatalf("rows = %d", len(rows))
	}
	for i, r := range rows {
		if r["id"] != int32(i) || fmt.Sprint(r["data"])[:16] != want[i] {
			t.Fatalf("row %d out of order or corrupt", i)
		}
	}
}
