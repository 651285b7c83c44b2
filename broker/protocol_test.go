package broker_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	blog "github.com/sluicehq/sluice/broker/log"
	"github.com/sluicehq/sluice/internal/testenv"
)

// KIP-74: only the first non-empty partition may return more than the
// fetch's MaxBytes; later partitions return only batches that fit.
func TestFetchMaxBytesKIP74(t *testing.T) {
	addr := testenv.StartBroker(t)
	createTopic(t, addr, "kip74", 3, map[string]*string{"max.message.bytes": kmsg.StringPtr("2000000")})
	cl := newClient(t, addr, kgo.ProducerBatchMaxBytes(1900000), kgo.MaxBufferedBytes(64<<20),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	val := bytes.Repeat([]byte("x"), 600_000)
	for p := int32(0); p < 3; p++ {
		// One ~600 kB batch per partition.
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "kip74", Partition: p, Value: val}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	id := rawMetadata(t, cl, "kip74").TopicID
	for _, tc := range []struct {
		maxBytes int32
		want     int // partitions with data
	}{{1_000_000, 1}, {1, 1}, {1_300_000, 2}, {10_000_000, 3}} {
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, tc.maxBytes
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = "kip74", id
		for p := int32(0); p < 3; p++ {
			fp := kmsg.NewFetchRequestTopicPartition()
			fp.Partition, fp.PartitionMaxBytes = p, 1<<20
			ft.Partitions = append(ft.Partitions, fp)
		}
		req.Topics = append(req.Topics, ft)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		total, nonEmpty := 0, 0
		for _, p := range resp.Topics[0].Partitions {
			if p.ErrorCode != 0 {
				t.Fatalf("partition %d: error %d", p.Partition, p.ErrorCode)
			}
			if len(p.RecordBatches) > 0 {
				nonEmpty++
			}
			total += len(p.RecordBatches)
		}
		if nonEmpty != tc.want {
			t.Errorf("MaxBytes %d: %d partitions returned data (%d bytes), want %d", tc.maxBytes, nonEmpty, total, tc.want)
		}
	}
}

// InitProducerId without a transactional id always hands out a fresh
// producer id with epoch 0, whatever id/epoch the request carries.
func TestInitProducerIDNullTransactionalIDIsFresh(t *testing.T) {
	addr := testenv.StartBroker(t)
	cl := newClient(t, addr)
	first := initProducerID(t, cl)
	seen := map[int64]bool{first: true}
	for _, tc := range []struct{ id, epoch int64 }{{0, 0}, {first, 0}, {first, 5}, {-1, -1}, {1 << 40, 3}} {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionTimeoutMillis = 60000
		req.ProducerID, req.ProducerEpoch = tc.id, int16(tc.epoch)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 || seen[resp.ProducerID] || resp.ProducerID < 0 {
			t.Fatalf("InitProducerId(%d/%d) = id %d epoch %d error %d; want a fresh id, epoch 0, no error",
				tc.id, tc.epoch, resp.ProducerID, resp.ProducerEpoch, resp.ErrorCode)
		}
		seen[resp.ProducerID] = true
	}
}

// Transactional requests are refused with a message saying so, not with an
// authorization or coordinator-availability error.
func TestTransactionsNotSupportedMessage(t *testing.T) {
	addr := testenv.StartBroker(t)
	cl := newClient(t, addr)
	ctx := context.Background()
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"txn-1"}
	// Straight to the broker: kgo's own FindCoordinator handling turns the
	// error code into a Go error and drops the message.
	raw, err := cl.Broker(0).Request(ctx, fc)
	if err != nil {
		t.Fatal(err)
	}
	c := raw.(*kmsg.FindCoordinatorResponse).Coordinators[0]
	if c.ErrorCode != kerr.UnsupportedVersion.Code || c.ErrorMessage == nil || !strings.Contains(*c.ErrorMessage, "transactions are not supported") {
		t.Fatalf("FindCoordinator(transaction) = code %d message %v", c.ErrorCode, c.ErrorMessage)
	}
	ip := kmsg.NewPtrInitProducerIDRequest()
	ip.TransactionalID = kmsg.StringPtr("txn-1")
	ip.TransactionTimeoutMillis = 60000
	rawIP, err := cl.Broker(0).Request(ctx, ip)
	if err != nil {
		t.Fatal(err)
	}
	if ir := rawIP.(*kmsg.InitProducerIDResponse); ir.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("transactional InitProducerId = code %d, want UNSUPPORTED_VERSION", ir.ErrorCode)
	}
}

