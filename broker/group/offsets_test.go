package group

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCommitAndFetch(t *testing.T) {
	e := newEnv(t)
	// simple commit (generation -1, no member) creates group "simple"
	resp := e.c.OffsetCommit(e.ctx, commitReq(8, "simple", "", -1, map[string]map[int32]int64{
		"t1": {0: 10, 1: 11}, "t2": {0: 20},
	}))
	for k, code := range commitCodes(resp) {
		wantCode(t, "commit "+k, code, 0)
	}
	if resp.Version != 8 {
		t.Fatalf("resp version %d", resp.Version)
	}
	// second group, committed with an old version
	resp = e.c.OffsetCommit(e.ctx, commitReq(2, "other", "", -1, map[string]map[int32]int64{"t1": {0: 99}}))
	wantCode(t, "v2 commit", commitCodes(resp)["t1/00"], 0)

	t.Run("v7 single group, explicit partitions", func(t *testing.T) {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 7
		r.Group = "simple"
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t1", Partitions: []int32{0, 1, 5}}}
		fr := e.c.OffsetFetch(e.ctx, r)
		wantCode(t, "fetch", fr.ErrorCode, 0)
		ps := fr.Topics[0].Partitions
		if len(ps) != 3 || ps[0].Offset != 10 || ps[1].Offset != 11 || ps[2].Offset != -1 {
			t.Fatalf("fetch: %+v", ps)
		}
		if ps[0].LeaderEpoch != 7 || ps[0].Metadata == nil || *ps[0].Metadata != "md-t1" {
			t.Fatalf("epoch/metadata: %+v", ps[0])
		}
		if ps[2].LeaderEpoch != -1 || *ps[2].Metadata != "" || ps[2].ErrorCode != 0 {
			t.Fatalf("missing partition: %+v", ps[2])
		}
	})
	t.Run("v5 all topics", func(t *testing.T) {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 5
		r.Group = "simple"
		fr := e.c.OffsetFetch(e.ctx, r)
		if len(fr.Topics) != 2 || fr.Topics[0].Topic != "t1" || len(fr.Topics[0].Partitions) != 2 || fr.Topics[1].Partitions[0].Offset != 20 {
			t.Fatalf("all topics: %+v", fr.Topics)
		}
	})
	t.Run("v8 multi group", func(t *testing.T) {
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 8
		g1 := kmsg.NewOffsetFetchRequestGroup()
		g1.Group = "simple" // all topics
		g2 := kmsg.NewOffsetFetchRequestGroup()
		g2.Group = "other"
		g2.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t1", Partitions: []int32{0}}}
		g3 := kmsg.NewOffsetFetchRequestGroup()
		g3.Group = "unknown"
		g3.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t1", Partitions: []int32{0}}}
		g4 := kmsg.NewOffsetFetchRequestGroup()
		g4.Group = ""
		r.Groups = []kmsg.OffsetFetchRequestGroup{g1, g2, g3, g4}
		fr := e.c.OffsetFetch(e.ctx, r)
		if len(fr.Groups) != 4 {
			t.Fatalf("groups: %d", len(fr.Groups))
		}
		if got := len(fr.Groups[0].Topics); got != 2 {
			t.Fatalf("simple topics %d", got)
		}
		if p := fr.Groups[1].Topics[0].Partitions[0]; p.Offset != 99 || p.LeaderEpoch != -1 {
			// v2 commits carry no leader epoch
			t.Fatalf("other: %+v", p)
		}
		if p := fr.Groups[2].Topics[0].Partitions[0]; p.Offset != -1 || fr.Groups[2].ErrorCode != 0 {
			t.Fatalf("unknown group: %+v", fr.Groups[2])
		}
		// Kafka accepts the empty group id in OffsetFetch (backwards compat)
		if g := fr.Groups[3]; g.ErrorCode != 0 || len(g.Topics) != 0 {
			t.Fatalf("empty group id: %+v", g)
		}
	})
	t.Run("v1 group error per partition", func(t *testing.T) {
		closed := newEnv(t)
		closed.c.Close()
		r := kmsg.NewPtrOffsetFetchRequest()
		r.Version = 1
		r.Group = "simple"
		r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t1", Partitions: []int32{0}}}
		fr := closed.c.OffsetFetch(closed.ctx, r)
		wantCode(t, "v1 closed coordinator", fr.Topics[0].Partitions[0].ErrorCode, kerr.CoordinatorNotAvailable.Code)
		r.Version = 2
		wantCode(t, "v2 closed coordinator", closed.c.OffsetFetch(closed.ctx, r).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	})
}

func TestCommitValidation(t *testing.T) {
	e := newEnv(t, WithTopicExists(func(topic string, p int32) bool { return topic != "missing" && p < 10 }), WithMaxMetadataBytes(8))
	const g = "g-commit"
	ps := rangeProtos("t")
	id1 := e.newMemberID(g, ps)
	r1 := e.join(joinReq(g, id1, nil, ps))
	// CompletingRebalance: generation commits are refused
	wantCode(t, "commit while completing", commitCodes(e.c.OffsetCommit(e.ctx, commitReq(8, g, id1, r1.Generation, map[string]map[int32]int64{"t": {0: 1}})))["t/00"], kerr.RebalanceInProgress.Code)
	e.stabilize(g, r1.Generation, id1, id1)

	tests := []struct {
		name    string
		version int16
		group   string
		member  string
		gen     int32
		topic   string
		part    int32
		md      string
		want    int16
	}{
		{"member commit ok", 8, g, id1, 1, "t", 0, "", 0},
		{"bad generation", 8, g, id1, 7, "t", 0, "", kerr.IllegalGeneration.Code},
		{"unknown member", 8, g, "ghost", 1, "t", 0, "", kerr.UnknownMemberID.Code},
		{"simple commit to group with members", 8, g, "", -1, "t", 0, "", kerr.UnknownMemberID.Code},
		{"empty group id is valid here (Kafka compat)", 8, "", "", -1, "t", 0, "", 0},
		{"unknown topic", 8, g, id1, 1, "missing", 0, "", kerr.UnknownTopicOrPartition.Code},
		{"unknown partition", 8, g, id1, 1, "t", 10, "", kerr.UnknownTopicOrPartition.Code},
		{"metadata too large", 8, g, id1, 1, "t", 0, "123456789", kerr.OffsetMetadataTooLarge.Code},
		{"generation commit to unknown group v8", 8, "nogroup", "m", 3, "t", 0, "", kerr.IllegalGeneration.Code},
		{"generation commit to unknown group v9", 9, "nogroup", "m", 3, "t", 0, "", kerr.GroupIDNotFound.Code},
		{"v0 commit is simple", 0, "v0group", "ignored", 5, "t", 0, "", 0},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			off := int64(100 + i)
			r := commitReq(tc.version, tc.group, tc.member, tc.gen, map[string]map[int32]int64{tc.topic: {tc.part: off}})
			r.Topics[0].Partitions[0].Metadata = strp(tc.md)
			resp := e.c.OffsetCommit(e.ctx, r)
			wantCode(t, tc.name, resp.Topics[0].Partitions[0].ErrorCode, tc.want)
			got, ok := e.fetchAll(tc.group)[tc.topic+"/"+itoa(tc.part)]
			if committed := ok && got == off; committed != (tc.want == 0) {
				t.Fatalf("committed=%v with code %s", committed, errName(tc.want))
			}
		})
	}
}

