package group

import (
	"bytes"
	"context"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func msDuration(ms int32) time.Duration { return time.Duration(ms) * time.Millisecond }

func cloneProtocols(ps []kmsg.JoinGroupRequestProtocol) []kmsg.JoinGroupRequestProtocol {
	out := make([]kmsg.JoinGroupRequestProtocol, len(ps))
	for i, p := range ps {
		out[i] = kmsg.JoinGroupRequestProtocol{Name: p.Name, Metadata: slices.Clone(p.Metadata)}
	}
	return out
}

// JoinGroup handles a JoinGroup request. It blocks until the join phase of
// the rebalance completes (or ctx is done, or the coordinator closes).
func (c *Coordinator) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	res, ch := c.join(ctx, req)
	if ch != nil {
		select {
		case res = <-ch:
		case <-ctx.Done():
			res = joinResult{code: kerr.CoordinatorNotAvailable.Code, memberID: req.MemberID, generation: -1}
		case <-c.done:
			res = joinResult{code: kerr.CoordinatorNotAvailable.Code, memberID: req.MemberID, generation: -1}
		}
	}
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	resp.ErrorCode = res.code
	resp.MemberID = res.memberID
	resp.Generation = res.generation
	if res.code != 0 {
		resp.Generation = -1
		if req.Version < 7 {
			empty := ""
			resp.Protocol = &empty
		}
		return resp
	}
	if req.Version >= 7 {
		pt := res.protocolType
		resp.ProtocolType = &pt
	}
	p := res.protocol
	resp.Protocol = &p
	resp.LeaderID = res.leader
	if req.Version >= 9 {
		resp.SkipAssignment = res.skip
	}
	resp.Members = make([]kmsg.JoinGroupResponseMember, len(res.members))
	for i, m := range res.members {
		resp.Members[i] = m
		if req.Version < 5 {
			resp.Members[i].InstanceID = nil
		}
	}
	return resp
}

func (c *Coordinator) join(ctx context.Context, req *kmsg.JoinGroupRequest) (joinResult, chan joinResult) {
	fail := func(code int16) (joinResult, chan joinResult) {
		return joinResult{code: code, memberID: req.MemberID, generation: -1}, nil
	}
	if c.isClosed() {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	session := msDuration(req.SessionTimeoutMillis)
	if session < c.o.minSession || session > c.o.maxSession {
		return fail(kerr.InvalidSessionTimeout.Code)
	}
	rebalance := msDuration(req.RebalanceTimeoutMillis)
	if req.Version == 0 || rebalance <= 0 {
		rebalance = session
	}
	if req.ProtocolType == "" || len(req.Protocols) == 0 {
		return fail(kerr.InconsistentGroupProtocol.Code)
	}
	if req.InstanceID != nil && *req.InstanceID == "" {
		return fail(kerr.InvalidRequest.Code)
	}
	unknown := req.MemberID == ""
	g := c.lockGroup(req.Group, unknown)
	if g == nil {
		if c.isClosed() {
			return fail(kerr.CoordinatorNotAvailable.Code)
		}
		return fail(kerr.UnknownMemberID.Code)
	}
	defer g.mu.Unlock()
	j := joinCall{req: req, ci: clientInfo(ctx), session: session, rebalance: rebalance}
	if unknown {
		return g.joinUnknown(j)
	}
	return g.joinKnown(j)
}

type joinCall struct {
	req       *kmsg.JoinGroupRequest
	ci        ClientInfo
	session   time.Duration
	rebalance time.Duration
}

func (j joinCall) fail(code int16, memberID string) (joinResult, chan joinResult) {
	return joinResult{code: code, memberID: memberID, generation: -1}, nil
}

func (g *group) full() bool {
	max := g.c.o.maxGroupSize
	return max > 0 && len(g.members)+len(g.pending) >= max
}

func (g *group) joinUnknown(j joinCall) (joinResult, chan joinResult) {
	req := j.req
	newID := newMemberID(j.ci.ClientID, req.InstanceID)
	if req.InstanceID != nil {
		if oldID, ok := g.statics[*req.InstanceID]; ok && g.members[oldID] != nil {
			if !g.supportsProtocols(req.ProtocolType, req.Protocols, oldID) {
				return j.fail(kerr.InconsistentGroupProtocol.Code, "")
			}
			return g.replaceStatic(oldID, newID, j)
		}
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols, "") {
		return j.fail(kerr.InconsistentGroupProtocol.Code, "")
	}
	if g.full() {
		return j.fail(kerr.GroupMaxSizeReached.Code, "")
	}
	if req.Version >= 4 && req.InstanceID == nil {
		// KIP-394: hand out the member id first; the member must rejoin
		// with it within its session timeout.
		p := &pendingMember{}
		p.timer = g.c.o.clock.AfterFunc(j.session, func() { g.pendingExpired(newID, p) })
		g.pending[newID] = p
		return joinResult{code: kerr.MemberIDRequired.Code, memberID: newID, generation: -1}, nil
	}
	return joinResult{}, g.addMemberAndRebalance(newID, j)
}

func (g *group) pendingExpired(id string, p *pendingMember) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c.isClosed() || g.pending[id] != p {
		return
	}
	delete(g.pending, id)
	g.maybeCompleteJoin()
}

