package clustertest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestClusterAdminAndFencing runs one rack-aware 3-node cluster through
// metadata, topic creation, min.insync.replicas and epoch fencing checks.
func TestClusterAdminAndFencing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three broker processes")
	}
	c := newCluster(t, 3, append([]string{"--leader-rebalance-interval", "-1s"}, fastFlags...)...)
	racks := map[int32]string{1: "az-a", 2: "az-b", 3: "az-c"}
	for id, r := range racks {
		c.nodes[id].extra = append(append([]string(nil), c.nodes[id].extra...), "--rack", r)
	}
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := c.client()
	adm := kadm.NewClient(cl)
	waitLiveBrokers(t, ctx, adm, 3, 30*time.Second)

	t.Run("metadata lists every broker, its rack and the controller", func(t *testing.T) {
		md, err := adm.Metadata(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(md.Brokers) != 3 {
			t.Fatalf("brokers = %v", md.Brokers)
		}
		for _, b := range md.Brokers {
			if b.Rack == nil || *b.Rack != racks[b.NodeID] {
				t.Fatalf("broker %d rack = %v, want %s", b.NodeID, b.Rack, racks[b.NodeID])
			}
		}
		if md.Controller < 1 || md.Controller > 3 {
			t.Fatalf("controller = %d", md.Controller)
		}
		dc := kmsg.NewPtrDescribeClusterRequest()
		resp, err := dc.RequestWith(ctx, cl)
		if err != nil || resp.ErrorCode != 0 {
			t.Fatalf("DescribeCluster: %v code %d", err, resp.ErrorCode)
		}
		if len(resp.Brokers) != 3 || resp.ControllerID != md.Controller || resp.ClusterID == "" {
			t.Fatalf("DescribeCluster = brokers %d controller %d cluster %q", len(resp.Brokers), resp.ControllerID, resp.ClusterID)
		}
	})

	t.Run("replicas spread over racks", func(t *testing.T) {
		res, err := adm.CreateTopic(ctx, 6, 3, nil, "spread")
		if err != nil || res.Err != nil {
			t.Fatalf("create: %v %v", err, res.Err)
		}
		md, err := adm.Metadata(ctx, "spread")
		if err != nil {
			t.Fatal(err)
		}
		for p, pd := range md.Topics["spread"].Partitions {
			seen := map[string]bool{}
			for _, r := range pd.Replicas {
				seen[racks[r]] = true
			}
			if len(seen) != 3 || pd.Leader != pd.Replicas[0] {
				t.Fatalf("partition %d: replicas %v leader %d", p, pd.Replicas, pd.Leader)
			}
		}
	})

	t.Run("explicit assignment and bad replication factor", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "assigned", -1, -1
		for i, rs := range [][]int32{{1, 2}, {3, 1}} {
			a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			a.Partition, a.Replicas = int32(i), rs
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		}
		bad := kmsg.NewCreateTopicsRequestTopic()
		bad.Topic, bad.NumPartitions, bad.ReplicationFactor = "too-wide", 1, 4
		req.Topics = append(req.Topics, rt, bad)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range resp.Topics {
			want := int16(0)
			if st.Topic == "too-wide" {
				want = kerr.InvalidReplicationFactor.Code
			}
			if st.ErrorCode != want {
				t.Fatalf("%s: code %d, want %d", st.Topic, st.ErrorCode, want)
			}
		}
		md, err := adm.Metadata(ctx, "assigned")
		if err != nil {
			t.Fatal(err)
		}
		ps := md.Topics["assigned"].Partitions
		if !slices.Equal(ps[0].Replicas, []int32{1, 2}) || !slices.Equal(ps[1].Replicas, []int32{3, 1}) {
			t.Fatalf("assignment = %v / %v", ps[0].Replicas, ps[1].Replicas)
		}
	})

	t.Run("partition reassignment moves the data", func(t *testing.T) {
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "moving", -1, -1
		a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
		a.Partition, a.Replicas = 0, []int32{1, 2}
		rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
		req.Topics = append(req.Topics, rt)
		if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
			t.Fatalf("create: %v %+v", err, resp)
		}
		p := c.client(kgo.DefaultProduceTopic("moving"), kgo.RequiredAcks(kgo.AllISRAcks()))
		for i := 0; i < 300; i++ {
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		alter := kadm.AlterPartitionAssignmentsReq{}
		alter.Assign("moving", 0, []int32{2, 3})
		res, err := adm.AlterPartitionAssignments(ctx, alter)
		if err != nil {
			t.Fatal(err)
		}
		if e := res["moving"][0].Err; e != nil {
			t.Fatalf("AlterPartitionAssignments: %v", e)
		}
		waitFor(t, "the reassignment to complete", 60*time.Second, func() bool {
			l, err := adm.ListPartitionReassignments(ctx, nil)
			if err != nil || len(l) != 0 {
				return false
			}
			md, err := adm.Metadata(ctx, "moving")
			pd := md.Topics["moving"].Partitions[0]
			return err == nil && slices.Equal(pd.Replicas, []int32{2, 3}) && len(pd.ISR) == 2 && pd.Leader == 2
		})
		// Broker 1, no longer a replica, deletes its copy.
		md, err := adm.Metadata(ctx, "moving")
		if err != nil {
			t.Fatal(err)
		}
		id := md.Topics["moving"].ID
		dir := filepath.Join(c.nodes[1].dataDir, "logs", fmt.Sprintf("%x-%x-%x-%x-%x-0", id[0:4], id[4:6], id[6:8], id[8:10], id[10:16]))
		waitFor(t, "broker 1 to delete the moved partition's records", 30*time.Second, func() bool {
			return logBytes(t, dir) == 0
		})
		if n := logBytes(t, filepath.Join(c.nodes[3].dataDir, "logs", filepath.Base(dir))); n == 0 {
			t.Fatalf("broker 3, the new replica, has no records in %s", filepath.Base(dir))
		}
		// Only broker 3, the added replica, is left to read from.
		c.nodes[2].kill()
		waitFor(t, "broker 3 to lead", 30*time.Second, func() bool {
			l, _, _, err := partitionInfo(ctx, adm, "moving", 0)
			return err == nil && l == 3
		})
		vals := readValues(t, c, "moving")
		for i := 0; i < 300; i++ {
			if !slices.Contains(vals, strconv.Itoa(i)) {
				t.Fatalf("record %d did not move to broker 3 (%d records read)", i, len(vals))
			}
		}
		c.start(2)
		waitFor(t, "broker 2 back in the ISR", 60*time.Second, func() bool {
			_, _, isr, err := partitionInfo(ctx, adm, "moving", 0)
			return err == nil && len(isr) == 2
		})
		// Cancelling with nothing in progress is an error.
		cancelReq := kadm.AlterPartitionAssignmentsReq{}
		cancelReq.CancelAssign("moving", 0)
		res, err = adm.AlterPartitionAssignments(ctx, cancelReq)
		if err != nil {
			t.Fatal(err)
		}
		if e := res["moving"][0].Err; !errorsIs(e, kerr.NoReassignmentInProgress) {
			t.Fatalf("cancel without a reassignment: %v", e)
		}
	})

	t.Run("fetch fencing by leader epoch", func(t *testing.T) {
		leader, epoch, _, err := partitionInfo(ctx, adm, "spread", 0)
		if err != nil {
			t.Fatal(err)
		}
		var follower int32
		for id := int32(1); id <= 3; id++ {
			if id != leader {
				follower = id
				break
			}
		}
		md, _ := adm.Metadata(ctx, "spread")
		id := md.Topics["spread"].ID
		fetch := func(broker int32, ep int32) int16 {
			req := kmsg.NewPtrFetchRequest()
			req.MaxWaitMillis = 10
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic, rt.TopicID = "spread", id
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, ep, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			resp, err := cl.Broker(int(broker)).Request(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			return resp.(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
		}
		if code := fetch(leader, epoch); code != 0 {
			t.Fatalf("fetch at the current epoch: code %d", code)
		}
		if code := fetch(leader, epoch+1); code != kerr.UnknownLeaderEpoch.Code {
			t.Fatalf("fetch at a future epoch: code %d, want UNKNOWN_LEADER_EPOCH", code)
		}
		if code := fetch(follower, epoch); code != kerr.NotLeaderForPartition.Code {
			t.Fatalf("fetch from follower %d: code %d, want NOT_LEADER_OR_FOLLOWER", follower, code)
		}
		// A stale epoch after a leader change.
		c.nodes[leader].kill()
		var nl, ne int32
		waitFor(t, "new leader", 30*time.Second, func() bool {
			var err error
			nl, ne, _, err = partitionInfo(ctx, adm, "spread", 0)
			return err == nil && nl >= 0 && nl != leader
		})
		if code := fetch(nl, epoch); code != kerr.FencedLeaderEpoch.Code {
			t.Fatalf("fetch at epoch %d from new leader %d (epoch %d): code %d, want FENCED_LEADER_EPOCH", epoch, nl, ne, code)
		}
		c.start(leader)
		waitFor(t, "restarted broker in the ISR", 60*time.Second, func() bool {
			_, _, isr, err := partitionInfo(ctx, adm, "spread", 0)
			return err == nil && len(isr) == 3
		})
		// ElectLeaders moves leadership back to the preferred replica.
		if l, _, _, _ := partitionInfo(ctx, adm, "spread", 0); l == leader {
			t.Fatalf("restarted broker %d leads again without an election", leader)
		}
		set := kadm.TopicsSet{}
		set.Add("spread", 0)
		res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
		if err != nil {
			t.Fatal(err)
		}
		if r := res["spread"][0]; r.Err != nil {
			t.Fatalf("ElectLeaders: %v", r.Err)
		}
		waitFor(t, "the preferred replica to lead", 10*time.Second, func() bool {
			l, _, _, err := partitionInfo(ctx, adm, "spread", 0)
			return err == nil && l == leader
		})
		res, err = adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
		if err != nil {
			t.Fatal(err)
		}
		if r := res["spread"][0]; !errorsIs(r.Err, kerr.ElectionNotNeeded) {
			t.Fatalf("second ElectLeaders: %v, want ELECTION_NOT_NEEDED", r.Err)
		}
	})

	t.Run("min.insync.replicas", func(t *testing.T) {
		res, err := adm.CreateTopic(ctx, 1, 3, map[string]*string{"min.insync.replicas": kmsg.StringPtr("3")}, "strict")
		if err != nil || res.Err != nil {
			t.Fatalf("create: %v %v", err, res.Err)
		}
		all := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic("strict"), kgo.RecordRetries(0),
			kgo.RecordDeliveryTimeout(10*time.Second))
		if err := all.ProduceSync(ctx, &kgo.Record{Value: []byte("ok")}).FirstErr(); err != nil {
			t.Fatalf("produce with the full ISR: %v", err)
		}
		leader, _, isr, err := partitionInfo(ctx, adm, "strict", 0)
		if err != nil || len(isr) != 3 {
			t.Fatalf("isr %v err %v", isr, err)
		}
		var victim int32
		for _, r := range isr {
			if r != leader {
				victim = r
			}
		}
		c.nodes[victim].kill()
		waitFor(t, "the ISR to shrink", 30*time.Second, func() bool {
			_, _, isr, err := partitionInfo(ctx, adm, "strict", 0)
			return err == nil && len(isr) == 2
		})
		err = all.ProduceSync(ctx, &kgo.Record{Value: []byte("refused")}).FirstErr()
		if !errorsIs(err, kerr.NotEnoughReplicas) {
			t.Fatalf("acks=all with 2 of min 3 in sync: %v, want NOT_ENOUGH_REPLICAS", err)
		}
		one := c.client(kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.DefaultProduceTopic("strict"))
		if err := one.ProduceSync(ctx, &kgo.Record{Value: []byte("acks1")}).FirstErr(); err != nil {
			t.Fatalf("acks=1 is not bound by min.insync.replicas: %v", err)
		}
		c.start(victim)
		waitFor(t, "ISR back to 3", 60*time.Second, func() bool {
			_, _, isr, err := partitionInfo(ctx, adm, "strict", 0)
			return err == nil && len(isr) == 3
		})
		if err := all.ProduceSync(ctx, &kgo.Record{Value: []byte("ok-again")}).FirstErr(); err != nil {
			t.Fatalf("produce after the ISR recovered: %v", err)
		}
	})

	t.Run("consumer group commits survive a coordinator failover", func(t *testing.T) {
		res, err := adm.CreateTopic(ctx, 1, 3, nil, "grp")
		if err != nil || res.Err != nil {
			t.Fatalf("create: %v %v", err, res.Err)
		}
		p := c.client(kgo.DefaultProduceTopic("grp"))
		for i := 0; i < 20; i++ {
			if err := p.ProduceSync(ctx, &kgo.Record{Value: []byte(strconv.Itoa(i))}).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
		os := kadm.Offsets{}
		os.Add(kadm.Offset{Topic: "grp", Partition: 0, At: 12, LeaderEpoch: -1})
		if err := adm.CommitAllOffsets(ctx, "g1", os); err != nil {
			t.Fatalf("commit: %v", err)
		}
		coord, _, _, err := partitionInfo(ctx, adm, "__consumer_offsets", 0)
		if err != nil {
			t.Fatal(err)
		}
		c.nodes[coord].kill()
		waitFor(t, "__consumer_offsets to move", 30*time.Second, func() bool {
			l, _, _, err := partitionInfo(ctx, adm, "__consumer_offsets", 0)
			return err == nil && l >= 0 && l != coord
		})
		waitFor(t, "the committed offset from the new coordinator", 30*time.Second, func() bool {
			got, err := adm.FetchOffsets(ctx, "g1")
			if err != nil {
				return false
			}
			o, ok := got.Lookup("grp", 0)
			return ok && o.Err == nil && o.At == 12
		})
		c.start(coord)
	})
}

func errorsIs(err error, target *kerr.Error) bool {
	for err != nil {
		if ke, ok := err.(*kerr.Error); ok {
			return ke.Code == target.Code
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}

// logBytes is the size of the segment files (*.log) in a partition directory.
func logBytes(t *testing.T, dir string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, f := range files {
		if st, err := os.Stat(f); err == nil {
			n += st.Size()
		}
	}
	return n
}