func TestCommitStoreFailure(t *testing.T) {
	e := newEnv(t)
	e.store.setFail(errors.New("disk on fire"))
	resp := e.c.OffsetCommit(e.ctx, commitReq(8, "g", "", -1, map[string]map[int32]int64{"t": {0: 5}}))
	wantCode(t, "commit with failing store", resp.Topics[0].Partitions[0].ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if got := e.fetchAll("g"); len(got) != 0 {
		t.Fatalf("non-durable commit visible: %v", got)
	}
	e.store.setFail(nil)
	resp = e.c.OffsetCommit(e.ctx, commitReq(8, "g", "", -1, map[string]map[int32]int64{"t": {0: 5}}))
	wantCode(t, "commit after recovery", resp.Topics[0].Partitions[0].ErrorCode, 0)
}

func TestOffsetDelete(t *testing.T) {
	e := newEnv(t)
	const g = "g-del"
	ps := []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("sub")}}
	id1 := e.newMemberID(g, ps)
	r1 := e.join(joinReq(g, id1, nil, ps))
	e.stabilize2(g, r1.Generation, id1)
	e.c.OffsetCommit(e.ctx, commitReq(8, g, id1, r1.Generation, map[string]map[int32]int64{"sub": {0: 1}, "old": {0: 2}}))

	del := func(group string, topics ...string) *kmsg.OffsetDeleteResponse {
		r := kmsg.NewPtrOffsetDeleteRequest()
		r.Group = group
		for _, tp := range topics {
			r.Topics = append(r.Topics, kmsg.OffsetDeleteRequestTopic{Topic: tp, Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}})
		}
		return e.c.OffsetDelete(e.ctx, r)
	}
	resp := del(g, "sub", "old")
	wantCode(t, "top", resp.ErrorCode, 0)
	wantCode(t, "subscribed topic", resp.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic.Code)
	wantCode(t, "unsubscribed topic", resp.Topics[1].Partitions[0].ErrorCode, 0)
	if got := e.fetchAll(g); len(got) != 1 || got["sub/00"] != 1 {
		t.Fatalf("after delete: %v", got)
	}
	wantCode(t, "unknown group", del("nope", "x").ErrorCode, kerr.GroupIDNotFound.Code)
	wantCode(t, "empty group id", del("", "x").ErrorCode, kerr.InvalidGroupID.Code)

	// a non-consumer group with members refuses offset deletion
	cr := joinReq("connect-g", "", nil, protos("sessioned", "x"))
	cr.Version = 3
	cr.ProtocolType = "connect"
	e.join(cr)
	wantCode(t, "non-consumer group", del("connect-g", "x").ErrorCode, kerr.NonEmptyGroup.Code)

	// tombstone persisted
	tomb := false
	for _, r := range e.store.all() {
		var k kmsg.OffsetCommitKey
		if r.Key[1] == 1 && k.ReadFrom(r.Key) == nil && k.Topic == "old" && r.Value == nil {
			tomb = true
		}
	}
	if !tomb {
		t.Fatal("no tombstone for deleted offset")
	}
}

