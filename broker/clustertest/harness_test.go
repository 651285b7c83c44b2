// Package clustertest runs `sluice broker` clusters as real child
// processes on 127.0.0.1 and checks failover behaviour end to end.
package clustertest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-clustertest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBin, "../../cmd/sluice")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building sluice:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// node is one `sluice broker` child process.
type node struct {
	id       int32
	kafka    string // Kafka listener
	adv      string // advertised address ("" = the listener)
	ctrl     string // controller listener
	quorum   string // this node's view of the quorum addresses
	dataDir  string
	netns    string // network namespace to run in ("" = the test's own)
	extra    []string
	cmd      *exec.Cmd
	out      *syncBuffer
	exited   chan struct{}
	exitOnce sync.Once
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *syncBuffer) tail(n int) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	lines := strings.Split(strings.TrimRight(s.b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// cluster is a set of nodes.
type cluster struct {
	t     *testing.T
	nodes map[int32]*node
	// dial, when set, is every test client's dialer (clients in a
	// network namespace).
	dial func(ctx context.Context, network, host string) (net.Conn, error)
}

// clientOpts prefixes opts with the cluster's dialer, if any.
func (c *cluster) clientOpts(opts []kgo.Opt) []kgo.Opt {
	if c.dial == nil {
		return opts
	}
	return append([]kgo.Opt{kgo.Dialer(c.dial)}, opts...)
}

// newCluster prepares n nodes; quorumFor returns each node's quorum
// string (addresses may be proxies).
func newCluster(t *testing.T, n int, extra ...string) *cluster {
	c := &cluster{t: t, nodes: map[int32]*node{}}
	for i := int32(1); i <= int32(n); i++ {
		c.nodes[i] = &node{id: i, kafka: freeAddr(t), ctrl: freeAddr(t), dataDir: t.TempDir(), extra: extra}
	}
	var parts []string
	for i := int32(1); i <= int32(n); i++ {
		parts = append(parts, fmt.Sprintf("%d@%s", i, c.nodes[i].ctrl))
	}
	for _, nd := range c.nodes {
		nd.quorum = strings.Join(parts, ",")
	}
	t.Cleanup(func() {
		for _, nd := range c.nodes {
			nd.kill()
		}
		for id, nd := range c.nodes {
			if nd.out != nil && strings.Contains(nd.out.String(), "truncating to the high watermark") {
				t.Errorf("node %d fell back to high-watermark truncation", id)
			}
		}
		if t.Failed() {
			for id, nd := range c.nodes {
				if nd.out != nil {
					t.Logf("--- node %d output (tail) ---\n%s", id, nd.out.tail(60))
				}
			}
		}
	})
	return c
}

func (c *cluster) startAll() {
	for id := int32(1); id <= int32(len(c.nodes)); id++ {
		c.start(id)
	}
}

// start launches node id (again) and waits until its Kafka listener is up.
func (c *cluster) start(id int32) {
	c.t.Helper()
	nd := c.nodes[id]
	args := []string{"broker", "--node-id", fmt.Sprint(id), "--listen", nd.kafka, "--data-dir", nd.dataDir,
		"--controller-quorum", nd.quorum, "--group-initial-rebalance-delay", "0s"}
	if nd.adv != "" {
		args = append(args, "--advertised-addr", nd.adv)
	}
	args = append(args, nd.extra...)
	cmd := exec.Command(sluiceBin, args...)
	if nd.netns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", nd.netns, sluiceBin}, args...)...)
	}
	if nd.out == nil {
		nd.out = &syncBuffer{}
	}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = nd.out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	nd.cmd = cmd
	nd.exited = make(chan struct{})
	nd.exitOnce = sync.Once{}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		once := sync.Once{}
		for sc.Scan() {
			nd.out.Write(append(sc.Bytes(), '\n'))
			if strings.Contains(sc.Text(), "sluice broker listening on") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	go func() {
		cmd.Wait()
		pw.Close()
		close(nd.exited)
	}()
	select {
	case <-ready:
	case <-nd.exited:
		c.t.Fatalf("node %d exited at start:\n%s", id, nd.out.tail(40))
	case <-time.After(60 * time.Second):
		c.t.Fatalf("node %d did not start:\n%s", id, nd.out.tail(40))
	}
}

// kill sends SIGKILL and waits for the process to go.
func (nd *node) kill() {
	if nd.cmd == nil || nd.cmd.Process == nil {
		return
	}
	select {
	case <-nd.exited:
		return
	default:
	}
	syscall.Kill(-nd.cmd.Process.Pid, syscall.SIGKILL)
	<-nd.exited
}

func (c *cluster) seeds() []string {
	var s []string
	for id := int32(1); id <= int32(len(c.nodes)); id++ {
		s = append(s, c.nodes[id].kafka)
	}
	return s
}

func (c *cluster) client(opts ...kgo.Opt) *kgo.Client {
	c.t.Helper()
	cl, err := kgo.NewClient(c.clientOpts(append([]kgo.Opt{kgo.SeedBrokers(c.seeds()...)}, opts...))...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitLiveBrokers waits until the cluster lists n live brokers.
func waitLiveBrokers(t *testing.T, ctx context.Context, adm *kadm.Client, n int, timeout time.Duration) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d live brokers", n), timeout, func() bool {
		bs, err := adm.ListBrokers(ctx)
		return err == nil && len(bs) == n
	})
}

// createReplicatedTopic creates topic with replication factor 3 and
// min.insync.replicas=2, the setting every acks=all test here relies on.
// startThree starts a three-broker cluster with fastFlags (skipped with
// -short) and waits until all three are live; ctx ends after timeout or
// with the test.
func startThree(t *testing.T, timeout time.Duration) (*cluster, context.Context, *kadm.Client) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts three broker processes")
	}
	c := newCluster(t, 3, fastFlags...)
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	adm := kadm.NewClient(c.client())
	waitLiveBrokers(t, ctx, adm, 3, 30*time.Second)
	return c, ctx, adm
}

