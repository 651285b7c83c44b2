package clustertest

import (
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestFullRestartKeepsHighWatermark stops every broker and starts them
// again: the partition's high watermark is the pre-restart one as soon as
// a leader serves it, and a consumer reads every record below it.
func TestFullRestartKeepsHighWatermark(t *testing.T) {
	c, ctx, adm := startThree(t, 3*time.Minute)
	const topic = "hwrestart"
	createReplicatedTopic(t, ctx, adm, topic, 1)
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	const n = 500
	for i := 0; i < n; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	pre, _ := ends.Lookup(topic, 0)
	if pre.Offset != n {
		t.Fatalf("high watermark before the restart is %d, want %d", pre.Offset, n)
	}
	for id := int32(1); id <= 3; id++ {
		c.nodes[id].stop(t)
	}
	prod.Close()
	adm.Close()
	// Start all three; the first ListOffsets answered by a leader must
	// already be the pre-restart high watermark.
	c.startAll()
	adm2 := kadm.NewClient(c.client())
	var got int64 = -1
	waitFor(t, "a leader answering ListOffsets", 60*time.Second, func() bool {
		ends, err := adm2.ListEndOffsets(ctx, topic)
		if err != nil {
			return false
		}
		o, ok := ends.Lookup(topic, 0)
		if !ok || o.Err != nil {
			return false
		}
		got = o.Offset
		return true
	})
	if got != n {
		t.Fatalf("first high watermark after the full restart is %d, want the pre-restart %d", got, n)
	}
	vals := readValues(t, c, topic)
	if len(vals) != n {
		t.Fatalf("read %d records after the restart, want %d", len(vals), n)
	}
}
