package broker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/group"
)

// coordRef is the broker's consumer-group coordinator. On a single node it
// holds one coordinator for the broker's life; in cluster mode it holds a
// live coordinator only while this broker leads __consumer_offsets-0 (one
// rebuilt from the log at every election) and a closed one otherwise, so
// requests get COORDINATOR_NOT_AVAILABLE and clients look the coordinator
// up again.
type coordRef struct {
	p atomic.Pointer[group.Coordinator]
}

func newCoordRef(c *group.Coordinator) *coordRef {
	r := &coordRef{}
	r.p.Store(c)
	return r
}

func (r *coordRef) get() *group.Coordinator { return r.p.Load() }

// swap installs c and closes the previous coordinator.
func (r *coordRef) swap(c *group.Coordinator) {
	if old := r.p.Swap(c); old != nil && old != c {
		old.Close()
	}
}

// Close closes the current coordinator.
func (r *coordRef) Close() error { return r.get().Close() }

// Load feeds one __consumer_offsets record to the current coordinator.
func (r *coordRef) Load(key, value []byte) error { return r.get().Load(key, value) }

// ExpireOffsets applies offset retention on the current coordinator.
func (r *coordRef) ExpireOffsets(now time.Time) { r.get().ExpireOffsets(now) }

// JoinGroup forwards to the current coordinator.
func (r *coordRef) JoinGroup(ctx context.Context, req *kmsg.JoinGroupRequest) *kmsg.JoinGroupResponse {
	return r.get().JoinGroup(ctx, req)
}

// SyncGroup forwards to the current coordinator.
func (r *coordRef) SyncGroup(ctx context.Context, req *kmsg.SyncGroupRequest) *kmsg.SyncGroupResponse {
	return r.get().SyncGroup(ctx, req)
}

// Heartbeat forwards to the current coordinator.
func (r *coordRef) Heartbeat(ctx context.Context, req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	return r.get().Heartbeat(ctx, req)
}

// LeaveGroup forwards to the current coordinator.
func (r *coordRef) LeaveGroup(ctx context.Context, req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	return r.get().LeaveGroup(ctx, req)
}

// OffsetCommit forwards to the current coordinator.
func (r *coordRef) OffsetCommit(ctx context.Context, req *kmsg.OffsetCommitRequest) *kmsg.OffsetCommitResponse {
	return r.get().OffsetCommit(ctx, req)
}

// OffsetFetch forwards to the current coordinator.
func (r *coordRef) OffsetFetch(ctx context.Context, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	return r.get().OffsetFetch(ctx, req)
}

// OffsetDelete forwards to the current coordinator.
func (r *coordRef) OffsetDelete(ctx context.Context, req *kmsg.OffsetDeleteRequest) *kmsg.OffsetDeleteResponse {
	return r.get().OffsetDelete(ctx, req)
}

// ListGroups forwards to the current coordinator.
func (r *coordRef) ListGroups(ctx context.Context, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	return r.get().ListGroups(ctx, req)
}

// DescribeGroups forwards to the current coordinator.
func (r *coordRef) DescribeGroups(ctx context.Context, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	return r.get().DescribeGroups(ctx, req)
}

// DeleteGroups forwards to the current coordinator.
func (r *coordRef) DeleteGroups(ctx context.Context, req *kmsg.DeleteGroupsRequest) *kmsg.DeleteGroupsResponse {
	return r.get().DeleteGroups(ctx, req)
}
