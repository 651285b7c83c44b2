package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// connectorTask is the task index that names the connector instance itself
// in a ConnectMemberAssignment, as in Kafka Connect.
const connectorTask = -1

// connectProtocol is the group protocol name. sluice's incremental
// cooperative protocol carries the member's full assignment (not only the
// additions, as Java workers do), so it uses its own name: a Java worker
// cannot join a sluice group by mistake (INCONSISTENT_GROUP_PROTOCOL).
const connectProtocol = "sluice-cooperative"

// assignment is what one rebalance gave this worker.
type assignment struct {
	generation   int32
	memberID     string
	leaderID     string
	leaderURL    string
	configOffset int64
	// tasks is the member's full assignment per connector; connectorTask
	// marks the connector itself.
	tasks map[string][]int
	// revoked must be stopped before the member rejoins.
	revoked  map[string][]int
	isLeader bool
}

// memberHooks connects the group member to the worker.
type memberHooks struct {
	// configOffset returns the worker's config topic position.
	configOffset func() int64
	// current returns the assignment the worker runs.
	current func() map[string][]int
	// revoke stops everything: called when the membership was lost, since
	// the work may already run elsewhere.
	revoke func()
	// assign computes the assignment as leader; it must read the config
	// topic to its end first.
	assign func(ctx context.Context, gen int32, leaderID string, members []kmsg.JoinGroupResponseMember) (map[string][]byte, error)
	// assigned delivers this worker's assignment; revoked work is stopped
	// before it returns.
	assigned func(a assignment)
}

// member is a classic-protocol group member of protocol type "connect",
// driven by explicit JoinGroup/SyncGroup/Heartbeat/LeaveGroup requests.
type member struct {
	cl    *kgo.Client
	group string
	url   string
	cfg   Config
	hooks memberHooks
	log   *slog.Logger

	rejoin chan struct{}

	mu          sync.Mutex
	memberID    string
	gen         int32
	lost        bool      // membership lost: stop all work before rejoining
	lastContact time.Time // last successful join, sync or heartbeat
}

func newMember(cl *kgo.Client, cfg Config, hooks memberHooks, log *slog.Logger) *member {
	return &member{cl: cl, group: cfg.GroupID, url: cfg.AdvertisedURL, cfg: cfg, hooks: hooks, log: log, rejoin: make(chan struct{}, 1), gen: -1}
}

// requestRejoin asks for a rebalance.
func (m *member) requestRejoin() {
	select {
	case m.rejoin <- struct{}{}:
	default:
	}
}

// loseMembership forgets the member id; the worker stops all its work
// before the next join.
func (m *member) loseMembership() {
	m.mu.Lock()
	m.memberID, m.gen, m.lost = "", -1, true
	m.mu.Unlock()
}

// run joins the group and keeps the membership until ctx ends.
func (m *member) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		m.mu.Lock()
		lost := m.lost || (!m.lastContact.IsZero() && time.Since(m.lastContact) > m.cfg.SessionTimeout)
		m.lost = false
		m.mu.Unlock()
		if lost {
			m.log.Warn("worker group membership lost; stopping all work before rejoining")
			m.hooks.revoke()
			m.mu.Lock()
			m.lastContact = time.Time{}
			m.mu.Unlock()
		}
		a, err := m.join(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("joining worker group", "group", m.group, "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			if backoff < 2*time.Second {
				backoff *= 2
			}
			continue
		}
		backoff = 100 * time.Millisecond
		m.hooks.assigned(a)
		if len(a.revoked) > 0 {
			continue // revoked work is stopped: rejoin for the follow-up round
		}
		m.heartbeat(ctx)
	}
}

func (m *member) contact() {
	m.mu.Lock()
	m.lastContact = time.Now()
	m.mu.Unlock()
}

