package clustertest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sys/unix"
)

// nsSubnet is the private /24 the namespaced cluster uses: node i is
// nsSubnet.i, the hub (where the test's clients live) nsSubnet.254. Every
// address lives only inside namespaces the test creates.
const nsSubnet = "10.254.211."

// netnsLab is a star of network namespaces: one hub holding a bridge, and
// one namespace per node joined to the bridge by a veth pair.
type netnsLab struct {
	t      *testing.T
	prefix string
	nodes  int
}

func (l *netnsLab) hub() string         { return l.prefix + "-hub" }
func (l *netnsLab) node(i int32) string { return fmt.Sprintf("%s-n%d", l.prefix, i) }
func (l *netnsLab) nodeNames() []string {
	var ns []string
	for i := int32(1); i <= int32(l.nodes); i++ {
		ns = append(ns, l.node(i))
	}
	return ns
}

func nodeIP(i int32) string { return nsSubnet + strconv.Itoa(int(i)) }

func ipCmd(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// newNetnsLab builds the namespaces or skips the test when it cannot
// (not root, no ip netns). The namespaces are removed at cleanup, also
// when the test fails.
func newNetnsLab(t *testing.T, nodes int) *netnsLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("no ip command (iproute2)")
	}
	l := &netnsLab{t: t, prefix: fmt.Sprintf("slc%d", os.Getpid()), nodes: nodes}
	if err := ipCmd("netns", "add", l.hub()); err != nil {
		t.Skipf("ip netns unavailable: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			// Link counters, neighbours and routes help tell a network
			// problem from a broker one.
			for _, ns := range append([]string{l.hub()}, l.nodeNames()...) {
				for _, args := range [][]string{{"-s", "link"}, {"neigh"}, {"route"}} {
					out, _ := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
					t.Logf("--- ip -n %s %s ---\n%s", ns, strings.Join(args, " "), out)
				}
			}
		}
		for i := int32(1); i <= int32(nodes); i++ {
			ipCmd("netns", "del", l.node(i))
		}
		if err := ipCmd("netns", "del", l.hub()); err != nil {
			t.Errorf("removing namespace: %v", err)
		}
	})
	must := func(args ...string) {
		t.Helper()
		if err := ipCmd(args...); err != nil {
			t.Fatal(err)
		}
	}
	must("-n", l.hub(), "link", "set", "lo", "up")
	must("-n", l.hub(), "link", "add", "br0", "type", "bridge")
	must("-n", l.hub(), "addr", "add", nsSubnet+"254/24", "dev", "br0")
	must("-n", l.hub(), "link", "set", "br0", "up")
	for i := int32(1); i <= int32(nodes); i++ {
		ns, hv := l.node(i), fmt.Sprintf("h%d", i)
		must("netns", "add", ns)
		must("-n", ns, "link", "set", "lo", "up")
		must("link", "add", hv, "netns", l.hub(), "type", "veth", "peer", "name", "eth0", "netns", ns)
		must("-n", l.hub(), "link", "set", hv, "master", "br0")
		must("-n", l.hub(), "link", "set", hv, "up")
		must("-n", ns, "addr", "add", nodeIP(i)+"/24", "dev", "eth0")
		must("-n", ns, "link", "set", "eth0", "up")
	}
	return l
}

// partition drops all traffic between node and the other nodes in both
// directions (blackhole routes on each side); the hub, and so the test's
// clients, still reach every node. heal undoes it.
func (l *netnsLab) partition(node int32, cut bool) {
	l.t.Helper()
	op := "add"
	if !cut {
		op = "del"
	}
	for j := int32(1); j <= int32(l.nodes); j++ {
		if j == node {
			continue
		}
		for _, r := range [][2]string{{l.node(node), nodeIP(j)}, {l.node(j), nodeIP(node)}} {
			if err := ipCmd("-n", r[0], "route", op, "blackhole", r[1]+"/32"); err != nil {
				l.t.Fatal(err)
			}
		}
	}
}

