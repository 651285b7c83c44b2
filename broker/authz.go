package broker

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/broker/controller"
)

// dispatch is the one place where security applies to a request: SASL
// exchanges and session checks first, then the security admin APIs, then
// ACL authorization (strip the resources the principal may not use, call
// the handler, merge per-resource *_AUTHORIZATION_FAILED entries into the
// answer), and finally the listener's advertised address.
func (b *Broker) dispatch(ctx context.Context, s *session, r *request, remote string) kmsg.Response {
	if b.sec == nil || s == nil {
		return b.handle(ctx, r, remote)
	}
	switch req := r.msg.(type) {
	case nil, *kmsg.ApiVersionsRequest:
		return b.handle(ctx, r, remote)
	case *kmsg.SASLHandshakeRequest:
		return versioned(r, b.handleSaslHandshake(s, req))
	case *kmsg.SASLAuthenticateRequest:
		return versioned(r, b.handleSaslAuthenticate(s, req))
	}
	s.mu.Lock()
	authed, reauthing, expires, principal := s.authed, s.reauthing, s.expires, s.principal
	if !authed || reauthing {
		s.close = true
		s.mu.Unlock()
		b.log.Warn("closing connection: request before SASL authentication completed",
			"remote", remote, "api", kmsg.NameForKey(r.key))
		return nil
	}
	if !expires.IsZero() && time.Now().After(expires) {
		s.close = true
		s.mu.Unlock()
		b.log.Info("closing connection: SASL session expired without re-authentication (connections.max.reauth.ms)",
			"remote", remote, "principal", principal)
		return nil
	}
	s.mu.Unlock()
	a := authorizer{b: b, principal: principal, host: s.host}
	var resp kmsg.Response
	switch req := r.msg.(type) {
	case *kmsg.DescribeACLsRequest:
		resp = b.handleDescribeACLs(a, req)
	case *kmsg.CreateACLsRequest:
		resp = b.handleCreateACLs(a, req)
	case *kmsg.DeleteACLsRequest:
		resp = b.handleDeleteACLs(a, req)
	case *kmsg.DescribeUserSCRAMCredentialsRequest:
		resp = b.handleDescribeUserSCRAM(a, req)
	case *kmsg.AlterUserSCRAMCredentialsRequest:
		resp = b.handleAlterUserSCRAM(a, req)
	default:
		if b.sec.acls == nil {
			resp = b.handle(ctx, r, remote)
		} else {
			resp = a.handle(ctx, s, r, remote)
		}
		if resp == nil {
			return nil
		}
	}
	resp.SetVersion(r.version)
	if host, port, ok := s.advertisedFor(); ok {
		b.rewriteAdvertised(resp, s.listener.Name, host, port)
	}
	return resp
}

func versioned(r *request, resp kmsg.Response) kmsg.Response {
	resp.SetVersion(r.version)
	return resp
}

