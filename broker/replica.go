package broker

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicehq/sluice/broker/controller"
)

// replica is one partition's replication role on this broker, following
// the controller's state: leader (tracking followers, advancing the high
// watermark, shrinking and expanding the ISR), follower (fetched into by a
// fetcher) or neither.
type replica struct {
	// appendMu is held shared by produce appends and exclusively by role
	// changes, so no append lands with a stale leader epoch after the role
	// moved on.
	appendMu sync.RWMutex

	mu         sync.Mutex
	known      bool
	leader     int32
	epoch      int32
	partEpoch  int32
	replicas   []int32
	isr        []int32
	isLeader   bool
	epochStart int64 // log end offset when this leader epoch began
	hw         int64 // replicated high watermark (leader)
	leaderHW   int64 // the leader's high watermark from the last fetch (follower)
	followers  map[int32]*followerProgress
	changed    chan struct{} // closed on role, ISR or high-watermark changes
	stopLead   context.CancelFunc
	kick       chan struct{}
	altering   bool
}

// followerProgress is what the leader knows about one follower.
type followerProgress struct {
	leo          int64 // fetch offset of the last fetch (-1 = unknown)
	caughtUp     time.Time
	lastFetch    time.Time
	leoLastFetch int64 // leader end offset at the last fetch
	logStart     int64 // log start offset the follower last reported (-1 = unknown)
}

func newReplica() *replica {
	return &replica{leader: -1, changed: make(chan struct{}), kick: make(chan struct{}, 1)}
}

// notifyLocked wakes waiters (caller holds r.mu).
func (r *replica) notifyLocked() {
	close(r.changed)
	r.changed = make(chan struct{})
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// resign drops leadership (the topic is gone or the broker stops).
func (r *replica) resign() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopLead != nil {
		r.stopLead()
		r.stopLead = nil
	}
	r.isLeader = false
	r.notifyLocked()
}

// update applies the controller's view of the partition.
func (r *replica) update(c *cluster, p *partition, mp controller.Partition, mine bool) {
	r.mu.Lock()
	newLeader := mine && mp.Leader == c.id
	changedRole := r.isLeader != newLeader || (newLeader && r.epoch != mp.LeaderEpoch)
	sameISR := slices.Equal(r.isr, mp.ISR)
	if !changedRole && r.known && sameISR && r.partEpoch == mp.PartitionEpoch && r.leader == mp.Leader {
		r.mu.Unlock()
		return
	}
	if changedRole {
		r.mu.Unlock()
		// Wait for in-flight appends of the old role to finish.
		r.appendMu.Lock()
		r.mu.Lock()
		if r.stopLead != nil {
			r.stopLead()
			r.stopLead = nil
		}
	}
	r.known = true
	r.leader, r.epoch, r.partEpoch = mp.Leader, mp.LeaderEpoch, mp.PartitionEpoch
	r.replicas, r.isr = slices.Clone(mp.Replicas), slices.Clone(mp.ISR)
	if !changedRole && r.isLeader {
		// Reassignment: track replicas that were added, forget removed ones.
		now := time.Now()
		for _, id := range r.replicas {
			if _, ok := r.followers[id]; !ok && id != c.id {
				r.followers[id] = &followerProgress{leo: -1, caughtUp: now, lastFetch: now, logStart: -1}
			}
		}
		for id := range r.followers {
			if !slices.Contains(r.replicas, id) {
				delete(r.followers, id)
			}
		}
	}
	if changedRole {
		r.isLeader = newLeader
		if newLeader {
			if err := p.log.AssignEpoch(mp.LeaderEpoch); err != nil {
				c.b.log.Error("recording the leader epoch failed; not leading", "topic", p.topic, "partition", p.index, "err", err)
				r.isLeader = false
			}
		}
		if r.isLeader {
			r.epochStart = p.log.EndOffset()
			r.hw = p.log.HighWatermark()
			now := time.Now()
			r.followers = map[int32]*followerProgress{}
			for _, id := range r.replicas {
				if id != c.id {
					// A new leader gives its followers a full lag period.
					r.followers[id] = &followerProgress{leo: -1, caughtUp: now, lastFetch: now, logStart: -1}
				}
			}
			ctx, cancel := context.WithCancel(c.b.ctx)
			r.stopLead = cancel
			c.wg.Add(1)
			go c.leadLoop(ctx, p, mp.LeaderEpoch)
			c.b.log.Info("became partition leader", "topic", p.topic, "partition", p.index, "leader_epoch", mp.LeaderEpoch, "isr", mp.ISR)
		}
	}
	isLeader := r.isLeader
	r.notifyLocked()
	r.mu.Unlock()
	if changedRole {
		r.appendMu.Unlock()
		if p.topic == offsetsTopic && p.index == 0 {
			c.offsetsLeadership(p, isLeader)
		}
	}
}

