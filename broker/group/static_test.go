package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// staticGroup builds a Stable group of two static members (instances i1,
// i2; i1 leads) and returns their member ids and the generation.
func (e *env) staticGroup(g string) (id1, id2 string, gen int32) {
	e.t.Helper()
	ps := rangeProtos("t")
	// static members skip the member-id-required round trip
	r1 := e.join(joinReq(g, "", strp("i1"), ps))
	wantCode(e.t, "static join 1", r1.ErrorCode, 0)
	id1 = r1.MemberID
	e.stabilize(g, r1.Generation, id1, id1)
	c2 := e.joinAsync(joinReq(g, "", strp("i2"), ps))
	e.waitGroup(g, "i2 joined", func(gr *group) bool { return gr.statics["i2"] != "" })
	r1 = e.join(joinReq(g, id1, strp("i1"), ps))
	r2 := recvJoin(e.t, c2)
	id2 = r2.MemberID
	if r1.Generation != 2 || r2.Generation != 2 || r1.LeaderID != id1 {
		e.t.Fatalf("static gen2: %+v %+v", r1, r2)
	}
	e.stabilize(g, 2, id1, id1, id2)
	return id1, id2, 2
}

func TestStaticMemberReplace(t *testing.T) {
	tests := []struct {
		name          string
		instance      string
		version       int16
		changeMeta    bool
		wantRebalance bool
		wantSkip      bool
	}{
		{"follower same metadata", "i2", 9, false, false, false},
		{"leader same metadata v9 skips assignment", "i1", 9, false, false, true},
		{"leader same metadata v8", "i1", 8, false, false, false},
		{"follower changed subscription", "i2", 9, true, true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			const g = "g-static"
			id1, id2, gen := e.staticGroup(g)
			oldID := map[string]string{"i1": id1, "i2": id2}[tc.instance]
			ps := rangeProtos("t")
			if tc.changeMeta {
				ps = rangeProtos("t", "u")
			}
			req := joinReq(g, "", strp(tc.instance), ps)
			req.Version = tc.version
			if tc.wantRebalance {
				ch := e.joinAsync(req)
				e.waitGroup(g, "rebalance", func(gr *group) bool { return gr.state == statePreparingRebalance })
				wantCode(t, "old id heartbeat", e.heartbeatInst(g, oldID, strp(tc.instance), gen), kerr.FencedInstanceID.Code)
				wantCode(t, "old id heartbeat without instance", e.heartbeat(g, oldID, gen), kerr.UnknownMemberID.Code)
				other := map[string]string{"i1": id2, "i2": id1}[tc.instance]
				otherInst := map[string]string{"i1": "i2", "i2": "i1"}[tc.instance]
				ro := e.join(joinReq(g, other, strp(otherInst), rangeProtos("t")))
				r := recvJoin(t, ch)
				wantCode(t, "replacing join", r.ErrorCode, 0)
				if r.Generation != gen+1 || ro.Generation != gen+1 || r.MemberID == oldID {
					t.Fatalf("rebalance after replace: %+v %+v", r, ro)
				}
				return
			}
			r := e.join(req)
			wantCode(t, "replacing join", r.ErrorCode, 0)
			newID := r.MemberID
			if newID == oldID || newID == "" {
				t.Fatalf("new member id %q (old %q)", newID, oldID)
			}
			if r.Generation != gen || *r.Protocol != "cooperative-sticky" {
				t.Fatalf("replace response: %+v", r)
			}
			if r.SkipAssignment != tc.wantSkip {
				t.Fatalf("skip assignment %v, want %v", r.SkipAssignment, tc.wantSkip)
			}
			if tc.wantSkip {
				if r.LeaderID != newID || len(r.Members) != 2 {
					t.Fatalf("KIP-814 leader response: %+v", r)
				}
			} else if r.LeaderID != id1 || len(r.Members) != 0 {
				t.Fatalf("leader id %s (old leader %s), members %d", r.LeaderID, id1, len(r.Members))
			}
			if st := e.describe(g).State; st != "Stable" {
				t.Fatalf("replace without metadata change rebalanced: %s", st)
			}
			wantCode(t, "old id heartbeat", e.heartbeatInst(g, oldID, strp(tc.instance), gen), kerr.FencedInstanceID.Code)
			wantCode(t, "old id heartbeat without instance", e.heartbeat(g, oldID, gen), kerr.UnknownMemberID.Code)
			wantCode(t, "new id heartbeat", e.heartbeat(g, newID, gen), 0)
			// the new id gets the old id's assignment
			sr := e.c.SyncGroup(e.ctx, syncReq(g, newID, gen, nil))
			wantCode(t, "sync new id", sr.ErrorCode, 0)
			if string(sr.MemberAssignment) != "a-"+oldID {
				t.Fatalf("assignment after replace %q", sr.MemberAssignment)
			}
			// persisted with the new member id
			v, _ := e.store.lastGroupValue(t, g)
			found := false
			for _, m := range v.Members {
				if m.MemberID == oldID {
					t.Fatal("old member id still persisted")
				}
				if m.MemberID == newID && m.InstanceID != nil && *m.InstanceID == tc.instance {
					found = true
				}
			}
			if !found {
				t.Fatalf("new member not persisted: %+v", v.Members)
			}
			// the fenced old id cannot leave the group by instance id
			lr := kmsg.NewPtrLeaveGroupRequest()
			lr.Version = 3
			lr.Group = g
			lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: oldID, InstanceID: strp(tc.instance)}}
			resp := e.c.LeaveGroup(e.ctx, lr)
			wantCode(t, "fenced leave", resp.Members[0].ErrorCode, kerr.FencedInstanceID.Code)
			// but the instance id alone can (KIP-345 admin removal)
			lr.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: strp(tc.instance)}}
			resp = e.c.LeaveGroup(e.ctx, lr)
			wantCode(t, "leave by instance", resp.Members[0].ErrorCode, 0)
			if st := e.describe(g).State; st != "PreparingRebalance" {
				t.Fatalf("after static leave: %s", st)
			}
		})
	}
}