// stabilize2 syncs a single-member group with any protocol.
func (e *env) stabilize2(g string, gen int32, id string) {
	e.t.Helper()
	wantCode(e.t, "sync", e.c.SyncGroup(e.ctx, syncReq(g, id, gen, map[string]string{id: "x"})).ErrorCode, 0)
}

func TestOffsetRetention(t *testing.T) {
	e := newEnv(t, WithOffsetsRetention(time.Hour), WithOffsetsRetentionCheckInterval(10*time.Minute))
	e.c.OffsetCommit(e.ctx, commitReq(8, "simple", "", -1, map[string]map[int32]int64{"t": {0: 1}}))
	r := commitReq(3, "explicit", "", -1, map[string]map[int32]int64{"t": {0: 1}})
	r.RetentionTimeMillis = (10 * time.Minute).Milliseconds()
	e.c.OffsetCommit(e.ctx, r)
	e.clock.Advance(30 * time.Minute)
	if got := e.fetchAll("explicit"); len(got) != 0 {
		t.Fatalf("explicit retention not applied: %v", got)
	}
	if got := e.fetchAll("simple"); len(got) != 1 {
		t.Fatalf("expired too early: %v", got)
	}
	e.clock.Advance(40 * time.Minute)
	if got := e.fetchAll("simple"); len(got) != 0 {
		t.Fatalf("not expired: %v", got)
	}
	if d := e.describe("simple"); d.State != "Dead" {
		t.Fatalf("empty group without offsets should be deleted, state %s", d.State)
	}
	if v, ok := e.store.lastGroupValue(t, "simple"); !ok || v != nil {
		t.Fatal("no group tombstone after expiry")
	}
}

