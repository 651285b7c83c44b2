package controller

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// simNode is one voter driven by hand: its Ready is handled the way Node
// handles it (persist to the WAL, send, apply, advance), with messages going
// to a simulated network that drops and reorders them.
type simNode struct {
	id    uint64
	dir   string
	rn    *raft.RawNode
	ms    *raft.MemoryStorage
	d     *disk
	st    *State
	down  bool
	byIdx map[uint64]string // applied command per index
}

type sim struct {
	t       *testing.T
	rng     *rand.Rand
	nodes   map[uint64]*simNode
	net     []*pb.Message
	cut     map[uint64]bool // isolated nodes
	leaders map[uint64]uint64
	applied map[uint64]string // first applied command per index, over all nodes
}

func newSim(t *testing.T, seed uint64, n int) *sim {
	s := &sim{t: t, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b9)), nodes: map[uint64]*simNode{},
		cut: map[uint64]bool{}, leaders: map[uint64]uint64{}, applied: map[uint64]string{}}
	for i := 1; i <= n; i++ {
		sn := &simNode{id: uint64(i), dir: t.TempDir()}
		s.nodes[sn.id] = sn
	}
	for _, sn := range s.nodes {
		s.start(sn)
	}
	return s
}

func (s *sim) voters() []uint64 {
	var v []uint64
	for id := uint64(1); id <= uint64(len(s.nodes)); id++ {
		v = append(v, id)
	}
	return v
}

// start opens (or reopens after a crash) a node from its directory.
func (s *sim) start(sn *simNode) {
	d, ms, snap, err := openDisk(sn.dir, s.voters())
	if err != nil {
		s.t.Fatal(err)
	}
	st := NewState()
	if err := json.Unmarshal(snap.GetData(), st); err != nil {
		s.t.Fatal(err)
	}
	st.Applied = snap.GetMetadata().GetIndex()
	rn, err := raft.NewRawNode(&raft.Config{ID: sn.id, ElectionTick: 10, HeartbeatTick: 1, Storage: ms,
		Applied: st.Applied, MaxSizePerMsg: 1 << 20, MaxInflightMsgs: 256, CheckQuorum: true, PreVote: true,
		Logger: raftLogger{lg: discardLogger()}})
	if err != nil {
		s.t.Fatal(err)
	}
	sn.rn, sn.ms, sn.d, sn.st, sn.down = rn, ms, d, st, false
	sn.byIdx = map[uint64]string{}
}

func (s *sim) crash(sn *simNode) {
	sn.d.close()
	sn.down = true
}

// ready drains sn's Ready the way Node.handleReady does.
func (s *sim) ready(sn *simNode) {
	for sn.rn.HasReady() {
		rd := sn.rn.Ready()
		if rd.SoftState != nil && rd.SoftState.RaftState == raft.StateLeader {
			term := sn.rn.BasicStatus().GetTerm()
			if prev, ok := s.leaders[term]; ok && prev != sn.id {
				s.t.Fatalf("two leaders in term %d: %d and %d", term, prev, sn.id)
			}
			s.leaders[term] = sn.id
		}
		if !raft.IsEmptySnap(rd.Snapshot) {
			if err := writeSnapshot(sn.dir, rd.Snapshot); err != nil {
				s.t.Fatal(err)
			}
			sn.ms.ApplySnapshot(rd.Snapshot)
			st := NewState()
			json.Unmarshal(rd.Snapshot.GetData(), st)
			st.Applied = rd.Snapshot.GetMetadata().GetIndex()
			sn.st = st
		}
		if err := sn.d.save(rd.Entries, rd.HardState, rd.MustSync); err != nil {
			s.t.Fatal(err)
		}
		sn.ms.Append(rd.Entries)
		if rd.HardState != nil && !raft.IsEmptyHardState(rd.HardState) {
			sn.ms.SetHardState(rd.HardState)
		}
		for _, m := range rd.Messages {
			// Clone: a real transport serializes, and raft keeps (and
			// stamps) the entry pointers it receives.
			s.net = append(s.net, proto.Clone(m).(*pb.Message))
		}
		for _, e := range rd.CommittedEntries {
			if e.GetIndex() <= sn.st.Applied {
				continue
			}
			sn.st.Applied = e.GetIndex()
			if e.GetType() != pb.EntryNormal || len(e.GetData()) == 0 {
				continue
			}
			data := string(e.GetData())
			if prev, ok := s.applied[e.GetIndex()]; ok && prev != data {
				s.t.Fatalf("node %d applied %s at index %d, another node applied %s", sn.id, data, e.GetIndex(), prev)
			}
			s.applied[e.GetIndex()] = data
			var c Cmd
			if err := json.Unmarshal(e.GetData(), &c); err != nil {
				s.t.Fatal(err)
			}
			sn.st.Apply(&c)
		}
		sn.rn.Advance(rd)
	}
}

