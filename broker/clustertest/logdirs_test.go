package clustertest

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestDescribeAllLogDirs checks every broker answers DescribeLogDirs for
// exactly the replicas it holds (leader and follower), with their sizes,
// and that in-sync replicas report no offset lag.
func TestDescribeAllLogDirs(t *testing.T) {
	c, ctx, adm := startThree(t, 2*time.Minute)
	const topic = "dirs"
	// Six partitions, two replicas each: every broker holds some, not all.
	res, err := adm.CreateTopic(ctx, 6, 2, nil, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create topic: %v %v", err, res.Err)
	}
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	for i := 0; i < 600; i++ {
		r := &kgo.Record{Value: []byte("v" + strconv.Itoa(i)), Partition: int32(i % 6)}
		if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	holders := map[int32][]int32{} // partition -> replicas
	for p, pd := range md.Topics[topic].Partitions {
		holders[p] = pd.Replicas
	}
	// Followers catch up asynchronously; acks=all means the ISR has the
	// data, so wait for sizes to agree across replicas.
	var last string
	check := func() bool {
		all, err := adm.DescribeAllLogDirs(ctx, nil)
		if err != nil {
			last = err.Error()
			return false
		}
		if len(all) != 3 {
			last = "answers from " + strconv.Itoa(len(all)) + " brokers"
			return false
		}
		sizes := map[int32]map[int32]int64{} // partition -> broker -> size
		for broker, dirs := range all {
			if e := dirs.Error(); e != nil {
				last = e.Error()
				return false
			}
			ok := true
			dirs.Each(func(d kadm.DescribedLogDir) {
				if d.Dir != c.nodes[broker].dataDir {
					last, ok = "broker "+strconv.Itoa(int(broker))+" reports dir "+d.Dir, false
				}
				if d.TotalBytes <= 0 || d.UsableBytes <= 0 || d.UsableBytes > d.TotalBytes {
					last, ok = "bad total/usable bytes", false
				}
			})
			if !ok {
				return false
			}
			dirs.EachPartition(func(p kadm.DescribedLogDirPartition) {
				if p.Topic != topic {
					return
				}
				if !slices.Contains(holders[p.Partition], broker) {
					last, ok = "broker "+strconv.Itoa(int(broker))+" reports partition "+strconv.Itoa(int(p.Partition))+" it holds no replica of", false
				}
				if p.OffsetLag != 0 {
					last, ok = "offset lag "+strconv.FormatInt(p.OffsetLag, 10), false
				}
				if sizes[p.Partition] == nil {
					sizes[p.Partition] = map[int32]int64{}
				}
				sizes[p.Partition][broker] = p.Size
			})
			if !ok {
				return false
			}
		}
		for p, reps := range holders {
			var first int64 = -1
			for _, r := range reps {
				s, ok := sizes[p][r]
				if !ok {
					last = "broker " + strconv.Itoa(int(r)) + " does not report its replica of partition " + strconv.Itoa(int(p))
					return false
				}
				if s <= 0 || (first >= 0 && s != first) {
					last = "sizes differ or are empty for partition " + strconv.Itoa(int(p))
					return false
				}
				first = s
			}
		}
		return true
	}
	deadline := time.Now().Add(30 * time.Second)
	for !check() {
		if time.Now().After(deadline) {
			t.Fatalf("DescribeAllLogDirs never matched the assignment: %s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