func TestGroupAdmin(t *testing.T) {
	e := newEnv(t)
	ps := rangeProtos("t")
	id1 := e.newMemberID("busy", ps)
	r1 := e.join(joinReq("busy", id1, nil, ps))
	e.stabilize("busy", r1.Generation, id1, id1)
	e.c.OffsetCommit(e.ctx, commitReq(8, "idle", "", -1, map[string]map[int32]int64{"t": {0: 1}}))

	t.Run("list with filters", func(t *testing.T) {
		tests := []struct {
			version int16
			states  []string
			want    []string
		}{
			{0, nil, []string{"busy", "idle"}},
			{4, []string{"stable"}, []string{"busy"}},
			{4, []string{"Empty"}, []string{"idle"}},
			{4, []string{"Dead"}, nil},
		}
		for _, tc := range tests {
			r := kmsg.NewPtrListGroupsRequest()
			r.Version = tc.version
			r.StatesFilter = tc.states
			resp := e.c.ListGroups(e.ctx, r)
			var got []string
			for _, g := range resp.Groups {
				got = append(got, g.Group)
				if tc.version >= 4 && g.GroupState == "" {
					t.Fatal("no state in v4")
				}
				if g.Group == "busy" && g.ProtocolType != "consumer" {
					t.Fatalf("protocol type %q", g.ProtocolType)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("v%d %v: got %v want %v", tc.version, tc.states, got, tc.want)
			}
		}
		r := kmsg.NewPtrListGroupsRequest()
		r.Version = 5
		r.TypesFilter = []string{"consumer"}
		if resp := e.c.ListGroups(e.ctx, r); len(resp.Groups) != 0 {
			t.Fatalf("types filter: %+v", resp.Groups)
		}
	})
	t.Run("describe", func(t *testing.T) {
		r := kmsg.NewPtrDescribeGroupsRequest()
		r.Version = 6
		r.Groups = []string{"busy", "idle", "nope", ""}
		r.IncludeAuthorizedOperations = true
		resp := e.c.DescribeGroups(e.ctx, r)
		b := resp.Groups[0]
		if b.State != "Stable" || b.Protocol != "cooperative-sticky" || len(b.Members) != 1 || string(b.Members[0].MemberAssignment) != "a-"+id1 || b.AuthorizedOperations == -2147483648 {
			t.Fatalf("busy: %+v", b)
		}
		if resp.Groups[1].State != "Empty" || resp.Groups[1].ErrorCode != 0 {
			t.Fatalf("idle: %+v", resp.Groups[1])
		}
		wantCode(t, "unknown v6", resp.Groups[2].ErrorCode, kerr.GroupIDNotFound.Code)
		wantCode(t, "empty id (valid in DescribeGroups, unknown)", resp.Groups[3].ErrorCode, kerr.GroupIDNotFound.Code)
		r.Version = 5
		if g := e.c.DescribeGroups(e.ctx, r).Groups[2]; g.ErrorCode != 0 || g.State != "Dead" {
			t.Fatalf("unknown v5: %+v", g)
		}
	})
	t.Run("delete", func(t *testing.T) {
		r := kmsg.NewPtrDeleteGroupsRequest()
		r.Version = 2
		r.Groups = []string{"busy", "idle", "nope", ""}
		resp := e.c.DeleteGroups(e.ctx, r)
		want := []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code, kerr.GroupIDNotFound.Code}
		for i, g := range resp.Groups {
			wantCode(t, "delete "+g.Group, g.ErrorCode, want[i])
		}
		if got := e.fetchAll("idle"); len(got) != 0 {
			t.Fatalf("offsets survived delete: %v", got)
		}
		if v, ok := e.store.lastGroupValue(t, "idle"); !ok || v != nil {
			t.Fatal("no group tombstone")
		}
	})
}