// dialer dials from the hub namespace: the socket is created on an OS
// thread moved into the hub (the thread is never unlocked, so it ends with
// its goroutine and no other goroutine runs in the hub namespace).
func (l *netnsLab) dialer() func(ctx context.Context, network, host string) (net.Conn, error) {
	path := "/run/netns/" + l.hub()
	return func(ctx context.Context, network, host string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			f, err := os.Open(path)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			defer f.Close()
			if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", path, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, host)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

// newNetnsCluster is a cluster of n brokers, node i running in namespace
// i on nsSubnet.i.
func newNetnsCluster(t *testing.T, n int, extra ...string) (*cluster, *netnsLab) {
	lab := newNetnsLab(t, n)
	c := newCluster(t, n, extra...)
	c.dial = lab.dialer()
	var parts []string
	for i := int32(1); i <= int32(n); i++ {
		nd := c.nodes[i]
		nd.netns = lab.node(i)
		nd.kafka = nodeIP(i) + ":9092"
		nd.ctrl = nodeIP(i) + ":9093"
		parts = append(parts, fmt.Sprintf("%d@%s", i, nd.ctrl))
	}
	for _, nd := range c.nodes {
		nd.quorum = strings.Join(parts, ",")
	}
	return c, lab
}

// TestNetnsPartitionedLeader partitions the partition leader from the
// other brokers with network namespaces under acks=all load: the isolated
// leader must acknowledge nothing, the majority elects a new leader, and
// after healing the old leader truncates to the majority's log with no
// acknowledged record lost.
func TestNetnsPartitionedLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three broker processes in network namespaces")
	}
	if os.Getenv("SLUICE_NETNS_TESTS") != "1" {
		// The default run partitions nodes with fault-injecting TCP proxies
		// (TestIsolatedLeaderAcceptsNoWrites); this one needs root and
		// iproute2 and once saw a broker not join the quorum within 30 s on
		// a loaded machine, so it runs on request: make test-netns.
		t.Skip("set SLUICE_NETNS_TESTS=1 (make test-netns) to run the network-namespace partition test")
	}
	c, lab := newNetnsCluster(t, 3, fastFlags...)
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.client())
	waitLiveBrokers(t, ctx, adm, 3, 60*time.Second)
	const topic = "netsplit"
	createReplicatedTopic(t, ctx, adm, topic, 1)
	waitFor(t, "a full ISR", 30*time.Second, func() bool {
		_, _, isr, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && len(isr) == 3
	})
	old, oldEpoch, _, err := partitionInfo(ctx, adm, topic, 0)
	if err != nil {
		t.Fatal(err)
	}

	lp := startLoad(t, c, topic)
	waitFor(t, "records acknowledged before the cut", 60*time.Second, func() bool { return lp.n.Load() >= 2000 })
	raw := c.clientOf(map[int32]bool{old: true})
	if code, err := rawProduce(ctx, raw, old, topic, "direct-ok"); err != nil || code != 0 {
		t.Fatalf("produce to the leader before the cut: code %d err %v", code, err)
	}

	lab.partition(old, true)
	t.Logf("partitioned leader %d (epoch %d) after %d acknowledged records", old, oldEpoch, lp.n.Load())
	majority := map[int32]bool{}
	for id := range c.nodes {
		if id != old {
			majority[id] = true
		}
	}
	madm := kadm.NewClient(c.clientOf(majority))
	// The isolated leader is still reachable from the hub: every acks=all
	// produce sent straight to it must fail, before and after the
	// majority has moved on.
	var accepted []string
	var codes []int16
	var newLeader int32 = -1
	var elected time.Time
	deadline := time.Now().Add(60 * time.Second)
	fenced := false
	// Keep trying for a while after the majority elected a new leader:
	// the stale leader may not know it was replaced.
	for i := 0; time.Now().Before(deadline) && (newLeader < 0 || time.Since(elected) < 5*time.Second); i++ {
		v := "stale-" + strconv.Itoa(i)
		code, err := rawProduce(ctx, raw, old, topic, v)
		if err == nil && code == 0 {
			accepted = append(accepted, v)
		}
		codes = append(codes, code)
		fenced = fenced || code == kerr.NotLeaderForPartition.Code
		if newLeader < 0 {
			l, e, _, err := partitionInfo(ctx, madm, topic, 0)
			if err == nil && l >= 0 && l != old && e > oldEpoch {
				newLeader, elected = l, time.Now()
			}
		}
	}
	if len(accepted) > 0 {
		t.Fatalf("the isolated leader acknowledged %d acks=all writes: %v", len(accepted), accepted)
	}
	if newLeader < 0 {
		t.Fatalf("no new leader among the majority; old leader answered codes %v", codes)
	}
	counts := map[int16]int{}
	for _, c := range codes {
		counts[c]++
	}
	t.Logf("leader %d took over; the isolated leader answered %d direct produces by error code %v (fenced itself: %v), none acknowledged", newLeader, len(codes), counts, fenced)
	// The majority accepts acks=all writes. (The load producer may keep
	// asking the isolated broker, which still answers metadata, so the
	// majority is checked with a client that only knows it.)
	mcl := c.clientOf(majority, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	for i := 0; i < 50; i++ {
		if err := mcl.ProduceSync(ctx, &kgo.Record{Value: []byte("after-" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce to the majority: %v", err)
		}
	}

	lab.partition(old, false)
	waitFor(t, "the old leader back in the ISR", 90*time.Second, func() bool {
		_, _, isr, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && slices.Contains(isr, old)
	})
	lp.halt()
	lp.mu.Lock()
	acked := lp.acked
	lp.mu.Unlock()

	vals := readValues(t, c, topic) // from the majority's leader
	assertLog := func(who string, vals []string) {
		t.Helper()
		seen := map[string]bool{}
		for _, v := range vals {
			if strings.HasPrefix(v, "stale-") {
				t.Fatalf("%s: a record the isolated leader never acknowledged is in the log: %s", who, v)
			}
			seen[v] = true
		}
		lost := 0
		for v := range acked {
			if !seen[strconv.Itoa(v)] {
				lost++
			}
		}
		for i := 0; i < 50; i++ {
			if !seen["after-"+strconv.Itoa(i)] {
				t.Fatalf("%s: acknowledged record after-%d missing", who, i)
			}
		}
		if lost > 0 || !seen["direct-ok"] {
			t.Fatalf("%s: %d of %d acknowledged load records lost (direct-ok present: %v)", who, lost, len(acked), seen["direct-ok"])
		}
	}
	assertLog(fmt.Sprintf("leader %d", newLeader), vals)

	// Move leadership back to the old leader and read its own log: it
	// must be the majority's, truncated of its unacknowledged tail.
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	reps := md.Topics[topic].Partitions[0].Replicas
	if reps[0] != old {
		order := []int32{old}
		for _, r := range reps {
			if r != old {
				order = append(order, r)
			}
		}
		alter := kadm.AlterPartitionAssignmentsReq{}
		alter.Assign(topic, 0, order)
		ares, err := adm.AlterPartitionAssignments(ctx, alter)
		if err != nil {
			t.Fatal(err)
		}
		if e := ares.Error(); e != nil {
			t.Fatalf("reorder replicas: %v", e)
		}
		waitFor(t, "the reordered assignment", 30*time.Second, func() bool {
			md, err := adm.Metadata(ctx, topic)
			return err == nil && md.Topics[topic].Partitions[0].Replicas[0] == old
		})
	}
	set := kadm.TopicsSet{}
	set.Add(topic, 0)
	waitFor(t, "the old leader leading again", 60*time.Second, func() bool {
		adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
		l, _, _, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && l == old
	})
	back := readValues(t, c, topic)
	assertLog(fmt.Sprintf("old leader %d", old), back)
	if len(back) < len(vals) || !slices.Equal(back[:len(vals)], vals) {
		t.Fatalf("the old leader's log differs from the majority's in its first %d records", len(vals))
	}
	t.Logf("acknowledged %d (failed %d); majority log %d records; old leader's log matches after healing", len(acked), lp.fails.Load(), len(vals))
}
