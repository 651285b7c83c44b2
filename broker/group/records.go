package group

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Key versions of __consumer_offsets records (as Kafka writes them).
const (
	offsetKeyVersion = 1
	groupKeyVersion  = 2
)

func offsetKey(group, topic string, partition int32) []byte {
	k := kmsg.OffsetCommitKey{Version: offsetKeyVersion, Group: group, Topic: topic, Partition: partition}
	return k.AppendTo(nil)
}

func offsetRecord(group string, tp topicPartition, e offsetEntry) Record {
	v := kmsg.NewOffsetCommitValue()
	v.Version = 3
	v.Offset = e.offset
	v.LeaderEpoch = e.leaderEpoch
	v.Metadata = e.metadata
	v.CommitTimestamp = e.commitMs
	if e.expireMs >= 0 {
		v.Version = 1 // the only version with an explicit expire timestamp
		v.ExpireTimestamp = e.expireMs
	}
	return Record{Key: offsetKey(group, tp.topic, tp.partition), Value: v.AppendTo(nil)}
}

func offsetTombstone(group string, tp topicPartition) Record {
	return Record{Key: offsetKey(group, tp.topic, tp.partition)}
}

func groupKey(group string) []byte {
	k := kmsg.GroupMetadataKey{Version: groupKeyVersion, Group: group}
	return k.AppendTo(nil)
}

func groupTombstone(group string) Record { return Record{Key: groupKey(group)} }

// metadataRecord encodes the group's current membership.
func (g *group) metadataRecord() Record {
	v := kmsg.NewGroupMetadataValue()
	v.Version = 3
	v.ProtocolType = g.protocolType
	v.Generation = g.generation
	if g.protocol != "" {
		p := g.protocol
		v.Protocol = &p
	}
	if g.leader != "" {
		l := g.leader
		v.Leader = &l
	}
	v.CurrentStateTimestamp = g.stateTime.UnixMilli()
	for _, m := range g.sortedMembers() {
		vm := kmsg.NewGroupMetadataValueMember()
		vm.MemberID = m.id
		vm.InstanceID = m.instanceID
		vm.ClientID = m.clientID
		vm.ClientHost = m.clientHost
		vm.RebalanceTimeoutMillis = int32(m.rebalanceTimeout / time.Millisecond)
		vm.SessionTimeoutMillis = int32(m.sessionTimeout / time.Millisecond)
		vm.Subscription = m.metadataFor(g.protocol)
		if vm.Subscription == nil {
			vm.Subscription = []byte{}
		}
		vm.Assignment = m.assignment
		if vm.Assignment == nil {
			vm.Assignment = []byte{}
		}
		v.Members = append(v.Members, vm)
	}
	return Record{Key: groupKey(g.id), Value: v.AppendTo(nil)}
}

// Load replays one __consumer_offsets record (key and value as stored; nil
// value = tombstone). The broker calls it for every record in log order
// before serving. Records of kinds this coordinator does not manage (newer
// key versions) are skipped.
func (c *Coordinator) Load(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("%w: key is %d bytes, need at least 2 for its version", ErrBadRecord, len(key))
	}
	switch ver := int16(binary.BigEndian.Uint16(key)); ver {
	case 0, 1:
		return c.loadOffset(key, value)
	case 2:
		return c.loadGroup(key, value)
	default:
		c.log.Debug("skipping __consumer_offsets record", "key_version", ver)
		return nil
	}
}

func (c *Coordinator) loadOffset(key, value []byte) error {
	var k kmsg.OffsetCommitKey
	if err := k.ReadFrom(key); err != nil {
		return fmt.Errorf("%w: offset commit key: %v", ErrBadRecord, err)
	}
	tp := topicPartition{k.Topic, k.Partition}
	if value == nil {
		g := c.lockGroup(k.Group, false)
		if g == nil {
			return nil
		}
		delete(g.offsets, tp)
		drop := g.state == stateEmpty && len(g.offsets) == 0 && g.generation == 0 && g.protocolType == ""
		if drop {
			g.state = stateDead
		}
		g.mu.Unlock()
		if drop {
			c.forget(g)
		}
		return nil
	}
	var v kmsg.OffsetCommitValue
	if err := v.ReadFrom(value); err != nil {
		return fmt.Errorf("%w: offset commit value for group %q topic %q partition %d: %v", ErrBadRecord, k.Group, k.Topic, k.Partition, err)
	}
	e := offsetEntry{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitMs: v.CommitTimestamp, expireMs: -1}
	if v.Version >= 3 {
		e.leaderEpoch = v.LeaderEpoch
	}
	if v.Version == 1 {
		e.expireMs = v.ExpireTimestamp
	}
	g := c.lockGroup(k.Group, true)
	if g == nil {
		return ErrClosed
	}
	g.offsets[tp] = e
	g.mu.Unlock()
	return nil
}

func (c *Coordinator) loadGroup(key, value []byte) error {
	var k kmsg.GroupMetadataKey
	if err := k.ReadFrom(key); err != nil {
		return fmt.Errorf("%w: group metadata key: %v", ErrBadRecord, err)
	}
	var v kmsg.GroupMetadataValue
	if value != nil {
		if err := v.ReadFrom(value); err != nil {
			return fmt.Errorf("%w: group metadata value for group %q: %v", ErrBadRecord, k.Group, err)
		}
	}
	g := c.lockGroup(k.Group, true)
	if g == nil {
		return ErrClosed
	}
	// replace the whole membership
	g.stopTimers()
	for _, m := range g.members {
		g.removeMember(m, 0)
	}
	g.leader = ""
	g.protocol = ""
	if value == nil {
		g.generation = 0
		g.protocolType = ""
		g.state = stateEmpty
		drop := len(g.offsets) == 0
		if drop {
			g.state = stateDead
		}
		g.mu.Unlock()
		if drop {
			c.forget(g)
		}
		return nil
	}
	g.protocolType = v.ProtocolType
	g.generation = v.Generation
	if v.Protocol != nil {
		g.protocol = *v.Protocol
	}
	if v.Version >= 2 && v.CurrentStateTimestamp > 0 {
		g.stateTime = time.UnixMilli(v.CurrentStateTimestamp)
	} else {
		g.stateTime = c.o.clock.Now()
	}
	for _, vm := range v.Members {
		if vm.MemberID == "" {
			g.mu.Unlock()
			return fmt.Errorf("%w: group metadata value for group %q: member with empty member id", ErrBadRecord, k.Group)
		}
		m := &member{
			id:               vm.MemberID,
			instanceID:       vm.InstanceID,
			clientID:         vm.ClientID,
			clientHost:       vm.ClientHost,
			sessionTimeout:   time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
			rebalanceTimeout: time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond,
			protocolType:     v.ProtocolType,
			protocols:        []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
			assignment:       vm.Assignment,
		}
		if v.Version < 1 || m.rebalanceTimeout <= 0 {
			m.rebalanceTimeout = m.sessionTimeout
		}
		g.addMember(m)
	}
	if v.Leader != nil && g.members[*v.Leader] != nil {
		g.leader = *v.Leader
	}
	if len(g.members) == 0 {
		g.state = stateEmpty
	} else {
		g.state = stateStable
		for _, m := range g.members {
			g.resetHeartbeat(m)
		}
	}
	g.mu.Unlock()
	return nil
}
