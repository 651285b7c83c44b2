package broker_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
)

// TestClusterInProcess runs three cluster-mode brokers in this process (so
// the race detector sees replication, fencing and the coordinator swap):
// acks=all produce, a consumer group, closing the leader, more produce, and
// every acknowledged record read back.
func TestClusterInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-broker cluster")
	}
	quorum := map[int32]string{}
	for id := int32(1); id <= 3; id++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		quorum[id] = l.Addr().String()
		l.Close()
	}
	bs := map[int32]*broker.Broker{}
	var seeds []string
	for id := int32(1); id <= 3; id++ {
		b, err := broker.New(broker.WithDataDir(t.TempDir()), broker.WithListen("127.0.0.1:0"), broker.WithNodeID(id),
			broker.WithControllerQuorum(quorum), broker.WithBrokerSessionTimeout(time.Second),
			broker.WithReplicaLagTime(2*time.Second), broker.WithGroupInitialRebalanceDelay(0),
			broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if err != nil {
			t.Fatal(err)
		}
		bs[id] = b
		seeds = append(seeds, b.Addr())
	}
	defer func() {
		for _, b := range bs {
			b.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := bs[1].WaitClusterReady(ctx, 3); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic("inproc"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if res, err := adm.CreateTopic(ctx, 2, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, "inproc"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	produce := func(from, to int) {
		for i := from; i < to; i++ {
			if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i % 7)), Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 200)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: "inproc", Partition: 0, At: 5, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, "g", os); err != nil {
		t.Fatalf("commit: %v", err)
	}
	md, err := adm.Metadata(ctx, "inproc")
	if err != nil {
		t.Fatal(err)
	}
	victim := md.Topics["inproc"].Partitions[0].Leader
	bs[victim].Close()
	delete(bs, victim)
	produce(200, 400)
	got, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got.Lookup("inproc", 0); !ok || o.At != 5 {
		t.Fatalf("committed offset after closing broker %d: %+v", victim, o)
	}
	cons, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumeTopics("inproc"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	seen := map[string]bool{}
	for len(seen) < 400 {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d of 400 records", len(seen))
		}
		fs.EachRecord(func(r *kgo.Record) { seen[string(r.Value)] = true })
	}
	for i := 0; i < 400; i++ {
		if !seen[fmt.Sprint(i)] {
			t.Fatalf("record %d missing", i)
		}
	}
}