// Topic configs librdkafka's admin tests set are accepted; compression.type
// other than "producer" recompresses batches on append.
func TestTopicCompressionAndFormatConfigs(t *testing.T) {
	addr := testenv.StartBroker(t)
	createTopic(t, addr, "gz", 1, map[string]*string{
		"compression.type":       kmsg.StringPtr("gzip"),
		"message.format.version": kmsg.StringPtr("2.8-IV1"),
		"flush.ms":               kmsg.StringPtr("60000"),
		"flush.messages":         kmsg.StringPtr("100000"),
	})
	createTopic(t, addr, "plain", 1, map[string]*string{"compression.type": kmsg.StringPtr("uncompressed")})
	produceKgo(t, addr, "gz", 0, 200, kgo.ProducerBatchCompression(kgo.NoCompression()))
	produceKgo(t, addr, "plain", 0, 200, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	consumeKgo(t, addr, "gz", 0, 200)
	consumeKgo(t, addr, "plain", 0, 200)
	cl := newClient(t, addr)
	for topic, want := range map[string]int{"gz": blog.CodecGzip, "plain": blog.CodecNone} {
		_, _, data := rawFetch(t, cl, topic, 0)
		batches, err := blog.SplitBatches(data)
		if err != nil || len(batches) == 0 {
			t.Fatalf("%s: %v (%d batches)", topic, err, len(batches))
		}
		for _, b := range batches {
			h, err := blog.ValidateBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if h.Codec() != want {
				t.Fatalf("%s: stored batch codec %d, want %d", topic, h.Codec(), want)
			}
		}
	}
	for _, bad := range []map[string]*string{
		{"compression.type": kmsg.StringPtr("brotli")},
		{"message.format.version": kmsg.StringPtr("latest")},
		{"flush.messages": kmsg.StringPtr("0")},
	} {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "bad", 1, 1
		for k, v := range bad {
			c := kmsg.NewCreateTopicsRequestTopicConfig()
			c.Name, c.Value = k, v
			rt.Configs = append(rt.Configs, c)
		}
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Topics[0].ErrorCode != kerr.InvalidConfig.Code {
			t.Fatalf("%v: code %d, want INVALID_CONFIG", bad, resp.Topics[0].ErrorCode)
		}
	}
}

// flush.messages and flush.ms are honoured per topic even with --flush none.
func TestTopicFlushConfigsHonoured(t *testing.T) {
	fs := &faultFS{}
	b := startAt(t, t.TempDir(), broker.WithFlushPolicy(broker.FlushPolicy{Mode: broker.FlushNone}), broker.WithLogOptions(blog.WithFS(fs)))
	defer b.Close()
	createTopic(t, b.Addr(), "fm", 1, map[string]*string{"flush.messages": kmsg.StringPtr("1")})
	createTopic(t, b.Addr(), "fms", 1, map[string]*string{"flush.ms": kmsg.StringPtr("50")})
	createTopic(t, b.Addr(), "nf", 1, nil)
	cl := newClient(t, b.Addr(), kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite())
	base := fs.Syncs.Load()
	if c, _ := rawProduce(t, cl, "nf", idemBatch(-1, 0, "x")); c != 0 {
		t.Fatal(c)
	}
	if n := fs.Syncs.Load(); n != base {
		t.Fatalf("flush=none topic without flush settings fsynced (%d)", n-base)
	}
	if c, _ := rawProduce(t, cl, "fm", idemBatch(-1, 0, "x")); c != 0 {
		t.Fatal(c)
	}
	if n := fs.Syncs.Load(); n != base+1 {
		t.Fatalf("flush.messages=1: %d fsyncs before the answer, want 1", n-base)
	}
	if c, _ := rawProduce(t, cl, "fms", idemBatch(-1, 0, "x")); c != 0 {
		t.Fatal(c)
	}
	deadline := time.Now().Add(20 * time.Second)
	for fs.Syncs.Load() < base+2 {
		if time.Now().After(deadline) {
			t.Fatal("flush.ms=50 never fsynced")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