func (m *member) join(ctx context.Context) (assignment, error) {
	cur := m.hooks.current()
	meta := kmsg.ConnectMemberMetadata{
		Version:           1,
		URL:               m.url,
		ConfigOffset:      m.hooks.configOffset(),
		CurrentAssignment: encodeAssignment("", "", -1, cur, nil),
	}
	m.mu.Lock()
	memberID := m.memberID
	m.mu.Unlock()
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group = m.group
		req.SessionTimeoutMillis = int32(m.cfg.SessionTimeout.Milliseconds())
		req.RebalanceTimeoutMillis = int32(m.cfg.RebalanceTimeout.Milliseconds())
		req.MemberID = memberID
		req.ProtocolType = "connect"
		req.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: connectProtocol, Metadata: meta.AppendTo(nil)}}
		jctx, cancel := context.WithTimeout(ctx, m.cfg.RebalanceTimeout+5*time.Second)
		resp, err := req.RequestWith(jctx, m.cl)
		cancel()
		if err != nil {
			return assignment{}, fmt.Errorf("JoinGroup: %w", err)
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			switch {
			case errors.Is(err, kerr.MemberIDRequired):
				memberID = resp.MemberID
				m.setMember(memberID, -1)
				continue
			case errors.Is(err, kerr.UnknownMemberID):
				memberID = ""
				m.loseMembership()
				return assignment{}, fmt.Errorf("JoinGroup: %w", err)
			case errors.Is(err, kerr.RebalanceInProgress) && attempt < 10:
				continue
			}
			return assignment{}, fmt.Errorf("JoinGroup: %w", err)
		}
		m.contact()
		memberID = resp.MemberID
		m.setMember(memberID, resp.Generation)
		a := assignment{generation: resp.Generation, memberID: memberID, leaderID: resp.LeaderID, isLeader: resp.LeaderID == memberID}
		sreq := kmsg.NewPtrSyncGroupRequest()
		sreq.Group = m.group
		sreq.Generation = resp.Generation
		sreq.MemberID = memberID
		sreq.ProtocolType = kmsg.StringPtr("connect")
		sreq.Protocol = kmsg.StringPtr(connectProtocol)
		if a.isLeader {
			actx, cancel := context.WithTimeout(ctx, m.cfg.RebalanceTimeout)
			asg, err := m.hooks.assign(actx, resp.Generation, memberID, resp.Members)
			cancel()
			if err != nil {
				return assignment{}, fmt.Errorf("computing assignment: %w", err)
			}
			for id, b := range asg {
				sreq.GroupAssignment = append(sreq.GroupAssignment, kmsg.SyncGroupRequestGroupAssignment{MemberID: id, MemberAssignment: b})
			}
		}
		sctx, cancel := context.WithTimeout(ctx, m.cfg.RebalanceTimeout+5*time.Second)
		sresp, err := sreq.RequestWith(sctx, m.cl)
		cancel()
		if err != nil {
			return assignment{}, fmt.Errorf("SyncGroup: %w", err)
		}
		if err := kerr.ErrorForCode(sresp.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) {
				m.loseMembership()
			}
			return assignment{}, fmt.Errorf("SyncGroup: %w", err)
		}
		m.contact()
		var ca kmsg.ConnectMemberAssignment
		if err := ca.ReadFrom(sresp.MemberAssignment); err != nil {
			return assignment{}, fmt.Errorf("decoding connect assignment: %w", err)
		}
		if ca.Error != 0 {
			return assignment{}, fmt.Errorf("leader reported assignment error %d", ca.Error)
		}
		a.leaderURL = ca.LeaderURL
		a.configOffset = ca.ConfigOffset
		a.tasks = decodeTasks(ca.Assignment)
		a.revoked = map[string][]int{}
		for _, r := range ca.Revoked {
			for _, t := range r.Tasks {
				a.revoked[r.Connector] = append(a.revoked[r.Connector], int(t))
			}
		}
		return a, nil
	}
}

func decodeTasks(as []kmsg.ConnectMemberAssignmentAssignment) map[string][]int {
	out := map[string][]int{}
	for _, a := range as {
		for _, t := range a.Tasks {
			out[a.Connector] = append(out[a.Connector], int(t))
		}
	}
	return out
}

func (m *member) setMember(id string, gen int32) {
	m.mu.Lock()
	m.memberID, m.gen = id, gen
	m.mu.Unlock()
}

// heartbeat returns when a rebalance is needed or ctx ends.
func (m *member) heartbeat(ctx context.Context) {
	t := time.NewTicker(m.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		m.mu.Lock()
		expired := time.Since(m.lastContact) > m.cfg.SessionTimeout
		m.mu.Unlock()
		if expired {
			// The coordinator has most likely expired this member and given
			// its work to others: stop before rejoining to avoid zombies.
			m.log.Warn("no successful heartbeat within the session timeout")
			m.loseMembership()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-m.rejoin:
			return
		case <-t.C:
		}
		m.mu.Lock()
		req := kmsg.NewPtrHeartbeatRequest()
		req.Group, req.Generation, req.MemberID = m.group, m.gen, m.memberID
		m.mu.Unlock()
		hctx, cancel := context.WithTimeout(ctx, m.cfg.SessionTimeout)
		resp, err := req.RequestWith(hctx, m.cl)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			m.log.Warn("heartbeat failed", "err", err)
			continue
		}
		if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
			if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.IllegalGeneration) || errors.Is(err, kerr.FencedInstanceID) {
				m.loseMembership()
			} else {
				m.contact()
			}
			m.log.Info("worker group rebalancing", "reason", err.Error())
			return
		}
		m.contact()
	}
}

// leave sends LeaveGroup so the group rebalances at once.
func (m *member) leave(ctx context.Context) {
	m.mu.Lock()
	id := m.memberID
	m.mu.Unlock()
	if id == "" {
		return
	}
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = m.group
	req.MemberID = id
	req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: id}}
	if _, err := req.RequestWith(ctx, m.cl); err != nil {
		m.log.Warn("leaving worker group", "err", err)
	}
	m.setMember("", -1)
}

