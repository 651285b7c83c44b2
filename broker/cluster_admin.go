package broker

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/controller"
	blog "github.com/sluicehq/sluice/broker/log"
)

// clusterOnlyAPI reports API keys advertised only in cluster mode.
func clusterOnlyAPI(key int16) bool { return key == 23 || key == 43 || key == 45 || key == 46 }

// deleteTopic deletes a topic through the controller; every broker
// removes its data when the deletion reaches it.
func (c *cluster) deleteTopic(t *topic) *topicError {
	if _, terr := c.propose(c.b.ctx, &controller.Cmd{Op: controller.OpDeleteTopic, Topic: t.name, TopicID: t.id}); terr != nil {
		return terr
	}
	c.waitState(c.b.ctx, func(s *controller.State) bool { _, ok := s.Topics[t.name]; return !ok })
	c.reconcile(c.node.State())
	return nil
}

// addPartitions grows a topic through the controller.
func (c *cluster) addPartitions(name string, count int32, assign [][]int32, validateOnly bool) *topicError {
	st := c.node.State()
	mt, ok := st.Topics[name]
	switch {
	case !ok:
		return kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	case mt.Internal:
		return kafkaErr(kerr.InvalidTopicException, "topic %q is internal", name)
	case count <= int32(len(mt.Partitions)):
		return kafkaErr(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", name, len(mt.Partitions), count)
	case count > 100000:
		return kafkaErr(kerr.InvalidPartitions, "partition count %d exceeds 100000", count)
	case validateOnly:
		return nil
	}
	if _, terr := c.propose(c.b.ctx, &controller.Cmd{Op: controller.OpCreatePartitions, Topic: name, Partitions: count, Assignment: assign}); terr != nil {
		return terr
	}
	ctx, cancel := context.WithTimeout(c.b.ctx, 10*time.Second)
	defer cancel()
	c.waitState(ctx, func(s *controller.State) bool {
		mt, ok := s.Topics[name]
		return ok && int32(len(mt.Partitions)) >= count
	})
	c.reconcile(c.node.State())
	return nil
}

// setTopicConfigs replaces a topic's configs through the controller.
func (c *cluster) setTopicConfigs(t *topic, cfg map[string]string) *topicError {
	if _, terr := c.propose(c.b.ctx, &controller.Cmd{Op: controller.OpSetConfigs, Topic: t.name, Configs: cfg}); terr != nil {
		return terr
	}
	c.reconcile(c.node.State())
	return nil
}

// controllerID is the active controller for Metadata (-1 = none).
func (c *cluster) controllerID() int32 {
	if id := c.node.Leader(); id > 0 {
		return id
	}
	return -1
}

// liveBrokers returns the unfenced registered brokers by id.
func (c *cluster) liveBrokers(st *controller.State) []*controller.BrokerInfo {
	var out []*controller.BrokerInfo
	for _, bi := range st.Brokers {
		if !bi.Fenced {
			out = append(out, bi)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (c *cluster) metadataBrokers() []kmsg.MetadataResponseBroker {
	var out []kmsg.MetadataResponseBroker
	for _, bi := range c.liveBrokers(c.node.State()) {
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port = bi.ID, bi.Host, bi.Port
		if bi.Rack != "" {
			br.Rack = kmsg.StringPtr(bi.Rack)
		}
		out = append(out, br)
	}
	return out
}

func (c *cluster) describeBrokers() []kmsg.DescribeClusterResponseBroker {
	var out []kmsg.DescribeClusterResponseBroker
	for _, bi := range c.liveBrokers(c.node.State()) {
		br := kmsg.NewDescribeClusterResponseBroker()
		br.NodeID, br.Host, br.Port = bi.ID, bi.Host, bi.Port
		if bi.Rack != "" {
			br.Rack = kmsg.StringPtr(bi.Rack)
		}
		out = append(out, br)
	}
	return out
}

// metadataTopic describes a topic from the controller's state.
func (c *cluster) metadataTopic(t *topic) kmsg.MetadataResponseTopic {
	st := c.node.State()
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.name)
	mt.TopicID = t.id
	mt.IsInternal = t.internal
	ct, ok := st.Topics[t.name]
	if !ok {
		mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return mt
	}
	for i, cp := range ct.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader, mp.LeaderEpoch = cp.Leader, cp.LeaderEpoch
		mp.Replicas = append([]int32(nil), cp.Replicas...)
		mp.ISR = append([]int32(nil), cp.ISR...)
		mp.OfflineReplicas = []int32{}
		for _, r := range cp.Replicas {
			if !st.Live(r) {
				mp.OfflineReplicas = append(mp.OfflineReplicas, r)
			}
		}
		if cp.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// coordinator is the broker leading __consumer_offsets-0 (nil if none).
func (c *cluster) coordinator() *controller.BrokerInfo { return c.coordinatorIn(c.node.State()) }

func (c *cluster) coordinatorIn(st *controller.State) *controller.BrokerInfo {
	t, ok := st.Topics[offsetsTopic]
	if !ok || len(t.Partitions) == 0 || t.Partitions[0].Leader < 0 {
		return nil
	}
	bi, ok := st.Brokers[t.Partitions[0].Leader]
	if !ok || bi.Fenced {
		return nil
	}
	return bi
}

// offsetsAppend writes consumer-group records as leader of
// __consumer_offsets-0 and waits until the ISR has them.
func (c *cluster) offsetsAppend(ctx context.Context, batch []byte, now time.Time) error {
	b := c.b
	p := c.offs.Load()
	if p == nil {
		return errNotCoordinator
	}
	t, _, _, _ := b.topicByName(offsetsTopic)
	epoch, unlock, terr := c.beginProduce(p, t, -1)
	if terr != nil {
		return errNotCoordinator
	}
	v, err := blog.CheckBatch(batch)
	if err != nil {
		unlock()
		return err
	}
	res, err := p.log.AppendValid(v, blog.AppendOptions{Now: now, StampEpoch: true, LeaderEpoch: epoch})
	unlock()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if code, msg := c.waitReplicated(wctx, p, t, res.LastOffset, epoch); code != 0 {
		if code == kerr.NotLeaderForPartition.Code {
			return errNotCoordinator
		}
		return fmt.Errorf("%s: %w", msg, kerr.ErrorForCode(code))
	}
	return nil
}

// errNotCoordinator makes the group coordinator answer NOT_COORDINATOR so
// clients look the coordinator up again.
var errNotCoordinator = kerr.NotCoordinator

// offsetsLeadership installs a coordinator rebuilt from the local
// __consumer_offsets-0 log when this broker became its leader, and a
// closed one when it stopped leading it.
func (c *cluster) offsetsLeadership(p *partition, leader bool) {
	b := c.b
	if b.coord == nil {
		return
	}
	if !leader {
		b.coord.swap(b.closedCoordinator())
		return
	}
	nc := b.newCoordinator()
	n, err := replayInto(nc, p.log, p.log.ReadReplica, b.log)
	if err != nil {
		b.log.Error("loading consumer groups failed; not coordinating", "err", err)
		nc.Close()
		b.coord.swap(b.closedCoordinator())
		return
	}
	b.coord.swap(nc)
	b.log.Info("consumer group coordinator loaded", "records", n)
}

// createTopicRequest creates one CreateTopics entry in cluster mode.
func (c *cluster) createTopicRequest(rt kmsg.CreateTopicsRequestTopic, cfg map[string]string, validateOnly bool) (*topic, *topicError) {
	var assign [][]int32
	if len(rt.ReplicaAssignment) > 0 {
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return nil, kafkaErr(kerr.InvalidRequest, "replica assignment requires num partitions and replication factor -1")
		}
		for i, ra := range rt.ReplicaAssignment {
			if ra.Partition != int32(i) {
				return nil, kafkaErr(kerr.InvalidReplicaAssignment, "replica assignment partitions must be 0..%d in order", len(rt.ReplicaAssignment)-1)
			}
			assign = append(assign, ra.Replicas)
		}
	}
	if rf := rt.ReplicationFactor; assign == nil && rf != -1 && rf < 1 {
		return nil, kafkaErr(kerr.InvalidReplicationFactor, "replication factor %d must be >= 1 or -1", rf)
	}
	return c.createTopic(c.b.ctx, rt.Topic, rt.NumPartitions, rt.ReplicationFactor, assign, cfg, false, validateOnly)
}

// replicationFactor reports a created topic's replication factor.
func (c *cluster) replicationFactor(name string, validateOnly bool, asked int16) int16 {
	if t, ok := c.node.State().Topics[name]; ok && !validateOnly && len(t.Partitions) > 0 {
		return int16(len(t.Partitions[0].Replicas))
	}
	return asked
}

// controlledShutdown moves leadership away from this broker before it
// stops: it stops heartbeating (so it is not unfenced again) and asks the
// controller to fence it, then waits until it leads nothing.
func (c *cluster) controlledShutdown() {
	if !c.ready.Load() {
		return
	}
	c.node.StopHeartbeats()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.node.Propose(ctx, &controller.Cmd{Op: controller.OpControlledShutdown, BrokerID: c.id}); err != nil {
		c.b.log.Warn("controlled shutdown: controller unreachable, stopping anyway", "err", err)
		return
	}
	c.waitState(ctx, func(s *controller.State) bool {
		for _, t := range s.Topics {
			for _, p := range t.Partitions {
				if p.Leader == c.id {
					return false
				}
			}
		}
		return true
	})
	c.reconcile(c.node.State())
	c.b.log.Info("controlled shutdown: leadership moved away")
}

func (b *Broker) handleElectLeaders(ctx context.Context, req *kmsg.ElectLeadersRequest) *kmsg.ElectLeadersResponse {
	resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
	type tp struct {
		topic string
		part  int32
	}
	var targets []tp
	if req.Topics == nil {
		if b.cl != nil {
			st := b.cl.node.State()
			for name, t := range st.Topics {
				for i := range t.Partitions {
					targets = append(targets, tp{name, int32(i)})
				}
			}
		} else {
			b.mu.RLock()
			for name, t := range b.topics {
				for i := range t.parts {
					targets = append(targets, tp{name, int32(i)})
				}
			}
			b.mu.RUnlock()
		}
	} else {
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				targets = append(targets, tp{rt.Topic, p})
			}
		}
	}
	byTopic := map[string]int{}
	for _, t := range targets {
		sp := kmsg.NewElectLeadersResponseTopicPartition()
		sp.Partition = t.part
		switch {
		case req.ElectionType != 0:
			sp.ErrorCode = kerr.InvalidRequest.Code
			sp.ErrorMessage = kmsg.StringPtr("unclean leader election is disabled (unclean.leader.election.enable=false)")
		case b.cl == nil:
			// One node leads everything already.
			sp.ErrorCode = kerr.ElectionNotNeeded.Code
		default:
			if _, terr := b.cl.propose(ctx, &controller.Cmd{Op: controller.OpElectPreferred, Topic: t.topic, Partition: t.part}); terr != nil {
				sp.ErrorCode, sp.ErrorMessage = terr.code, kmsg.StringPtr(terr.msg)
			}
		}
		i, ok := byTopic[t.topic]
		if !ok {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.topic
			resp.Topics = append(resp.Topics, rt)
			i = len(resp.Topics) - 1
			byTopic[t.topic] = i
		}
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, sp)
	}
	if b.cl != nil {
		b.cl.reconcile(b.cl.node.State())
	}
	return resp
}