func (g *group) addMemberAndRebalance(id string, j joinCall) chan joinResult {
	req := j.req
	m := &member{
		id:               id,
		instanceID:       req.InstanceID,
		clientID:         j.ci.ClientID,
		clientHost:       j.ci.ClientHost,
		sessionTimeout:   j.session,
		rebalanceTimeout: j.rebalance,
		protocolType:     req.ProtocolType,
		protocols:        cloneProtocols(req.Protocols),
	}
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.addMember(m)
	m.isNew = true
	g.startExpiry(m, newMemberJoinTimeout)
	if g.generation == 0 {
		g.newMemberAdded = true // extends the initial rebalance delay
	}
	ch := g.awaitJoin(m)
	g.rebalanceOrComplete()
	return ch
}

// rebalanceOrComplete starts a rebalance if none is running, else checks
// whether the running join phase is complete.
func (g *group) rebalanceOrComplete() {
	switch g.state {
	case stateStable, stateCompletingRebalance, stateEmpty:
		g.prepareRebalance()
	case statePreparingRebalance:
		g.maybeCompleteJoin()
	}
}

// awaitJoin marks m as waiting for the join phase and returns the channel
// its JoinGroup waits on.
func (g *group) awaitJoin(m *member) chan joinResult {
	if m.joinCh != nil {
		// an older JoinGroup of this member is superseded
		m.joinCh <- joinResult{code: kerr.RebalanceInProgress.Code, memberID: m.id, generation: -1}
	}
	m.joinCh = make(chan joinResult, 1)
	m.awaitingJoin = true
	return m.joinCh
}

func (g *group) updateMember(m *member, j joinCall) {
	m.protocolType = j.req.ProtocolType
	m.protocols = cloneProtocols(j.req.Protocols)
	m.sessionTimeout = j.session
	m.rebalanceTimeout = j.rebalance
	if j.ci.ClientID != "" || j.ci.ClientHost != "" {
		m.clientID, m.clientHost = j.ci.ClientID, j.ci.ClientHost
	}
}

func (g *group) joinKnown(j joinCall) (joinResult, chan joinResult) {
	req := j.req
	id := req.MemberID
	if p, ok := g.pending[id]; ok {
		if !g.supportsProtocols(req.ProtocolType, req.Protocols, "") {
			return j.fail(kerr.InconsistentGroupProtocol.Code, id)
		}
		p.timer.Stop()
		delete(g.pending, id)
		return joinResult{}, g.addMemberAndRebalance(id, j)
	}
	m, code := g.validateMember(id, req.InstanceID)
	if code != 0 {
		return j.fail(code, id)
	}
	if !g.supportsProtocols(req.ProtocolType, req.Protocols, id) {
		return j.fail(kerr.InconsistentGroupProtocol.Code, id)
	}
	switch g.state {
	case statePreparingRebalance:
		g.updateMember(m, j)
		ch := g.awaitJoin(m)
		g.maybeCompleteJoin()
		return joinResult{}, ch
	case stateCompletingRebalance:
		if m.sameProtocols(req.ProtocolType, req.Protocols) {
			// the member lost its join response: send it again
			res := g.joinResultFor(m)
			if m.id == g.leader {
				res.members = g.currentMembersForJoin()
			}
			g.resetHeartbeat(m)
			return res, nil
		}
		g.updateMember(m, j)
		ch := g.awaitJoin(m)
		g.prepareRebalance()
		return joinResult{}, ch
	case stateStable:
		if m.id == g.leader || !m.sameProtocols(req.ProtocolType, req.Protocols) {
			g.updateMember(m, j)
			ch := g.awaitJoin(m)
			g.prepareRebalance()
			return joinResult{}, ch
		}
		g.resetHeartbeat(m)
		return g.joinResultFor(m), nil
	default:
		return j.fail(kerr.UnknownMemberID.Code, id)
	}
}