// rewriteAdvertised replaces node addresses in answers that carry them
// with the addresses of the listener the connection arrived on (name):
// this node's, and in cluster mode the other brokers' same-named listener
// as they registered it.
func (b *Broker) rewriteAdvertised(resp kmsg.Response, name, host string, port int32) {
	if host == b.host && port == b.port {
		return
	}
	var st *controller.State
	if b.cl != nil {
		st = b.cl.node.State()
	}
	addr := func(id int32, h *string, p *int32) {
		if id == b.opts.nodeID {
			*h, *p = host, port
			return
		}
		if st == nil {
			return
		}
		if bi, ok := st.Brokers[id]; ok {
			if a, ok := bi.Listeners[name]; ok {
				if hh, pp, err := splitAdvertised(a); err == nil {
					*h, *p = hh, pp
				}
			}
		}
	}
	switch r := resp.(type) {
	case *kmsg.MetadataResponse:
		for i := range r.Brokers {
			addr(r.Brokers[i].NodeID, &r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.DescribeClusterResponse:
		for i := range r.Brokers {
			addr(r.Brokers[i].NodeID, &r.Brokers[i].Host, &r.Brokers[i].Port)
		}
	case *kmsg.FindCoordinatorResponse:
		if r.Host != "" {
			addr(r.NodeID, &r.Host, &r.Port)
		}
		for i := range r.Coordinators {
			if c := &r.Coordinators[i]; c.Host != "" {
				addr(c.NodeID, &c.Host, &c.Port)
			}
		}
	}
}

// authorizer checks one connection's principal against the ACLs.
type authorizer struct {
	b         *Broker
	principal string
	host      string
}

// ok reports whether the principal may perform op on the resource; it is
// always true when authorization is disabled.
func (a authorizer) ok(op auth.Operation, rt auth.ResourceType, name string) bool {
	acls := a.b.sec.acls
	if acls == nil {
		return true
	}
	allowed := acls.Authorize(a.principal, a.host, op, rt, name)
	if !allowed {
		a.b.log.Debug("authorization denied", "principal", a.principal, "host", a.host,
			"operation", op.String(), "resource", rt.String()+":"+name)
	}
	return allowed
}

func (a authorizer) cluster(op auth.Operation) bool {
	return a.ok(op, auth.ResourceCluster, auth.ClusterName)
}

func (a authorizer) topic(op auth.Operation, name string) bool {
	return a.ok(op, auth.ResourceTopic, name)
}

func (a authorizer) group(op auth.Operation, name string) bool {
	return a.ok(op, auth.ResourceGroup, name)
}

// topicName resolves a topic id; ok is false for an unknown id (the
// handler then answers UNKNOWN_TOPIC_ID).
func (a authorizer) topicName(id [16]byte) (string, bool) {
	t, _, _, ok := a.b.topicByID(id)
	if !ok {
		return "", false
	}
	return t.name, true
}

var (
	errTopicAuth   = kerr.TopicAuthorizationFailed.Code
	errGroupAuth   = kerr.GroupAuthorizationFailed.Code
	errClusterAuth = kerr.ClusterAuthorizationFailed.Code
	errTxnAuth     = kerr.TransactionalIDAuthorizationFailed.Code
)

// handle authorizes one request by its API's Kafka rules and calls the
// handler with the permitted part of it.
func (a authorizer) handle(ctx context.Context, s *session, r *request, remote string) kmsg.Response {
	b := a.b
	call := func() kmsg.Response { return b.handle(ctx, r, remote) }
	switch req := r.msg.(type) {
	case *kmsg.MetadataRequest:
		return a.metadata(req, call)
	case *kmsg.ProduceRequest:
		return a.produce(s, req, call)
	case *kmsg.FetchRequest:
		return a.fetch(req, call)
	case *kmsg.ListOffsetsRequest:
		var denied []kmsg.ListOffsetsResponseTopic
		kept := req.Topics[:0:0]
		for _, t := range req.Topics {
			if a.topic(auth.OpDescribe, t.Topic) {
				kept = append(kept, t)
				continue
			}
			dt := kmsg.NewListOffsetsResponseTopic()
			dt.Topic = t.Topic
			for _, p := range t.Partitions {
				dp := kmsg.NewListOffsetsResponseTopicPartition()
				dp.Partition, dp.ErrorCode = p.Partition, errTopicAuth
				dt.Partitions = append(dt.Partitions, dp)
			}
			denied = append(denied, dt)
		}
		req.Topics = kept
		resp := call().(*kmsg.ListOffsetsResponse)
		resp.Topics = append(resp.Topics, denied...)
		return resp
	case *kmsg.CreateTopicsRequest:
		clusterCreate := a.cluster(auth.OpCreate)
		var denied []kmsg.CreateTopicsResponseTopic
		kept := req.Topics[:0:0]
		for _, t := range req.Topics {
			if clusterCreate || a.topic(auth.OpCreate, t.Topic) {
				kept = append(kept, t)
				continue
			}
			dt := kmsg.NewCreateTopicsResponseTopic()
			dt.Topic, dt.ErrorCode = t.Topic, errTopicAuth
			dt.ErrorMessage = kmsg.StringPtr("Authorization failed.")
			denied = append(denied, dt)
		}
		req.Topics = kept
		resp := call().(*kmsg.CreateTopicsResponse)
		resp.Topics = append(resp.Topics, denied...)
		return resp
	case *kmsg.DeleteTopicsRequest:
		var denied []kmsg.DeleteTopicsResponseTopic
		deny := func(name *string, id [16]byte) {
			dt := kmsg.NewDeleteTopicsResponseTopic()
			dt.Topic, dt.TopicID, dt.ErrorCode = name, id, errTopicAuth
			denied = append(denied, dt)
		}
		if req.Version < 6 {
			kept := req.TopicNames[:0:0]
			for _, n := range req.TopicNames {
				if a.topic(auth.OpDelete, n) {
					kept = append(kept, n)
				} else {
					deny(kmsg.StringPtr(n), [16]byte{})
				}
			}
			req.TopicNames = kept
		} else {
			kept := req.Topics[:0:0]
			for _, t := range req.Topics {
				name, known := "", true
				if t.Topic != nil {
					name = *t.Topic
				} else {
					name, known = a.topicName(t.TopicID)
				}
				if !known || a.topic(auth.OpDelete, name) {
					kept = append(kept, t)
				} else {
					deny(t.Topic, t.TopicID)
				}
			}
			req.Topics = kept
		}
		resp := call().(*kmsg.DeleteTopicsResponse)
		resp.Topics = append(resp.Topics, denied...)
		return resp
	case *kmsg.CreatePartitionsRequest:
		var denied []kmsg.CreatePartitionsResponseTopic
		kept := req.Topics[:0:0]
		for _, t := range req.Topics {
			if a.topic(auth.OpAlter, t.Topic) {
				kept = append(kept, t)
				continue
			}
			dt := kmsg.NewCreatePartitionsResponseTopic()
			dt.Topic, dt.ErrorCode = t.Topic, errTopicAuth
			denied = append(denied, dt)
		}
		req.Topics = kept
		resp := call().(*kmsg.CreatePartitionsResponse)
		resp.Topics = append(resp.Topics, denied...)
		return resp
	case *kmsg.DeleteRecordsRequest:
		var denied []kmsg.DeleteRecordsResponseTopic
		kept := req.Topics[:0:0]
		for _, t := range req.Topics {
			if a.topic(auth.OpDelete, t.Topic) {
				kept = append(kept, t)
				continue
			}
			dt := kmsg.NewDeleteRecordsResponseTopic()
			dt.Topic = t.Topic
			for _, p := range t.Partitions {
				dp := kmsg.NewDeleteRecordsResponseTopicPartition()
				dp.Partition, dp.LowWatermark, dp.ErrorCode = p.Partition, -1, errTopicAuth
				dt.Partitions = append(dt.Partitions, dp)
			}
			denied = append(denied, dt)
		}
		req.Topics = kept
		resp := call().(*kmsg.DeleteRecordsResponse)
		resp.Topics = append(resp.Topics, denied...)
		return resp
	case *kmsg.DescribeConfigsRequest:
		var denied []kmsg.DescribeConfigsResponseResource
		kept := req.Resources[:0:0]
		for _, res := range req.Resources {
			if code := a.configResource(auth.OpDescribeConfigs, int8(res.ResourceType), res.ResourceName); code != 0 {
				dr := kmsg.NewDescribeConfigsResponseResource()
				dr.ResourceType, dr.ResourceName, dr.ErrorCode = res.ResourceType, res.ResourceName, code
				denied = append(denied, dr)
				continue
			}
			kept = append(kept, res)
		}
		req.Resources = kept
		resp := call().(*kmsg.DescribeConfigsResponse)
		resp.Resources = append(resp.Resources, denied...)
		return resp
	case *kmsg.AlterConfigsRequest:
		var denied []kmsg.AlterConfigsResponseResource
		kept := req.Resources[:0:0]
		for _, res := range req.Resources {
			if code := a.configResource(auth.OpAlterConfigs, int8(res.ResourceType), res.ResourceName); code != 0 {
				dr := kmsg.NewAlterConfigsResponseResource()
				dr.ResourceType, dr.ResourceName, dr.ErrorCode = res.ResourceType, res.ResourceName, code
				denied = append(denied, dr)
				continue
			}
			kept = append(kept, res)
		}
		req.Resources = kept
		resp := call().(*kmsg.AlterConfigsResponse)
		resp.Resources = append(resp.Resources, denied...)
		return resp
	case *kmsg.IncrementalAlterConfigsRequest:
		var denied []kmsg.IncrementalAlterConfigsResponseResource
		kept := req.Resources[:0:0]
		for _, res := range req.Resources {
			if code := a.configResource(auth.OpAlterConfigs, int8(res.ResourceType), res.ResourceName); code != 0 {
				dr := kmsg.NewIncrementalAlterConfigsResponseResource()
				dr.ResourceType, dr.ResourceName, dr.ErrorCode = res.ResourceType, res.ResourceName, code
				denied = append(denied, dr)
				continue
			}
			kept = append(kept, res)
		}
		req.Resources = kept
		resp := call().(*kmsg.IncrementalAlterConfigsResponse)
		resp.Resources = append(resp.Resources, denied...)
		return resp
	case *kmsg.DescribeLogDirsRequest:
		if !a.cluster(auth.OpDescribe) {
			resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
			resp.ErrorCode = errClusterAuth
			return resp
		}
		return call()
	case *kmsg.DescribeClusterRequest:
		if !a.cluster(auth.OpDescribe) {
			resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
			resp.ErrorCode = errClusterAuth
			resp.ErrorMessage = kmsg.StringPtr("Cluster authorization failed.")
			return resp
		}
		return call()
	case *kmsg.FindCoordinatorRequest:
		return a.findCoordinator(req, call)
	case *kmsg.InitProducerIDRequest:
		code := int16(0)
		if req.TransactionalID != nil {
			if !a.ok(auth.OpWrite, auth.ResourceTransactionalID, *req.TransactionalID) {
				code = errTxnAuth
			}
		} else if !a.cluster(auth.OpIdempotentWrite) && !b.sec.acls.AuthorizeAny(a.principal, a.host, auth.OpWrite, auth.ResourceTopic) {
			code = errClusterAuth
		}
		if code != 0 {
			resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.ErrorCode, resp.ProducerID, resp.ProducerEpoch = code, -1, -1
			return resp
		}
		return call()
	case *kmsg.JoinGroupRequest:
		if !a.group(auth.OpRead, req.Group) {
			resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
			resp.ErrorCode, resp.Generation = errGroupAuth, -1
			return resp
		}
		return call()
	case *kmsg.SyncGroupRequest:
		if !a.group(auth.OpRead, req.Group) {
			resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
			resp.ErrorCode = errGroupAuth
			return resp
		}
		return call()
	case *kmsg.HeartbeatRequest:
		if !a.group(auth.OpRead, req.Group) {
			resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
			resp.ErrorCode = errGroupAuth
			return resp
		}
		return call()
	case *kmsg.LeaveGroupRequest:
		if !a.group(auth.OpRead, req.Group) {
			resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
			resp.ErrorCode = errGroupAuth
			return resp
		}
		return call()
	case *kmsg.OffsetCommitRequest:
		return a.offsetCommit(req, call)
	case *kmsg.OffsetFetchRequest:
		return a.offsetFetch(req, call)
	case *kmsg.OffsetDeleteRequest:
		if !a.group(auth.OpDelete, req.Group) {
			resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
			resp.ErrorCode = errGroupAuth
			return resp
		}
		var denied []kmsg.OffsetDeleteResponseTopic
		kept := req.Topics[:0:0]
		for _, t := range req.Topics {
			if a.topic(auth.OpRead, t.Topic) {
				kept = append(kept, t)
				continue
			}
			dt := kmsg.NewOffsetDeleteResponseTopic()
			dt.Topic = t.Topic
			for _, p := range t.Partitions {
				dp := kmsg.NewOffsetDeleteResponseTopicPartition()
				dp.Partition, dp.ErrorCode = p.Partition, errTopicAuth
				dt.Partitions = append(dt.Partitions, dp)
			}
			denied = append(denied, dt)
		}
		req.Topics = kept
		resp := call().(*kmsg.OffsetDeleteResponse)
		resp.Topics = append(resp.Topics, denied...)
		return resp
	case *kmsg.ListGroupsRequest:
		resp := call().(*kmsg.ListGroupsResponse)
		if !a.cluster(auth.OpDescribe) {
			kept := resp.Groups[:0]
			for _, g := range resp.Groups {
				if a.group(auth.OpDescribe, g.Group) {
					kept = append(kept, g)
				}
			}
			resp.Groups = kept
		}
		return resp
	case *kmsg.DescribeGroupsRequest:
		var denied []kmsg.DescribeGroupsResponseGroup
		kept := req.Groups[:0:0]
		for _, g := range req.Groups {
			if a.group(auth.OpDescribe, g) {
				kept = append(kept, g)
				continue
			}
			dg := kmsg.NewDescribeGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, errGroupAuth
			denied = append(denied, dg)
		}
		req.Groups = kept
		resp := call().(*kmsg.DescribeGroupsResponse)
		resp.Groups = append(resp.Groups, denied...)
		return resp
	case *kmsg.DeleteGroupsRequest:
		var denied []kmsg.DeleteGroupsResponseGroup
		kept := req.Groups[:0:0]
		for _, g := range req.Groups {
			if a.group(auth.OpDelete, g) {
				kept = append(kept, g)
				continue
			}
			dg := kmsg.NewDeleteGroupsResponseGroup()
			dg.Group, dg.ErrorCode = g, errGroupAuth
			denied = append(denied, dg)
		}
		req.Groups = kept
		resp := call().(*kmsg.DeleteGroupsResponse)
		resp.Groups = append(resp.Groups, denied...)
		return resp
	case *kmsg.OffsetForLeaderEpochRequest:
		// Followers (ReplicaID >= 0) need ClusterAction; consumers checking
		// for truncation need Describe on each topic, as in Kafka.
		follower := req.Version >= 3 && req.ReplicaID >= 0
		clusterOK := follower && a.cluster(auth.OpClusterAction)
		var denied []kmsg.OffsetForLeaderEpochResponseTopic
		kept := req.Topics[:0:0]
		for _, t := range req.Topics {
			code := int16(0)
			switch {
			case follower && !clusterOK:
				code = errClusterAuth
			case !follower && !a.topic(auth.OpDescribe, t.Topic):
				code = errTopicAuth
			}
			if code == 0 {
				kept = append(kept, t)
				continue
			}
			dt := kmsg.NewOffsetForLeaderEpochResponseTopic()
			dt.Topic = t.Topic
			for _, p := range t.Partitions {
				dp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
				dp.Partition, dp.ErrorCode = p.Partition, code
				dp.LeaderEpoch, dp.EndOffset = -1, -1
				dt.Partitions = append(dt.Partitions, dp)
			}
			denied = append(denied, dt)
		}
		req.Topics = kept
		resp := call().(*kmsg.OffsetForLeaderEpochResponse)
		resp.Topics = append(resp.Topics, denied...)
		return resp
	case *kmsg.ElectLeadersRequest:
		if a.cluster(auth.OpAlter) {
			return call()
		}
		resp := req.ResponseKind().(*kmsg.ElectLeadersResponse)
		resp.ErrorCode = errClusterAuth
		for _, t := range req.Topics {
			rt := kmsg.NewElectLeadersResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewElectLeadersResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, errClusterAuth
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.AlterPartitionAssignmentsRequest:
		if a.cluster(auth.OpAlter) {
			return call()
		}
		resp := req.ResponseKind().(*kmsg.AlterPartitionAssignmentsResponse)
		resp.ErrorCode = errClusterAuth
		return resp
	case *kmsg.ListPartitionReassignmentsRequest:
		if a.cluster(auth.OpDescribe) {
			return call()
		}
		resp := req.ResponseKind().(*kmsg.ListPartitionReassignmentsResponse)
		resp.ErrorCode = errClusterAuth
		return resp
	}
	// Every client API has a rule above. Others (inter-broker APIs) need
	// ClusterAction on the Cluster, as in Kafka; a denial closes the
	// connection because their answers have no common error field.
	if a.cluster(auth.OpClusterAction) {
		return call()
	}
	b.log.Warn("closing connection: API needs ClusterAction on the Cluster", "api", kmsg.NameForKey(r.key), "principal", a.principal)
	s.mu.Lock()
	s.close = true
	s.mu.Unlock()
	return nil
}

// configResource checks a config resource (2 = topic, 4 = broker,
// 8 = broker logger) and returns the error code for a denial, or 0.
func (a authorizer) configResource(op auth.Operation, rt int8, name string) int16 {
	switch rt {
	case 2:
		if !a.topic(op, name) {
			return errTopicAuth
		}
	default:
		if !a.cluster(op) {
			return errClusterAuth
		}
	}
	return 0
}

func (a authorizer) metadata(req *kmsg.MetadataRequest, call func() kmsg.Response) kmsg.Response {
	b := a.b
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	var denied []kmsg.MetadataResponseTopic
	if !all {
		autoCreate := b.opts.autoCreate && (req.Version < 4 || req.AllowAutoTopicCreation)
		clusterCreate := autoCreate && a.cluster(auth.OpCreate)
		kept := req.Topics[:0:0]
		for _, t := range req.Topics {
			var name string
			if t.Topic != nil {
				name = *t.Topic
			} else if n, ok := a.topicName(t.TopicID); ok {
				name = n
			} else {
				kept = append(kept, t) // unknown id: the handler answers
				continue
			}
			allowed := a.topic(auth.OpDescribe, name)
			if allowed && autoCreate && !clusterCreate {
				if _, _, _, exists := b.topicByName(name); !exists {
					// Auto-creating needs Create on the cluster or the topic.
					allowed = a.topic(auth.OpCreate, name)
				}
			}
			if allowed {
				kept = append(kept, t)
				continue
			}
			dt := kmsg.NewMetadataResponseTopic()
			dt.Topic, dt.TopicID, dt.ErrorCode = kmsg.StringPtr(name), t.TopicID, errTopicAuth
			denied = append(denied, dt)
		}
		req.Topics = kept
		if len(kept) == 0 {
			// An empty list means "all topics" in v0; ask for none instead.
			req.Topics = []kmsg.MetadataRequestTopic{}
			if req.Version == 0 {
				req.Version = 1
			}
		}
	}
	resp := call().(*kmsg.MetadataResponse)
	if all {
		kept := resp.Topics[:0]
		for _, t := range resp.Topics {
			if t.Topic != nil && a.topic(auth.OpDescribe, *t.Topic) {
				kept = append(kept, t)
			}
		}
		resp.Topics = kept
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp
}

func (a authorizer) produce(s *session, req *kmsg.ProduceRequest, call func() kmsg.Response) kmsg.Response {
	txnDenied := req.TransactionID != nil && !a.ok(auth.OpWrite, auth.ResourceTransactionalID, *req.TransactionID)
	var denied []kmsg.ProduceResponseTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		code := int16(0)
		switch {
		case txnDenied:
			code = errTxnAuth
		case !a.topic(auth.OpWrite, t.Topic):
			code = errTopicAuth
		}
		if code == 0 {
			kept = append(kept, t)
			continue
		}
		dt := kmsg.NewProduceResponseTopic()
		dt.Topic = t.Topic
		for _, p := range t.Partitions {
			dp := kmsg.NewProduceResponseTopicPartition()
			dp.Partition, dp.ErrorCode = p.Partition, code
			dp.BaseOffset, dp.LogAppendTime, dp.LogStartOffset = -1, -1, -1
			dt.Partitions = append(dt.Partitions, dp)
		}
		denied = append(denied, dt)
	}
	if req.Acks == 0 {
		if len(denied) > 0 {
			// acks=0 has no answer to carry the error; Kafka closes the
			// connection so the client notices.
			s.mu.Lock()
			s.close = true
			s.mu.Unlock()
			return nil
		}
		return call()
	}
	var resp *kmsg.ProduceResponse
	if len(kept) == 0 {
		resp = req.ResponseKind().(*kmsg.ProduceResponse)
	} else {
		req.Topics = kept
		resp = call().(*kmsg.ProduceResponse)
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp
}

func (a authorizer) fetch(req *kmsg.FetchRequest, call func() kmsg.Response) kmsg.Response {
	replica := req.ReplicaID
	if req.Version >= 15 {
		replica = req.ReplicaState.ID
	}
	follower := replica >= 0
	clusterOK := follower && a.cluster(auth.OpClusterAction)
	var denied []kmsg.FetchResponseTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		name := t.Topic
		if req.Version >= 13 {
			n, ok := a.topicName(t.TopicID)
			if !ok {
				kept = append(kept, t)
				continue
			}
			name = n
		}
		code := int16(0)
		switch {
		case follower && !clusterOK:
			code = errClusterAuth
		case !follower && !a.topic(auth.OpRead, name):
			code = errTopicAuth
		}
		if code == 0 {
			kept = append(kept, t)
			continue
		}
		dt := kmsg.NewFetchResponseTopic()
		dt.Topic, dt.TopicID = t.Topic, t.TopicID
		for _, p := range t.Partitions {
			dp := kmsg.NewFetchResponseTopicPartition()
			dp.Partition, dp.ErrorCode = p.Partition, code
			dp.HighWatermark, dp.LastStableOffset, dp.LogStartOffset = -1, -1, -1
			dt.Partitions = append(dt.Partitions, dp)
		}
		denied = append(denied, dt)
	}
	var resp *kmsg.FetchResponse
	if len(kept) == 0 && len(denied) > 0 {
		// Nothing left to wait for: answer now instead of long-polling.
		resp = req.ResponseKind().(*kmsg.FetchResponse)
	} else {
		req.Topics = kept
		resp = call().(*kmsg.FetchResponse)
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp
}

func (a authorizer) findCoordinator(req *kmsg.FindCoordinatorRequest, call func() kmsg.Response) kmsg.Response {
	allowed := func(key string) (int16, bool) {
		switch req.CoordinatorType {
		case 1:
			return errTxnAuth, a.ok(auth.OpDescribe, auth.ResourceTransactionalID, key)
		default:
			return errGroupAuth, a.group(auth.OpDescribe, key)
		}
	}
	if req.Version < 4 {
		if code, ok := allowed(req.CoordinatorKey); !ok {
			resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
			resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
			return resp
		}
		return call()
	}
	var denied []kmsg.FindCoordinatorResponseCoordinator
	kept := req.CoordinatorKeys[:0:0]
	for _, k := range req.CoordinatorKeys {
		if code, ok := allowed(k); !ok {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, code, -1, -1
			denied = append(denied, c)
			continue
		}
		kept = append(kept, k)
	}
	req.CoordinatorKeys = kept
	resp := call().(*kmsg.FindCoordinatorResponse)
	resp.Coordinators = append(resp.Coordinators, denied...)
	return resp
}

func (a authorizer) offsetCommit(req *kmsg.OffsetCommitRequest, call func() kmsg.Response) kmsg.Response {
	groupOK := a.group(auth.OpRead, req.Group)
	var denied []kmsg.OffsetCommitResponseTopic
	kept := req.Topics[:0:0]
	for _, t := range req.Topics {
		code := int16(0)
		switch {
		case !groupOK:
			code = errGroupAuth
		case !a.topic(auth.OpRead, t.Topic):
			code = errTopicAuth
		}
		if code == 0 {
			kept = append(kept, t)
			continue
		}
		dt := kmsg.NewOffsetCommitResponseTopic()
		dt.Topic = t.Topic
		for _, p := range t.Partitions {
			dp := kmsg.NewOffsetCommitResponseTopicPartition()
			dp.Partition, dp.ErrorCode = p.Partition, code
			dt.Partitions = append(dt.Partitions, dp)
		}
		denied = append(denied, dt)
	}
	var resp *kmsg.OffsetCommitResponse
	if len(kept) == 0 && len(denied) > 0 {
		resp = req.ResponseKind().(*kmsg.OffsetCommitResponse)
	} else {
		req.Topics = kept
		resp = call().(*kmsg.OffsetCommitResponse)
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp
}

func (a authorizer) offsetFetch(req *kmsg.OffsetFetchRequest, call func() kmsg.Response) kmsg.Response {
	if req.Version < 8 {
		if !a.group(auth.OpDescribe, req.Group) {
			resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
			resp.ErrorCode = errGroupAuth
			for _, t := range req.Topics {
				rt := kmsg.NewOffsetFetchResponseTopic()
				rt.Topic = t.Topic
				for _, p := range t.Partitions {
					rp := kmsg.NewOffsetFetchResponseTopicPartition()
					rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, errGroupAuth
					rt.Partitions = append(rt.Partitions, rp)
				}
				resp.Topics = append(resp.Topics, rt)
			}
			return resp
		}
		var denied []kmsg.OffsetFetchResponseTopic
		if req.Topics != nil {
			kept := req.Topics[:0:0]
			for _, t := range req.Topics {
				if a.topic(auth.OpDescribe, t.Topic) {
					kept = append(kept, t)
					continue
				}
				dt := kmsg.NewOffsetFetchResponseTopic()
				dt.Topic = t.Topic
				for _, p := range t.Partitions {
					dp := kmsg.NewOffsetFetchResponseTopicPartition()
					dp.Partition, dp.Offset, dp.LeaderEpoch, dp.ErrorCode = p, -1, -1, errTopicAuth
					dt.Partitions = append(dt.Partitions, dp)
				}
				denied = append(denied, dt)
			}
			req.Topics = kept
		}
		all := req.Topics == nil
		resp := call().(*kmsg.OffsetFetchResponse)
		if all {
			kept := resp.Topics[:0]
			for _, t := range resp.Topics {
				if a.topic(auth.OpDescribe, t.Topic) {
					kept = append(kept, t)
				}
			}
			resp.Topics = kept
		}
		resp.Topics = append(resp.Topics, denied...)
		return resp
	}
	var deniedGroups []kmsg.OffsetFetchResponseGroup
	deniedTopics := map[string][]kmsg.OffsetFetchResponseGroupTopic{}
	allTopics := map[string]bool{}
	kept := req.Groups[:0:0]
	for _, g := range req.Groups {
		if !a.group(auth.OpDescribe, g.Group) {
			dg := kmsg.NewOffsetFetchResponseGroup()
			dg.Group, dg.ErrorCode = g.Group, errGroupAuth
			deniedGroups = append(deniedGroups, dg)
			continue
		}
		if g.Topics == nil {
			allTopics[g.Group] = true
		} else {
			kt := g.Topics[:0:0]
			for _, t := range g.Topics {
				if a.topic(auth.OpDescribe, t.Topic) {
					kt = append(kt, t)
					continue
				}
				dt := kmsg.NewOffsetFetchResponseGroupTopic()
				dt.Topic = t.Topic
				for _, p := range t.Partitions {
					dp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					dp.Partition, dp.Offset, dp.LeaderEpoch, dp.ErrorCode = p, -1, -1, errTopicAuth
					dt.Partitions = append(dt.Partitions, dp)
				}
				deniedTopics[g.Group] = append(deniedTopics[g.Group], dt)
			}
			g.Topics = kt
		}
		kept = append(kept, g)
	}
	req.Groups = kept
	resp := call().(*kmsg.OffsetFetchResponse)
	for i := range resp.Groups {
		g := &resp.Groups[i]
		if allTopics[g.Group] {
			kt := g.Topics[:0]
			for _, t := range g.Topics {
				if a.topic(auth.OpDescribe, t.Topic) {
					kt = append(kt, t)
				}
			}
			g.Topics = kt
		}
		g.Topics = append(g.Topics, deniedTopics[g.Group]...)
	}
	resp.Groups = append(resp.Groups, deniedGroups...)
	return resp
}
