package group

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// simClient behaves like a minimal group consumer: join (with the
// member-id-required round trip), sync, heartbeat and commit until told to
// stop, then leave.
func simClient(c *Coordinator, group string, stop <-chan struct{}, syncs *atomic.Int64, bad *atomic.Int64) {
	ctx := context.Background()
	memberID := ""
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	for !stopped() {
		jr := kmsg.NewPtrJoinGroupRequest()
		jr.Version = 9
		jr.Group, jr.MemberID, jr.ProtocolType = group, memberID, "consumer"
		jr.SessionTimeoutMillis, jr.RebalanceTimeoutMillis = 300, 600
		jr.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("t")}}
		resp := c.JoinGroup(ctx, jr)
		switch resp.ErrorCode {
		case 0:
		case kerr.MemberIDRequired.Code:
			memberID = resp.MemberID
			continue
		case kerr.UnknownMemberID.Code:
			memberID = ""
			continue
		default:
			continue
		}
		memberID = resp.MemberID
		sr := kmsg.NewPtrSyncGroupRequest()
		sr.Group, sr.MemberID, sr.Generation = group, memberID, resp.Generation
		if resp.LeaderID == memberID {
			for _, m := range resp.Members {
				sr.GroupAssignment = append(sr.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: m.MemberID, MemberAssignment: []byte("x")})
			}
		}
		sresp := c.SyncGroup(ctx, sr)
		if sresp.ErrorCode != 0 {
			if sresp.ErrorCode == kerr.UnknownMemberID.Code {
				memberID = ""
			}
			continue
		}
		syncs.Add(1)
		if string(sresp.MemberAssignment) != "x" {
			bad.Add(1)
		}
		for !stopped() {
			time.Sleep(10 * time.Millisecond)
			hb := kmsg.NewPtrHeartbeatRequest()
			hb.Group, hb.MemberID, hb.Generation = group, memberID, resp.Generation
			code := c.Heartbeat(ctx, hb).ErrorCode
			cr := commitReq(8, group, memberID, resp.Generation, map[string]map[int32]int64{"t": {0: time.Now().UnixNano()}})
			c.OffsetCommit(ctx, cr)
			if code != 0 {
				if code != kerr.RebalanceInProgress.Code {
					memberID = ""
				}
				break
			}
		}
	}
	if memberID != "" {
		lr := kmsg.NewPtrLeaveGroupRequest()
		lr.Version = 3
		lr.Group = group
		lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: memberID}}
		c.LeaveGroup(ctx, lr)
	}
}

// TestConcurrentClientsRealClock churns members of one group with the real
// clock under the race detector.
func TestConcurrentClientsRealClock(t *testing.T) {
	store := &recStore{}
	c := New(store, WithLogger(quietLogger()), WithSessionTimeoutBounds(10*time.Millisecond, time.Minute))
	defer c.Close()
	var syncs, bad atomic.Int64
	var wg sync.WaitGroup
	var stops []chan struct{}
	start := func() {
		stop := make(chan struct{})
		stops = append(stops, stop)
		wg.Add(1)
		go func() { defer wg.Done(); simClient(c, "churn", stop, &syncs, &bad) }()
	}
	for i := 0; i < 4; i++ {
		start()
	}
	time.Sleep(300 * time.Millisecond)
	close(stops[0])
	time.Sleep(300 * time.Millisecond)
	start()
	time.Sleep(400 * time.Millisecond)
	for _, s := range stops[1:] {
		close(s)
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("clients stuck")
	}
	if syncs.Load() < 5 || bad.Load() != 0 {
		t.Fatalf("syncs %d, wrong assignments %d", syncs.Load(), bad.Load())
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Groups = []string{"churn"}
		g := c.DescribeGroups(context.Background(), r).Groups[0]
		if g.State == "Empty" && len(g.Members) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("group did not become empty: %s with %d members", g.State, len(g.Members))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