// replaceStatic handles a static member rejoining with an unknown member
// id: the new id replaces the old one, which is fenced.
func (g *group) replaceStatic(oldID, newID string, j joinCall) (joinResult, chan joinResult) {
	req := j.req
	m := g.members[oldID]
	prev := *m
	prevLeader := g.leader
	wasLeader := g.leader == oldID
	hadPendingSync := g.pendingSync[oldID]

	if m.joinCh != nil {
		m.joinCh <- joinResult{code: kerr.FencedInstanceID.Code, memberID: oldID, generation: -1}
		m.joinCh = nil
	}
	if m.syncCh != nil {
		m.syncCh <- syncResult{code: kerr.FencedInstanceID.Code}
		m.syncCh = nil
	}
	rekey := func(from, to string) {
		delete(g.members, from)
		m.id = to
		g.members[to] = m
		g.statics[*m.instanceID] = to
		if g.leader == from {
			g.leader = to
		}
		if g.pendingSync[from] {
			delete(g.pendingSync, from)
			g.pendingSync[to] = true
		}
	}
	rekey(oldID, newID)
	oldMeta := prev.metadataFor(g.protocol)
	g.updateMember(m, j)
	g.resetHeartbeat(m)
	g.c.log.Info("static member replaced", "group", g.id, "instance", *m.instanceID, "old", oldID, "new", newID)

	switch g.state {
	case stateStable:
		if g.selectProtocol() == g.protocol && sameSubscription(g.protocolType, m.metadataFor(g.protocol), oldMeta) {
			if err := g.c.persist([]Record{g.metadataRecord()}); err != nil {
				g.c.log.Error("persisting static member replacement", "group", g.id, "err", err)
				rekey(newID, oldID)
				m.protocolType, m.protocols = prev.protocolType, prev.protocols
				m.sessionTimeout, m.rebalanceTimeout = prev.sessionTimeout, prev.rebalanceTimeout
				m.clientID, m.clientHost = prev.clientID, prev.clientHost
				if !hadPendingSync {
					delete(g.pendingSync, oldID)
				}
				g.resetHeartbeat(m)
				return j.fail(storeErrCode(err), "")
			}
			res := g.joinResultFor(m)
			res.leader = prevLeader
			if wasLeader && req.Version >= 9 {
				// KIP-814: the leader learns it leads but keeps the
				// current assignment.
				res.leader = newID
				res.members = g.currentMembersForJoin()
				res.skip = true
			}
			return res, nil
		}
		ch := g.awaitJoin(m)
		g.prepareRebalance()
		return joinResult{}, ch
	case statePreparingRebalance:
		ch := g.awaitJoin(m)
		g.maybeCompleteJoin()
		return joinResult{}, ch
	default:
		ch := g.awaitJoin(m)
		g.prepareRebalance()
		return joinResult{}, ch
	}
}

// sameSubscription reports whether a static member's new metadata asks for
// the same thing as its old one. For the consumer protocol that is the set
// of subscribed topics (owned partitions and generation in the metadata
// legitimately differ after a restart); for other protocol types the bytes
// must be equal.
func sameSubscription(protocolType string, a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	if protocolType != "consumer" {
		return false
	}
	var ma, mb kmsg.ConsumerMemberMetadata
	if ma.ReadFrom(a) != nil || mb.ReadFrom(b) != nil {
		return false
	}
	ta, tb := slices.Clone(ma.Topics), slices.Clone(mb.Topics)
	slices.Sort(ta)
	slices.Sort(tb)
	return slices.Equal(slices.Compact(ta), slices.Compact(tb))
}

