package group

import (
	"context"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// OffsetCommit handles an OffsetCommit request. Commits of group members
// are checked against the current generation; a commit with generation -1
// and no member id is a "simple" commit, accepted only while the group has
// no members (it creates the group if needed). The response is sent once
// the commit is durable in the Store.
func (c *Coordinator) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	type slot struct{ t, p int }
	names := make([]string, len(req.Topics))
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		names[i] = t.Topic
		if req.Version >= 10 {
			rt.TopicID = t.TopicID
			rt.Topic = ""
			names[i] = ""
		}
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	setAll := func(code int16) *kmsg.OffsetCommitResponse {
		for i := range resp.Topics {
			for j := range resp.Topics[i].Partitions {
				if resp.Topics[i].Partitions[j].ErrorCode == 0 {
					resp.Topics[i].Partitions[j].ErrorCode = code
				}
			}
		}
		return resp
	}
	if c.isClosed() {
		return setAll(kerr.CoordinatorNotAvailable.Code)
	}
	// like Kafka, the empty group id is accepted here for backwards
	// compatibility (only the membership APIs reject it)
	if req.Version >= 10 {
		for i, t := range req.Topics {
			if c.o.topicName != nil {
				if n, ok := c.o.topicName(t.TopicID); ok {
					names[i] = n
					continue
				}
			}
			for j := range resp.Topics[i].Partitions {
				resp.Topics[i].Partitions[j].ErrorCode = kerr.UnknownTopicID.Code
			}
		}
	}
	gen, memberID, instanceID := req.Generation, req.MemberID, req.InstanceID
	if req.Version == 0 {
		gen, memberID = -1, ""
	}
	if req.Version < 7 {
		instanceID = nil
	}

	g := c.lockGroup(req.Group, false)
	if g == nil {
		if c.isClosed() {
			return setAll(kerr.CoordinatorNotAvailable.Code)
		}
		if gen >= 0 {
			if req.Version >= 9 {
				return setAll(kerr.GroupIDNotFound.Code)
			}
			return setAll(kerr.IllegalGeneration.Code)
		}
		if g = c.lockGroup(req.Group, true); g == nil {
			return setAll(kerr.CoordinatorNotAvailable.Code)
		}
	}
	defer g.mu.Unlock()
	m, code := g.validateCommit(gen, memberID, instanceID)
	if code != 0 {
		return setAll(code)
	}

	now := c.o.clock.Now().UnixMilli()
	var (
		recs    []Record
		slots   []slot
		entries []offsetEntry
		tps     []topicPartition
	)
	for i, t := range req.Topics {
		for j, p := range t.Partitions {
			rp := &resp.Topics[i].Partitions[j]
			if rp.ErrorCode != 0 {
				continue
			}
			if c.o.topicExists != nil && !c.o.topicExists(names[i], p.Partition) {
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
				continue
			}
			md := ""
			if p.Metadata != nil {
				md = *p.Metadata
			}
			if c.o.maxMetadataBytes > 0 && len(md) > c.o.maxMetadataBytes {
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			e := offsetEntry{offset: p.Offset, leaderEpoch: -1, metadata: md, commitMs: now, expireMs: -1}
			if req.Version >= 6 {
				e.leaderEpoch = p.LeaderEpoch
			}
			if req.Version == 1 && p.Timestamp >= 0 {
				e.commitMs = p.Timestamp
			}
			if req.Version >= 2 && req.Version <= 4 && req.RetentionTimeMillis >= 0 {
				e.expireMs = e.commitMs + req.RetentionTimeMillis
			}
			tp := topicPartition{names[i], p.Partition}
			recs = append(recs, offsetRecord(g.id, tp, e))
			slots = append(slots, slot{i, j})
			entries = append(entries, e)
			tps = append(tps, tp)
		}
	}
	if err := c.persist(recs); err != nil {
		c.log.Error("persisting offset commit", "group", g.id, "err", err)
		for _, s := range slots {
			resp.Topics[s.t].Partitions[s.p].ErrorCode = storeErrCode(err)
		}
		return resp
	}
	for i, tp := range tps {
		g.offsets[tp] = entries[i]
	}
	if m != nil {
		g.resetHeartbeat(m) // a member's commit counts as a heartbeat
	}
	return resp
}

// validateCommit checks who may commit: nil member and code 0 for a simple
// commit.
func (g *group) validateCommit(gen int32, memberID string, instanceID *string) (*member, int16) {
	var m *member
	switch {
	case gen < 0 && memberID == "" && instanceID == nil && g.state == stateEmpty:
		return nil, 0
	case gen >= 0 || memberID != "" || instanceID != nil:
		var code int16
		if m, code = g.validateMember(memberID, instanceID); code != 0 {
			return nil, code
		}
		if gen != g.generation {
			return nil, kerr.IllegalGeneration.Code
		}
	default:
		return nil, kerr.UnknownMemberID.Code
	}
	if g.state == stateCompletingRebalance {
		return nil, kerr.RebalanceInProgress.Code
	}
	return m, 0
}

type fetchTopic struct {
	name       string
	id         [16]byte
	partitions []int32
	code       int16 // error for every partition (unknown topic id)
}

type fetchedPartition struct {
	partition int32
	offset    int64
	epoch     int32
	metadata  string
	code      int16
}

type fetchedTopic struct {
	name       string
	id         [16]byte
	partitions []fetchedPartition
}

// fetchOffsets answers one group's part of an OffsetFetch; topics nil
// means every committed offset.
func (c *Coordinator) fetchOffsets(groupID string, topics []fetchTopic, all, wantIDs bool) ([]fetchedTopic, int16) {
	if c.isClosed() {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	g := c.lockGroup(groupID, false) // "" is a valid group here, as in Kafka
	if g == nil && c.isClosed() {
		return nil, kerr.CoordinatorNotAvailable.Code
	}
	var offsets map[topicPartition]offsetEntry
	if g != nil {
		defer g.mu.Unlock()
		offsets = g.offsets
	}
	if all {
		byTopic := make(map[string][]fetchedPartition)
		for tp, e := range offsets {
			byTopic[tp.topic] = append(byTopic[tp.topic], fetchedPartition{partition: tp.partition, offset: e.offset, epoch: e.leaderEpoch, metadata: e.metadata})
		}
		names := make([]string, 0, len(byTopic))
		for n := range byTopic {
			names = append(names, n)
		}
		sort.Strings(names)
		out := make([]fetchedTopic, 0, len(names))
		for _, n := range names {
			ft := fetchedTopic{name: n, partitions: byTopic[n]}
			if wantIDs {
				if c.o.topicID == nil {
					continue
				}
				id, ok := c.o.topicID(n)
				if !ok {
					continue
				}
				ft.id = id
			}
			sort.Slice(ft.partitions, func(i, j int) bool { return ft.partitions[i].partition < ft.partitions[j].partition })
			out = append(out, ft)
		}
		return out, 0
	}
	out := make([]fetchedTopic, 0, len(topics))
	for _, t := range topics {
		ft := fetchedTopic{name: t.name, id: t.id}
		for _, p := range t.partitions {
			fp := fetchedPartition{partition: p, offset: -1, epoch: -1, code: t.code}
			if e, ok := offsets[topicPartition{t.name, p}]; ok && t.code == 0 {
				fp.offset, fp.epoch, fp.metadata = e.offset, e.leaderEpoch, e.metadata
			}
			ft.partitions = append(ft.partitions, fp)
		}
		out = append(out, ft)
	}
	return out, 0
}

func (c *Coordinator) resolveID(id [16]byte) (string, int16) {
	if c.o.topicName != nil {
		if n, ok := c.o.topicName(id); ok {
			return n, 0
		}
	}
	return "", kerr.UnknownTopicID.Code
}

// OffsetFetch handles an OffsetFetch request, both the single-group form
// (v0-7) and the multi-group form (v8+). Partitions without a committed
// offset get offset -1; a null topic list (v2+) returns all of the group's
// committed offsets.
func (c *Coordinator) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			var topics []fetchTopic
			for _, t := range rg.Topics {
				ft := fetchTopic{name: t.Topic, partitions: t.Partitions}
				if req.Version >= 10 {
					ft.id = t.TopicID
					ft.name, ft.code = c.resolveID(t.TopicID)
				}
				topics = append(topics, ft)
			}
			got, code := c.fetchOffsets(rg.Group, topics, rg.Topics == nil, req.Version >= 10)
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			sg.ErrorCode = code
			for _, ft := range got {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				if req.Version >= 10 {
					st.TopicID = ft.id
				} else {
					st.Topic = ft.name
				}
				for _, fp := range ft.partitions {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition = fp.partition
					sp.Offset = fp.offset
					sp.LeaderEpoch = fp.epoch
					md := fp.metadata
					sp.Metadata = &md
					sp.ErrorCode = fp.code
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	}
	var topics []fetchTopic
	for _, t := range req.Topics {
		topics = append(topics, fetchTopic{name: t.Topic, partitions: t.Partitions})
	}
	all := req.Topics == nil && req.Version >= 2
	got, code := c.fetchOffsets(req.Group, topics, all, false)
	if code != 0 && req.Version < 2 {
		// v0-1 have no group-level error: report it per partition
		got = got[:0]
		for _, t := range topics {
			ft := fetchedTopic{name: t.name}
			for _, p := range t.partitions {
				ft.partitions = append(ft.partitions, fetchedPartition{partition: p, offset: -1, epoch: -1, code: code})
			}
			got = append(got, ft)
		}
	}
	if req.Version >= 2 {
		resp.ErrorCode = code
	}
	for _, ft := range got {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = ft.name
		for _, fp := range ft.partitions {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition = fp.partition
			sp.Offset = fp.offset
			if req.Version >= 5 {
				sp.LeaderEpoch = fp.epoch
			}
			md := fp.metadata
			sp.Metadata = &md
			sp.ErrorCode = fp.code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// OffsetDelete handles an OffsetDelete request: committed offsets of an
// empty group are deleted; a non-empty group may only lose offsets of
// topics it does not subscribe to (consumer protocol only).
func (c *Coordinator) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if c.isClosed() {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		if c.isClosed() {
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		} else {
			resp.ErrorCode = kerr.GroupIDNotFound.Code
		}
		return resp
	}
	defer g.mu.Unlock()
	var subscribed map[string]bool
	subscribedAll := false
	if g.state != stateEmpty {
		if g.protocolType != "consumer" {
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			return resp
		}
		var ok bool
		subscribed, ok = g.subscribedTopics()
		subscribedAll = !ok // unparsable metadata: keep every offset
	}
	type slot struct{ t, p int }
	var (
		recs  []Record
		slots []slot
		tps   []topicPartition
	)
	for i, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		for j, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case c.o.topicExists != nil && !c.o.topicExists(t.Topic, p.Partition):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case subscribedAll || subscribed[t.Topic]:
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			default:
				tp := topicPartition{t.Topic, p.Partition}
				if _, ok := g.offsets[tp]; ok {
					recs = append(recs, offsetTombstone(g.id, tp))
					slots = append(slots, slot{i, j})
					tps = append(tps, tp)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if err := c.persist(recs); err != nil {
		c.log.Error("persisting offset delete", "group", g.id, "err", err)
		for _, s := range slots {
			resp.Topics[s.t].Partitions[s.p].ErrorCode = storeErrCode(err)
		}
		return resp
	}
	for _, tp := range tps {
		delete(g.offsets, tp)
	}
	return resp
}

// ExpireOffsets runs one offsets-retention pass as of now: offsets of
// groups that have been empty longer than the retention, offsets of
// standalone groups (never managed by the group protocol) and of topics a
// consumer group no longer subscribes to that were committed longer ago
// than the retention, and offsets past an explicit v2-4 retention are
// deleted, as are empty groups without offsets. It runs
// periodically on its own; it is exported for tests and tools.
func (c *Coordinator) ExpireOffsets(now time.Time) {
	for _, id := range c.groupIDs() {
		g := c.lockGroup(id, false)
		if g == nil {
			continue
		}
		dead := g.expire(now)
		g.mu.Unlock()
		if dead {
			c.forget(g)
		}
	}
}

func (c *Coordinator) expirySweep() {
	if c.isClosed() {
		return
	}
	c.ExpireOffsets(c.o.clock.Now())
	c.mu.Lock()
	if !c.closed {
		c.sweep = c.o.clock.AfterFunc(c.o.retentionCheck, c.expirySweep)
	}
	c.mu.Unlock()
}

// expire deletes expired offsets; it reports whether the group died.
func (g *group) expire(now time.Time) bool {
	ret := g.c.o.retention
	if ret <= 0 {
		return false
	}
	nowMs := now.UnixMilli()
	var subscribed map[string]bool
	if g.state != stateEmpty && g.protocolType == "consumer" {
		if subs, ok := g.subscribedTopics(); ok {
			subscribed = subs
		}
	}
	var expired []topicPartition
	for tp, e := range g.offsets {
		switch {
		case e.expireMs >= 0:
			if nowMs >= e.expireMs {
				expired = append(expired, tp)
			}
		case g.state != stateEmpty:
			// a consumer group keeps the offsets of topics it subscribes
			// to; others expire by commit time
			if subscribed != nil && !subscribed[tp.topic] && nowMs >= e.commitMs+ret.Milliseconds() {
				expired = append(expired, tp)
			}
		case g.protocolType != "":
			if nowMs >= g.stateTime.UnixMilli()+ret.Milliseconds() {
				expired = append(expired, tp)
			}
		default:
			if nowMs >= e.commitMs+ret.Milliseconds() {
				expired = append(expired, tp)
			}
		}
	}
	var recs []Record
	for _, tp := range expired {
		recs = append(recs, offsetTombstone(g.id, tp))
	}
	dies := g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && len(g.offsets) == len(expired)
	if dies {
		recs = append(recs, groupTombstone(g.id))
	}
	if len(recs) == 0 {
		return false
	}
	if err := g.c.persist(recs); err != nil {
		g.c.log.Error("persisting offset expiry", "group", g.id, "err", err)
		return false
	}
	for _, tp := range expired {
		delete(g.offsets, tp)
	}
	if len(expired) > 0 {
		g.c.log.Info("expired offsets", "group", g.id, "count", len(expired))
	}
	if dies {
		g.stopTimers()
		g.state = stateDead
	}
	return dies
}
