package controller

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// ParseQuorum parses "1@host:port,2@host:port,...".
func ParseQuorum(s string) (map[int32]string, error) {
	out := map[int32]string{}
	for i, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		id, addr, ok := strings.Cut(part, "@")
		if !ok {
			return nil, fmt.Errorf("controller quorum entry %d %q: want id@host:port", i+1, part)
		}
		n, err := strconv.ParseInt(id, 10, 32)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("controller quorum entry %d %q: id must be a positive integer", i+1, part)
		}
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("controller quorum entry %d %q: %v", i+1, part, err)
		}
		if _, dup := out[int32(n)]; dup {
			return nil, fmt.Errorf("controller quorum: id %d listed twice", n)
		}
		out[int32(n)] = addr
	}
	return out, nil
}

// Config configures a Node.
type Config struct {
	ID    int32            // this node's id; must be a key of Peers
	Peers map[int32]string // every voter's controller address, this node's included
	Dir   string           // where the WAL and snapshot live
	// Listener, when set, is used instead of listening on Peers[ID].
	Listener net.Listener
	Logger   *slog.Logger

	Tick              time.Duration // Raft tick (default 100ms)
	ElectionTicks     int           // default 10
	HeartbeatInterval time.Duration // broker heartbeat to the controller (default 250ms)
	SessionTimeout    time.Duration // fence a broker silent this long (default 3s)
	SnapshotEvery     uint64        // applied entries between snapshots (default 1000)
	// PreferredElectionInterval is how often the active controller moves
	// leadership back to each partition's preferred (first) replica when
	// it is live and in sync (auto.leader.rebalance; default 5 minutes,
	// negative disables).
	PreferredElectionInterval time.Duration
}

// ErrStopped is returned by calls on a stopped node.
var ErrStopped = errors.New("controller: node stopped")

// ErrNoLeader is returned when a proposal could not reach a controller
// leader before the context ended.
var ErrNoLeader = errors.New("controller: no active controller")

type proposal struct {
	data []byte
}

type heartbeat struct {
	conn  net.Conn
	from  int32
	epoch int64
}

// Node is one voter of the metadata quorum.
type Node struct {
	cfg Config
	lg  *slog.Logger

	rn   *raft.RawNode
	ms   *raft.MemoryStorage
	disk *disk
	tr   *transport

	snapIndex uint64
	confState *pb.ConfState

	state   atomic.Pointer[State]
	chMu    sync.Mutex
	changed chan struct{}

	propc   chan proposal
	recvc   chan *pb.Message
	hbc     chan heartbeat
	unreach chan int32

	wmu     sync.Mutex
	waiters map[uint64]chan Result

	lead    atomic.Uint64
	silent  atomic.Bool  // StopHeartbeats was called
	lastAck atomic.Int64 // unix nanos of the last heartbeat answer (or leadership)

	// leader-only liveness bookkeeping, touched by the loop only
	seen     map[int32]time.Time
	pending  map[int32]time.Time
	wasLead  bool
	lastPref time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start opens the node's storage, starts its transport and Raft loop.
func Start(cfg Config) (*Node, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = 100 * time.Millisecond
	}
	if cfg.ElectionTicks <= 0 {
		cfg.ElectionTicks = 10
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 250 * time.Millisecond
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 3 * time.Second
	}
	if cfg.PreferredElectionInterval == 0 {
		cfg.PreferredElectionInterval = 5 * time.Minute
	}
	if cfg.SnapshotEvery == 0 {
		cfg.SnapshotEvery = 1000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if _, ok := cfg.Peers[cfg.ID]; !ok {
		return nil, fmt.Errorf("controller: node id %d is not in the controller quorum", cfg.ID)
	}
	var voters []uint64
	for id := range cfg.Peers {
		voters = append(voters, uint64(id))
	}
	sort.Slice(voters, func(i, j int) bool { return voters[i] < voters[j] })
	d, ms, snap, err := openDisk(cfg.Dir, voters)
	if err != nil {
		return nil, err
	}
	st := NewState()
	if err := json.Unmarshal(snap.GetData(), st); err != nil {
		d.close()
		return nil, fmt.Errorf("controller: decode snapshot state: %w", err)
	}
	if st.Brokers == nil {
		st.Brokers = map[int32]*BrokerInfo{}
	}
	if st.Topics == nil {
		st.Topics = map[string]*Topic{}
	}
	st.Applied = snap.GetMetadata().GetIndex()
	n := &Node{cfg: cfg, lg: cfg.Logger.With("component", "controller", "node_id", cfg.ID),
		ms: ms, disk: d, snapIndex: st.Applied, confState: snap.GetMetadata().GetConfState(),
		changed: make(chan struct{}),
		propc:   make(chan proposal, 64), recvc: make(chan *pb.Message, 1024),
		hbc: make(chan heartbeat, 64), unreach: make(chan int32, 64),
		waiters: map[uint64]chan Result{}, seen: map[int32]time.Time{}, pending: map[int32]time.Time{}}
	n.state.Store(st)
	rn, err := raft.NewRawNode(&raft.Config{
		ID: uint64(cfg.ID), ElectionTick: cfg.ElectionTicks, HeartbeatTick: 1,
		Storage: ms, Applied: st.Applied,
		MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256,
		CheckQuorum: true, PreVote: true,
		Logger: raftLogger{n.lg},
	})
	if err != nil {
		d.close()
		return nil, fmt.Errorf("controller: raft: %w", err)
	}
	n.rn = rn
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Peers[cfg.ID]); err != nil {
			d.close()
			return nil, fmt.Errorf("controller: listen %s: %w", cfg.Peers[cfg.ID], err)
		}
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	n.tr = newTransport(cfg.ID, ln, cfg.Peers, n.lg, n.deliver, func(p int32) {
		select {
		case n.unreach <- p:
		default:
		}
	})
	n.wg.Add(2)
	go n.loop()
	go n.heartbeats()
	n.lg.Info("controller started", "listen", ln.Addr().String(), "voters", voters, "applied", st.Applied)
	return n, nil
}