// SyncGroup handles a SyncGroup request. Followers block until the leader
// has sent the assignment (or ctx is done, or the coordinator closes).
func (c *Coordinator) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	res, ch := c.sync(req)
	if ch != nil {
		select {
		case res = <-ch:
		case <-ctx.Done():
			res = syncResult{code: kerr.CoordinatorNotAvailable.Code}
		case <-c.done:
			res = syncResult{code: kerr.CoordinatorNotAvailable.Code}
		}
	}
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ErrorCode = res.code
	if res.code == 0 {
		resp.MemberAssignment = res.assignment
		if resp.MemberAssignment == nil {
			resp.MemberAssignment = []byte{}
		}
		if req.Version >= 5 {
			pt, p := res.protocolType, res.protocol
			resp.ProtocolType, resp.Protocol = &pt, &p
		}
	}
	return resp
}

func (c *Coordinator) sync(req *kmsg.SyncGroupRequest) (syncResult, chan syncResult) {
	fail := func(code int16) (syncResult, chan syncResult) { return syncResult{code: code}, nil }
	if c.isClosed() {
		return fail(kerr.CoordinatorNotAvailable.Code)
	}
	if req.Group == "" {
		return fail(kerr.InvalidGroupID.Code)
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		if c.isClosed() {
			return fail(kerr.CoordinatorNotAvailable.Code)
		}
		return fail(kerr.UnknownMemberID.Code)
	}
	defer g.mu.Unlock()
	m, code := g.validateMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return fail(code)
	}
	if req.Generation != g.generation {
		return fail(kerr.IllegalGeneration.Code)
	}
	if req.Version >= 5 {
		if req.ProtocolType != nil && *req.ProtocolType != g.protocolType {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
		if req.Protocol != nil && *req.Protocol != g.protocol {
			return fail(kerr.InconsistentGroupProtocol.Code)
		}
	}
	switch g.state {
	case statePreparingRebalance:
		return fail(kerr.RebalanceInProgress.Code)
	case stateStable:
		delete(g.pendingSync, m.id)
		g.resetHeartbeat(m)
		return syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: m.assignment}, nil
	case stateCompletingRebalance:
	default:
		return fail(kerr.UnknownMemberID.Code)
	}
	delete(g.pendingSync, m.id)
	g.resetHeartbeat(m)
	if m.syncCh != nil {
		m.syncCh <- syncResult{code: kerr.RebalanceInProgress.Code}
	}
	m.syncCh = make(chan syncResult, 1)
	ch := m.syncCh
	if m.id != g.leader {
		return syncResult{}, ch
	}
	assign := make(map[string][]byte, len(req.GroupAssignment))
	for _, a := range req.GroupAssignment {
		assign[a.MemberID] = a.MemberAssignment
	}
	prev := make(map[string][]byte, len(g.members))
	for id, o := range g.members {
		prev[id] = o.assignment
		o.assignment = slices.Clone(assign[id])
		if o.assignment == nil {
			o.assignment = []byte{}
		}
	}
	g.transition(stateStable)
	if err := g.c.persist([]Record{g.metadataRecord()}); err != nil {
		code := storeErrCode(err)
		g.c.log.Error("persisting group assignment", "group", g.id, "generation", g.generation, "err", err)
		g.state = stateCompletingRebalance
		for id, o := range g.members {
			o.assignment = prev[id]
			if o.syncCh != nil {
				o.syncCh <- syncResult{code: code}
				o.syncCh = nil
			}
		}
		g.prepareRebalance()
		return syncResult{}, ch
	}
	for _, o := range g.members {
		if o.syncCh != nil {
			o.syncCh <- syncResult{protocolType: g.protocolType, protocol: g.protocol, assignment: o.assignment}
			o.syncCh = nil
		}
	}
	return syncResult{}, ch
}

