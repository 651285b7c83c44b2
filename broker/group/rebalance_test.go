package group

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var rangeProtos = func(topics ...string) []kmsg.JoinGroupRequestProtocol {
	md := consumerMeta(topics...)
	return []kmsg.JoinGroupRequestProtocol{
		{Name: "cooperative-sticky", Metadata: md},
		{Name: "range", Metadata: md},
	}
}

func memberIDs(resp *kmsg.JoinGroupResponse) []string {
	var ids []string
	for _, m := range resp.Members {
		ids = append(ids, m.MemberID)
	}
	sort.Strings(ids)
	return ids
}

func sorted(ids ...string) []string {
	out := append([]string(nil), ids...)
	sort.Strings(out)
	return out
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// stabilize completes the sync phase of generation gen: followers sync
// first (blocking), then the leader hands out "a-<member>" assignments.
func (e *env) stabilize(group string, gen int32, leader string, members ...string) {
	e.t.Helper()
	assign := make(map[string]string)
	var chans []<-chan *kmsg.SyncGroupResponse
	var ids []string
	for _, m := range members {
		assign[m] = "a-" + m
		if m == leader {
			continue
		}
		chans = append(chans, e.syncAsync(syncReq(group, m, gen, nil)))
		ids = append(ids, m)
		e.waitAwaitingSync(group, m)
	}
	lr := e.c.SyncGroup(e.ctx, syncReq(group, leader, gen, assign))
	wantCode(e.t, "leader sync", lr.ErrorCode, 0)
	if string(lr.MemberAssignment) != "a-"+leader {
		e.t.Fatalf("leader assignment %q", lr.MemberAssignment)
	}
	for i, ch := range chans {
		r := recvSync(e.t, ch)
		wantCode(e.t, "follower sync", r.ErrorCode, 0)
		if string(r.MemberAssignment) != "a-"+ids[i] {
			e.t.Fatalf("follower %s got assignment %q", ids[i], r.MemberAssignment)
		}
		if r.Protocol == nil || *r.Protocol != "cooperative-sticky" || r.ProtocolType == nil || *r.ProtocolType != "consumer" {
			e.t.Fatalf("sync v5 protocol fields: %v %v", r.Protocol, r.ProtocolType)
		}
	}
	if st := e.describe(group).State; st != "Stable" {
		e.t.Fatalf("state after sync: %s", st)
	}
}

func TestFullRebalanceThreeMembers(t *testing.T) {
	e := newEnv(t)
	const g = "g1"
	ps := rangeProtos("t1", "t2")

	// member 1 founds the group
	id1 := e.newMemberID(g, ps)
	r1 := e.join(joinReq(g, id1, nil, ps))
	wantCode(t, "join m1", r1.ErrorCode, 0)
	if r1.Generation != 1 || r1.LeaderID != id1 || *r1.Protocol != "cooperative-sticky" || *r1.ProtocolType != "consumer" || len(r1.Members) != 1 {
		t.Fatalf("m1 join: %+v", r1)
	}
	e.stabilize(g, 1, id1, id1)

	// members 2 and 3 join: rebalance to generation 2
	id2 := e.newMemberID(g, ps)
	c2 := e.joinAsync(joinReq(g, id2, nil, ps))
	e.waitAwaitingJoin(g, id2)
	wantCode(t, "m1 heartbeat during rebalance", e.heartbeat(g, id1, 1), kerr.RebalanceInProgress.Code)
	id3 := e.newMemberID(g, ps)
	c3 := e.joinAsync(joinReq(g, id3, nil, ps))
	e.waitAwaitingJoin(g, id3)
	if st := e.describe(g).State; st != "PreparingRebalance" {
		t.Fatalf("state %s", st)
	}
	r1 = e.join(joinReq(g, id1, nil, ps)) // completes the join phase
	r2, r3 := recvJoin(t, c2), recvJoin(t, c3)
	for i, r := range []*kmsg.JoinGroupResponse{r1, r2, r3} {
		wantCode(t, "join gen2", r.ErrorCode, 0)
		if r.Generation != 2 || r.LeaderID != id1 {
			t.Fatalf("join %d: gen %d leader %s", i, r.Generation, r.LeaderID)
		}
	}
	if got, want := memberIDs(r1), sorted(id1, id2, id3); !equalStrings(got, want) {
		t.Fatalf("leader members %v, want %v", got, want)
	}
	for _, m := range r1.Members {
		if string(m.ProtocolMetadata) != string(consumerMeta("t1", "t2")) {
			t.Fatalf("member %s metadata not passed to leader", m.MemberID)
		}
	}
	if len(r2.Members) != 0 || len(r3.Members) != 0 {
		t.Fatal("followers got member lists")
	}
	wantCode(t, "sync with old generation", e.c.SyncGroup(e.ctx, syncReq(g, id2, 1, nil)).ErrorCode, kerr.IllegalGeneration.Code)
	wantCode(t, "heartbeat while completing", e.heartbeat(g, id2, 2), 0)
	e.stabilize(g, 2, id1, id1, id2, id3)
	for _, id := range []string{id1, id2, id3} {
		wantCode(t, "heartbeat stable", e.heartbeat(g, id, 2), 0)
	}
	d := e.describe(g)
	if d.Protocol != "cooperative-sticky" || len(d.Members) != 3 {
		t.Fatalf("describe: %+v", d)
	}
	for _, m := range d.Members {
		if string(m.MemberAssignment) != "a-"+m.MemberID {
			t.Fatalf("describe assignment of %s: %q", m.MemberID, m.MemberAssignment)
		}
	}
	v, ok := e.store.lastGroupValue(t, g)
	if !ok || v == nil || v.Generation != 2 || len(v.Members) != 3 || *v.Leader != id1 || *v.Protocol != "cooperative-sticky" {
		t.Fatalf("persisted group: %+v", v)
	}

	// member 3 leaves (v3 batch form): rebalance to generation 3
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 4
	lr.Group = g
	lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: id3}, {MemberID: "nope"}}
	lresp := e.c.LeaveGroup(e.ctx, lr)
	wantCode(t, "leave top", lresp.ErrorCode, 0)
	if len(lresp.Members) != 2 || lresp.Members[0].ErrorCode != 0 || lresp.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave members: %+v", lresp.Members)
	}
	wantCode(t, "m2 heartbeat after leave", e.heartbeat(g, id2, 2), kerr.RebalanceInProgress.Code)
	wantCode(t, "left member heartbeat", e.heartbeat(g, id3, 2), kerr.UnknownMemberID.Code)
	c2 = e.joinAsync(joinReq(g, id2, nil, ps))
	e.waitAwaitingJoin(g, id2)
	r1 = e.join(joinReq(g, id1, nil, ps))
	r2 = recvJoin(t, c2)
	if r1.Generation != 3 || r2.Generation != 3 || !equalStrings(memberIDs(r1), sorted(id1, id2)) {
		t.Fatalf("gen3: %+v / %+v", r1, r2)
	}
	e.stabilize(g, 3, id1, id1, id2)

	// member 2 stops heartbeating: its session expires, rebalance to 4
	e.clock.Advance(testSession / 2)
	wantCode(t, "m1 heartbeat", e.heartbeat(g, id1, 3), 0)
	e.clock.Advance(testSession/2 + time.Millisecond)
	wantCode(t, "m1 heartbeat after m2 expired", e.heartbeat(g, id1, 3), kerr.RebalanceInProgress.Code)
	if st := e.describe(g).State; st != "PreparingRebalance" {
		t.Fatalf("after m2 expiry state %s", st)
	}
	wantCode(t, "expired member heartbeat", e.heartbeat(g, id2, 3), kerr.UnknownMemberID.Code)
	r1 = e.join(joinReq(g, id1, nil, ps))
	wantCode(t, "rejoin", r1.ErrorCode, 0)
	if r1.Generation != 4 || !equalStrings(memberIDs(r1), []string{id1}) {
		t.Fatalf("gen4: %+v", r1)
	}
	e.stabilize(g, 4, id1, id1)

	// the last member leaves (v1 single form): group becomes Empty
	lr = kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 1
	lr.Group = g
	lr.MemberID = id1
	wantCode(t, "leave v1", e.c.LeaveGroup(e.ctx, lr).ErrorCode, 0)
	if d := e.describe(g); d.State != "Empty" || len(d.Members) != 0 {
		t.Fatalf("after last leave: %+v", d)
	}
	v, _ = e.store.lastGroupValue(t, g)
	if v == nil || v.Generation != 5 || len(v.Members) != 0 {
		t.Fatalf("persisted empty group: %+v", v)
	}
}