// WaitClusterReady blocks until n brokers are live and consumer-group
// coordination is available (cluster mode; returns at once otherwise).
func (b *Broker) WaitClusterReady(ctx context.Context, n int) error {
	if b.cl == nil {
		return nil
	}
	c := b.cl
	if !c.waitState(ctx, func(s *controller.State) bool {
		return len(c.liveBrokers(s)) >= n && c.coordinatorIn(s) != nil
	}) {
		return fmt.Errorf("broker: cluster not ready (%d live brokers wanted): %w", n, ctx.Err())
	}
	return nil
}

func (b *Broker) handleAlterPartitionAssignments(ctx context.Context, req *kmsg.AlterPartitionAssignmentsRequest) *kmsg.AlterPartitionAssignmentsResponse {
	resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
	resp.AllowReplicationFactorChange = req.AllowReplicationFactorChange
	if b.cl == nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		resp.ErrorMessage = kmsg.StringPtr("partition reassignment needs cluster mode (--controller-quorum)")
		return resp
	}
	st := b.cl.node.State()
	for _, rt := range req.Topics {
		ot := kmsg.NewAlterPartitionAssignmentsResponseTopic()
		ot.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			op := kmsg.NewAlterPartitionAssignmentsResponseTopicPartition()
			op.Partition = rp.Partition
			cmd := &controller.Cmd{Op: controller.OpReassign, Topic: rt.Topic, Partition: rp.Partition, Target: rp.Replicas, Cancel: rp.Replicas == nil}
			var terr *topicError
			if t, ok := st.Topics[rt.Topic]; ok && !cmd.Cancel && req.Version >= 1 && !req.AllowReplicationFactorChange &&
				int(rp.Partition) < len(t.Partitions) && rp.Partition >= 0 {
				cur := t.Partitions[rp.Partition]
				if n := len(cur.Replicas) - len(cur.Adding); n != len(rp.Replicas) {
					terr = kafkaErr(kerr.InvalidReplicationFactor, "%s-%d: %d target replicas change the replication factor %d", rt.Topic, rp.Partition, len(rp.Replicas), n)
				}
			}
			if terr == nil {
				_, terr = b.cl.propose(ctx, cmd)
			}
			if terr != nil {
				op.ErrorCode, op.ErrorMessage = terr.code, kmsg.StringPtr(terr.msg)
			}
			ot.Partitions = append(ot.Partitions, op)
		}
		resp.Topics = append(resp.Topics, ot)
	}
	b.cl.reconcile(b.cl.node.State())
	return resp
}