func TestErrors(t *testing.T) {
	e := newEnv(t)
	ps := rangeProtos("t")
	id1 := e.newMemberID("g", ps)
	r1 := e.join(joinReq("g", id1, nil, ps))
	e.stabilize("g", r1.Generation, id1, id1)

	jr := func(mod func(r *kmsg.JoinGroupRequest)) int16 {
		r := joinReq("g", "", nil, ps)
		mod(r)
		return e.join(r).ErrorCode
	}
	tests := []struct {
		name string
		got  func() int16
		want int16
	}{
		{"join empty group id", func() int16 { return jr(func(r *kmsg.JoinGroupRequest) { r.Group = "" }) }, kerr.InvalidGroupID.Code},
		{"join session too short", func() int16 { return jr(func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 100 }) }, kerr.InvalidSessionTimeout.Code},
		{"join session too long", func() int16 { return jr(func(r *kmsg.JoinGroupRequest) { r.SessionTimeoutMillis = 1 << 30 }) }, kerr.InvalidSessionTimeout.Code},
		{"join no protocols", func() int16 { return jr(func(r *kmsg.JoinGroupRequest) { r.Protocols = nil }) }, kerr.InconsistentGroupProtocol.Code},
		{"join empty protocol type", func() int16 { return jr(func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "" }) }, kerr.InconsistentGroupProtocol.Code},
		{"join other protocol type", func() int16 { return jr(func(r *kmsg.JoinGroupRequest) { r.ProtocolType = "connect" }) }, kerr.InconsistentGroupProtocol.Code},
		{"join no common protocol", func() int16 { return jr(func(r *kmsg.JoinGroupRequest) { r.Protocols = protos("roundrobin", "x") }) }, kerr.InconsistentGroupProtocol.Code},
		{"join unknown member", func() int16 { return jr(func(r *kmsg.JoinGroupRequest) { r.MemberID = "ghost" }) }, kerr.UnknownMemberID.Code},
		{"join unknown member new group", func() int16 {
			return jr(func(r *kmsg.JoinGroupRequest) { r.Group, r.MemberID = "fresh", "ghost" })
		}, kerr.UnknownMemberID.Code},
		{"sync empty group id", func() int16 { return e.c.SyncGroup(e.ctx, syncReq("", id1, 1, nil)).ErrorCode }, kerr.InvalidGroupID.Code},
		{"sync unknown group", func() int16 { return e.c.SyncGroup(e.ctx, syncReq("nope", id1, 1, nil)).ErrorCode }, kerr.UnknownMemberID.Code},
		{"sync unknown member", func() int16 { return e.c.SyncGroup(e.ctx, syncReq("g", "ghost", 1, nil)).ErrorCode }, kerr.UnknownMemberID.Code},
		{"sync bad generation", func() int16 { return e.c.SyncGroup(e.ctx, syncReq("g", id1, 9, nil)).ErrorCode }, kerr.IllegalGeneration.Code},
		{"sync wrong protocol", func() int16 {
			r := syncReq("g", id1, 1, nil)
			r.Protocol = strp("range")
			return e.c.SyncGroup(e.ctx, r).ErrorCode
		}, kerr.InconsistentGroupProtocol.Code},
		{"heartbeat empty group id", func() int16 { return e.heartbeat("", id1, 1) }, kerr.InvalidGroupID.Code},
		{"heartbeat unknown group", func() int16 { return e.heartbeat("nope", id1, 1) }, kerr.UnknownMemberID.Code},
		{"heartbeat unknown member", func() int16 { return e.heartbeat("g", "ghost", 1) }, kerr.UnknownMemberID.Code},
		{"heartbeat bad generation", func() int16 { return e.heartbeat("g", id1, 0) }, kerr.IllegalGeneration.Code},
		{"leave v0 unknown member", func() int16 {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group, r.MemberID = "g", "ghost"
			return e.c.LeaveGroup(e.ctx, r).ErrorCode
		}, kerr.UnknownMemberID.Code},
		{"leave empty group id", func() int16 {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Version = 3
			return e.c.LeaveGroup(e.ctx, r).ErrorCode
		}, kerr.InvalidGroupID.Code},
		{"leave unknown group", func() int16 {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Group, r.MemberID = "nope", id1
			return e.c.LeaveGroup(e.ctx, r).ErrorCode
		}, kerr.UnknownMemberID.Code},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { wantCode(t, tc.name, tc.got(), tc.want) })
	}
	if st := e.describe("g").State; st != "Stable" {
		t.Fatalf("bad requests disturbed the group: %s", st)
	}
}

