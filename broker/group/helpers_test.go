package group

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fakeClock is a manual clock: timers fire only from Advance, in order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c       *fakeClock
	at      time.Time
	f       func()
	stopped bool
	fired   bool
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.stopped || t.fired {
		return false
	}
	t.stopped = true
	return true
}

// Advance moves time forward by d, running due timers in time order.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	target := c.now.Add(d)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		var next *fakeTimer
		live := c.timers[:0]
		for _, t := range c.timers {
			if t.stopped || t.fired {
				continue
			}
			live = append(live, t)
			if !t.at.After(target) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		c.timers = live
		if next == nil {
			c.now = target
			c.mu.Unlock()
			return
		}
		if next.at.After(c.now) {
			c.now = next.at
		}
		next.fired = true
		c.mu.Unlock()
		next.f()
	}
}

// pendingTimers counts timers that may still fire.
func (c *fakeClock) pendingTimers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.stopped && !t.fired {
			n++
		}
	}
	return n
}

// recStore records appended records; fail makes Append fail.
type recStore struct {
	mu   sync.Mutex
	recs []Record
	fail error
}

func (s *recStore) Append(ctx context.Context, recs []Record) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		return s.fail
	}
	for _, r := range recs {
		s.recs = append(s.recs, Record{Key: slices.Clone(r.Key), Value: slices.Clone(r.Value)})
	}
	return nil
}

func (s *recStore) setFail(err error) {
	s.mu.Lock()
	s.fail = err
	s.mu.Unlock()
}

func (s *recStore) all() []Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.recs)
}

// lastGroupValue decodes the last group metadata record of group (nil
// value = tombstone, ok=false when none).
func (s *recStore) lastGroupValue(t *testing.T, group string) (v *kmsg.GroupMetadataValue, ok bool) {
	t.Helper()
	for _, r := range s.all() {
		if len(r.Key) < 2 || r.Key[1] != 2 || r.Key[0] != 0 {
			continue
		}
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(r.Key); err != nil {
			t.Fatalf("bad group key: %v", err)
		}
		if k.Group != group {
			continue
		}
		ok = true
		v = nil
		if r.Value != nil {
			v = new(kmsg.GroupMetadataValue)
			if err := v.ReadFrom(r.Value); err != nil {
				t.Fatalf("bad group value: %v", err)
			}
		}
	}
	return v, ok
}

type env struct {
	t     *testing.T
	c     *Coordinator
	clock *fakeClock
	store *recStore
	ctx   context.Context
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t *testing.T, opts ...Option) *env {
	t.Helper()
	e := &env{t: t, clock: newFakeClock(), store: &recStore{}, ctx: context.Background()}
	all := append([]Option{WithClock(e.clock), WithLogger(quietLogger())}, opts...)
	e.c = New(e.store, all...)
	t.Cleanup(func() { e.c.Close() })
	return e
}

const (
	testSession   = 10 * time.Second
	testRebalance = 30 * time.Second
)

func consumerMeta(topics ...string) []byte {
	m := kmsg.NewConsumerMemberMetadata()
	m.Version = 1
	m.Topics = topics
	return m.AppendTo(nil)
}

func protos(pairs ...string) []kmsg.JoinGroupRequestProtocol {
	var out []kmsg.JoinGroupRequestProtocol
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, kmsg.JoinGroupRequestProtocol{Name: pairs[i], Metadata: []byte(pairs[i+1])})
	}
	return out
}

func joinReq(group, member string, instance *string, ps []kmsg.JoinGroupRequestProtocol) *kmsg.JoinGroupRequest {
	r := kmsg.NewPtrJoinGroupRequest()
	r.Version = 9
	r.Group = group
	r.MemberID = member
	r.InstanceID = instance
	r.SessionTimeoutMillis = int32(testSession / time.Millisecond)
	r.RebalanceTimeoutMillis = int32(testRebalance / time.Millisecond)
	r.ProtocolType = "consumer"
	r.Protocols = ps
	return r
}

// join runs a JoinGroup that must return within 5s (real time).
func (e *env) join(r *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	e.t.Helper()
	return recvJoin(e.t, e.joinAsync(r))
}

func (e *env) joinAsync(r *kmsg.JoinGroupRequest) <-chan *kmsg.JoinGroupResponse {
	ch := make(chan *kmsg.JoinGroupResponse, 1)
	go func() { ch <- e.c.JoinGroup(e.ctx, r) }()
	return ch
}

// newMember runs the v4+ member-id-required round trip's first half.
func (e *env) newMemberID(group string, ps []kmsg.JoinGroupRequestProtocol) string {
	e.t.Helper()
	resp := e.join(joinReq(group, "", nil, ps))
	if resp.ErrorCode != kerr.MemberIDRequired.Code || resp.MemberID == "" {
		e.t.Fatalf("first join: want MEMBER_ID_REQUIRED with id, got %v %q", kerr.ErrorForCode(resp.ErrorCode), resp.MemberID)
	}
	return resp.MemberID
}