// validateMember finds a member by id and checks its group instance id.
func (g *group) validateMember(memberID string, instanceID *string) (*member, int16) {
	if instanceID != nil {
		cur, ok := g.statics[*instanceID]
		if !ok {
			return nil, kerr.UnknownMemberID.Code
		}
		if cur != memberID {
			return nil, kerr.FencedInstanceID.Code
		}
	}
	m := g.members[memberID]
	if m == nil {
		return nil, kerr.UnknownMemberID.Code
	}
	return m, 0
}

// Heartbeat handles a Heartbeat request: it keeps the member's session
// alive and tells it when a rebalance is in progress.
func (c *Coordinator) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	resp.ErrorCode = c.heartbeat(req)
	return resp
}

func (c *Coordinator) heartbeat(req *kmsg.HeartbeatRequest) int16 {
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code
	}
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		if c.isClosed() {
			return kerr.CoordinatorNotAvailable.Code
		}
		return kerr.UnknownMemberID.Code
	}
	defer g.mu.Unlock()
	if g.state == stateEmpty {
		return kerr.UnknownMemberID.Code
	}
	m, code := g.validateMember(req.MemberID, req.InstanceID)
	if code != 0 {
		return code
	}
	if req.Generation != g.generation {
		return kerr.IllegalGeneration.Code
	}
	g.resetHeartbeat(m)
	if g.state == statePreparingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// LeaveGroup handles a LeaveGroup request (v0-2: one member by id; v3+: a
// batch of members by member id or group instance id).
func (c *Coordinator) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leaving := req.Members
	if req.Version < 3 {
		leaving = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	fillAll := func(code int16) *kmsg.LeaveGroupResponse {
		resp.ErrorCode = code
		return resp
	}
	if c.isClosed() {
		return fillAll(kerr.CoordinatorNotAvailable.Code)
	}
	if req.Group == "" {
		return fillAll(kerr.InvalidGroupID.Code)
	}
	g := c.lockGroup(req.Group, false)
	if g == nil {
		if c.isClosed() {
			return fillAll(kerr.CoordinatorNotAvailable.Code)
		}
		if req.Version < 3 {
			return fillAll(kerr.UnknownMemberID.Code)
		}
		// like Kafka: the request succeeds, every member is unknown
		for _, lm := range leaving {
			rm := kmsg.NewLeaveGroupResponseMember()
			rm.MemberID, rm.InstanceID, rm.ErrorCode = lm.MemberID, lm.InstanceID, kerr.UnknownMemberID.Code
			resp.Members = append(resp.Members, rm)
		}
		return resp
	}
	defer g.mu.Unlock()
	removed := false
	for _, lm := range leaving {
		code, left := g.leaveOne(lm.MemberID, lm.InstanceID)
		removed = removed || left
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID = lm.MemberID
		rm.InstanceID = lm.InstanceID
		rm.ErrorCode = code
		resp.Members = append(resp.Members, rm)
	}
	if removed {
		g.afterMembershipChange()
	} else {
		g.maybeCompleteJoin() // a pending member may have left
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

// leaveOne removes one member; left reports whether a (non-pending)
// member was removed.
func (g *group) leaveOne(memberID string, instanceID *string) (code int16, left bool) {
	if instanceID != nil {
		cur, ok := g.statics[*instanceID]
		if !ok || g.members[cur] == nil {
			return kerr.UnknownMemberID.Code, false
		}
		if memberID != "" && memberID != cur {
			return kerr.FencedInstanceID.Code, false
		}
		g.c.log.Info("static member left", "group", g.id, "instance", *instanceID, "member", cur)
		g.removeMember(g.members[cur], kerr.UnknownMemberID.Code)
		return 0, true
	}
	if p, ok := g.pending[memberID]; ok {
		p.timer.Stop()
		delete(g.pending, memberID)
		return 0, false
	}
	m := g.members[memberID]
	if m == nil {
		return kerr.UnknownMemberID.Code, false
	}
	g.c.log.Info("member left", "group", g.id, "member", memberID)
	g.removeMember(m, kerr.UnknownMemberID.Code)
	return 0, true
}
