package broker

import (
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func (b *Broker) handleMetadata(req *kmsg.MetadataRequest) *kmsg.MetadataResponse {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	if b.cl != nil {
		resp.Brokers = b.cl.metadataBrokers()
		resp.ClusterID = kmsg.StringPtr(b.cl.node.State().ClusterID)
		resp.ControllerID = b.cl.controllerID()
	} else {
		br := kmsg.NewMetadataResponseBroker()
		br.NodeID, br.Host, br.Port = b.opts.nodeID, b.host, b.port
		resp.Brokers = append(resp.Brokers, br)
		resp.ClusterID = kmsg.StringPtr(b.meta.ClusterID)
		resp.ControllerID = b.opts.nodeID
	}

	// v0: an empty list means all topics; v1+: null means all.
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	autoCreate := b.opts.autoCreate && (req.Version < 4 || req.AllowAutoTopicCreation)
	if all {
		b.mu.RLock()
		names := make([]string, 0, len(b.topics))
		for n := range b.topics {
			names = append(names, n)
		}
		b.mu.RUnlock()
		sort.Strings(names)
		for _, n := range names {
			if t, parts, _, ok := b.topicByName(n); ok {
				resp.Topics = append(resp.Topics, b.metadataTopic(t, parts))
			}
		}
		return resp
	}
	for _, rt := range req.Topics {
		var (
			t     *topic
			parts []*partition
			ok    bool
		)
		mt := kmsg.NewMetadataResponseTopic()
		switch {
		case rt.Topic == nil:
			// Lookup by topic id (v12+).
			t, parts, _, ok = b.topicByID(rt.TopicID)
			if !ok {
				mt.ErrorCode = kerr.UnknownTopicID.Code
				mt.TopicID = rt.TopicID
				resp.Topics = append(resp.Topics, mt)
				continue
			}
		default:
			name := *rt.Topic
			t, parts, _, ok = b.topicByName(name)
			if !ok {
				if err := validTopicName(name); err != nil {
					mt.ErrorCode = kerr.InvalidTopicException.Code
				} else if autoCreate {
					if _, terr := b.ensureTopic(name, true); terr != nil {
						b.log.Warn("auto-create topic failed", "topic", name, "err", terr.msg)
						mt.ErrorCode = terr.code
					} else {
						t, parts, _, ok = b.topicByName(name)
						if !ok {
							mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
						}
					}
				} else {
					mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
				}
				if !ok {
					mt.Topic = kmsg.StringPtr(name)
					resp.Topics = append(resp.Topics, mt)
					continue
				}
			}
		}
		resp.Topics = append(resp.Topics, b.metadataTopic(t, parts))
	}
	return resp
}

func (b *Broker) metadataTopic(t *topic, parts []*partition) kmsg.MetadataResponseTopic {
	if b.cl != nil {
		return b.cl.metadataTopic(t)
	}
	mt := kmsg.NewMetadataResponseTopic()
	mt.Topic = kmsg.StringPtr(t.name)
	mt.TopicID = t.id
	mt.IsInternal = t.internal
	for _, p := range parts {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = p.index
		mp.Leader = b.opts.nodeID
		mp.LeaderEpoch = 0
		mp.Replicas = []int32{b.opts.nodeID}
		mp.ISR = []int32{b.opts.nodeID}
		if p.log.Failed() != nil {
			// The log went offline after an I/O error (until restart).
			mp.ErrorCode = kerr.KafkaStorageError.Code
			mp.OfflineReplicas = []int32{b.opts.nodeID}
			mp.ISR = []int32{}
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

func (b *Broker) handleDescribeCluster(req *kmsg.DescribeClusterRequest) *kmsg.DescribeClusterResponse {
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.EndpointType > 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		resp.ErrorMessage = kmsg.StringPtr(fmt.Sprintf("endpoint type %d is not supported (only brokers)", req.EndpointType))
		return resp
	}
	resp.EndpointType = 1
	if b.cl != nil {
		resp.ClusterID = b.cl.node.State().ClusterID
		resp.ControllerID = b.cl.controllerID()
		resp.Brokers = b.cl.describeBrokers()
		return resp
	}
	resp.ClusterID = b.meta.ClusterID
	resp.ControllerID = b.opts.nodeID
	br := kmsg.NewDescribeClusterResponseBroker()
	br.NodeID, br.Host, br.Port = b.opts.nodeID, b.host, b.port
	resp.Brokers = append(resp.Brokers, br)
	return resp
}

func (b *Broker) handleFindCoordinator(req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	var code int16
	var msg *string
	switch req.CoordinatorType {
	case 0: // group
	case 1:
		// Not an authorization or coordinator-availability problem (the
		// codes clients would show for those): the feature is missing.
		code = kerr.UnsupportedVersion.Code
		msg = kmsg.StringPtr(errNoTransactions)
	default:
		code = kerr.InvalidRequest.Code
		msg = kmsg.StringPtr(fmt.Sprintf("coordinator type %d is not supported (only group)", req.CoordinatorType))
	}
	id, host, port := b.opts.nodeID, b.host, b.port
	if b.cl != nil && code == 0 {
		if bi := b.cl.coordinator(); bi != nil {
			id, host, port = bi.ID, bi.Host, bi.Port
		} else {
			code, msg = kerr.CoordinatorNotAvailable.Code, kmsg.StringPtr("__consumer_offsets has no leader yet")
		}
	}
	if req.Version < 4 {
		resp.ErrorCode, resp.ErrorMessage = code, msg
		resp.NodeID, resp.Host, resp.Port = id, host, port
		if code != 0 {
			resp.NodeID, resp.Host, resp.Port = -1, "", -1
		}
		return resp
	}
	for _, k := range req.CoordinatorKeys {
		c := kmsg.NewFindCoordinatorResponseCoordinator()
		c.Key = k
		c.ErrorCode, c.ErrorMessage = code, msg
		if code == 0 {
			c.NodeID, c.Host, c.Port = id, host, port
		} else {
			c.NodeID, c.Port = -1, -1
		}
		resp.Coordinators = append(resp.Coordinators, c)
	}
	return resp
}
