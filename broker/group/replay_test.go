package group

import (
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

type groupView struct {
	State, ProtocolType, Protocol string
	Members                       []memberView
}

type memberView struct {
	ID, Instance, ClientID, ClientHost string
	Metadata, Assignment               string
}

func (e *env) view(g string) groupView {
	d := e.describe(g)
	v := groupView{State: d.State, ProtocolType: d.ProtocolType, Protocol: d.Protocol}
	for _, m := range d.Members {
		mv := memberView{ID: m.MemberID, ClientID: m.ClientID, ClientHost: m.ClientHost, Metadata: string(m.ProtocolMetadata), Assignment: string(m.MemberAssignment)}
		if m.InstanceID != nil {
			mv.Instance = *m.InstanceID
		}
		v.Members = append(v.Members, mv)
	}
	return v
}

func (e *env) listStates() map[string]string {
	r := kmsg.NewPtrListGroupsRequest()
	r.Version = 4
	out := make(map[string]string)
	for _, g := range e.c.ListGroups(e.ctx, r).Groups {
		out[g.Group] = g.GroupState
	}
	return out
}

func TestReplayRestoresState(t *testing.T) {
	e := newEnv(t)
	e.ctx = WithClientInfo(e.ctx, "client-a", "/10.0.0.1")
	ps := rangeProtos("t1")

	// "live": a static and a dynamic member, Stable at generation 2
	rs := e.join(joinReq("live", "", strp("inst-1"), ps))
	wantCode(t, "static join", rs.ErrorCode, 0)
	e.stabilize("live", 1, rs.MemberID, rs.MemberID)
	idd := e.newMemberID("live", ps)
	cd := e.joinAsync(joinReq("live", idd, nil, ps))
	e.waitAwaitingJoin("live", idd)
	r1 := e.join(joinReq("live", rs.MemberID, strp("inst-1"), ps))
	recvJoin(t, cd)
	e.stabilize("live", r1.Generation, rs.MemberID, rs.MemberID, idd)
	cr := commitReq(8, "live", idd, r1.Generation, map[string]map[int32]int64{"t1": {0: 100, 1: 200}})
	wantCode(t, "member commit", e.c.OffsetCommit(e.ctx, cr).Topics[0].Partitions[0].ErrorCode, 0)
	cr = commitReq(8, "live", idd, r1.Generation, map[string]map[int32]int64{"t1": {0: 150}})
	e.c.OffsetCommit(e.ctx, cr)

	// "simple": standalone commits, one partition deleted
	e.c.OffsetCommit(e.ctx, commitReq(8, "simple", "", -1, map[string]map[int32]int64{"a": {0: 1, 1: 2}, "b": {3: 4}}))
	od := kmsg.NewPtrOffsetDeleteRequest()
	od.Group = "simple"
	od.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "a", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
	wantCode(t, "offset delete", e.c.OffsetDelete(e.ctx, od).Topics[0].Partitions[0].ErrorCode, 0)

	// "gone": deleted
	e.c.OffsetCommit(e.ctx, commitReq(8, "gone", "", -1, map[string]map[int32]int64{"a": {0: 1}}))
	dg := kmsg.NewPtrDeleteGroupsRequest()
	dg.Groups = []string{"gone"}
	wantCode(t, "delete group", e.c.DeleteGroups(e.ctx, dg).Groups[0].ErrorCode, 0)

	// "emptied": had a member that left; keeps its offsets, generation 2
	ide := e.newMemberID("emptied", ps)
	re := e.join(joinReq("emptied", ide, nil, ps))
	e.stabilize("emptied", re.Generation, ide, ide)
	e.c.OffsetCommit(e.ctx, commitReq(8, "emptied", ide, re.Generation, map[string]map[int32]int64{"t1": {0: 7}}))
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Group, lr.MemberID = "emptied", ide
	e.c.LeaveGroup(e.ctx, lr)

	// restart: a new coordinator replays everything that was stored
	e2 := newEnv(t)
	recs := e.store.all()
	for i, r := range recs {
		if err := e2.c.Load(r.Key, r.Value); err != nil {
			t.Fatalf("Load record %d: %v", i, err)
		}
	}
	if got, want := e2.listStates(), e.listStates(); !reflect.DeepEqual(got, want) {
		t.Fatalf("groups after replay %v, want %v", got, want)
	}
	if _, ok := e2.listStates()["gone"]; ok {
		t.Fatal("deleted group came back")
	}
	for _, g := range []string{"live", "simple", "emptied"} {
		if got, want := e2.fetchAll(g), e.fetchAll(g); !reflect.DeepEqual(got, want) || len(got) == 0 {
			t.Fatalf("%s offsets after replay %v, want %v", g, got, want)
		}
		if got, want := e2.view(g), e.view(g); !reflect.DeepEqual(got, want) {
			t.Fatalf("%s after replay:\n got %+v\nwant %+v", g, got, want)
		}
	}
	if got := e2.fetchAll("live")["t1/00"]; got != 150 {
		t.Fatalf("latest commit not replayed: %d", got)
	}
	// full fetch detail: leader epoch and metadata survive
	fr := kmsg.NewPtrOffsetFetchRequest()
	fr.Version = 7
	fr.Group = "live"
	fr.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t1", Partitions: []int32{1}}}
	p := e2.c.OffsetFetch(e2.ctx, fr).Topics[0].Partitions[0]
	if p.Offset != 200 || p.LeaderEpoch != 7 || *p.Metadata != "md-t1" {
		t.Fatalf("replayed partition: %+v", p)
	}

	// the generation survived: members carry on without rejoining
	gen := r1.Generation
	wantCode(t, "heartbeat after restart", e2.heartbeatInst("live", rs.MemberID, strp("inst-1"), gen), 0)
	wantCode(t, "old generation after restart", e2.heartbeat("live", idd, gen-1), kerr.IllegalGeneration.Code)
	sr := e2.c.SyncGroup(e2.ctx, syncReq("live", idd, gen, nil))
	if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "a-"+idd {
		t.Fatalf("sync after restart: %+v", sr)
	}
	wantCode(t, "commit after restart", e2.c.OffsetCommit(e2.ctx, commitReq(8, "live", idd, gen, map[string]map[int32]int64{"t1": {0: 300}})).Topics[0].Partitions[0].ErrorCode, 0)
	// "emptied" keeps counting generations
	re2 := e2.join(joinReq("emptied", e2.newMemberID("emptied", ps), nil, ps))
	if re2.Generation != re.Generation+2 {
		t.Fatalf("emptied generation after restart %d, want %d", re2.Generation, re.Generation+2)
	}

	// the dynamic member stops heartbeating: expired, the static one rejoins
	e2.clock.Advance(testSession / 2)
	wantCode(t, "static heartbeat", e2.heartbeatInst("live", rs.MemberID, strp("inst-1"), gen), 0)
	e2.clock.Advance(testSession/2 + 1)
	wantCode(t, "heartbeat after expiry", e2.heartbeatInst("live", rs.MemberID, strp("inst-1"), gen), kerr.RebalanceInProgress.Code)
	rj := e2.join(joinReq("live", rs.MemberID, strp("inst-1"), ps))
	wantCode(t, "rejoin after restart", rj.ErrorCode, 0)
	if rj.Generation != gen+1 || rj.LeaderID != rs.MemberID || len(rj.Members) != 1 {
		t.Fatalf("rejoin after restart: %+v", rj)
	}
}