func TestLoadRejectsGarbage(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name       string
		key, value []byte
		wantErr    bool
	}{
		{"short key", []byte{0}, nil, true},
		{"truncated offset key", []byte{0, 1, 0, 5, 'a'}, []byte{0, 3}, true},
		{"truncated offset value", offsetKey("g", "t", 0), []byte{0, 3, 0, 0}, true},
		{"truncated group value", groupKey("g"), []byte{0, 3, 0}, true},
		{"unknown key version skipped", []byte{0, 9, 1, 2, 3}, []byte{1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.c.Load(tc.key, tc.value)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && !errors.Is(err, ErrBadRecord) {
				t.Fatalf("error not ErrBadRecord: %v", err)
			}
			if err != nil && !strings.Contains(err.Error(), "key") && !strings.Contains(err.Error(), "value") {
				t.Fatalf("error does not name the field: %v", err)
			}
		})
	}
}

func TestStoreFailureMapping(t *testing.T) {
	e := newEnv(t)
	e.store.setFail(fmt.Errorf("log closed: %w", kerr.NotCoordinator))
	resp := e.c.OffsetCommit(e.ctx, commitReq(8, "g", "", -1, map[string]map[int32]int64{"t": {0: 5}}))
	wantCode(t, "commit with kerr store error", resp.Topics[0].Partitions[0].ErrorCode, kerr.NotCoordinator.Code)
	e.store.setFail(nil)

	// a failed assignment write fails the sync of every member and restarts
	// the rebalance; nothing of it is visible
	ps := rangeProtos("t")
	id1 := e.newMemberID("sg", ps)
	r1 := e.join(joinReq("sg", id1, nil, ps))
	e.stabilize("sg", r1.Generation, id1, id1)
	id2 := e.newMemberID("sg", ps)
	c2 := e.joinAsync(joinReq("sg", id2, nil, ps))
	e.waitAwaitingJoin("sg", id2)
	r1 = e.join(joinReq("sg", id1, nil, ps))
	recvJoin(t, c2)
	s2 := e.syncAsync(syncReq("sg", id2, r1.Generation, nil))
	e.waitAwaitingSync("sg", id2)
	e.store.setFail(errors.New("disk full"))
	lr := e.c.SyncGroup(e.ctx, syncReq("sg", id1, r1.Generation, map[string]string{id1: "x", id2: "y"}))
	wantCode(t, "leader sync with failing store", lr.ErrorCode, kerr.CoordinatorNotAvailable.Code)
	wantCode(t, "follower sync with failing store", recvSync(t, s2).ErrorCode, kerr.CoordinatorNotAvailable.Code)
	if st := e.describe("sg").State; st != "PreparingRebalance" {
		t.Fatalf("state after failed assignment write: %s", st)
	}
	dr := kmsg.NewPtrDeleteGroupsRequest()
	dr.Groups = []string{"g"}
	wantCode(t, "delete with failing store", e.c.DeleteGroups(e.ctx, dr).Groups[0].ErrorCode, kerr.CoordinatorNotAvailable.Code)
	e.store.setFail(nil)
	if got := e.fetchAll("g"); len(got) != 0 {
		t.Fatalf("group g: %v", got)
	}
	wantCode(t, "delete after recovery", e.c.DeleteGroups(e.ctx, dr).Groups[0].ErrorCode, 0)
}

func TestOffsetRetentionConsumerGroup(t *testing.T) {
	e := newEnv(t, WithOffsetsRetention(time.Hour), WithOffsetsRetentionCheckInterval(10*time.Minute),
		WithSessionTimeoutBounds(time.Second, 24*time.Hour))
	const g = "g-ret"
	ps := []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: consumerMeta("sub")}}
	jr := joinReq(g, "", nil, ps)
	jr.SessionTimeoutMillis = int32((3 * time.Hour).Milliseconds())
	id := e.join(jr).MemberID
	jr.MemberID = id
	r := e.join(jr)
	e.stabilize2(g, r.Generation, id)
	e.c.OffsetCommit(e.ctx, commitReq(8, g, id, r.Generation, map[string]map[int32]int64{"sub": {0: 1}, "old": {0: 2}}))
	e.clock.Advance(70 * time.Minute)
	if got := e.fetchAll(g); len(got) != 1 || got["sub/00"] != 1 {
		t.Fatalf("stable group after retention: %v", got)
	}
	lr := kmsg.NewPtrLeaveGroupRequest()
	lr.Group, lr.MemberID = g, id
	e.c.LeaveGroup(e.ctx, lr)
	e.clock.Advance(50 * time.Minute)
	if got := e.fetchAll(g); len(got) != 1 {
		t.Fatalf("expired before the group was empty for the retention: %v", got)
	}
	e.clock.Advance(20 * time.Minute)
	if got := e.fetchAll(g); len(got) != 0 {
		t.Fatalf("not expired after the group was empty for the retention: %v", got)
	}
}

