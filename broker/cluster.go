package broker

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/controller"
)

// clusterOptions configure cluster mode (WithControllerQuorum).
type clusterOptions struct {
	quorum         map[int32]string
	rack           string
	replicaLag     time.Duration
	defaultRF      int16
	sessionTimeout time.Duration
	prefInterval   time.Duration
}

// WithControllerQuorum turns on cluster mode: the broker runs a voter of
// the metadata quorum (id -> controller address, this broker's node id
// included) and replicates partitions with the other brokers.
func WithControllerQuorum(voters map[int32]string) Option {
	return func(o *options) { o.cluster.quorum = voters }
}

// WithRack sets broker.rack: replica placement spreads each partition's
// replicas over racks (availability zones).
func WithRack(rack string) Option { return func(o *options) { o.cluster.rack = rack } }

// WithReplicaLagTime sets replica.lag.time.max.ms (default 30s): a follower
// that has not caught up with the leader for this long leaves the ISR.
func WithReplicaLagTime(d time.Duration) Option {
	return func(o *options) { o.cluster.replicaLag = d }
}

// WithDefaultReplicationFactor sets default.replication.factor for
// auto-created topics and CreateTopics asking for -1 (default: 3, or the
// number of live brokers when fewer).
func WithDefaultReplicationFactor(n int16) Option {
	return func(o *options) { o.cluster.defaultRF = n }
}

// WithBrokerSessionTimeout sets broker.session.timeout.ms (default 9s): the
// controller fences a broker whose heartbeats stop for this long, and a
// broker out of contact with the controller for this long stops leading.
func WithBrokerSessionTimeout(d time.Duration) Option {
	return func(o *options) { o.cluster.sessionTimeout = d }
}

// WithLeaderRebalanceInterval sets how often the active controller moves
// leadership back to preferred replicas (auto.leader.rebalance; default 5
// minutes, negative disables).
func WithLeaderRebalanceInterval(d time.Duration) Option {
	return func(o *options) { o.cluster.prefInterval = d }
}

// cluster is a broker's cluster-mode state.
type cluster struct {
	b    *Broker
	node *controller.Node
	id   int32

	recMu      sync.Mutex // serializes reconcile
	mu         sync.Mutex // guards fetchers
	fetchers   map[int32]*fetcher
	seenTopics map[[16]byte]bool // topics seen in the state (deletions are acted on only for these)

	offs atomic.Pointer[partition] // __consumer_offsets-0 once it exists
	// ready is set once this incarnation's registration was applied: only
	// then has the local state caught up far enough to take roles.
	ready atomic.Bool

	pidMu   sync.Mutex
	pidNext int64
	pidEnd  int64

	wg sync.WaitGroup
}

func (o *options) clustered() bool { return len(o.cluster.quorum) > 0 }

// startCluster starts the controller node; called by New instead of
// loadMeta.
func (b *Broker) startCluster() error {
	co := &b.opts.cluster
	if co.replicaLag <= 0 {
		co.replicaLag = 30 * time.Second
	}
	if co.sessionTimeout <= 0 {
		co.sessionTimeout = 9 * time.Second
	}
	node, err := controller.Start(controller.Config{
		ID: b.opts.nodeID, Peers: co.quorum, Dir: filepath.Join(b.opts.dataDir, "controller"),
		Logger: b.log, SessionTimeout: co.sessionTimeout, PreferredElectionInterval: co.prefInterval,
	})
	if err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	b.cl = &cluster{b: b, node: node, id: b.opts.nodeID, fetchers: map[int32]*fetcher{}, seenTopics: map[[16]byte]bool{}}
	// Topics the local state already knows are opened before serving.
	b.cl.reconcile(node.State())
	return nil
}

// runCluster registers the broker and keeps its partitions in line with
// the controller's state. It runs after the listener is bound.
func (c *cluster) run() {
	c.wg.Add(2)
	go c.register()
	go c.watch()
}

