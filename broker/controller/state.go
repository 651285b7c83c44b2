package controller

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
)

// BrokerInfo is one registered broker.
type BrokerInfo struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"`
	// Epoch grows with every registration (restart) of the broker.
	Epoch int64 `json:"epoch"`
	// Fenced brokers lead nothing and are not in any ISR they could be
	// removed from.
	Fenced bool `json:"fenced"`
	// Listeners are the broker's listeners' advertised addresses by
	// listener name (the inter-broker listener is looked up here).
	Listeners map[string]string `json:"listeners,omitempty"`
}

// Partition is one partition's replication state.
type Partition struct {
	Replicas       []int32 `json:"replicas"`
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"` // -1 = offline
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	// A reassignment in progress: Replicas is the union of the old and the
	// target replicas until every Adding replica is in the ISR.
	Adding   []int32 `json:"adding,omitempty"`
	Removing []int32 `json:"removing,omitempty"`
}

// Topic is one topic.
type Topic struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Internal   bool              `json:"internal,omitempty"`
	Configs    map[string]string `json:"configs,omitempty"`
	Partitions []Partition       `json:"partitions"`
}

// State is the replicated cluster metadata. Values returned by Node.State
// are shared and must not be modified.
type State struct {
	ClusterID      string                `json:"cluster_id"`
	Brokers        map[int32]*BrokerInfo `json:"brokers"`
	Topics         map[string]*Topic     `json:"topics"`
	NextProducerID int64                 `json:"next_producer_id"`
	// ACLs and SCRAM are the cluster's access-control bindings and SCRAM
	// credentials (user -> mechanism code -> credential); security.go.
	ACLs  []ACL                               `json:"acls,omitempty"`
	SCRAM map[string]map[int8]SCRAMCredential `json:"scram,omitempty"`
	// Applied is the Raft index of the last applied entry.
	Applied uint64 `json:"applied"`
}

// NewState returns an empty state.
func NewState() *State {
	return &State{Brokers: map[int32]*BrokerInfo{}, Topics: map[string]*Topic{}}
}

