package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// connectorTask is the task index that names the connector instance itself
// in a ConnectMemberAssignment, as in Kafka Connect.
const connectorTask = -1

// connectProtocol is the eager Connect protocol name.
const connectProtocol = "default"

// assignment is what one rebalance gave this worker.
type assignment struct {
	generation   int32
	memberID     string
	leaderID     string
	leaderURL    string
	configOffset int64
	// tasks per connector; connectorTask marks the connector itself.
	tasks    map[string][]int
	isLeader bool
	members  map[string]string // member id -> REST URL (leader only)
}

// memberHooks connects the group member to the worker.
type memberHooks struct {
	// metadata returns the worker's config offset for JoinGroup.
	configOffset func() int64
	// revoke stops everything before (re)joining (eager protocol).
	revoke func()
	// assign computes the assignment as leader; it must read the config
	// topic to its end first.
	assign func(ctx context.Context, gen int32, leaderID string, members []kmsg.JoinGroupResponseMember) (map[string][]byte, error)
	// assigned delivers this worker's assignment.
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

	mu       sync.Mutex
	memberID string
	gen      int32
	inGroup  bool
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

// run joins the group and keeps the membership until ctx ends; then it
// leaves the group unless leave is false.
func (m *member) run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		m.hooks.revoke()
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
		m.heartbeat(ctx)
	}
}

func (m *member) join(ctx context.Context) (assignment, error) {
	meta := kmsg.ConnectMemberMetadata{Version: 0, URL: m.url, ConfigOffset: m.hooks.configOffset()}
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
				m.setMember("", -1)
				if attempt < 3 {
					continue
				}
			case errors.Is(err, kerr.RebalanceInProgress) && attempt < 10:
				continue
			}
			return assignment{}, fmt.Errorf("JoinGroup: %w", err)
		}
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
			a.members = map[string]string{}
			for _, mem := range resp.Members {
				var md kmsg.ConnectMemberMetadata
				if err := md.ReadFrom(mem.ProtocolMetadata); err == nil {
					a.members[mem.MemberID] = md.URL
				}
			}
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
				m.setMember("", -1)
			}
			return assignment{}, fmt.Errorf("SyncGroup: %w", err)
		}
		var ca kmsg.ConnectMemberAssignment
		if err := ca.ReadFrom(sresp.MemberAssignment); err != nil {
			return assignment{}, fmt.Errorf("decoding connect assignment: %w", err)
		}
		if ca.Error != 0 {
			return assignment{}, fmt.Errorf("leader reported assignment error %d", ca.Error)
		}
		a.leaderURL = ca.LeaderURL
		a.configOffset = ca.ConfigOffset
		a.tasks = map[string][]int{}
		for _, as := range ca.Assignment {
			for _, t := range as.Tasks {
				a.tasks[as.Connector] = append(a.tasks[as.Connector], int(t))
			}
		}
		m.mu.Lock()
		m.inGroup = true
		m.mu.Unlock()
		return a, nil
	}
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
	lastOK := time.Now()
	for {
		if time.Since(lastOK) > m.cfg.SessionTimeout {
			// The coordinator has most likely expired this member and given
			// its work to others: stop before rejoining to avoid zombies.
			m.log.Warn("no successful heartbeat within the session timeout; rejoining")
			m.setMember("", -1)
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
				m.setMember("", -1)
			}
			m.log.Info("worker group rebalancing", "reason", err.Error())
			return
		}
		lastOK = time.Now()
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

// generation returns the current generation (-1 while not in the group).
func (m *member) generation() int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.gen
}

// encodeAssignment builds a ConnectMemberAssignment.
func encodeAssignment(leaderID, leaderURL string, configOffset int64, tasks map[string][]int) []byte {
	ca := kmsg.ConnectMemberAssignment{Version: 0, Leader: leaderID, LeaderURL: leaderURL, ConfigOffset: configOffset}
	names := make([]string, 0, len(tasks))
	for n := range tasks {
		names = append(names, n)
	}
	sortStrings(names)
	for _, n := range names {
		as := kmsg.ConnectMemberAssignmentAssignment{Connector: n}
		for _, t := range tasks[n] {
			as.Tasks = append(as.Tasks, int16(t))
		}
		ca.Assignment = append(ca.Assignment, as)
	}
	return ca.AppendTo(nil)
}