// TestEveryVersion sends every API in every version kmsg knows and checks
// the response carries that version and encodes and decodes in it.
func TestEveryVersion(t *testing.T) {
	e := newEnv(t)
	e.c.OffsetCommit(e.ctx, commitReq(8, "g", "", -1, map[string]map[int32]int64{"t": {0: 1}}))
	type call struct {
		name string
		max  int16
		do   func(v int16) kmsg.Response
	}
	calls := []call{
		{"JoinGroup", (&kmsg.JoinGroupRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := joinReq(fmt.Sprintf("jg%d", v), "", nil, rangeProtos("t"))
			r.Version = v
			return e.join(r)
		}},
		{"SyncGroup", (&kmsg.SyncGroupRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := syncReq("g", "x", 1, nil)
			r.Version = v
			return e.c.SyncGroup(e.ctx, r)
		}},
		{"Heartbeat", (&kmsg.HeartbeatRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := kmsg.NewPtrHeartbeatRequest()
			r.Version, r.Group = v, "g"
			return e.c.Heartbeat(e.ctx, r)
		}},
		{"LeaveGroup", (&kmsg.LeaveGroupRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := kmsg.NewPtrLeaveGroupRequest()
			r.Version, r.Group, r.MemberID = v, "g", "x"
			r.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "x"}}
			return e.c.LeaveGroup(e.ctx, r)
		}},
		{"OffsetCommit", (&kmsg.OffsetCommitRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := commitReq(v, "g", "", -1, map[string]map[int32]int64{"t": {0: 2}})
			return e.c.OffsetCommit(e.ctx, r)
		}},
		{"OffsetFetch", (&kmsg.OffsetFetchRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := kmsg.NewPtrOffsetFetchRequest()
			r.Version, r.Group = v, "g"
			r.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
			r.Groups = []kmsg.OffsetFetchRequestGroup{{Group: "g", Topics: []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", Partitions: []int32{0}}}}}
			return e.c.OffsetFetch(e.ctx, r)
		}},
		{"OffsetDelete", (&kmsg.OffsetDeleteRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := kmsg.NewPtrOffsetDeleteRequest()
			r.Version, r.Group = v, "g"
			r.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "zz", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}
			return e.c.OffsetDelete(e.ctx, r)
		}},
		{"ListGroups", (&kmsg.ListGroupsRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := kmsg.NewPtrListGroupsRequest()
			r.Version = v
			return e.c.ListGroups(e.ctx, r)
		}},
		{"DescribeGroups", (&kmsg.DescribeGroupsRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := kmsg.NewPtrDescribeGroupsRequest()
			r.Version, r.Groups = v, []string{"g", "jg", "none"}
			return e.c.DescribeGroups(e.ctx, r)
		}},
		{"DeleteGroups", (&kmsg.DeleteGroupsRequest{}).MaxVersion(), func(v int16) kmsg.Response {
			r := kmsg.NewPtrDeleteGroupsRequest()
			r.Version, r.Groups = v, []string{"none"}
			return e.c.DeleteGroups(e.ctx, r)
		}},
	}
	for _, c := range calls {
		for v := int16(0); v <= c.max; v++ {
			resp := c.do(v)
			if resp.GetVersion() != v {
				t.Fatalf("%s v%d answered in v%d", c.name, v, resp.GetVersion())
			}
			enc := resp.AppendTo(nil)
			dec := kmsg.ResponseForKey(resp.Key())
			dec.SetVersion(v)
			if err := dec.ReadFrom(enc); err != nil {
				t.Fatalf("%s v%d does not round-trip: %v", c.name, v, err)
			}
		}
	}
}