// Clone returns a deep copy.
func (s *State) Clone() *State {
	c := &State{ClusterID: s.ClusterID, NextProducerID: s.NextProducerID, Applied: s.Applied,
		Brokers: make(map[int32]*BrokerInfo, len(s.Brokers)), Topics: make(map[string]*Topic, len(s.Topics))}
	for id, b := range s.Brokers {
		bb := *b
		c.Brokers[id] = &bb
	}
	for n, t := range s.Topics {
		tt := *t
		tt.Configs = cloneMap(t.Configs)
		tt.Partitions = make([]Partition, len(t.Partitions))
		for i, p := range t.Partitions {
			tt.Partitions[i] = Partition{Replicas: slices.Clone(p.Replicas), ISR: slices.Clone(p.ISR),
				Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch,
				Adding: slices.Clone(p.Adding), Removing: slices.Clone(p.Removing)}
		}
		c.Topics[n] = &tt
	}
	s.cloneSecurity(c)
	return c
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	c := make(map[string]string, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// Live reports whether broker id is registered and not fenced.
func (s *State) Live(id int32) bool {
	b, ok := s.Brokers[id]
	return ok && !b.Fenced
}

// Op names a command.
type Op string

// Commands.
const (
	OpSetClusterID       Op = "set_cluster_id"
	OpRegister           Op = "register"
	OpFence              Op = "fence"
	OpUnfence            Op = "unfence"
	OpCreateTopic        Op = "create_topic"
	OpDeleteTopic        Op = "delete_topic"
	OpCreatePartitions   Op = "create_partitions"
	OpAlterISR           Op = "alter_isr"
	OpSetConfigs         Op = "set_configs"
	OpAllocProducerIDs   Op = "alloc_producer_ids"
	OpElectPreferred     Op = "elect_preferred"
	OpControlledShutdown Op = "controlled_shutdown"
	OpReassign           Op = "reassign"
)

// Cmd is one state-machine command, JSON-encoded in a Raft entry.
type Cmd struct {
	Op Op `json:"op"`
	// ReqID lets the proposer find the result of its command.
	ReqID uint64 `json:"req_id,omitempty"`

	ClusterID string      `json:"cluster_id,omitempty"`
	Broker    *BrokerInfo `json:"broker,omitempty"` // register
	BrokerID  int32       `json:"broker_id,omitempty"`

	Topic      string            `json:"topic,omitempty"`
	TopicID    [16]byte          `json:"topic_id,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
	Partitions int32             `json:"partitions,omitempty"` // create_topic, create_partitions (new total)
	RF         int16             `json:"rf,omitempty"`
	Assignment [][]int32         `json:"assignment,omitempty"` // explicit replica lists per (new) partition
	Configs    map[string]string `json:"configs,omitempty"`

	// alter_isr: the leader's view it asks to change.
	Partition      int32   `json:"partition,omitempty"`
	Leader         int32   `json:"leader,omitempty"`
	LeaderEpoch    int32   `json:"leader_epoch,omitempty"`
	PartitionEpoch int32   `json:"partition_epoch,omitempty"`
	ISR            []int32 `json:"isr,omitempty"`

	Count int64 `json:"count,omitempty"` // alloc_producer_ids

	// reassign: the target replicas of Topic-Partition; nil cancels a
	// reassignment in progress.
	Target []int32 `json:"target,omitempty"`
	Cancel bool    `json:"cancel,omitempty"`

	// create_acls, delete_acls: the bindings.
	ACLs []ACL `json:"acls,omitempty"`
	// set_scram, delete_scram: the user, the mechanism code and (set) the
	// credential.
	User      string           `json:"user,omitempty"`
	Mechanism int8             `json:"mechanism,omitempty"`
	SCRAM     *SCRAMCredential `json:"scram,omitempty"`
}

// Encode returns the JSON form of c.
func (c *Cmd) Encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err) // only plain data types
	}
	return b
}

// Error is a command rejected by the state machine, with the Kafka error
// code a broker should answer with.
type Error struct {
	Code int16
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

func errf(e *kerr.Error, format string, args ...any) *Error {
	return &Error{Code: e.Code, Msg: fmt.Sprintf(format, args...)}
}

// Result is what applying a command returned: Err is nil on success;
// ProducerID is the first id of an alloc_producer_ids block.
type Result struct {
	Err        *Error
	ProducerID int64
	// ACLs are the bindings a delete_acls removed.
	ACLs []ACL
}

// Apply applies one command. It never depends on anything but s and c.
func (s *State) Apply(c *Cmd) Result {
	switch c.Op {
	case OpSetClusterID:
		if s.ClusterID == "" {
			s.ClusterID = c.ClusterID
		}
	case OpRegister:
		if c.Broker == nil || c.Broker.ID < 0 {
			return Result{Err: errf(kerr.InvalidRequest, "register: broker id missing")}
		}
		epoch := int64(1)
		if old, ok := s.Brokers[c.Broker.ID]; ok {
			// A new incarnation: whatever the old one led or was in sync
			// with is handed over first.
			s.fence(old.ID)
			epoch = old.Epoch + 1
		}
		b := *c.Broker
		b.Epoch, b.Fenced = epoch, true
		s.Brokers[b.ID] = &b
	case OpFence:
		if !s.Live(c.BrokerID) {
			return Result{}
		}
		s.fence(c.BrokerID)
	case OpUnfence:
		b, ok := s.Brokers[c.BrokerID]
		if !ok {
			return Result{Err: errf(kerr.BrokerNotAvailable, "broker %d is not registered", c.BrokerID)}
		}
		if !b.Fenced {
			return Result{}
		}
		b.Fenced = false
		// Offline partitions whose last in-sync replica came back get it as
		// leader (it holds every acknowledged record).
		s.eachPartition(func(_ *Topic, _ int32, p *Partition) {
			if p.Leader == -1 && slices.Contains(p.ISR, b.ID) {
				p.Leader = b.ID
				p.LeaderEpoch++
				p.PartitionEpoch++
			}
		})
	case OpControlledShutdown:
		// Move leadership away while the broker is still up and shrink it
		// out of ISRs; it stays registered but fenced until it heartbeats
		// again after a restart.
		if b, ok := s.Brokers[c.BrokerID]; ok && !b.Fenced {
			s.fence(c.BrokerID)
		}
	case OpCreateTopic:
		return s.createTopic(c)
	case OpDeleteTopic:
		t, ok := s.Topics[c.Topic]
		if !ok || (c.TopicID != [16]byte{} && t.ID != c.TopicID) {
			return Result{Err: errf(kerr.UnknownTopicOrPartition, "topic %q does not exist", c.Topic)}
		}
		if t.Internal {
			return Result{Err: errf(kerr.InvalidTopicException, "topic %q is internal and cannot be deleted", c.Topic)}
		}
		delete(s.Topics, c.Topic)
	case OpCreatePartitions:
		t, ok := s.Topics[c.Topic]
		if !ok {
			return Result{Err: errf(kerr.UnknownTopicOrPartition, "topic %q does not exist", c.Topic)}
		}
		have := int32(len(t.Partitions))
		if c.Partitions <= have {
			return Result{Err: errf(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", c.Topic, have, c.Partitions)}
		}
		rf := len(t.Partitions[0].Replicas)
		assign := c.Assignment
		if assign == nil {
			a, err := s.assign(c.Topic, c.Partitions, int16(rf))
			if err != nil {
				return Result{Err: err}
			}
			assign = a[have:]
		}
		if int32(len(assign)) != c.Partitions-have {
			return Result{Err: errf(kerr.InvalidReplicaAssignment, "%d replica assignments for %d new partitions", len(assign), c.Partitions-have)}
		}
		if err := s.checkAssignment(assign); err != nil {
			return Result{Err: err}
		}
		for _, r := range assign {
			t.Partitions = append(t.Partitions, s.newPartition(r))
		}
	case OpSetConfigs:
		t, ok := s.Topics[c.Topic]
		if !ok {
			return Result{Err: errf(kerr.UnknownTopicOrPartition, "topic %q does not exist", c.Topic)}
		}
		t.Configs = cloneMap(c.Configs)
	case OpAlterISR:
		return s.alterISR(c)
	case OpAllocProducerIDs:
		if c.Count <= 0 {
			return Result{Err: errf(kerr.InvalidRequest, "alloc_producer_ids: count %d", c.Count)}
		}
		first := s.NextProducerID
		s.NextProducerID += c.Count
		return Result{ProducerID: first}
	case OpReassign:
		return s.reassign(c)
	case OpElectPreferred:
		t, ok := s.Topics[c.Topic]
		if !ok || c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
			return Result{Err: errf(kerr.UnknownTopicOrPartition, "%s-%d does not exist", c.Topic, c.Partition)}
		}
		p := &t.Partitions[c.Partition]
		pref := p.Replicas[0]
		if p.Leader == pref {
			return Result{Err: errf(kerr.ElectionNotNeeded, "%s-%d: preferred replica %d already leads", c.Topic, c.Partition, pref)}
		}
		if !s.Live(pref) || !slices.Contains(p.ISR, pref) {
			return Result{Err: errf(kerr.PreferredLeaderNotAvailable, "%s-%d: preferred replica %d is not live and in sync", c.Topic, c.Partition, pref)}
		}
		p.Leader = pref
		p.LeaderEpoch++
		p.PartitionEpoch++
	default:
		if r, ok := s.applySecurity(c); ok {
			return r
		}
		return Result{Err: errf(kerr.InvalidRequest, "unknown command %q", c.Op)}
	}
	return Result{}
}

// fence marks id fenced, moves leadership of its partitions to another
// in-sync live replica and removes it from ISRs where others remain.
func (s *State) fence(id int32) {
	if b, ok := s.Brokers[id]; ok {
		b.Fenced = true
	}
	s.eachPartition(func(_ *Topic, _ int32, p *Partition) {
		if !slices.Contains(p.ISR, id) && p.Leader != id {
			return
		}
		if len(p.ISR) > 1 && slices.Contains(p.ISR, id) {
			p.ISR = slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return r == id })
			p.PartitionEpoch++
		}
		if p.Leader == id {
			p.Leader = -1
			for _, r := range p.Replicas {
				if r != id && slices.Contains(p.ISR, r) && s.Live(r) {
					p.Leader = r
					break
				}
			}
			p.LeaderEpoch++
			p.PartitionEpoch++
		}
	})
}

func (s *State) eachPartition(f func(t *Topic, i int32, p *Partition)) {
	names := make([]string, 0, len(s.Topics))
	for n := range s.Topics {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t := s.Topics[n]
		for i := range t.Partitions {
			f(t, int32(i), &t.Partitions[i])
		}
	}
}

func (s *State) createTopic(c *Cmd) Result {
	if old, ok := s.Topics[c.Topic]; ok {
		if old.ID == c.TopicID {
			return Result{} // a retried proposal
		}
		return Result{Err: errf(kerr.TopicAlreadyExists, "topic %q already exists", c.Topic)}
	}
	assign := c.Assignment
	if assign == nil {
		if c.Partitions < 1 {
			return Result{Err: errf(kerr.InvalidPartitions, "partition count %d must be >= 1", c.Partitions)}
		}
		a, err := s.assign(c.Topic, c.Partitions, c.RF)
		if err != nil {
			return Result{Err: err}
		}
		assign = a
	}
	if err := s.checkAssignment(assign); err != nil {
		return Result{Err: err}
	}
	t := &Topic{Name: c.Topic, ID: c.TopicID, Internal: c.Internal, Configs: cloneMap(c.Configs)}
	for _, r := range assign {
		t.Partitions = append(t.Partitions, s.newPartition(r))
	}
	s.Topics[c.Topic] = t
	return Result{}
}

func (s *State) checkAssignment(assign [][]int32) *Error {
	for i, r := range assign {
		if len(r) == 0 {
			return errf(kerr.InvalidReplicaAssignment, "partition %d: empty replica list", i)
		}
		seen := map[int32]bool{}
		for _, id := range r {
			if _, ok := s.Brokers[id]; !ok {
				return errf(kerr.InvalidReplicaAssignment, "partition %d: broker %d is not registered", i, id)
			}
			if seen[id] {
				return errf(kerr.InvalidReplicaAssignment, "partition %d: broker %d listed twice", i, id)
			}
			seen[id] = true
		}
	}
	return nil
}

// newPartition starts a partition on replicas: the live ones are the ISR
// and the first live one leads.
func (s *State) newPartition(replicas []int32) Partition {
	p := Partition{Replicas: slices.Clone(replicas), Leader: -1}
	for _, r := range replicas {
		if s.Live(r) {
			p.ISR = append(p.ISR, r)
			if p.Leader == -1 {
				p.Leader = r
			}
		}
	}
	if len(p.ISR) == 0 {
		// Nobody is live: every replica is empty, so any may lead later.
		p.ISR = slices.Clone(replicas)
	}
	return p
}

// assign places partitions [0, n) of topic on rf live brokers each,
// spreading each partition's replicas over racks: brokers are ordered
// rack by rack alternately (r1's first, r2's first, ..., r1's second, ...)
// and partition p takes rf consecutive brokers of that list starting at
// (start + p), start derived from the topic name.
func (s *State) assign(topic string, n int32, rf int16) ([][]int32, *Error) {
	if rf == -1 {
		rf = 1
	}
	var live []*BrokerInfo
	for _, b := range s.Brokers {
		if !b.Fenced {
			live = append(live, b)
		}
	}
	if rf < 1 || int(rf) > len(live) {
		return nil, errf(kerr.InvalidReplicationFactor, "replication factor %d: %d brokers are live", rf, len(live))
	}
	sort.Slice(live, func(i, j int) bool { return live[i].ID < live[j].ID })
	byRack := map[string][]int32{}
	var racks []string
	for _, b := range live {
		if _, ok := byRack[b.Rack]; !ok {
			racks = append(racks, b.Rack)
		}
		byRack[b.Rack] = append(byRack[b.Rack], b.ID)
	}
	sort.Strings(racks)
	var order []int32
	for i := 0; len(order) < len(live); i++ {
		for _, r := range racks {
			if i < len(byRack[r]) {
				order = append(order, byRack[r][i])
			}
		}
	}
	h := fnv.New32a()
	h.Write([]byte(topic))
	start := int(h.Sum32() % uint32(len(order)))
	out := make([][]int32, n)
	for p := range out {
		r := make([]int32, rf)
		for i := range r {
			r[i] = order[(start+p+i)%len(order)]
		}
		out[p] = r
	}
	return out, nil
}

func (s *State) alterISR(c *Cmd) Result {
	t, ok := s.Topics[c.Topic]
	if !ok || (c.TopicID != [16]byte{} && t.ID != c.TopicID) || c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
		return Result{Err: errf(kerr.UnknownTopicOrPartition, "%s-%d does not exist", c.Topic, c.Partition)}
	}
	p := &t.Partitions[c.Partition]
	switch {
	case p.Leader != c.Leader:
		return Result{Err: errf(kerr.NotLeaderForPartition, "%s-%d: broker %d is not the leader (%d is)", c.Topic, c.Partition, c.Leader, p.Leader)}
	case c.LeaderEpoch != p.LeaderEpoch:
		return Result{Err: errf(kerr.FencedLeaderEpoch, "%s-%d: leader epoch %d, current is %d", c.Topic, c.Partition, c.LeaderEpoch, p.LeaderEpoch)}
	case c.PartitionEpoch != p.PartitionEpoch:
		return Result{Err: errf(kerr.InvalidUpdateVersion, "%s-%d: partition epoch %d, current is %d", c.Topic, c.Partition, c.PartitionEpoch, p.PartitionEpoch)}
	case !slices.Contains(c.ISR, c.Leader):
		return Result{Err: errf(kerr.InvalidRequest, "%s-%d: new ISR %v lacks the leader", c.Topic, c.Partition, c.ISR)}
	}
	for _, r := range c.ISR {
		if !slices.Contains(p.Replicas, r) {
			return Result{Err: errf(kerr.InvalidRequest, "%s-%d: %d is not a replica", c.Topic, c.Partition, r)}
		}
		if !slices.Contains(p.ISR, r) && !s.Live(r) {
			return Result{Err: errf(kerr.IneligibleReplica, "%s-%d: broker %d is fenced and cannot join the ISR", c.Topic, c.Partition, r)}
		}
	}
	p.ISR = slices.Clone(c.ISR)
	p.PartitionEpoch++
	s.maybeCompleteReassignment(p)
	return Result{}
}

// reassign starts (or cancels) moving a partition to new replicas: the
// target replicas not yet assigned are added (they start following and
// join the ISR when caught up); once all are in sync the old ones are
// dropped (maybeCompleteReassignment).
func (s *State) reassign(c *Cmd) Result {
	t, ok := s.Topics[c.Topic]
	if !ok || c.Partition < 0 || int(c.Partition) >= len(t.Partitions) {
		return Result{Err: errf(kerr.UnknownTopicOrPartition, "%s-%d does not exist", c.Topic, c.Partition)}
	}
	p := &t.Partitions[c.Partition]
	if c.Cancel {
		if len(p.Adding) == 0 && len(p.Removing) == 0 {
			return Result{Err: errf(kerr.NoReassignmentInProgress, "%s-%d has no reassignment in progress", c.Topic, c.Partition)}
		}
		orig := slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Adding, r) })
		s.setReplicas(p, orig)
		return Result{}
	}
	if err := s.checkAssignment([][]int32{c.Target}); err != nil {
		return Result{Err: err}
	}
	base := p.Replicas
	if len(p.Adding) > 0 || len(p.Removing) > 0 {
		// A new target replaces the one in progress.
		base = slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Adding, r) })
	}
	var adding, removing []int32
	union := slices.Clone(c.Target)
	for _, r := range c.Target {
		if !slices.Contains(base, r) {
			adding = append(adding, r)
		}
	}
	for _, r := range base {
		if !slices.Contains(c.Target, r) {
			removing = append(removing, r)
			union = append(union, r)
		}
	}
	p.Replicas, p.Adding, p.Removing = union, adding, removing
	p.PartitionEpoch++
	s.maybeCompleteReassignment(p)
	return Result{}
}

// maybeCompleteReassignment finishes a reassignment whose added replicas
// are all in sync.
func (s *State) maybeCompleteReassignment(p *Partition) {
	if len(p.Adding) == 0 && len(p.Removing) == 0 {
		return
	}
	for _, r := range p.Adding {
		if !slices.Contains(p.ISR, r) {
			return
		}
	}
	target := slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.Removing, r) })
	s.setReplicas(p, target)
}

// setReplicas makes replicas the partition's assignment, ending any
// reassignment: the ISR keeps its members among them (never empty: with
// none in sync the old ISR stays, offline, rather than elect an unclean
// leader) and a leader outside them hands over.
func (s *State) setReplicas(p *Partition, replicas []int32) {
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(replicas, r) })
	p.Replicas, p.Adding, p.Removing = slices.Clone(replicas), nil, nil
	p.PartitionEpoch++
	if len(isr) == 0 {
		return
	}
	p.ISR = isr
	if !slices.Contains(replicas, p.Leader) {
		p.Leader = -1
		for _, r := range replicas {
			if slices.Contains(isr, r) && s.Live(r) {
				p.Leader = r
				break
			}
		}
		p.LeaderEpoch++
	}
}
