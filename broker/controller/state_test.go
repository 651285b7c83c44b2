package controller

import (
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// cluster returns a state with live brokers 1..n (racks as given).
func cluster(t *testing.T, racks ...string) *State {
	t.Helper()
	s := NewState()
	for i, r := range racks {
		id := int32(i + 1)
		mustApply(t, s, &Cmd{Op: OpRegister, Broker: &BrokerInfo{ID: id, Host: "h", Port: 9000 + id, Rack: r}})
		mustApply(t, s, &Cmd{Op: OpUnfence, BrokerID: id})
	}
	return s
}

func mustApply(t *testing.T, s *State, c *Cmd) {
	t.Helper()
	if r := s.Apply(c); r.Err != nil {
		t.Fatalf("apply %s: %v", c.Op, r.Err)
	}
}

func TestApplyFailover(t *testing.T) {
	tests := []struct {
		name       string
		fence      []int32
		unfence    []int32
		wantLeader int32
		wantISR    []int32
		wantEpoch  int32
	}{
		{"leader fenced: next in-sync replica leads", []int32{1}, nil, 2, []int32{2, 3}, 1},
		{"follower fenced: leaves the ISR, leader stays", []int32{3}, nil, 1, []int32{1, 2}, 0},
		{"two fenced: the last in-sync replica leads", []int32{1, 2}, nil, 3, []int32{3}, 2},
		{"all fenced: offline, ISR keeps the last leader", []int32{1, 2, 3}, nil, -1, []int32{3}, 3},
		{"last ISR member back: it leads again", []int32{1, 2, 3}, []int32{3}, 3, []int32{3}, 4},
		{"a stale replica back: no unclean election", []int32{1, 2, 3}, []int32{1}, -1, []int32{3}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cluster(t, "", "", "")
			mustApply(t, s, &Cmd{Op: OpCreateTopic, Topic: "t", TopicID: [16]byte{1}, Assignment: [][]int32{{1, 2, 3}}})
			for _, id := range tt.fence {
				mustApply(t, s, &Cmd{Op: OpFence, BrokerID: id})
			}
			for _, id := range tt.unfence {
				mustApply(t, s, &Cmd{Op: OpUnfence, BrokerID: id})
			}
			p := s.Topics["t"].Partitions[0]
			if p.Leader != tt.wantLeader || !slices.Equal(p.ISR, tt.wantISR) || p.LeaderEpoch != tt.wantEpoch {
				t.Fatalf("partition = leader %d isr %v epoch %d, want leader %d isr %v epoch %d",
					p.Leader, p.ISR, p.LeaderEpoch, tt.wantLeader, tt.wantISR, tt.wantEpoch)
			}
		})
	}
}

func TestApplyReRegisterHandsOverLeadership(t *testing.T) {
	s := cluster(t, "", "", "")
	mustApply(t, s, &Cmd{Op: OpCreateTopic, Topic: "t", TopicID: [16]byte{1}, Assignment: [][]int32{{1, 2, 3}}})
	mustApply(t, s, &Cmd{Op: OpRegister, Broker: &BrokerInfo{ID: 1, Host: "h", Port: 1}})
	p := s.Topics["t"].Partitions[0]
	if p.Leader != 2 || p.LeaderEpoch != 1 || slices.Contains(p.ISR, 1) {
		t.Fatalf("after re-registration of 1: %+v, want leader 2 epoch 1 without 1 in the ISR", p)
	}
	if b := s.Brokers[1]; b.Epoch != 2 || !b.Fenced {
		t.Fatalf("broker 1 = %+v, want epoch 2, fenced", b)
	}
}

func TestApplyAlterISR(t *testing.T) {
	tests := []struct {
		name string
		cmd  Cmd
		code int16
	}{
		{"shrink by the leader", Cmd{Leader: 1, LeaderEpoch: 0, PartitionEpoch: 0, ISR: []int32{1, 2}}, 0},
		{"stale leader epoch", Cmd{Leader: 1, LeaderEpoch: -1, ISR: []int32{1, 2}}, kerr.FencedLeaderEpoch.Code},
		{"not the leader", Cmd{Leader: 2, ISR: []int32{2}}, kerr.NotLeaderForPartition.Code},
		{"stale partition epoch", Cmd{Leader: 1, PartitionEpoch: 7, ISR: []int32{1}}, kerr.InvalidUpdateVersion.Code},
		{"ISR without the leader", Cmd{Leader: 1, ISR: []int32{2, 3}}, kerr.InvalidRequest.Code},
		{"non-replica", Cmd{Leader: 1, ISR: []int32{1, 9}}, kerr.InvalidRequest.Code},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cluster(t, "", "", "")
			mustApply(t, s, &Cmd{Op: OpCreateTopic, Topic: "t", TopicID: [16]byte{1}, Assignment: [][]int32{{1, 2, 3}}})
			c := tt.cmd
			c.Op, c.Topic = OpAlterISR, "t"
			r := s.Apply(&c)
			var code int16
			if r.Err != nil {
				code = r.Err.Code
			}
			if code != tt.code {
				t.Fatalf("code = %d (%v), want %d", code, r.Err, tt.code)
			}
		})
	}
}