// Addr is the controller listener's address.
func (n *Node) Addr() string { return n.tr.ln.Addr().String() }

// Stop stops the loop and the transport and closes the WAL.
func (n *Node) Stop() error {
	n.cancel()
	n.tr.close()
	n.wg.Wait()
	n.wmu.Lock()
	for id, ch := range n.waiters {
		delete(n.waiters, id)
		close(ch)
	}
	n.wmu.Unlock()
	n.chMu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.chMu.Unlock()
	return n.disk.close()
}

// State returns the latest applied state; it must not be modified.
func (n *Node) State() *State { return n.state.Load() }

// Changed returns a channel closed at the next state change.
func (n *Node) Changed() <-chan struct{} {
	n.chMu.Lock()
	defer n.chMu.Unlock()
	return n.changed
}

// StopHeartbeats stops this node's broker heartbeats (controlled
// shutdown: the broker must stay fenced until it stops).
func (n *Node) StopHeartbeats() { n.silent.Store(true) }

// Leader returns the active controller's id (0 = none known).
func (n *Node) Leader() int32 { return int32(n.lead.Load()) }

// InContact reports whether this node heard from the active controller
// (or was it) within the session timeout.
func (n *Node) InContact() bool {
	return time.Since(time.Unix(0, n.lastAck.Load())) < n.cfg.SessionTimeout
}

// Propose proposes c and waits until it is applied, re-proposing while no
// leader takes it, until ctx ends.
func (n *Node) Propose(ctx context.Context, c *Cmd) (Result, error) {
	var id [8]byte
	rand.Read(id[:])
	c.ReqID = binary.BigEndian.Uint64(id[:]) | 1
	ch := make(chan Result, 1)
	n.wmu.Lock()
	n.waiters[c.ReqID] = ch
	n.wmu.Unlock()
	defer func() {
		n.wmu.Lock()
		delete(n.waiters, c.ReqID)
		n.wmu.Unlock()
	}()
	data := c.Encode()
	retry := time.NewTimer(0)
	defer retry.Stop()
	for {
		select {
		case <-retry.C:
			select {
			case n.propc <- proposal{data: data}:
			case <-ctx.Done():
				return Result{}, fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
			case <-n.ctx.Done():
				return Result{}, ErrStopped
			}
			retry.Reset(2 * time.Second)
		case r, ok := <-ch:
			if !ok {
				return Result{}, ErrStopped
			}
			return r, nil
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w: %v", ErrNoLeader, ctx.Err())
		case <-n.ctx.Done():
			return Result{}, ErrStopped
		}
	}
}

// deliver is called by transport readers.
func (n *Node) deliver(c net.Conn, f frame) {
	switch f.kind {
	case kindRaft:
		m := &pb.Message{}
		if err := proto.Unmarshal(f.body, m); err != nil {
			n.lg.Warn("controller transport: bad raft message", "err", err)
			return
		}
		select {
		case n.recvc <- m:
		case <-n.ctx.Done():
		}
	case kindHB:
		from, epoch, err := decodeHB(f.body)
		if err != nil {
			n.lg.Warn("controller transport: bad heartbeat", "err", err)
			return
		}
		select {
		case n.hbc <- heartbeat{conn: c, from: from, epoch: epoch}:
		default:
		}
	case kindHBAck:
		from, _, err := decodeHB(f.body)
		if err == nil && uint64(from) == n.lead.Load() {
			n.lastAck.Store(time.Now().UnixNano())
		}
	}
}

