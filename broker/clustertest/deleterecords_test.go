package clustertest

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDeleteRecordsReplicated deletes records on the leader, then kills
// it: the new leader's log starts where the deletion left it.
func TestDeleteRecordsReplicated(t *testing.T) {
	c, ctx, adm := startThree(t, 2*time.Minute)
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

// TestFollowerBehindLeaderLogStart kills a follower, deletes records on the
// leader past everything the follower holds, and restarts it: the follower
// must notice it is below the leader's log start (OFFSET_OUT_OF_RANGE with
// the leader's log start), start its log over there, catch up and rejoin
// the ISR; and after the leader dies its successor serves the same records.
// Before the fix the follower re-truncated forever and never rejoined.
func TestFollowerBehindLeaderLogStart(t *testing.T) {
	c, ctx, adm := startThree(t, 3*time.Minute)
	const topic = "behindstart"
	createReplicatedTopic(t, ctx, adm, topic, 1)
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	produce := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatalf("produce %d: %v", i, err)
			}
		}
	}
	produce(0, 20)
	leader, _, isr, err := partitionInfo(ctx, adm, topic, 0)
	if err != nil || len(isr) != 3 {
		t.Fatalf("partition: leader %d isr %v err %v", leader, isr, err)
	}
	var follower int32
	for _, r := range isr {
		if r != leader {
			follower = r
			break
		}
	}
	c.nodes[follower].kill()
	waitFor(t, "the ISR to drop the killed follower", 30*time.Second, func() bool {
		_, _, isr, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && len(isr) == 2 && !slices.Contains(isr, follower)
	})
	produce(20, 120)
	os := kadm.Offsets{}
	os.Add(kadm.Offset{Topic: topic, Partition: 0, At: 100})
	dres, err := adm.DeleteRecords(ctx, os)
	if err != nil {
		t.Fatal(err)
	}
	if dr, _ := dres.Lookup(topic, 0); dr.Err != nil || dr.LowWatermark != 100 {
		t.Fatalf("DeleteRecords: low watermark %d err %v, want 100", dr.LowWatermark, dr.Err)
	}
	c.start(follower)
	waitFor(t, "the restarted follower back in the ISR", 60*time.Second, func() bool {
		_, _, isr, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && slices.Contains(isr, follower)
	})
	if !strings.Contains(c.nodes[follower].out.String(), "truncating fully") {
		t.Fatalf("the follower rejoined without starting its log over:\n%s", c.nodes[follower].out.tail(30))
	}
	produce(120, 130)
	c.nodes[leader].kill()
	waitFor(t, "a new leader", 30*time.Second, func() bool {
		l, _, _, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && l >= 0 && l != leader
	})
	cl := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var got []string
	for len(got) < 30 {
		fs := cl.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		for _, r := range fs.Records() {
			if want := int64(100 + len(got)); r.Offset != want {
				t.Fatalf("record at offset %d, want %d", r.Offset, want)
			}
			got = append(got, string(r.Value))
		}
	}
	if got[0] != "100" || got[29] != "129" {
		t.Fatalf("records after the failover: %v, want 100..129", got)
	}
}