func TestRebalanceTimeoutRemovesLaggards(t *testing.T) {
	e := newEnv(t)
	const g = "g-lag"
	ps := rangeProtos("t")
	id1 := e.newMemberID(g, ps)
	c1 := e.joinAsync(joinReq(g, id1, nil, ps))
	recvJoin(t, c1)
	id2 := e.newMemberID(g, ps)
	c2 := e.joinAsync(joinReq(g, id2, nil, ps))
	e.waitAwaitingJoin(g, id2)
	r1 := e.join(joinReq(g, id1, nil, ps))
	r2 := recvJoin(t, c2)
	e.stabilize(g, r1.Generation, id1, id1, id2)
	_ = r2

	// m1 changes its subscription -> rebalance; m2 never rejoins (but keeps
	// heartbeating, which does not save it)
	ps2 := rangeProtos("t", "u")
	c1 = e.joinAsync(joinReq(g, id1, nil, ps2))
	e.waitAwaitingJoin(g, id1)
	for i := 0; i < 5; i++ {
		e.clock.Advance(testRebalance / 5)
		e.heartbeat(g, id2, r1.Generation)
	}
	r1 = recvJoin(t, c1)
	wantCode(t, "join after rebalance timeout", r1.ErrorCode, 0)
	if !equalStrings(memberIDs(r1), []string{id1}) || r1.LeaderID != id1 {
		t.Fatalf("laggard not removed: %+v", r1)
	}
	wantCode(t, "laggard heartbeat", e.heartbeat(g, id2, r1.Generation), kerr.UnknownMemberID.Code)
}

