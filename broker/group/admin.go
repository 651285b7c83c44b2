package group

import (
	"context"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupOpsAllowed is the authorized-operations bitfield reported without
// ACLs: READ (3), DELETE (6) and DESCRIBE (8).
const groupOpsAllowed = 1<<3 | 1<<6 | 1<<8

// ListGroups handles a ListGroups request (states filter v4+, types filter
// v5+; every group here is of type "classic").
func (c *Coordinator) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	if c.isClosed() {
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return resp
	}
	match := func(filter []string, v string) bool {
		if len(filter) == 0 {
			return true
		}
		for _, f := range filter {
			if strings.EqualFold(f, v) {
				return true
			}
		}
		return false
	}
	for _, id := range c.groupIDs() {
		g := c.lockGroup(id, false)
		if g == nil {
			continue
		}
		state, ptype := g.state.String(), g.protocolType
		g.mu.Unlock()
		if req.Version >= 4 && !match(req.StatesFilter, state) {
			continue
		}
		if req.Version >= 5 && !match(req.TypesFilter, "classic") {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group = id
		lg.ProtocolType = ptype
		if req.Version >= 4 {
			lg.GroupState = state
		}
		if req.Version >= 5 {
			lg.GroupType = "classic"
		}
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}

// DescribeGroups handles a DescribeGroups request. Member metadata and
// assignments are reported while the group is Stable, as Kafka does.
func (c *Coordinator) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDescribeGroupsResponseGroup()
		dg.Group = id
		if req.Version >= 3 && req.IncludeAuthorizedOperations {
			dg.AuthorizedOperations = groupOpsAllowed
		}
		switch {
		case c.isClosed():
			dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		default: // "" is a valid group id here, as in Kafka
			c.describeOne(req.Version, id, &dg)
		}
		if dg.ErrorCode != 0 && req.Version >= 6 {
			msg := kerr.ErrorForCode(dg.ErrorCode).Error()
			dg.ErrorMessage = &msg
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) describeOne(version int16, id string, dg *kmsg.DescribeGroupsResponseGroup) {
	g := c.lockGroup(id, false)
	if g == nil {
		dg.State = stateDead.String()
		if c.isClosed() {
			dg.ErrorCode = kerr.CoordinatorNotAvailable.Code
		} else if version >= 6 {
			dg.ErrorCode = kerr.GroupIDNotFound.Code
		}
		return
	}
	defer g.mu.Unlock()
	dg.State = g.state.String()
	dg.ProtocolType = g.protocolType
	stable := g.state == stateStable
	if stable {
		dg.Protocol = g.protocol
	}
	for _, m := range g.sortedMembers() {
		dm := kmsg.NewDescribeGroupsResponseGroupMember()
		dm.MemberID = m.id
		if version >= 4 {
			dm.InstanceID = m.instanceID
		}
		dm.ClientID = m.clientID
		dm.ClientHost = m.clientHost
		dm.ProtocolMetadata = []byte{}
		dm.MemberAssignment = []byte{}
		if stable {
			if md := m.metadataFor(g.protocol); md != nil {
				dm.ProtocolMetadata = md
			}
			if m.assignment != nil {
				dm.MemberAssignment = m.assignment
			}
		}
		dg.Members = append(dg.Members, dm)
	}
}

// DeleteGroups handles a DeleteGroups request: groups without members are
// deleted with all their committed offsets (tombstones are written first).
func (c *Coordinator) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, id := range req.Groups {
		dg := kmsg.NewDeleteGroupsResponseGroup()
		dg.Group = id
		dg.ErrorCode = c.deleteOne(id)
		if dg.ErrorCode != 0 && req.Version >= 3 {
			msg := kerr.ErrorForCode(dg.ErrorCode).Error()
			dg.ErrorMessage = &msg
		}
		resp.Groups = append(resp.Groups, dg)
	}
	return resp
}

func (c *Coordinator) deleteOne(id string) int16 {
	if c.isClosed() {
		return kerr.CoordinatorNotAvailable.Code
	}
	g := c.lockGroup(id, false) // "" is a valid group id here, as in Kafka
	if g == nil {
		if c.isClosed() {
			return kerr.CoordinatorNotAvailable.Code
		}
		return kerr.GroupIDNotFound.Code
	}
	if g.state != stateEmpty || len(g.members) > 0 {
		g.mu.Unlock()
		return kerr.NonEmptyGroup.Code
	}
	recs := make([]Record, 0, len(g.offsets)+1)
	for tp := range g.offsets {
		recs = append(recs, offsetTombstone(g.id, tp))
	}
	recs = append(recs, groupTombstone(g.id))
	if err := c.persist(recs); err != nil {
		g.mu.Unlock()
		c.log.Error("persisting group deletion", "group", id, "err", err)
		return storeErrCode(err)
	}
	g.stopTimers()
	g.state = stateDead
	g.offsets = make(map[topicPartition]offsetEntry)
	g.mu.Unlock()
	c.forget(g)
	return 0
}
