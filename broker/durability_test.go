package broker_test

import (
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	blog "github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/broker/log/faultfs"
)

// faultFS adapts faultfs.FS to the log's FS interface.
type faultFS struct{ faultfs.FS }

func (fs *faultFS) OpenFile(path string) (blog.File, error) { return fs.Open(path) }

// idemBatch is a one-record v2 batch of an idempotent producer.
func idemBatch(pid int64, seq int32, value string) []byte {
	now := time.Now().UnixMilli()
	b := kmsg.RecordBatch{
		PartitionLeaderEpoch: -1, Magic: 2,
		FirstTimestamp: now, MaxTimestamp: now,
		ProducerID: pid, FirstSequence: seq, NumRecords: 1,
	}
	if pid < 0 {
		b.ProducerEpoch, b.FirstSequence = -1, -1
	}
	r := kmsg.Record{Key: []byte("k"), Value: []byte(value)}
	r.Length = int32(len(r.AppendTo(nil)) - 1)
	b.Records = r.AppendTo(nil)
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32c(raw[21:]))
	return raw
}

// rawProduce sends one acks=-1 Produce of raw to topic partition 0 and
// returns the partition's error code and base offset.
func rawProduce(t testing.TB, cl *kgo.Client, topic string, raw []byte) (int16, int64) {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = -1, 30000
	tp := kmsg.NewProduceRequestTopic()
	tp.Topic = topic
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = raw
	tp.Partitions = append(tp.Partitions, pp)
	req.Topics = append(req.Topics, tp)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Error(err)
		return -1, -1
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.BaseOffset
}

// rawFetch fetches partition 0 of topic from offset and returns the error
// code, high watermark and record bytes.
func rawFetch(t testing.TB, cl *kgo.Client, topic string, offset int64) (int16, int64, []byte) {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.Version = 11
	req.MaxBytes, req.MaxWaitMillis = 1<<20, 0
	req.ReplicaID = -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = rawMetadata(t, cl, topic).TopicID // kgo may pick Fetch v13+
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes = offset, 1<<20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	return p.ErrorCode, p.HighWatermark, p.RecordBatches
}

// A retried batch that is already appended must be answered only once the
// original is durable: if the fsync fails, the retry fails too.
func TestProduceRetryWaitsForTheOriginalsFsync(t *testing.T) {
	fs := &faultFS{}
	b := startAt(t, t.TempDir(), broker.WithLogOptions(blog.WithFS(fs)))
	defer b.Close()
	createTopic(t, b.Addr(), "retry", 1, nil)
	cl1, cl2 := newClient(t, b.Addr()), newClient(t, b.Addr())
	pid := initProducerID(t, cl1)
	raw := idemBatch(pid, 0, "v")

	release := fs.HoldSyncs()
	defer release()
	type answer struct {
		code int16
		off  int64
	}
	answers := make(chan answer, 2)
	var wg sync.WaitGroup
	for _, cl := range []*kgo.Client{cl1, cl2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, off := rawProduce(t, cl, "retry", raw)
			answers <- answer{c, off}
		}()
	}
	// One of the two is the original and waits for the held fsync; the
	// other is a duplicate and must wait for the same fsync.
	select {
	case a := <-answers:
		t.Fatalf("answered (code %d, offset %d) while the original's fsync was still pending", a.code, a.off)
	case <-time.After(2 * time.Second):
	}
	fs.FailSync.Store(true)
	release()
	wg.Wait()
	close(answers)
	for a := range answers {
		if a.code != kerr.KafkaStorageError.Code {
			t.Fatalf("after the failed fsync: code %d offset %d, want KAFKA_STORAGE_ERROR for original and retry", a.code, a.off)
		}
	}
}