func TestLeaderDoesNotSyncInTime(t *testing.T) {
	e := newEnv(t)
	const g = "g-nosync"
	ps := rangeProtos("t")
	id1 := e.newMemberID(g, ps)
	recvJoin(t, e.joinAsync(joinReq(g, id1, nil, ps)))
	e.stabilize(g, 1, id1, id1)
	id2 := e.newMemberID(g, ps)
	c2 := e.joinAsync(joinReq(g, id2, nil, ps))
	e.waitAwaitingJoin(g, id2)
	r1 := e.join(joinReq(g, id1, nil, ps))
	recvJoin(t, c2)
	// follower syncs and waits; the leader never syncs
	s2 := e.syncAsync(syncReq(g, id2, r1.Generation, nil))
	e.waitAwaitingSync(g, id2)
	e.clock.Advance(testRebalance)
	r := recvSync(t, s2)
	wantCode(t, "follower sync after leader timeout", r.ErrorCode, kerr.RebalanceInProgress.Code)
	wantCode(t, "leader removed", e.heartbeat(g, id1, r1.Generation), kerr.UnknownMemberID.Code)
}

func TestMemberIDRequiredPendingExpires(t *testing.T) {
	e := newEnv(t)
	const g = "g-pending"
	ps := rangeProtos("t")
	id := e.newMemberID(g, ps)
	e.clock.Advance(testSession + time.Millisecond)
	wantCode(t, "join with expired pending id", e.join(joinReq(g, id, nil, ps)).ErrorCode, kerr.UnknownMemberID.Code)
}

func TestOldJoinVersionNoMemberIDRequired(t *testing.T) {
	e := newEnv(t)
	const g = "g-v3"
	r := joinReq(g, "", nil, rangeProtos("t"))
	r.Version = 3
	resp := e.join(r)
	wantCode(t, "v3 join", resp.ErrorCode, 0)
	if resp.MemberID == "" || resp.Generation != 1 || resp.LeaderID != resp.MemberID || resp.ProtocolType != nil {
		t.Fatalf("v3 join: %+v", resp)
	}
	if resp.Version != 3 {
		t.Fatalf("version %d", resp.Version)
	}
}