// step runs one random event: tick, deliver, drop, duplicate, propose.
func (s *sim) step(proposals *int, lossy bool) {
	ids := s.voters()
	sn := s.nodes[ids[s.rng.IntN(len(ids))]]
	switch r := s.rng.IntN(100); {
	case r < 30:
		if !sn.down {
			sn.rn.Tick()
		}
	case r < 85 && len(s.net) > 0:
		// Deliver a random queued message (reordering), maybe dropping or
		// duplicating it.
		i := s.rng.IntN(len(s.net))
		m := s.net[i]
		s.net = append(s.net[:i], s.net[i+1:]...)
		if lossy && s.rng.IntN(10) == 0 {
			break
		}
		if lossy && s.rng.IntN(20) == 0 {
			s.net = append(s.net, proto.Clone(m).(*pb.Message))
		}
		to := s.nodes[m.GetTo()]
		if to == nil || to.down || s.cut[m.GetTo()] || s.cut[m.GetFrom()] {
			break
		}
		if dbg && (m.GetType() == pb.MsgVote || m.GetType() == pb.MsgVoteResp || m.GetType() == pb.MsgPreVote || m.GetType() == pb.MsgPreVoteResp) {
			s.t.Logf("deliver %s %d->%d term %d reject %v", m.GetType(), m.GetFrom(), m.GetTo(), m.GetTerm(), m.GetReject())
		}
		to.rn.Step(m)
	case r < 92:
		if lossy && !sn.down {
			*proposals++
			c := Cmd{Op: OpAllocProducerIDs, Count: int64(*proposals)}
			sn.rn.Propose(c.Encode())
		}
	}
	for _, n := range s.nodes {
		if !n.down {
			s.ready(n)
		}
	}
}

var dbg bool

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRaftSimulation(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			s := newSim(t, seed, 3)
			props := 0
			for i := 0; i < 4000; i++ {
				s.step(&props, true)
				switch i {
				case 1000:
					// Isolate whoever leads now.
					for id, n := range s.nodes {
						if n.rn.BasicStatus().RaftState == raft.StateLeader {
							s.cut[id] = true
						}
					}
				case 2000:
					clear(s.cut)
				case 2500:
					s.crash(s.nodes[uint64(1+seed%3)])
				case 3000:
					s.start(s.nodes[uint64(1+seed%3)])
				}
			}
			// Heal: no loss, no cut, until everyone applied the same log.
			for i := 0; i < 20000; i++ {
				s.step(&props, false)
				if i > 2000 && s.converged() {
					break
				}
			}
			if !s.converged() {
				for id, n := range s.nodes {
					t.Logf("node %d applied %d", id, n.st.Applied)
				}
				t.Fatal("nodes did not converge after healing")
			}
			if len(s.leaders) < 2 {
				t.Fatalf("leaders per term %v: the isolated leader was never replaced", s.leaders)
			}
			var want []byte
			for _, n := range s.nodes {
				got, _ := json.Marshal(n.st)
				if want == nil {
					want = got
				} else if string(got) != string(want) {
					t.Fatalf("states differ:\n%s\n%s", got, want)
				}
			}
			if s.nodes[1].st.NextProducerID == 0 {
				t.Fatal("no proposal was ever committed")
			}
		})
	}
}

func (s *sim) converged() bool {
	var applied uint64
	for _, n := range s.nodes {
		if n.down {
			return false
		}
		last, _ := n.ms.LastIndex()
		if n.st.Applied != last {
			return false
		}
		if applied == 0 {
			applied = n.st.Applied
		} else if n.st.Applied != applied {
			return false
		}
	}
	return true
}