func (c *cluster) register() {
	defer c.wg.Done()
	ctx := c.b.ctx
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		r, err := c.node.Propose(cctx, &controller.Cmd{Op: controller.OpRegister, Broker: &controller.BrokerInfo{
			ID: c.id, Host: c.b.host, Port: c.b.port, Rack: c.b.opts.cluster.rack, Listeners: c.b.listenerEndpoints()}})
		cancel()
		if err == nil && r.Err == nil {
			break
		}
		if errors.Is(err, controller.ErrStopped) {
			return
		}
		c.b.log.Info("broker registration pending", "err", err)
	}
	c.b.log.Info("broker registered with the controller quorum", "node_id", c.id)
	c.ready.Store(true)
	c.reconcile(c.node.State())
	// The first broker names the cluster and creates __consumer_offsets.
	for ctx.Err() == nil {
		st := c.node.State()
		if st.ClusterID == "" {
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			c.node.Propose(cctx, &controller.Cmd{Op: controller.OpSetClusterID, ClusterID: uuidString(newTopicID())})
			cancel()
			continue
		}
		if _, ok := st.Topics[offsetsTopic]; !ok {
			// Wait for min(3, quorum size) live brokers so the offsets
			// topic gets its full replication factor.
			want := min(3, len(c.b.opts.cluster.quorum))
			enough := func(s *controller.State) bool { return s.Live(c.id) && len(c.liveBrokers(s)) >= want }
			if !enough(st) {
				if !c.waitState(ctx, enough) {
					return
				}
				continue
			}
			_, terr := c.createTopic(ctx, offsetsTopic, 1, -1, nil, map[string]string{
				"cleanup.policy": "compact", "segment.bytes": "104857600"}, true, false)
			if terr != nil && terr.code != kerr.TopicAlreadyExists.Code {
				c.b.log.Info("creating __consumer_offsets pending", "err", terr.msg)
				continue
			}
		}
		return
	}
}

