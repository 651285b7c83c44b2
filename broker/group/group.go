package group

import (
	"bytes"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state.
type groupState int8

const (
	stateEmpty groupState = iota
	statePreparingRebalance
	stateCompletingRebalance
	stateStable
	stateDead
)

// String returns the state's name as Kafka reports it.
func (s groupState) String() string {
	switch s {
	case stateEmpty:
		return "Empty"
	case statePreparingRebalance:
		return "PreparingRebalance"
	case stateCompletingRebalance:
		return "CompletingRebalance"
	case stateStable:
		return "Stable"
	default:
		return "Dead"
	}
}

type topicPartition struct {
	topic     string
	partition int32
}

type offsetEntry struct {
	offset      int64
	leaderEpoch int32
	metadata    string
	commitMs    int64
	expireMs    int64 // explicit expiry (OffsetCommit v2-4 retention), -1 if none
}

// joinResult is what a blocked JoinGroup receives.
type joinResult struct {
	code         int16
	memberID     string
	generation   int32
	protocolType string
	protocol     string
	leader       string
	skip         bool
	members      []kmsg.JoinGroupResponseMember
}

// syncResult is what a blocked SyncGroup receives.
type syncResult struct {
	code         int16
	protocolType string
	protocol     string
	assignment   []byte
}

type member struct {
	id               string
	instanceID       *string
	clientID         string
	clientHost       string
	sessionTimeout   time.Duration
	rebalanceTimeout time.Duration
	protocolType     string
	protocols        []kmsg.JoinGroupRequestProtocol
	assignment       []byte
	seq              uint64

	awaitingJoin bool
	isNew        bool            // joined but not yet part of a generation
	joinCh       chan joinResult // set while a JoinGroup waits (buffered 1)
	syncCh       chan syncResult // set while a SyncGroup waits (buffered 1)

	hb      Timer
	hbToken uint64
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// sameProtocols reports whether the join request carries exactly the
// member's current protocols (names, order and metadata).
func (m *member) sameProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType != m.protocolType || len(ps) != len(m.protocols) {
		return false
	}
	for i := range ps {
		if ps[i].Name != m.protocols[i].Name || !bytes.Equal(ps[i].Metadata, m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

type pendingMember struct {
	timer Timer
}

type group struct {
	c  *Coordinator
	id string

	// everything below is guarded by mu
	mu           sync.Mutex
	state        groupState
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	statics      map[string]string // group instance id -> member id
	pending      map[string]*pendingMember
	pendingSync  map[string]bool
	offsets      map[topicPartition]offsetEntry
	stateTime    time.Time
	nextSeq      uint64

	rebalanceTimer Timer
	timerToken     uint64
	initialPhase   bool
	initialLeft    time.Duration
	newMemberAdded bool
}

func newGroup(c *Coordinator, id string) *group {
	return &group{
		c:           c,
		id:          id,
		state:       stateEmpty,
		members:     make(map[string]*member),
		statics:     make(map[string]string),
		pending:     make(map[string]*pendingMember),
		pendingSync: make(map[string]bool),
		offsets:     make(map[topicPartition]offsetEntry),
		stateTime:   c.o.clock.Now(),
	}
}

func (g *group) transition(s groupState) {
	g.state = s
	g.stateTime = g.c.o.clock.Now()
}

// sortedMembers returns members in join order.
func (g *group) sortedMembers() []*member {
	ms := make([]*member, 0, len(g.members))
	for _, m := range g.members {
		ms = append(ms, m)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].seq < ms[j].seq })
	return ms
}

func (g *group) stopTimers() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
	g.timerToken++
	for _, m := range g.members {
		if m.hb != nil {
			m.hb.Stop()
			m.hb = nil
		}
		m.hbToken++
	}
	for id, p := range g.pending {
		p.timer.Stop()
		delete(g.pending, id)
	}
}

func (g *group) addMember(m *member) {
	g.nextSeq++
	m.seq = g.nextSeq
	g.members[m.id] = m
	if m.instanceID != nil {
		g.statics[*m.instanceID] = m.id
	}
	if g.leader == "" {
		g.leader = m.id
	}
}

// removeMember drops m, answering any request it has waiting with code.
func (g *group) removeMember(m *member, code int16) {
	if m.hb != nil {
		m.hb.Stop()
		m.hb = nil
	}
	m.hbToken++
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.statics[*m.instanceID] == m.id {
		delete(g.statics, *m.instanceID)
	}
	if m.joinCh != nil {
		m.joinCh <- joinResult{code: code, generation: -1}
		m.joinCh = nil
	}
	m.awaitingJoin = false
	if m.syncCh != nil {
		m.syncCh <- syncResult{code: code}
		m.syncCh = nil
	}
	if g.leader == m.id {
		g.leader = ""
		if ms := g.sortedMembers(); len(ms) > 0 {
			g.leader = ms[0].id
			// prefer a member that already rejoined
			for _, o := range ms {
				if o.awaitingJoin {
					g.leader = o.id
					break
				}
			}
		}
	}
}

// afterMembershipChange moves the group on after members left or expired.
func (g *group) afterMembershipChange() {
	switch g.state {
	case stateStable, stateCompletingRebalance:
		g.prepareRebalance()
	case statePreparingRebalance:
		g.maybeCompleteJoin()
	}
}

// newMemberJoinTimeout bounds how long a new member's first JoinGroup may
// wait (Kafka: 5 minutes); an abandoned one is dropped after it.
const newMemberJoinTimeout = 5 * time.Minute

// resetHeartbeat (re)starts m's session timer.
func (g *group) resetHeartbeat(m *member) {
	g.startExpiry(m, m.sessionTimeout)
}

func (g *group) startExpiry(m *member, d time.Duration) {
	if m.hb != nil {
		m.hb.Stop()
	}
	m.hbToken++
	tok := m.hbToken
	if d <= 0 {
		d = g.c.o.minSession
	}
	m.hb = g.c.o.clock.AfterFunc(d, func() { g.heartbeatExpired(m, tok) })
}

func (g *group) heartbeatExpired(m *member, tok uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c.isClosed() || m.hbToken != tok || g.members[m.id] != m || g.state == stateDead {
		return
	}
	// Members blocked in a join or sync are kept alive: the rebalance
	// timeout governs them. New members get newMemberJoinTimeout.
	if !m.isNew && (m.awaitingJoin || m.syncCh != nil) {
		g.resetHeartbeat(m)
		return
	}
	g.c.log.Info("member session expired", "group", g.id, "member", m.id)
	g.removeMember(m, kerr.UnknownMemberID.Code)
	g.afterMembershipChange()
}

// candidateProtocols returns the protocols every member supports, in the
// order of the first member's preferences.
func (g *group) candidateProtocols() []string {
	ms := g.sortedMembers()
	if len(ms) == 0 {
		return nil
	}
	var out []string
	for _, p := range ms[0].protocols {
		all := true
		for _, m := range ms[1:] {
			if !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			out = append(out, p.Name)
		}
	}
	return out
}

func hasProtocol(ps []kmsg.JoinGroupRequestProtocol, name string) bool {
	for _, p := range ps {
		if p.Name == name {
			return true
		}
	}
	return false
}

// selectProtocol picks the protocol all members support that most members
// prefer (each votes for its first supported candidate); ties go to the
// earlier candidate.
func (g *group) selectProtocol() string {
	cands := g.candidateProtocols()
	if len(cands) == 0 {
		return ""
	}
	votes := make(map[string]int, len(cands))
	for _, m := range g.members {
		for _, p := range m.protocols {
			if contains(cands, p.Name) {
				votes[p.Name]++
				break
			}
		}
	}
	best := cands[0]
	for _, c := range cands[1:] {
		if votes[c] > votes[best] {
			best = c
		}
	}
	return best
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// supportsProtocols reports whether a member with these protocols may join.
// except is a member id to leave out of the check (the member itself).
func (g *group) supportsProtocols(protocolType string, ps []kmsg.JoinGroupRequestProtocol, except string) bool {
	if protocolType == "" || len(ps) == 0 {
		return false
	}
	others := 0
	for id := range g.members {
		if id != except {
			others++
		}
	}
	if others == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range ps {
		all := true
		for id, m := range g.members {
			if id != except && !hasProtocol(m.protocols, p.Name) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d time.Duration
	for _, m := range g.members {
		if m.rebalanceTimeout > d {
			d = m.rebalanceTimeout
		}
	}
	return d
}

// prepareRebalance starts a new join phase.
func (g *group) prepareRebalance() {
	if g.state == stateCompletingRebalance {
		// assignments of the aborted generation are void
		for _, m := range g.members {
			m.assignment = nil
			if m.syncCh != nil {
				m.syncCh <- syncResult{code: kerr.RebalanceInProgress.Code}
				m.syncCh = nil
			}
		}
	}
	for id := range g.pendingSync {
		delete(g.pendingSync, id)
	}
	wasEmpty := g.state == stateEmpty
	g.transition(statePreparingRebalance)
	g.stopRebalanceTimer()
	timeout := g.maxRebalanceTimeout()
	if wasEmpty && g.c.o.initialDelay > 0 {
		delay := g.c.o.initialDelay
		g.initialPhase = true
		g.newMemberAdded = false
		g.initialLeft = max(timeout-delay, 0)
		g.startRebalanceTimer(delay)
		return
	}
	g.initialPhase = false
	g.startRebalanceTimer(timeout)
	g.maybeCompleteJoin()
}

func (g *group) stopRebalanceTimer() {
	if g.rebalanceTimer != nil {
		g.rebalanceTimer.Stop()
		g.rebalanceTimer = nil
	}
	g.timerToken++
}

func (g *group) startRebalanceTimer(d time.Duration) {
	g.stopRebalanceTimer()
	tok := g.timerToken
	g.rebalanceTimer = g.c.o.clock.AfterFunc(d, func() { g.rebalanceTimerFired(tok) })
}

func (g *group) rebalanceTimerFired(tok uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.c.isClosed() || tok != g.timerToken {
		return
	}
	g.rebalanceTimer = nil
	switch g.state {
	case statePreparingRebalance:
		if g.initialPhase && g.newMemberAdded && g.initialLeft > 0 {
			g.newMemberAdded = false
			d := min(g.c.o.initialDelay, g.initialLeft)
			g.initialLeft -= d
			g.startRebalanceTimer(d)
			return
		}
		g.initialPhase = false
		g.completeJoin()
	case stateCompletingRebalance, stateStable:
		// sync timeout: members that did not SyncGroup in time are removed
		removed := false
		for _, m := range g.sortedMembers() {
			if g.pendingSync[m.id] {
				g.c.log.Info("member did not sync in time", "group", g.id, "member", m.id)
				g.removeMember(m, kerr.UnknownMemberID.Code)
				removed = true
			}
		}
		if removed {
			g.prepareRebalance()
		}
	}
}

func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if !m.awaitingJoin {
			return false
		}
	}
	return true
}

func (g *group) maybeCompleteJoin() {
	if g.state == statePreparingRebalance && !g.initialPhase && g.allJoined() {
		g.completeJoin()
	}
}

// completeJoin ends the join phase: members that did not rejoin are
// removed, the next generation starts and every waiting JoinGroup is
// answered.
func (g *group) completeJoin() {
	g.stopRebalanceTimer()
	// dynamic members that did not rejoin are gone; static members stay
	// until their session expires (KIP-345)
	for _, m := range g.sortedMembers() {
		if !m.awaitingJoin && m.instanceID == nil {
			g.c.log.Info("member did not rejoin in time", "group", g.id, "member", m.id)
			g.removeMember(m, kerr.UnknownMemberID.Code)
		}
	}
	if l := g.members[g.leader]; l == nil || !l.awaitingJoin {
		g.leader = ""
		for _, m := range g.sortedMembers() {
			if m.awaitingJoin {
				g.leader = m.id
				break
			}
		}
		if g.leader == "" && len(g.members) > 0 {
			// only absent static members: wait for them to rejoin or expire
			g.c.log.Warn("no member rejoined; postponing rebalance", "group", g.id)
			g.startRebalanceTimer(g.maxRebalanceTimeout())
			return
		}
	}
	g.generation++
	if len(g.members) == 0 {
		g.protocol = ""
		g.transition(stateEmpty)
		if err := g.c.persist([]Record{g.metadataRecord()}); err != nil {
			g.c.log.Error("persisting empty group", "group", g.id, "err", err)
		}
		return
	}
	g.protocol = g.selectProtocol()
	g.transition(stateCompletingRebalance)
	var all []kmsg.JoinGroupResponseMember
	for _, m := range g.sortedMembers() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadataFor(g.protocol)
		all = append(all, jm)
	}
	for _, m := range g.members {
		m.assignment = nil
		res := g.joinResultFor(m)
		if m.id == g.leader {
			res.members = all
		}
		m.awaitingJoin = false
		m.isNew = false
		if m.joinCh != nil {
			m.joinCh <- res
			m.joinCh = nil
		}
		g.pendingSync[m.id] = true
		g.resetHeartbeat(m)
	}
	// members that never sync are removed after the rebalance timeout
	g.startRebalanceTimer(g.maxRebalanceTimeout())
}

func (g *group) joinResultFor(m *member) joinResult {
	return joinResult{
		memberID:     m.id,
		generation:   g.generation,
		protocolType: g.protocolType,
		protocol:     g.protocol,
		leader:       g.leader,
	}
}

func (g *group) currentMembersForJoin() []kmsg.JoinGroupResponseMember {
	var all []kmsg.JoinGroupResponseMember
	for _, m := range g.sortedMembers() {
		jm := kmsg.NewJoinGroupResponseMember()
		jm.MemberID = m.id
		jm.InstanceID = m.instanceID
		jm.ProtocolMetadata = m.metadataFor(g.protocol)
		all = append(all, jm)
	}
	return all
}

// subscribedTopics returns the topics consumer-protocol members subscribe
// to; ok is false when some member's metadata cannot be parsed.
func (g *group) subscribedTopics() (topics map[string]bool, ok bool) {
	topics = make(map[string]bool)
	for _, m := range g.members {
		md := m.metadataFor(g.protocol)
		if g.protocol == "" && len(m.protocols) > 0 {
			md = m.protocols[0].Metadata
		}
		var cm kmsg.ConsumerMemberMetadata
		if err := cm.ReadFrom(md); err != nil {
			return topics, false
		}
		for _, t := range cm.Topics {
			topics[t] = true
		}
	}
	return topics, true
}