func createReplicatedTopic(t *testing.T, ctx context.Context, adm *kadm.Client, topic string, partitions int32) {
	t.Helper()
	res, err := adm.CreateTopic(ctx, partitions, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("2")}, topic)
	if err != nil || res.Err != nil {
		t.Fatalf("create topic %s: %v %v", topic, err, res.Err)
	}
}

// partitionInfo returns leader, leader epoch and ISR of topic-0 as the
// cluster reports them.
func partitionInfo(ctx context.Context, adm *kadm.Client, topic string, part int32) (int32, int32, []int32, error) {
	md, err := adm.Metadata(ctx, topic)
	if err != nil {
		return -1, -1, nil, err
	}
	td, ok := md.Topics[topic]
	if !ok || td.Err != nil {
		return -1, -1, nil, fmt.Errorf("topic %s: %v", topic, td.Err)
	}
	pd, ok := td.Partitions[part]
	if !ok {
		return -1, -1, nil, fmt.Errorf("no partition %d", part)
	}
	return pd.Leader, pd.LeaderEpoch, pd.ISR, nil
}

// proxy is a TCP forwarder that can be cut (every connection closed and
// new ones refused) and healed.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go p.serve()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut {
			p.mu.Unlock()
			c.Close()
			continue
		}
		up, err := net.DialTimeout("tcp", p.target, time.Second)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		go p.pipe(c, up)
		go p.pipe(up, c)
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	io.Copy(dst, src)
	dst.Close()
	src.Close()
	p.mu.Lock()
	delete(p.conns, dst)
	delete(p.conns, src)
	p.mu.Unlock()
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for c := range p.conns {
			c.Close()
		}
	}
}

// stop sends SIGTERM (controlled shutdown) and waits for the exit.
func (nd *node) stop(t *testing.T) {
	t.Helper()
	if nd.cmd == nil || nd.cmd.Process == nil {
		return
	}
	nd.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-nd.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("node %d did not stop on SIGTERM:\n%s", nd.id, nd.out.tail(30))
	}
}
