package broker_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker"
)

// TestStaleReconcileKeepsNewTopic: a reconcile that runs late with a state
// read before a topic was created (two goroutines reconcile; one read the
// state before the other applied a newer one) must not delete the topic's
// partitions and data and recreate them empty.
func TestStaleReconcileKeepsNewTopic(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	quorum := map[int32]string{1: l.Addr().String()}
	l.Close()
	b, err := broker.New(broker.WithDataDir(t.TempDir()), broker.WithListen("127.0.0.1:0"), broker.WithNodeID(1),
		broker.WithControllerQuorum(quorum), broker.WithGroupInitialRebalanceDelay(0),
		broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := b.WaitClusterReady(ctx, 1); err != nil {
		t.Fatal(err)
	}
	stale := broker.ControllerState(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("late"), kgo.RequiredAcks(kgo.AllISRAcks()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if res, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "late"); err != nil || res.Err != nil {
		t.Fatalf("create: %v %v", err, res.Err)
	}
	for i := 0; i < 10; i++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	broker.ReconcileWith(b, stale)
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, "late")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := ends.Lookup("late", 0); !ok || o.Err != nil || o.Offset != 10 {
		t.Fatalf("after a stale reconcile the end offset of late/0 is %+v, want 10 (the topic was dropped and recreated)", o)
	}
}