// A failed fsync takes the partition offline (KAFKA_STORAGE_ERROR for
// produce and fetch, even once fsync works again); after a restart the log
// is recovered from what is on disk and serves again.
func TestFsyncFailureOfflineUntilRestart(t *testing.T) {
	dir := t.TempDir()
	fs := &faultFS{}
	b := startAt(t, dir, broker.WithLogOptions(blog.WithFS(fs)))
	createTopic(t, b.Addr(), "off", 1, nil)
	cl := newClient(t, b.Addr())
	if c, off := rawProduce(t, cl, "off", idemBatch(-1, 0, "a")); c != 0 || off != 0 {
		t.Fatalf("first produce: code %d offset %d", c, off)
	}
	fs.FailSync.Store(true)
	if c, _ := rawProduce(t, cl, "off", idemBatch(-1, 0, "b")); c != kerr.KafkaStorageError.Code {
		t.Fatalf("produce with failing fsync: code %d, want KAFKA_STORAGE_ERROR", c)
	}
	fs.FailSync.Store(false)
	if c, _ := rawProduce(t, cl, "off", idemBatch(-1, 0, "c")); c != kerr.KafkaStorageError.Code {
		t.Fatalf("produce after the failure: code %d, want KAFKA_STORAGE_ERROR (partition offline)", c)
	}
	if c, _, _ := rawFetch(t, cl, "off", 0); c != kerr.KafkaStorageError.Code {
		t.Fatalf("fetch after the failure: code %d, want KAFKA_STORAGE_ERROR", c)
	}
	md := rawMetadata(t, cl, "off")
	if md.Partitions[0].ErrorCode != kerr.KafkaStorageError.Code {
		t.Fatalf("metadata partition error %d, want KAFKA_STORAGE_ERROR", md.Partitions[0].ErrorCode)
	}
	cl.Close()
	b.Close()
	if err := fs.Crash(); err != nil {
		t.Fatal(err)
	}

	b2 := startAt(t, dir)
	defer b2.Close()
	cl2 := newClient(t, b2.Addr())
	c, hw, recs := rawFetch(t, cl2, "off", 0)
	if c != 0 || hw != 1 {
		t.Fatalf("after restart: code %d high watermark %d, want 0 and 1 (only the acknowledged record)", c, hw)
	}
	if len(recs) == 0 {
		t.Fatal("after restart the acknowledged record is gone")
	}
	if c, off := rawProduce(t, cl2, "off", idemBatch(-1, 0, "d")); c != 0 || off != 1 {
		t.Fatalf("produce after restart: code %d offset %d", c, off)
	}
}

// With flush=durable a fetch never sees a record whose fsync has not
// completed (acks=1 answers before the fsync).
func TestFetchHighWatermarkIsDurableOffset(t *testing.T) {
	fs := &faultFS{}
	b := startAt(t, t.TempDir(), broker.WithLogOptions(blog.WithFS(fs)))
	defer b.Close()
	createTopic(t, b.Addr(), "hw", 1, nil)
	// kgo applies its own acks setting to Produce requests it forwards.
	cl := newClient(t, b.Addr(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	release := fs.HoldSyncs()
	defer release()
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = 1, 30000
	tp := kmsg.NewProduceRequestTopic()
	tp.Topic = "hw"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = idemBatch(-1, 0, "x")
	tp.Partitions = append(tp.Partitions, pp)
	req.Topics = append(req.Topics, tp)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("acks=1 produce: %v %+v", err, resp)
	}
	c, hw, recs := rawFetch(t, cl, "hw", 0)
	if c != 0 || hw != 0 || len(recs) != 0 {
		t.Fatalf("fetch before fsync: code %d high watermark %d, %d record bytes; want 0, 0, none", c, hw, len(recs))
	}
	lo := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "hw"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lo.Topics = append(lo.Topics, lt)
	lr, err := lo.RequestWith(context.Background(), cl)
	if err != nil || lr.Topics[0].Partitions[0].Offset != 0 {
		t.Fatalf("ListOffsets latest before fsync: %v %+v, want 0", err, lr)
	}
	release()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, hw, recs = rawFetch(t, cl, "hw", 0)
		if c == 0 && hw == 1 && len(recs) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("record never became visible after the fsync: code %d hw %d", c, hw)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Deleting a topic while producers write to it must not panic (run with
// -race); produce requests get an error or succeed.
func TestDeleteTopicDuringProduce(t *testing.T) {
	b := startAt(t, t.TempDir())
	defer b.Close()
	cl := newClient(t, b.Addr())
	for iter := 0; iter < 20; iter++ {
		createTopic(t, b.Addr(), "del", 1, nil)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for ctx.Err() == nil {
					req := kmsg.NewPtrProduceRequest()
					req.Acks, req.TimeoutMillis = 1, 5000
					tp := kmsg.NewProduceRequestTopic()
					tp.Topic = "del"
					pp := kmsg.NewProduceRequestTopicPartition()
					pp.Records = idemBatch(-1, 0, "x")
					tp.Partitions = append(tp.Partitions, pp)
					req.Topics = append(req.Topics, tp)
					if _, err := req.RequestWith(ctx, cl); err != nil && ctx.Err() == nil {
						t.Errorf("produce: %v", err)
						return
					}
				}
			}()
		}
		time.Sleep(5 * time.Millisecond)
		dr := kmsg.NewPtrDeleteTopicsRequest()
		dr.TopicNames = []string{"del"}
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr("del")
		dr.Topics = append(dr.Topics, dt)
		dr.TimeoutMillis = 5000
		if _, err := dr.RequestWith(context.Background(), cl); err != nil {
			t.Fatal(err)
		}
		cancel()
		wg.Wait()
	}
}