// leadLoop advances the high watermark and shrinks the ISR while this
// broker leads the partition in epoch.
func (c *cluster) leadLoop(ctx context.Context, p *partition, epoch int32) {
	defer c.wg.Done()
	every := c.b.opts.cluster.replicaLag / 4
	if every < 20*time.Millisecond {
		every = 20 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ch := p.log.Changed()
		c.advanceHW(p)
		c.maybeShrinkISR(p, epoch)
		select {
		case <-ch:
		case <-p.rep.kick:
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}

// advanceHW sets the high watermark to the smallest end offset of the
// ISR (the leader's own counting only fsynced records with FlushDurable).
func (c *cluster) advanceHW(p *partition) {
	r := p.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.isLeader {
		return
	}
	hw := p.log.DurableOffset()
	for _, id := range r.isr {
		if id == c.id {
			continue
		}
		f := r.followers[id]
		if f == nil || f.leo < 0 {
			return
		}
		if f.leo < hw {
			hw = f.leo
		}
	}
	if hw > r.hw {
		r.hw = hw
		p.log.SetHighWatermarkCap(hw)
		r.notifyLocked()
	}
}

// maybeShrinkISR removes followers that have not caught up for
// replica.lag.time.max.ms.
func (c *cluster) maybeShrinkISR(p *partition, epoch int32) {
	r := p.rep
	r.mu.Lock()
	if !r.isLeader || r.epoch != epoch || r.altering {
		r.mu.Unlock()
		return
	}
	now := time.Now()
	lag := c.b.opts.cluster.replicaLag
	isr := make([]int32, 0, len(r.isr))
	for _, id := range r.isr {
		if f := r.followers[id]; id != c.id && f != nil && now.Sub(f.caughtUp) > lag {
			c.b.log.Warn("follower fell behind, shrinking the ISR", "topic", p.topic, "partition", p.index,
				"follower", id, "behind_for", now.Sub(f.caughtUp).Round(time.Millisecond).String())
			continue
		}
		isr = append(isr, id)
	}
	if len(isr) == len(r.isr) {
		r.mu.Unlock()
		return
	}
	c.alterISRLocked(p, isr)
	r.mu.Unlock()
}

// alterISRLocked asks the controller to change the ISR (AlterPartition);
// the new ISR takes effect when the state comes back (caller holds r.mu).
func (c *cluster) alterISRLocked(p *partition, isr []int32) {
	r := p.rep
	r.altering = true
	t, _, _, _ := c.b.topicByName(p.topic)
	cmd := &controller.Cmd{Op: controller.OpAlterISR, Topic: p.topic, Partition: p.index, Leader: c.id,
		LeaderEpoch: r.epoch, PartitionEpoch: r.partEpoch, ISR: isr}
	if t != nil {
		cmd.TopicID = t.id
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		_, terr := c.propose(c.b.ctx, cmd)
		if terr != nil {
			c.b.log.Info("ISR change rejected", "topic", p.topic, "partition", p.index, "isr", isr, "err", terr.msg)
		}
		// Wait for the state to reach this broker before trying again.
		c.waitState(c.b.ctx, func(s *controller.State) bool {
			mt, ok := s.Topics[p.topic]
			return !ok || int(p.index) >= len(mt.Partitions) || mt.Partitions[p.index].PartitionEpoch != cmd.PartitionEpoch || terr != nil
		})
		c.reconcile(c.node.State())
		r.mu.Lock()
		r.altering = false
		r.notifyLocked()
		r.mu.Unlock()
	}()
}

// onFollowerFetch records a follower's fetch offset (its log end offset)
// and log start offset.
func (c *cluster) onFollowerFetch(p *partition, id int32, offset, logStart int64) {
	r := p.rep
	r.mu.Lock()
	if !r.isLeader {
		r.mu.Unlock()
		return
	}
	f := r.followers[id]
	if f == nil {
		r.mu.Unlock()
		return
	}
	now := time.Now()
	leo := p.log.EndOffset()
	switch {
	case offset >= leo:
		f.caughtUp = now
	case offset >= f.leoLastFetch && f.leo >= 0:
		f.caughtUp = f.lastFetch
	}
	f.lastFetch, f.leoLastFetch, f.leo = now, leo, offset
	if logStart > f.logStart {
		f.logStart = logStart
		r.notifyLocked() // DeleteRecords waits for followers' log starts
	}
	expand := !slices.Contains(r.isr, id) && offset >= r.hw && offset >= r.epochStart && !r.altering &&
		c.node.State().Live(id)
	if expand {
		c.b.log.Info("follower caught up, expanding the ISR", "topic", p.topic, "partition", p.index, "follower", id)
		c.alterISRLocked(p, append(slices.Clone(r.isr), id))
	}
	r.mu.Unlock()
	c.advanceHW(p)
}

// leaderCheck answers whether this broker may serve p as its leader for a
// request carrying currentEpoch (-1 = not given).
func (c *cluster) leaderCheck(p *partition, currentEpoch int32) *topicError {
	r := p.rep
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case !r.isLeader:
		return kafkaErr(kerr.NotLeaderForPartition, "broker %d is not the leader of %s-%d (leader: %d)", c.id, p.topic, p.index, r.leader)
	case currentEpoch >= 0 && currentEpoch < r.epoch:
		return kafkaErr(kerr.FencedLeaderEpoch, "%s-%d: leader epoch %d is older than the current %d", p.topic, p.index, currentEpoch, r.epoch)
	case currentEpoch > r.epoch:
		return kafkaErr(kerr.UnknownLeaderEpoch, "%s-%d: leader epoch %d is newer than this broker's %d", p.topic, p.index, currentEpoch, r.epoch)
	case !c.node.InContact():
		return kafkaErr(kerr.NotLeaderForPartition, "broker %d lost contact with the controller quorum and stopped leading %s-%d", c.id, p.topic, p.index)
	}
	return nil
}

// beginProduce checks leadership and min.insync.replicas and holds the
// append lock; it returns the leader epoch to stamp and the unlock func.
func (c *cluster) beginProduce(p *partition, t *topic, acks int16) (int32, func(), *topicError) {
	r := p.rep
	r.appendMu.RLock()
	if terr := c.leaderCheck(p, -1); terr != nil {
		r.appendMu.RUnlock()
		return 0, nil, terr
	}
	r.mu.Lock()
	epoch, isr := r.epoch, len(r.isr)
	r.mu.Unlock()
	if min := minISR(t); acks == -1 && isr < min {
		r.appendMu.RUnlock()
		return 0, nil, kafkaErr(kerr.NotEnoughReplicas, "%s-%d: %d in-sync replicas, min.insync.replicas is %d", p.topic, p.index, isr, min)
	}
	return epoch, r.appendMu.RUnlock, nil
}

// waitReplicated waits until the high watermark passes last (acks=all).
func (c *cluster) waitReplicated(ctx context.Context, p *partition, t *topic, last int64, epoch int32) (int16, string) {
	r := p.rep
	for {
		r.mu.Lock()
		ch := r.changed
		isLeader, cur, hw, isr := r.isLeader, r.epoch, r.hw, len(r.isr)
		r.mu.Unlock()
		if !isLeader || cur != epoch {
			return kerr.NotLeaderForPartition.Code, "leadership moved before the records were replicated"
		}
		if hw > last {
			if min := minISR(t); isr < min {
				return kerr.NotEnoughReplicasAfterAppend.Code, "records written but the ISR shrank below min.insync.replicas"
			}
			return 0, ""
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return kerr.RequestTimedOut.Code, "timed out waiting for the in-sync replicas"
		}
	}
}

// fetchCheck validates a fetch of p: consumers and followers both fetch
// from the leader only.
func (c *cluster) fetchCheck(p *partition, currentEpoch int32, replicaID int32) int16 {
	if terr := c.leaderCheck(p, currentEpoch); terr != nil {
		return terr.code
	}
	if replicaID >= 0 {
		r := p.rep
		r.mu.Lock()
		ok := slices.Contains(r.replicas, replicaID)
		r.mu.Unlock()
		if !ok {
			return kerr.NotLeaderForPartition.Code
		}
	}
	return 0
}

// leaderEpochOf returns the partition's current leader epoch (0 outside
// cluster mode).
func (p *partition) leaderEpoch() int32 {
	if p.rep == nil {
		return 0
	}
	p.rep.mu.Lock()
	defer p.rep.mu.Unlock()
	return p.rep.epoch
}

// waitLogStart waits until this leader and every other in-sync replica
// have moved their log start offset to off (DeleteRecords, as Kafka's
// delayed delete-records waits for the partition's low watermark). It
// returns the low watermark: the smallest log start among them.
func (c *cluster) waitLogStart(ctx context.Context, p *partition, off int64) (int64, int16, string) {
	r := p.rep
	for {
		r.mu.Lock()
		ch, isLeader := r.changed, r.isLeader
		low := p.log.StartOffset()
		for _, id := range r.isr {
			if id == c.id {
				continue
			}
			if f := r.followers[id]; f == nil || f.logStart < low {
				low = -1
				if f != nil {
					low = f.logStart
				}
			}
		}
		r.mu.Unlock()
		if !isLeader {
			return low, kerr.NotLeaderForPartition.Code, "leadership moved before the followers deleted the records"
		}
		if low >= off {
			return low, 0, ""
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return low, kerr.RequestTimedOut.Code, "timed out waiting for the in-sync replicas to delete the records"
		}
	}
}