// waitState waits until cond holds for the controller state.
func (c *cluster) waitState(ctx context.Context, cond func(*controller.State) bool) bool {
	for {
		ch := c.node.Changed()
		if cond(c.node.State()) {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

func (c *cluster) watch() {
	defer c.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		ch := c.node.Changed()
		c.reconcile(c.node.State())
		select {
		case <-ch:
		case <-tick.C: // re-check contact with the controller
		case <-c.b.ctx.Done():
			return
		}
	}
}

func (c *cluster) close() {
	c.mu.Lock()
	for id, f := range c.fetchers {
		f.stop()
		delete(c.fetchers, id)
	}
	c.mu.Unlock()
	c.node.Stop()
	c.wg.Wait()
}

// reconcile opens partitions of new topics, drops deleted ones and moves
// every local replica to the role the state gives it.
func (c *cluster) reconcile(st *controller.State) {
	c.recMu.Lock()
	defer c.recMu.Unlock()
	// Callers read the state before they held recMu; another reconcile may
	// have applied a newer one since. Going back to an older state would
	// delete a topic that state does not have yet (and its data) and
	// recreate it empty. The node's current state is never older.
	if cur := c.node.State(); cur != nil {
		st = cur
	}
	c.b.syncSecurity(st)
	b := c.b
	follow := map[int32][]*partition{} // leader -> partitions this broker follows
	names := make([]string, 0, len(st.Topics))
	for n := range st.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		mt := st.Topics[name]
		t, err := c.ensureLocalTopic(mt)
		if err != nil {
			b.log.Error("opening partitions of a replicated topic failed", "topic", name, "err", err)
			continue
		}
		for i, mp := range mt.Partitions {
			if i >= len(t.parts) {
				break
			}
			p := t.parts[i]
			replica, ready := slices.Contains(mp.Replicas, c.id), c.ready.Load()
			mine := replica && ready
			p.rep.update(c, p, mp, mine)
			if ready && !replica {
				c.dropRecords(p)
			}
			if name == offsetsTopic && i == 0 {
				c.offs.Store(p)
			}
			if mine && mp.Leader >= 0 && mp.Leader != c.id {
				follow[mp.Leader] = append(follow[mp.Leader], p)
			}
		}
	}
	// Topics deleted from the state.
	b.mu.Lock()
	var gone []*topic
	for n, t := range b.topics {
		if mt, ok := st.Topics[n]; !ok || mt.ID != t.id {
			if c.seenTopics[t.id] {
				gone = append(gone, t)
				delete(b.topics, n)
				delete(b.byID, t.id)
			}
		}
	}
	b.mu.Unlock()
	for _, t := range gone {
		for _, p := range t.parts {
			p.rep.resign()
			if err := p.log.Remove(); err != nil {
				b.log.Warn("remove partition data", "topic", t.name, "partition", p.index, "err", err)
			}
		}
		b.log.Info("topic deleted", "topic", t.name, "id", uuidString(t.id))
	}
	// Fetchers follow the leaders.
	c.mu.Lock()
	defer c.mu.Unlock()
	if b.ctx.Err() != nil {
		return
	}
	for leader, f := range c.fetchers {
		if _, ok := follow[leader]; !ok {
			f.stop()
			delete(c.fetchers, leader)
		}
	}
	for leader, ps := range follow {
		bi, ok := st.Brokers[leader]
		if !ok {
			continue
		}
		addr := c.interBrokerAddr(bi)
		f, ok := c.fetchers[leader]
		if ok && f.addr != addr {
			f.stop()
			ok = false
		}
		if !ok {
			f = newFetcher(c, leader, addr)
			c.fetchers[leader] = f
		}
		f.set(ps)
	}
}

// dropRecords empties the log of a partition this broker is not a replica
// of (any more: a reassignment moved it away, or its records predate a
// restart that found it moved), as Kafka deletes a removed replica. Only
// called once this incarnation's registration was applied, so the state
// is not one from before a reassignment that added this broker; a replica
// added again later starts from empty, as any new follower does.
func (c *cluster) dropRecords(p *partition) {
	if p.log.EndOffset() == 0 && p.log.Size() == 0 {
		return
	}
	c.b.log.Info("not a replica: deleting the partition's records", "topic", p.topic, "partition", p.index,
		"log_start", p.log.StartOffset(), "log_end", p.log.EndOffset())
	if err := p.log.TruncateFullyAndStartAt(0); err != nil {
		c.b.log.Warn("deleting a removed replica's records failed", "topic", p.topic, "partition", p.index, "err", err)
	}
}

// ensureLocalTopic returns the local topic for mt, opening logs for new
// partitions.
func (c *cluster) ensureLocalTopic(mt *controller.Topic) (*topic, error) {
	b := c.b
	set, err := b.settingsFor(mt.Configs)
	if err != nil {
		// A config this broker does not know: keep the defaults.
		b.log.Warn("replicated topic config not understood, using defaults", "topic", mt.Name, "err", err)
		set, _ = b.settingsFor(nil)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	c.seenTopics[mt.ID] = true
	t, ok := b.topics[mt.Name]
	if ok && t.id != mt.ID {
		return nil, fmt.Errorf("local topic %q has id %s, the controller's has %s", mt.Name, uuidString(t.id), uuidString(mt.ID))
	}
	if !ok {
		t = &topic{name: mt.Name, id: mt.ID, internal: mt.Internal, configs: mt.Configs, set: set}
		b.topics[t.name] = t
		b.byID[t.id] = t
		b.log.Info("topic created", "topic", mt.Name, "id", uuidString(mt.ID), "partitions", len(mt.Partitions))
	} else if !mapsEqual(t.configs, mt.Configs) {
		t.configs, t.set = mt.Configs, set
		for _, p := range t.parts {
			p.log.SetConfig(set.log)
		}
	}
	if len(t.parts) < len(mt.Partitions) {
		parts := slices.Clone(t.parts)
		for i := len(t.parts); i < len(mt.Partitions); i++ {
			l, err := b.openLog(mt.Name, mt.ID, int32(i), t.set.log)
			if err != nil {
				t.parts = parts
				return t, fmt.Errorf("open partition %d: %w", i, err)
			}
			parts = append(parts, &partition{topic: mt.Name, index: int32(i), log: l, rep: newReplica()})
		}
		t.parts = parts
	}
	return t, nil
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func netJoin(host string, port int32) string {
	return host + ":" + strconv.Itoa(int(port))
}

// propose sends a command to the quorum and maps failures to Kafka errors.
func (c *cluster) propose(ctx context.Context, cmd *controller.Cmd) (controller.Result, *topicError) {
	cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	r, err := c.node.Propose(cctx, cmd)
	if err != nil {
		return r, kafkaErr(kerr.RequestTimedOut, "controller: %v", err)
	}
	if r.Err != nil {
		return r, &topicError{code: r.Err.Code, msg: r.Err.Msg}
	}
	return r, nil
}

// createTopic creates a replicated topic through the controller and waits
// until this broker has opened it.
func (c *cluster) createTopic(ctx context.Context, name string, partitions int32, rf int16, assign [][]int32, configs map[string]string, internal, validateOnly bool) (*topic, *topicError) {
	b := c.b
	if err := validTopicName(name); err != nil {
		return nil, kafkaErr(kerr.InvalidTopicException, "%v", err)
	}
	if partitions == -1 && assign == nil {
		partitions = b.opts.defaultPartitions
	}
	if assign == nil && (partitions < 1 || partitions > 100000) {
		return nil, kafkaErr(kerr.InvalidPartitions, "partition count %d must be between 1 and 100000", partitions)
	}
	if err := validateTopicConfigs(configs); err != nil {
		return nil, err
	}
	if _, err := b.settingsFor(configs); err != nil {
		return nil, kafkaErr(kerr.InvalidConfig, "%v", err)
	}
	st := c.node.State()
	if rf == -1 && assign == nil {
		rf = b.opts.cluster.defaultRF
		if rf <= 0 {
			rf = 3
		}
		live := 0
		for _, bi := range st.Brokers {
			if !bi.Fenced {
				live++
			}
		}
		if int(rf) > live && live > 0 {
			rf = int16(live)
		}
	}
	if _, ok := st.Topics[name]; ok {
		t, _, _, _ := b.topicByName(name)
		return t, kafkaErr(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	if validateOnly {
		n := partitions
		if assign != nil {
			n = int32(len(assign))
		}
		return &topic{name: name, configs: configs, parts: make([]*partition, n)}, nil
	}
	id := newTopicID()
	if _, terr := c.propose(ctx, &controller.Cmd{Op: controller.OpCreateTopic, Topic: name, TopicID: id,
		Partitions: partitions, RF: rf, Assignment: assign, Configs: configs, Internal: internal}); terr != nil {
		return nil, terr
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for {
		ch := c.node.Changed()
		c.reconcile(c.node.State())
		t, parts, _, ok := b.topicByName(name)
		if ok && t.id == id && len(parts) > 0 {
			return t, nil
		}
		select {
		case <-ch:
		case <-wctx.Done():
			return nil, kafkaErr(kerr.RequestTimedOut, "topic %q was created but did not open locally in time", name)
		}
	}
}

// allocProducerID hands out producer ids from blocks the controller
// reserves, so ids are unique across the cluster and restarts.
func (c *cluster) allocProducerID() (int64, error) {
	c.pidMu.Lock()
	defer c.pidMu.Unlock()
	if c.pidNext >= c.pidEnd {
		r, terr := c.propose(c.b.ctx, &controller.Cmd{Op: controller.OpAllocProducerIDs, Count: pidBlock})
		if terr != nil {
			return 0, errors.New(terr.msg)
		}
		c.pidNext, c.pidEnd = r.ProducerID, r.ProducerID+pidBlock
	}
	id := c.pidNext
	c.pidNext++
	return id, nil
}

// minISR returns a topic's min.insync.replicas (default 1).
func minISR(t *topic) int {
	if v, ok := t.configs["min.insync.replicas"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return n
		}
	}
	return 1
}
