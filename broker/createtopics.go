package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleCreateTopics(req *kmsg.CreateTopicsRequest) *kmsg.CreateTopicsResponse {
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int)
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		fail := func(terr *topicError) {
			st.ErrorCode, st.ErrorMessage = terr.code, kmsg.StringPtr(terr.msg)
		}
		var terr *topicError
		partitions := rt.NumPartitions
		switch {
		case seen[rt.Topic] > 1:
			terr = kafkaErr(kerr.InvalidRequest, "topic %q appears more than once in the request", rt.Topic)
		case b.cl != nil:
			// Cluster mode: replication factor and assignments go to the
			// controller.
		case rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 && len(rt.ReplicaAssignment) == 0:
			terr = kafkaErr(kerr.InvalidReplicationFactor, "replication factor %d: this is a single-node broker, use 1 or -1", rt.ReplicationFactor)
		case len(rt.ReplicaAssignment) > 0:
			if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
				terr = kafkaErr(kerr.InvalidRequest, "replica assignment requires num partitions and replication factor -1")
				break
			}
			partitions = int32(len(rt.ReplicaAssignment))
			for i, ra := range rt.ReplicaAssignment {
				if ra.Partition != int32(i) {
					terr = kafkaErr(kerr.InvalidReplicaAssignment, "replica assignment partitions must be 0..%d in order", len(rt.ReplicaAssignment)-1)
					break
				}
				if len(ra.Replicas) != 1 || ra.Replicas[0] != b.opts.nodeID {
					terr = kafkaErr(kerr.InvalidReplicaAssignment, "partition %d: replicas must be [%d] on this single-node broker", ra.Partition, b.opts.nodeID)
					break
				}
			}
		}
		var t *topic
		if terr == nil {
			cfg := make(map[string]string)
			for _, c := range rt.Configs {
				if c.Value != nil {
					cfg[c.Name] = *c.Value
				}
			}
			if len(cfg) == 0 {
				cfg = nil
			}
			if b.cl != nil {
				t, terr = b.cl.createTopicRequest(rt, cfg, req.ValidateOnly)
			} else {
				t, terr = b.createTopic(rt.Topic, partitions, cfg, false, req.ValidateOnly)
			}
		}
		if terr != nil {
			fail(terr)
			st.NumPartitions, st.ReplicationFactor = -1, -1
		} else {
			st.TopicID = t.id
			st.NumPartitions = int32(len(t.parts))
			st.ReplicationFactor = 1
			if b.cl != nil {
				st.ReplicationFactor = b.cl.replicationFactor(rt.Topic, req.ValidateOnly, rt.ReplicationFactor)
			}
			for k, v := range t.configs {
				c := kmsg.NewCreateTopicsResponseTopicConfig()
				c.Name, c.Value, c.Source = k, kmsg.StringPtr(v), int8(kmsg.ConfigSourceDynamicTopicConfig)
				st.Configs = append(st.Configs, c)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) handleDeleteTopics(req *kmsg.DeleteTopicsRequest) *kmsg.DeleteTopicsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteTopicsResponse)
	type target struct {
		name *string
		id   [16]byte
	}
	var targets []target
	if req.Version < 6 {
		for _, n := range req.TopicNames {
			targets = append(targets, target{name: kmsg.StringPtr(n)})
		}
	} else {
		for _, rt := range req.Topics {
			targets = append(targets, target{name: rt.Topic, id: rt.TopicID})
		}
	}
	for _, tg := range targets {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = tg.name, tg.id
		var (
			t  *topic
			ok bool
		)
		if tg.name != nil {
			t, _, _, ok = b.topicByName(*tg.name)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicOrPartition.Code
				st.ErrorMessage = kmsg.StringPtr("topic " + *tg.name + " does not exist")
			}
		} else {
			t, _, _, ok = b.topicByID(tg.id)
			if !ok {
				st.ErrorCode = kerr.UnknownTopicID.Code
				st.ErrorMessage = kmsg.StringPtr("unknown topic id " + uuidString(tg.id))
			}
		}
		if ok {
			name := t.name
			st.Topic, st.TopicID = &name, t.id
			if terr := b.deleteTopic(t); terr != nil {
				st.ErrorCode, st.ErrorMessage = terr.code, kmsg.StringPtr(terr.msg)
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

func (b *Broker) handleCreatePartitions(req *kmsg.CreatePartitionsRequest) *kmsg.CreatePartitionsResponse {
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewCreatePartitionsResponseTopic()
		st.Topic = rt.Topic
		var terr *topicError
		for _, a := range rt.Assignment {
			if b.cl != nil {
				break
			}
			if len(a.Replicas) != 1 || a.Replicas[0] != b.opts.nodeID {
				terr = kafkaErr(kerr.InvalidReplicaAssignment, "replicas must be [%d] on this single-node broker", b.opts.nodeID)
			}
		}
		switch {
		case terr == nil && b.cl != nil:
			var assign [][]int32
			for _, a := range rt.Assignment {
				assign = append(assign, a.Replicas)
			}
			terr = b.cl.addPartitions(rt.Topic, rt.Count, assign, req.ValidateOnly)
		case terr == nil:
			terr = b.addPartitions(rt.Topic, rt.Count, req.ValidateOnly)
		}
		if terr != nil {
			st.ErrorCode, st.ErrorMessage = terr.code, kmsg.StringPtr(terr.msg)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
