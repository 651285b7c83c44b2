package group

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzLoad feeds arbitrary records to Load: it may reject them, never
// panic, and the coordinator must stay usable. `go test` runs the seeds;
// `go test -fuzz FuzzLoad` explores further.
func FuzzLoad(f *testing.F) {
	gv := kmsg.NewGroupMetadataValue()
	gv.Version = 3
	gv.ProtocolType = "consumer"
	gv.Generation = 4
	gv.Protocol, gv.Leader = kmsg.StringPtr("range"), kmsg.StringPtr("m1")
	gv.Members = []kmsg.GroupMetadataValueMember{{MemberID: "m1", ClientID: "c", ClientHost: "/h", RebalanceTimeoutMillis: 30000, SessionTimeoutMillis: 10000, Subscription: consumerMeta("t"), Assignment: []byte{1}}}
	e := offsetEntry{offset: 5, leaderEpoch: 1, metadata: "m", commitMs: 1, expireMs: -1}
	seeds := []Record{
		{Key: groupKey("g"), Value: gv.AppendTo(nil)},
		{Key: groupKey("g")},
		offsetRecord("g", topicPartition{"t", 0}, e),
		offsetTombstone("g", topicPartition{"t", 0}),
		{Key: []byte{0, 9, 1}, Value: []byte{1}},
		{Key: []byte{0, 2, 0, 1, 'g'}, Value: []byte{0, 4, 0}},
	}
	for _, s := range seeds {
		f.Add(s.Key, s.Value)
	}
	f.Fuzz(func(t *testing.T, key, value []byte) {
		c := New(nil, WithLogger(quietLogger()), WithClock(newFakeClock()))
		defer c.Close()
		_ = c.Load(key, value)
		// still answers requests
		r := kmsg.NewPtrListGroupsRequest()
		c.ListGroups(t.Context(), r)
		d := kmsg.NewPtrDescribeGroupsRequest()
		d.Groups = c.groupIDs()
		c.DescribeGroups(t.Context(), d)
	})
}