// encodeAssignment builds a version 1 ConnectMemberAssignment.
func encodeAssignment(leaderID, leaderURL string, configOffset int64, tasks, revoked map[string][]int) []byte {
	ca := kmsg.ConnectMemberAssignment{Version: 1, Leader: leaderID, LeaderURL: leaderURL, ConfigOffset: configOffset}
	for _, n := range sortedKeys(tasks) {
		as := kmsg.ConnectMemberAssignmentAssignment{Connector: n}
		for _, t := range tasks[n] {
			as.Tasks = append(as.Tasks, int16(t))
		}
		ca.Assignment = append(ca.Assignment, as)
	}
	for _, n := range sortedKeys(revoked) {
		r := kmsg.ConnectMemberAssignmentRevoked{Connector: n}
		for _, t := range revoked[n] {
			r.Tasks = append(r.Tasks, int16(t))
		}
		ca.Revoked = append(ca.Revoked, r)
	}
	return ca.AppendTo(nil)
}

// memberState is one member as the leader's assignor sees it.
type memberState struct {
	id, url string
	current []taskKey
}

// assignCooperative is the incremental cooperative assignor. Connectors all
// go to the leader. Tasks stay where they run; tasks nobody runs go to the
// least loaded members; members above their fair share (ceil(tasks /
// members)) give up the surplus, which is only reassigned in the follow-up
// round after they stopped it. A task held by two members (after a split
// brain) is revoked from all but the first.
func assignCooperative(leaderID string, members []memberState, connectors []string, tasks map[string]int) (full, revoked map[string][]taskKey) {
	full, revoked = map[string][]taskKey{}, map[string][]taskKey{}
	exists := func(k taskKey) bool { n, ok := tasks[k.conn]; return ok && k.id >= 0 && k.id < n }
	sort.Slice(members, func(i, j int) bool { return members[i].id < members[j].id })
	held := map[taskKey]bool{}
	load := map[string]int{}
	for _, m := range members {
		full[m.id] = nil
		for _, k := range m.current {
			if k.id == connectorTask || !exists(k) {
				continue
			}
			if held[k] {
				revoked[m.id] = append(revoked[m.id], k)
				continue
			}
			held[k] = true
			full[m.id] = append(full[m.id], k)
			load[m.id]++
		}
	}
	total := 0
	for _, n := range tasks {
		total += n
	}
	if len(members) > 0 {
		// Balanced means every member runs floor(total/members) tasks and
		// total%members of them one more: members already running the
		// most keep the extra one, so a member that joins (a pool scaling
		// out) gets tasks even when ceil(total/members) would fit the rest.
		floor, extra := total/len(members), total%len(members)
		byLoad := slices.Clone(members)
		sort.SliceStable(byLoad, func(i, j int) bool { return load[byLoad[i].id] > load[byLoad[j].id] })
		fairOf := map[string]int{}
		for _, m := range byLoad {
			fairOf[m.id] = floor
			if extra > 0 && load[m.id] > floor {
				fairOf[m.id] = floor + 1
				extra--
			}
		}
		for _, m := range members {
			fair := fairOf[m.id]
			for load[m.id] > fair {
				// Give up the highest task of the connector this member
				// runs most tasks of, so connectors spread out.
				ks := full[m.id]
				sortTaskKeys(ks)
				per := map[string]int{}
				for _, k := range ks {
					per[k.conn]++
				}
				pick := -1
				for i := len(ks) - 1; i >= 0; i-- {
					if pick < 0 || per[ks[i].conn] > per[ks[pick].conn] {
						pick = i
					}
				}
				revoked[m.id] = append(revoked[m.id], ks[pick])
				full[m.id] = append(ks[:pick:pick], ks[pick+1:]...)
				load[m.id]--
			}
		}
	}
	// Unheld tasks to the least loaded member.
	for _, c := range connectors {
		for i := 0; i < tasks[c]; i++ {
			k := taskKey{c, i}
			if held[k] || len(members) == 0 {
				continue
			}
			best := members[0].id
			for _, m := range members[1:] {
				if load[m.id] < load[best] || load[m.id] == load[best] && connLoad(full[m.id], c) < connLoad(full[best], c) {
					best = m.id
				}
			}
			full[best] = append(full[best], k)
			load[best]++
		}
	}
	for _, c := range connectors {
		full[leaderID] = append(full[leaderID], taskKey{c, connectorTask})
	}
	return full, revoked
}

func connLoad(ks []taskKey, conn string) int {
	n := 0
	for _, k := range ks {
		if k.conn == conn {
			n++
		}
	}
	return n
}

func sortTaskKeys(ks []taskKey) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].conn != ks[j].conn {
			return ks[i].conn < ks[j].conn
		}
		return ks[i].id < ks[j].id
	})
}

func toTaskMap(ks []taskKey) map[string][]int {
	out := map[string][]int{}
	for _, k := range ks {
		out[k.conn] = append(out[k.conn], k.id)
	}
	return out
}

func fromTaskMap(m map[string][]int) []taskKey {
	var out []taskKey
	for c, ids := range m {
		for _, id := range ids {
			out = append(out, taskKey{c, id})
		}
	}
	return out
}
