package broker

import (
	"slices"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleDescribeLogDirs answers for this broker's own log directory, as a
// Kafka broker does: clients (kadm.DescribeAllLogDirs) ask every broker.
// In cluster mode only partitions this broker is a replica of (leader or
// follower) are listed. OffsetLag is how far the replica's log end is
// behind the partition's high watermark: 0 on the leader, and on a
// follower the leader's high watermark from its last fetch minus the
// local log end.
func (b *Broker) handleDescribeLogDirs(req *kmsg.DescribeLogDirsRequest) *kmsg.DescribeLogDirsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeLogDirsResponse)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.opts.dataDir
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var fs syscall.Statfs_t
	if err := syscall.Statfs(b.opts.dataDir, &fs); err == nil {
		dir.TotalBytes = int64(fs.Blocks) * int64(fs.Bsize)
		dir.UsableBytes = int64(fs.Bavail) * int64(fs.Bsize)
	}
	add := func(name string, parts []*partition, want []int32) {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = name
		for _, p := range parts {
			if want != nil && !slices.Contains(want, p.index) {
				continue
			}
			lag, ok := b.localReplicaLag(p)
			if !ok {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition = p.index
			dp.Size = p.log.Size()
			dp.OffsetLag = lag
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 || want != nil {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	if req.Topics == nil {
		b.mu.RLock()
		type tp struct {
			name  string
			parts []*partition
		}
		var all []tp
		for n, t := range b.topics {
			all = append(all, tp{n, t.parts})
		}
		b.mu.RUnlock()
		for _, t := range all {
			add(t.name, t.parts, nil)
		}
	} else {
		for _, rt := range req.Topics {
			if _, parts, _, ok := b.topicByName(rt.Topic); ok {
				add(rt.Topic, parts, rt.Partitions)
			}
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp
}

// localReplicaLag reports whether this broker holds a replica of p and,
// if so, its offset lag. Outside cluster mode every partition is local
// with no lag.
func (b *Broker) localReplicaLag(p *partition) (int64, bool) {
	if b.cl == nil {
		return 0, true
	}
	r := p.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.known || !slices.Contains(r.replicas, b.cl.id) {
		return 0, false
	}
	if r.isLeader {
		return 0, true
	}
	return max(r.leaderHW-p.log.EndOffset(), 0), true
}