func syncReq(group, member string, gen int32, assign map[string]string) *kmsg.SyncGroupRequest {
	r := kmsg.NewPtrSyncGroupRequest()
	r.Version = 5
	r.Group = group
	r.MemberID = member
	r.Generation = gen
	ids := make([]string, 0, len(assign))
	for id := range assign {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		r.GroupAssignment = append(r.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: []byte(assign[id])})
	}
	return r
}

func (e *env) syncAsync(r *kmsg.SyncGroupRequest) <-chan *kmsg.SyncGroupResponse {
	ch := make(chan *kmsg.SyncGroupResponse, 1)
	go func() { ch <- e.c.SyncGroup(e.ctx, r) }()
	return ch
}

func (e *env) heartbeat(group, member string, gen int32) int16 {
	return e.heartbeatInst(group, member, nil, gen)
}

func (e *env) heartbeatInst(group, member string, instance *string, gen int32) int16 {
	r := kmsg.NewPtrHeartbeatRequest()
	r.InstanceID = instance
	r.Version = 4
	r.Group = group
	r.MemberID = member
	r.Generation = gen
	return e.c.Heartbeat(e.ctx, r).ErrorCode
}

func (e *env) describe(group string) kmsg.DescribeGroupsResponseGroup {
	e.t.Helper()
	r := kmsg.NewPtrDescribeGroupsRequest()
	r.Version = 5
	r.Groups = []string{group}
	resp := e.c.DescribeGroups(e.ctx, r)
	if len(resp.Groups) != 1 {
		e.t.Fatalf("describe: %d groups", len(resp.Groups))
	}
	return resp.Groups[0]
}

// waitGroup polls until cond holds on the (locked) group.
func (e *env) waitGroup(group string, what string, cond func(g *group) bool) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		e.c.mu.Lock()
		g := e.c.groups[group]
		e.c.mu.Unlock()
		if g != nil {
			g.mu.Lock()
			ok := cond(g)
			g.mu.Unlock()
			if ok {
				return
			}
		}
		time.Sleep(time.Millisecond)
	}
	e.t.Fatalf("timed out waiting for %s", what)
}

// waitAwaitingJoin waits until member id is blocked in JoinGroup.
func (e *env) waitAwaitingJoin(grp, id string) {
	e.t.Helper()
	e.waitGroup(grp, "member "+id+" awaiting join", func(g *group) bool {
		m := g.members[id]
		return m != nil && m.awaitingJoin && m.joinCh != nil
	})
}

func (e *env) waitAwaitingSync(grp, id string) {
	e.t.Helper()
	e.waitGroup(grp, "member "+id+" awaiting sync", func(g *group) bool {
		m := g.members[id]
		return m != nil && m.syncCh != nil
	})
}

func recvJoin(t *testing.T, ch <-chan *kmsg.JoinGroupResponse) *kmsg.JoinGroupResponse {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("JoinGroup did not return")
		return nil
	}
}

func recvSync(t *testing.T, ch <-chan *kmsg.SyncGroupResponse) *kmsg.SyncGroupResponse {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("SyncGroup did not return")
		return nil
	}
}

func errName(code int16) string {
	if code == 0 {
		return "NONE"
	}
	return kerr.ErrorForCode(code).Error()
}

func wantCode(t *testing.T, what string, got, want int16) {
	t.Helper()
	if got != want {
		t.Fatalf("%s: got %s, want %s", what, errName(got), errName(want))
	}
}

func strp(s string) *string { return &s }

func commitReq(version int16, group, member string, gen int32, offs map[string]map[int32]int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version = version
	r.Group = group
	r.MemberID = member
	r.Generation = gen
	topics := make([]string, 0, len(offs))
	for t := range offs {
		topics = append(topics, t)
	}
	sort.Strings(topics)
	for _, t := range topics {
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = t
		parts := make([]int32, 0, len(offs[t]))
		for p := range offs[t] {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition = p
			rp.Offset = offs[t][p]
			rp.LeaderEpoch = 7
			rp.Metadata = strp("md-" + t)
			rt.Partitions = append(rt.Partitions, rp)
		}
		r.Topics = append(r.Topics, rt)
	}
	return r
}

// commitCodes flattens an OffsetCommit response to "topic/partition" -> code.
func commitCodes(resp *kmsg.OffsetCommitResponse) map[string]int16 {
	out := make(map[string]int16)
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[t.Topic+"/"+itoa(p.Partition)] = p.ErrorCode
		}
	}
	return out
}

func itoa(i int32) string {
	return string(rune('0'+i/10%10)) + string(rune('0'+i%10))
}

// fetchAll returns the group's committed offsets via OffsetFetch v8
// (topics null).
func (e *env) fetchAll(group string) map[string]int64 {
	e.t.Helper()
	r := kmsg.NewPtrOffsetFetchRequest()
	r.Version = 8
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	r.Groups = []kmsg.OffsetFetchRequestGroup{rg}
	resp := e.c.OffsetFetch(e.ctx, r)
	if len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
		e.t.Fatalf("fetchAll %s: %+v", group, resp)
	}
	out := make(map[string]int64)
	for _, t := range resp.Groups[0].Topics {
		for _, p := range t.Partitions {
			out[t.Topic+"/"+itoa(p.Partition)] = p.Offset
		}
	}
	return out
}