func (b *Broker) handleListPartitionReassignments(req *kmsg.ListPartitionReassignmentsRequest) *kmsg.ListPartitionReassignmentsResponse {
	resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
	if b.cl == nil {
		return resp // nothing is ever being reassigned
	}
	st := b.cl.node.State()
	want := func(topic string, p int32) bool {
		if req.Topics == nil {
			return true
		}
		for _, rt := range req.Topics {
			if rt.Topic == topic && slices.Contains(rt.Partitions, p) {
				return true
			}
		}
		return false
	}
	names := make([]string, 0, len(st.Topics))
	for n := range st.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := st.Topics[n]
		var ot *kmsg.ListPartitionReassignmentsResponseTopic
		for i, p := range t.Partitions {
			if (len(p.Adding) == 0 && len(p.Removing) == 0) || !want(n, int32(i)) {
				continue
			}
			if ot == nil {
				resp.Topics = append(resp.Topics, kmsg.NewListPartitionReassignmentsResponseTopic())
				ot = &resp.Topics[len(resp.Topics)-1]
				ot.Topic = n
			}
			op := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
			op.Partition = int32(i)
			op.Replicas = slices.Clone(p.Replicas)
			op.AddingReplicas = slices.Clone(p.Adding)
			op.RemovingReplicas = slices.Clone(p.Removing)
			ot.Partitions = append(ot.Partitions, op)
		}
	}
	return resp
}