func TestStaticFencedJoinAndSync(t *testing.T) {
	e := newEnv(t)
	const g = "g-fence"
	id1, _, gen := e.staticGroup(g)
	wantCode(t, "join with wrong id for instance", e.join(joinReq(g, "someone-else", strp("i1"), rangeProtos("t"))).ErrorCode, kerr.FencedInstanceID.Code)
	sr := syncReq(g, "someone-else", gen, nil)
	sr.InstanceID = strp("i1")
	wantCode(t, "sync with wrong id for instance", e.c.SyncGroup(e.ctx, sr).ErrorCode, kerr.FencedInstanceID.Code)
	hb := kmsg.NewPtrHeartbeatRequest()
	hb.Version = 3
	hb.Group, hb.MemberID, hb.Generation, hb.InstanceID = g, id1, gen, strp("i1")
	wantCode(t, "heartbeat with right instance", e.c.Heartbeat(e.ctx, hb).ErrorCode, 0)
}

func TestStaticMemberAbsentDuringRebalanceIsKept(t *testing.T) {
	e := newEnv(t)
	const g = "g-absent"
	id1, id2, gen := e.staticGroup(g)
	// i1 (leader) changes its subscription; i2 is down and does not rejoin
	c1 := e.joinAsync(joinReq(g, id1, strp("i1"), rangeProtos("t", "u")))
	e.waitAwaitingJoin(g, id1)
	for i := 0; i < 6; i++ { // i2's session is kept alive by heartbeats it still sends
		e.clock.Advance(testRebalance / 6)
		e.heartbeatInst(g, id2, strp("i2"), gen)
	}
	r1 := recvJoin(t, c1)
	wantCode(t, "join", r1.ErrorCode, 0)
	if r1.Generation != gen+1 || !equalStrings(memberIDs(r1), sorted(id1, id2)) {
		t.Fatalf("absent static member dropped at join completion: %+v", r1)
	}
	wantCode(t, "absent member's old generation", e.heartbeatInst(g, id2, strp("i2"), gen), kerr.IllegalGeneration.Code)
	// it never syncs: removed at the sync deadline, and the group rebalances
	wantCode(t, "leader sync", e.c.SyncGroup(e.ctx, syncReq(g, id1, r1.Generation, map[string]string{id1: "x", id2: "y"})).ErrorCode, 0)
	for i := 0; i < 6; i++ { // the leader keeps heartbeating
		e.clock.Advance(testRebalance / 6)
		e.heartbeatInst(g, id1, strp("i1"), r1.Generation)
	}
	wantCode(t, "absent member after sync deadline", e.heartbeatInst(g, id2, strp("i2"), r1.Generation), kerr.UnknownMemberID.Code)
	if st := e.describe(g).State; st != "PreparingRebalance" {
		t.Fatalf("state %s", st)
	}
}

func TestNewMemberJoinTimeout(t *testing.T) {
	e := newEnv(t)
	const g = "g-newtimeout"
	ps := rangeProtos("t")
	long := func(r *kmsg.JoinGroupRequest) *kmsg.JoinGroupRequest {
		r.RebalanceTimeoutMillis = int32((20 * time.Minute).Milliseconds())
		return r
	}
	id1 := e.newMemberID(g, ps)
	r1 := e.join(long(joinReq(g, id1, nil, ps)))
	e.stabilize(g, r1.Generation, id1, id1)
	id2 := e.newMemberID(g, ps)
	c2 := e.joinAsync(long(joinReq(g, id2, nil, ps)))
	e.waitAwaitingJoin(g, id2)
	for i := 0; i < 61; i++ { // m1 stays alive but never rejoins
		e.clock.Advance(5 * time.Second)
		e.heartbeat(g, id1, r1.Generation)
	}
	r2 := recvJoin(t, c2)
	if r2.ErrorCode != kerr.UnknownMemberID.Code || r2.MemberID != "" {
		t.Fatalf("abandoned new member: %+v", r2)
	}
}

func TestMembershipErrorsKafkaParity(t *testing.T) {
	e := newEnv(t)
	const g = "g-parity"
	id1, _, gen := e.staticGroup(g)
	wantCode(t, "unknown instance id", e.heartbeatInst(g, id1, strp("nobody"), gen), kerr.UnknownMemberID.Code)
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Version = 5
	lr.Group = "no-such-group"
	lr.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "a"}, {InstanceID: strp("b")}}
	resp := e.c.LeaveGroup(e.ctx, lr)
	if resp.ErrorCode != 0 || len(resp.Members) != 2 || resp.Members[0].ErrorCode != kerr.UnknownMemberID.Code || resp.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("leave v5 unknown group: %+v", resp)
	}
}