// heartbeats sends this node's heartbeat to the active controller.
func (n *Node) heartbeats() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		lead := int32(n.lead.Load())
		if lead == 0 || lead == n.cfg.ID || n.silent.Load() {
			continue // the leader's own liveness is recorded in the loop
		}
		var epoch int64
		if b, ok := n.State().Brokers[n.cfg.ID]; ok {
			epoch = b.Epoch
		}
		n.tr.send(lead, frame{kind: kindHB, body: encodeHB(n.cfg.ID, epoch)})
	}
}

func (n *Node) loop() {
	defer n.wg.Done()
	tick := time.NewTicker(n.cfg.Tick)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
			n.rn.Tick()
			n.checkLiveness(time.Now())
		case m := <-n.recvc:
			if err := n.rn.Step(m); err != nil && !errors.Is(err, raft.ErrStepPeerNotFound) {
				n.lg.Debug("raft step", "err", err)
			}
		case p := <-n.propc:
			// Dropped proposals (no leader yet) are re-sent by Propose.
			_ = n.rn.Propose(p.data)
		case hb := <-n.hbc:
			if n.lead.Load() == uint64(n.cfg.ID) {
				n.seen[hb.from] = time.Now()
				n.tr.reply(hb.conn, frame{kind: kindHBAck, body: encodeHB(n.cfg.ID, 0)})
			}
		case p := <-n.unreach:
			n.rn.ReportUnreachable(uint64(p))
		}
		for n.rn.HasReady() {
			if err := n.handleReady(n.rn.Ready()); err != nil {
				// The WAL could not be written: this voter must not go on
				// acknowledging entries it may not have stored.
				n.lg.Error("CONTROLLER OFFLINE: metadata log write failed", "err", err)
				n.cancel()
				return
			}
		}
	}
}

func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		n.lead.Store(rd.SoftState.Lead)
		if rd.SoftState.Lead == uint64(n.cfg.ID) && rd.SoftState.RaftState == raft.StateLeader {
			if !n.wasLead {
				// A new controller gives every broker a full session.
				now := time.Now()
				for id := range n.State().Brokers {
					n.seen[id] = now
				}
				clear(n.pending)
				n.lastPref = time.Time{}
				n.lg.Info("became active controller")
			}
			n.wasLead = true
		} else {
			n.wasLead = false
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		if err := writeSnapshot(n.disk.dir, rd.Snapshot); err != nil {
			return err
		}
		if err := n.ms.ApplySnapshot(rd.Snapshot); err != nil {
			return err
		}
		st := NewState()
		if err := json.Unmarshal(rd.Snapshot.GetData(), st); err != nil {
			return fmt.Errorf("decode received snapshot: %w", err)
		}
		st.Applied = rd.Snapshot.GetMetadata().GetIndex()
		n.snapIndex = st.Applied
		n.confState = rd.Snapshot.GetMetadata().GetConfState()
		n.publish(st)
	}
	if err := n.disk.save(rd.Entries, rd.HardState, rd.MustSync); err != nil {
		return err
	}
	if err := n.ms.Append(rd.Entries); err != nil {
		return err
	}
	if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
		if err := n.ms.SetHardState(rd.HardState); err != nil {
			return err
		}
	}
	for _, m := range rd.Messages {
		if m.GetTo() == uint64(n.cfg.ID) {
			n.rn.Step(m)
			continue
		}
		b, err := proto.Marshal(m)
		if err != nil {
			return err
		}
		n.tr.send(int32(m.GetTo()), frame{kind: kindRaft, body: b})
		if m.GetType() == pb.MsgSnap {
			n.rn.ReportSnapshot(m.GetTo(), raft.SnapshotFinish)
		}
	}
	if len(rd.CommittedEntries) > 0 {
		n.apply(rd.CommittedEntries)
	}
	n.rn.Advance(rd)
	if st := n.State(); st.Applied-n.snapIndex >= n.cfg.SnapshotEvery {
		if err := n.snapshot(st); err != nil {
			n.lg.Warn("metadata snapshot failed", "err", err)
		}
	}
	return nil
}

// apply applies committed entries to a copy of the state and publishes it.
func (n *Node) apply(ents []*pb.Entry) {
	st := n.State().Clone()
	type done struct {
		id  uint64
		res Result
	}
	var results []done
	for _, e := range ents {
		if e.GetIndex() <= st.Applied {
			continue
		}
		st.Applied = e.GetIndex()
		if e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
			continue
		}
		var c Cmd
		if err := json.Unmarshal(e.GetData(), &c); err != nil {
			n.lg.Error("undecodable metadata command skipped", "index", e.GetIndex(), "err", err)
			continue
		}
		r := st.Apply(&c)
		if r.Err != nil {
			n.lg.Debug("metadata command rejected", "op", c.Op, "err", r.Err.Msg)
		}
		results = append(results, done{c.ReqID, r})
	}
	n.publish(st)
	n.wmu.Lock()
	for _, d := range results {
		if ch, ok := n.waiters[d.id]; ok {
			select {
			case ch <- d.res:
			default:
			}
		}
	}
	n.wmu.Unlock()
}

