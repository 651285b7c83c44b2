package controller

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"
)

type testCluster struct {
	t     *testing.T
	peers map[int32]string
	dirs  map[int32]string
	nodes map[int32]*Node
}

func newTestCluster(t *testing.T, n int) *testCluster {
	c := &testCluster{t: t, peers: map[int32]string{}, dirs: map[int32]string{}, nodes: map[int32]*Node{}}
	lns := map[int32]net.Listener{}
	for i := int32(1); i <= int32(n); i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns[i] = ln
		c.peers[i] = ln.Addr().String()
		c.dirs[i] = t.TempDir()
	}
	for id, ln := range lns {
		c.start(id, ln)
	}
	t.Cleanup(func() {
		for _, n := range c.nodes {
			n.Stop()
		}
	})
	return c
}

func (c *testCluster) start(id int32, ln net.Listener) {
	var err error
	if ln == nil {
		// Rebind the same port after a restart.
		for i := 0; ; i++ {
			if ln, err = net.Listen("tcp", c.peers[id]); err == nil || i > 50 {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			c.t.Fatal(err)
		}
	}
	n, err := Start(Config{ID: id, Peers: c.peers, Dir: c.dirs[id], Listener: ln,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Tick: 20 * time.Millisecond,
		HeartbeatInterval: 50 * time.Millisecond, SessionTimeout: 600 * time.Millisecond, SnapshotEvery: 20})
	if err != nil {
		c.t.Fatal(err)
	}
	c.nodes[id] = n
}

// waitFor polls cond on state changes until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *testCluster) leader() int32 {
	for id, n := range c.nodes {
		if n.Leader() == id {
			return id
		}
	}
	return 0
}

func TestNodeQuorumFailover(t *testing.T) {
	c := newTestCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for id, n := range c.nodes {
		if r, err := n.Propose(ctx, &Cmd{Op: OpRegister, Broker: &BrokerInfo{ID: id, Host: "127.0.0.1", Port: 9000 + id}}); err != nil || r.Err != nil {
			t.Fatalf("register %d: %v %v", id, err, r.Err)
		}
	}
	allLive := func(n *Node, ids ...int32) bool {
		for _, id := range ids {
			if !n.State().Live(id) {
				return false
			}
		}
		return true
	}
	waitFor(t, "all brokers unfenced by heartbeats", func() bool { return allLive(c.nodes[1], 1, 2, 3) })
	if r, err := c.nodes[2].Propose(ctx, &Cmd{Op: OpCreateTopic, Topic: "t", TopicID: [16]byte{7}, Partitions: 3, RF: 3}); err != nil || r.Err != nil {
		t.Fatalf("create topic: %v %v", err, r.Err)
	}
	// Enough commands to force snapshots and WAL rewrites.
	for i := 0; i < 30; i++ {
		if _, err := c.nodes[int32(1+i%3)].Propose(ctx, &Cmd{Op: OpAllocProducerIDs, Count: 10}); err != nil {
			t.Fatal(err)
		}
	}
	lead := c.leader()
	if lead == 0 {
		t.Fatal("no leader")
	}
	c.nodes[lead].Stop()
	delete(c.nodes, lead)
	var other int32
	for id := range c.nodes {
		other = id
	}
	waitFor(t, "a new controller fences the stopped one", func() bool {
		st := c.nodes[other].State()
		nl := c.leader()
		return nl != 0 && nl != lead && st.Brokers[lead].Fenced
	})
	st := c.nodes[other].State()
	for i, p := range st.Topics["t"].Partitions {
		if p.Leader == lead || p.Leader == -1 {
			t.Fatalf("partition %d still led by %d after fencing %d: %+v", i, p.Leader, lead, p)
		}
	}
	if _, err := c.nodes[other].Propose(ctx, &Cmd{Op: OpAllocProducerIDs, Count: 1}); err != nil {
		t.Fatalf("two of three voters must keep committing: %v", err)
	}
	// Restart from disk: it recovers its state and catches up.
	c.start(lead, nil)
	waitFor(t, "restarted node catches up and is unfenced", func() bool {
		a, b := c.nodes[lead].State(), c.nodes[other].State()
		return a.Applied == b.Applied && a.NextProducerID == b.NextProducerID && allLive(c.nodes[other], 1, 2, 3)
	})
	if got := c.nodes[lead].State().NextProducerID; got != 301 {
		t.Fatalf("restarted node NextProducerID = %d, want 301", got)
	}
	if _, ok := c.nodes[lead].State().Topics["t"]; !ok {
		t.Fatal("restarted node lost topic t")
	}
}

func TestParseQuorum(t *testing.T) {
	tests := []struct {
		in   string
		want int
		err  bool
	}{
		{"1@127.0.0.1:9093,2@127.0.0.1:9094,3@127.0.0.1:9095", 3, false},
		{"1@h:1", 1, false},
		{"1@h:1,1@h:2", 0, true},
		{"0@h:1", 0, true},
		{"x@h:1", 0, true},
		{"1=h:1", 0, true},
		{"1@nohost", 0, true},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.in), func(t *testing.T) {
			got, err := ParseQuorum(tt.in)
			if (err != nil) != tt.err || len(got) != tt.want {
				t.Fatalf("ParseQuorum(%q) = %v, %v", tt.in, got, err)
			}
		})
	}
}
