package clustertest

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeleteRecordsReplicated deletes records on the leader, then kills
// it: the new leader's log starts where the deletion left it.
func TestDeleteRecordsReplicated(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three broker processes")
	}
	c := newCluster(t, 3, fastFlags...)
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.client())
	waitLiveBrokers(t, ctx, adm, 3, 30*time.Second)
	const topic = "delrec"
	createReplicatedTopic(t, ctx, adm, topic, 1)
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	for i := 0; i < 100; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	leader, epoch, isr, err := partitionInfo(ctx, adm, topic, 0)
	if err != nil || len(isr) != 3 {
		t.Fatalf("partition: leader %d isr %v err %v", leader, isr, err)
	}
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 40})
	dres, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	dr, _ := dres.Lookup(topic, 0)
	if dr.Err != nil || dr.LowWatermark != 40 {
		t.Fatalf("DeleteRecords: low watermark %d err %v, want 40", dr.LowWatermark, dr.Err)
	}
	// The answer waited for every in-sync replica: kill the leader and
	// the first answer of its successor already starts at 40.
	c.nodes[leader].kill()
	waitFor(t, "a new leader", 30*time.Second, func() bool {
		l, e, _, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && l >= 0 && l != leader && e > epoch
	})
	var start int64 = -1
	waitFor(t, "the new leader answering ListOffsets", 30*time.Second, func() bool {
		so, err := adm.ListStartOffsets(ctx, topic)
		if err != nil {
			return false
		}
		o, ok := so.Lookup(topic, 0)
		if !ok || o.Err != nil {
			return false
		}
		start = o.Offset
		return true
	})
	if start != 40 {
		t.Fatalf("log start offset on the new leader is %d, want 40", start)
	}
	cl := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	fs := cl.PollFetches(ctx)
	if err := fs.Err(); err != nil {
		t.Fatal(err)
	}
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 40 || string(recs[0].Value) != "40" {
		t.Fatalf("first record read after the failover: %+v, want offset 40", recs)
	}
}