func (n *Node) publish(st *State) {
	n.state.Store(st)
	n.chMu.Lock()
	close(n.changed)
	n.changed = make(chan struct{})
	n.chMu.Unlock()
}

// snapshot persists st and compacts the in-memory log and the WAL.
func (n *Node) snapshot(st *State) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	snap, err := n.ms.CreateSnapshot(st.Applied, n.confState, data)
	if err != nil {
		return err
	}
	last, _ := n.ms.LastIndex()
	var ents []*pb.Entry
	if last > st.Applied {
		if ents, err = n.ms.Entries(st.Applied+1, last+1, 1<<62); err != nil {
			return err
		}
	}
	hs, _, _ := n.ms.InitialState()
	if err := n.disk.compact(snap, hs, ents); err != nil {
		return err
	}
	if err := n.ms.Compact(st.Applied); err != nil {
		return err
	}
	n.snapIndex = st.Applied
	return nil
}

// checkLiveness runs on the active controller: fence silent brokers,
// unfence those heard from again.
func (n *Node) checkLiveness(now time.Time) {
	if n.lead.Load() != uint64(n.cfg.ID) || !n.wasLead {
		return
	}
	n.lastAck.Store(now.UnixNano())
	if !n.silent.Load() {
		n.seen[n.cfg.ID] = now
	}
	for id, b := range n.State().Brokers {
		seen, ok := n.seen[id]
		alive := ok && now.Sub(seen) < n.cfg.SessionTimeout
		var op Op
		switch {
		case alive && b.Fenced:
			op = OpUnfence
		case !alive && !b.Fenced:
			op = OpFence
		default:
			delete(n.pending, id)
			continue
		}
		if p, ok := n.pending[id]; ok && now.Sub(p) < time.Second {
			continue
		}
		n.pending[id] = now
		if op == OpFence {
			n.lg.Warn("broker session expired, fencing it", "broker", id, "silent_for", now.Sub(seen).String())
		}
		c := Cmd{Op: op, BrokerID: id}
		_ = n.rn.Propose(c.Encode())
	}
	if iv := n.cfg.PreferredElectionInterval; iv > 0 && now.Sub(n.lastPref) >= iv {
		if n.lastPref.IsZero() {
			// A new controller waits one interval before rebalancing.
			n.lastPref = now
			return
		}
		n.lastPref = now
		for _, c := range PreferredElections(n.State(), 100) {
			_ = n.rn.Propose(c.Encode())
		}
	}
}

// PreferredElections returns up to max elect_preferred commands for
// partitions whose preferred replica is live, in sync and not leading.
func PreferredElections(s *State, max int) []Cmd {
	var out []Cmd
	s.eachPartition(func(t *Topic, i int32, p *Partition) {
		if len(out) >= max || len(p.Replicas) == 0 {
			return
		}
		pref := p.Replicas[0]
		if p.Leader != pref && s.Live(pref) && slices.Contains(p.ISR, pref) {
			out = append(out, Cmd{Op: OpElectPreferred, Topic: t.Name, Partition: i})
		}
	})
	return out
}

// raftLogger sends etcd raft's log lines to slog.
type raftLogger struct{ lg *slog.Logger }

func (l raftLogger) Debug(v ...any)                 { l.lg.Debug(fmt.Sprint(v...)) }
func (l raftLogger) Debugf(format string, v ...any) { l.lg.Debug(fmt.Sprintf(format, v...)) }
func (l raftLogger) Error(v ...any)                 { l.lg.Error(fmt.Sprint(v...)) }
func (l raftLogger) Errorf(format string, v ...any) { l.lg.Error(fmt.Sprintf(format, v...)) }
func (l raftLogger) Info(v ...any)                  { l.lg.Debug(fmt.Sprint(v...)) }
func (l raftLogger) Infof(format string, v ...any)  { l.lg.Debug(fmt.Sprintf(format, v...)) }
func (l raftLogger) Warning(v ...any)               { l.lg.Warn(fmt.Sprint(v...)) }
func (l raftLogger) Warningf(format string, v ...any) {
	l.lg.Warn(fmt.Sprintf(format, v...))
}
func (l raftLogger) Fatal(v ...any)                 { panic(fmt.Sprint(v...)) }
func (l raftLogger) Fatalf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }
func (l raftLogger) Panic(v ...any)                 { panic(fmt.Sprint(v...)) }
func (l raftLogger) Panicf(format string, v ...any) { panic(fmt.Sprintf(format, v...)) }