func TestApplyFencedBrokerCannotRejoinISR(t *testing.T) {
	s := cluster(t, "", "", "")
	mustApply(t, s, &Cmd{Op: OpCreateTopic, Topic: "t", TopicID: [16]byte{1}, Assignment: [][]int32{{1, 2, 3}}})
	mustApply(t, s, &Cmd{Op: OpFence, BrokerID: 3})
	p := s.Topics["t"].Partitions[0]
	r := s.Apply(&Cmd{Op: OpAlterISR, Topic: "t", Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2, 3}})
	if r.Err == nil || r.Err.Code != kerr.IneligibleReplica.Code {
		t.Fatalf("expanding the ISR with fenced broker 3: %v, want INELIGIBLE_REPLICA", r.Err)
	}
}

func TestAssignSpreadsRacks(t *testing.T) {
	tests := []struct {
		name  string
		racks []string
		rf    int16
	}{
		{"3 racks, 3 brokers, rf 3", []string{"a", "b", "c"}, 3},
		{"3 racks, 6 brokers, rf 3", []string{"a", "a", "b", "b", "c", "c"}, 3},
		{"2 racks, 4 brokers, rf 2", []string{"x", "y", "x", "y"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := cluster(t, tt.racks...)
			mustApply(t, s, &Cmd{Op: OpCreateTopic, Topic: "t", TopicID: [16]byte{1}, Partitions: 12, RF: tt.rf})
			for i, p := range s.Topics["t"].Partitions {
				seen := map[string]bool{}
				for _, r := range p.Replicas {
					rack := s.Brokers[r].Rack
					if seen[rack] {
						t.Fatalf("partition %d replicas %v: two in rack %q", i, p.Replicas, rack)
					}
					seen[rack] = true
				}
				if len(p.Replicas) != int(tt.rf) || p.Leader != p.Replicas[0] {
					t.Fatalf("partition %d = %+v", i, p)
				}
			}
		})
	}
}

func TestAssignReplicationFactorTooLarge(t *testing.T) {
	s := cluster(t, "", "")
	r := s.Apply(&Cmd{Op: OpCreateTopic, Topic: "t", TopicID: [16]byte{1}, Partitions: 1, RF: 3})
	if r.Err == nil || r.Err.Code != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("rf 3 on 2 brokers: %v, want INVALID_REPLICATION_FACTOR", r.Err)
	}
}

func TestApplyReassign(t *testing.T) {
	s := cluster(t, "", "", "", "")
	mustApply(t, s, &Cmd{Op: OpCreateTopic, Topic: "t", TopicID: [16]byte{1}, Assignment: [][]int32{{1, 2, 3}}})
	mustApply(t, s, &Cmd{Op: OpReassign, Topic: "t", Target: []int32{2, 3, 4}})
	p := s.Topics["t"].Partitions[0]
	if !slices.Equal(p.Replicas, []int32{2, 3, 4, 1}) || !slices.Equal(p.Adding, []int32{4}) || !slices.Equal(p.Removing, []int32{1}) {
		t.Fatalf("in progress: %+v", p)
	}
	if p.Leader != 1 {
		t.Fatalf("leader moved before the new replica caught up: %+v", p)
	}
	// The leader adds 4 to the ISR once it caught up: the move completes
	// and leadership leaves the removed replica.
	mustApply(t, s, &Cmd{Op: OpAlterISR, Topic: "t", Leader: 1, LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{1, 2, 3, 4}})
	p = s.Topics["t"].Partitions[0]
	if !slices.Equal(p.Replicas, []int32{2, 3, 4}) || p.Adding != nil || !slices.Equal(p.ISR, []int32{2, 3, 4}) || p.Leader != 2 || p.LeaderEpoch != 1 {
		t.Fatalf("completed: %+v", p)
	}
	// Cancel restores the original replicas.
	mustApply(t, s, &Cmd{Op: OpReassign, Topic: "t", Target: []int32{1, 2, 3}})
	mustApply(t, s, &Cmd{Op: OpReassign, Topic: "t", Cancel: true})
	p = s.Topics["t"].Partitions[0]
	if !slices.Equal(p.Replicas, []int32{2, 3, 4}) || p.Adding != nil || p.Removing != nil {
		t.Fatalf("cancelled: %+v", p)
	}
	if r := s.Apply(&Cmd{Op: OpReassign, Topic: "t", Cancel: true}); r.Err == nil || r.Err.Code != kerr.NoReassignmentInProgress.Code {
		t.Fatalf("cancel without a reassignment: %v", r.Err)
	}
	if r := s.Apply(&Cmd{Op: OpReassign, Topic: "t", Target: []int32{1, 9}}); r.Err == nil || r.Err.Code != kerr.InvalidReplicaAssignment.Code {
		t.Fatalf("unknown broker in target: %v", r.Err)
	}
}