func TestInitialRebalanceDelay(t *testing.T) {
	e := newEnv(t, WithInitialRebalanceDelay(3*time.Second))
	const g = "g-delay"
	ps := rangeProtos("t")
	id1 := e.newMemberID(g, ps)
	c1 := e.joinAsync(joinReq(g, id1, nil, ps))
	e.waitAwaitingJoin(g, id1)
	e.clock.Advance(2 * time.Second)
	id2 := e.newMemberID(g, ps)
	c2 := e.joinAsync(joinReq(g, id2, nil, ps))
	e.waitAwaitingJoin(g, id2)
	e.clock.Advance(1 * time.Second) // first delay ends; a member was added: wait another delay
	select {
	case r := <-c1:
		t.Fatalf("join completed before the extended delay: %+v", r)
	case <-time.After(20 * time.Millisecond):
	}
	e.clock.Advance(3 * time.Second)
	r1, r2 := recvJoin(t, c1), recvJoin(t, c2)
	if r1.Generation != 1 || r2.Generation != 1 || len(r1.Members)+len(r2.Members) != 2 {
		t.Fatalf("delayed join: %+v %+v", r1, r2)
	}
}

func TestProtocolSelection(t *testing.T) {
	tests := []struct {
		name   string
		protos [][]string
		want   string
	}{
		{"common first choice", [][]string{{"a", "b"}, {"a", "b"}}, "a"},
		{"only common one", [][]string{{"a", "b"}, {"b", "c"}}, "b"},
		{"majority preference", [][]string{{"a", "b"}, {"b", "a"}, {"b", "a"}}, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			var chans []<-chan *kmsg.JoinGroupResponse
			for i, names := range tc.protos {
				var ps []kmsg.JoinGroupRequestProtocol
				for _, n := range names {
					ps = append(ps, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: []byte("m")})
				}
				r := joinReq("g", "", nil, ps)
				r.Version = 3
				if i == 0 {
					recvJoin(t, e.joinAsync(r))
					continue
				}
				chans = append(chans, e.joinAsync(r))
				e.waitGroup("g", "member joined", func(g *group) bool { return len(g.members) == i+1 })
			}
			// the first member rejoins to complete the rebalance
			var first string
			e.waitGroup("g", "first", func(g *group) bool { first = g.sortedMembers()[0].id; return true })
			var ps []kmsg.JoinGroupRequestProtocol
			for _, n := range tc.protos[0] {
				ps = append(ps, kmsg.JoinGroupRequestProtocol{Name: n, Metadata: []byte("m")})
			}
			r := e.join(joinReq("g", first, nil, ps))
			wantCode(t, "join", r.ErrorCode, 0)
			if *r.Protocol != tc.want {
				t.Fatalf("protocol %s, want %s", *r.Protocol, tc.want)
			}
			for _, ch := range chans {
				if rr := recvJoin(t, ch); *rr.Protocol != tc.want {
					t.Fatalf("follower protocol %s", *rr.Protocol)
				}
			}
		})
	}
}

func TestJoinCancelAndClose(t *testing.T) {
	e := newEnv(t)
	const g = "g-cancel"
	ps := rangeProtos("t")
	id1 := e.newMemberID(g, ps)
	recvJoin(t, e.joinAsync(joinReq(g, id1, nil, ps)))
	e.stabilize(g, 1, id1, id1)
	id2 := e.newMemberID(g, ps)

	// a blocked JoinGroup returns when its connection goes away
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { done <- e.c.JoinGroup(ctx, joinReq(g, id2, nil, ps)) }()
	e.waitAwaitingJoin(g, id2)
	cancel()
	r := recvJoin(t, done)
	if r.ErrorCode == 0 {
		t.Fatal("cancelled join reported success")
	}

	// blocked JoinGroup and SyncGroup return on Close
	c1 := e.joinAsync(joinReq(g, id1, nil, ps)) // completes (id2 counts as joined)
	r1 := recvJoin(t, c1)
	s1 := e.syncAsync(syncReq(g, id2, r1.Generation, nil))
	e.waitAwaitingSync(g, id2)
	if err := e.c.Close(); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "sync after close", recvSync(t, s1).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "join after close", e.join(joinReq(g, id1, nil, ps)).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if n := e.clock.pendingTimers(); n != 0 {
		t.Fatalf("%d timers still pending after Close", n)
	}
}
