package group

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// miniBroker is a test-only Kafka server: just enough (ApiVersions,
// Metadata, FindCoordinator, empty ListOffsets/Fetch) around a Coordinator
// for real franz-go clients to run their group protocol against it.
type miniBroker struct {
	t      *testing.T
	c      *Coordinator
	ln     net.Listener
	host   string
	port   int32
	topics map[string]int32
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]bool
	seen   map[int16]int16 // api key -> highest version used
	idReq  int             // MEMBER_ID_REQUIRED answers
	joins  []joinRecord
}

type joinRecord struct {
	instance   string
	newMember  bool
	code       int16
	generation int32
	skip       bool
}

var miniVersions = map[int16][2]int16{
	0: {0, 0}, // Produce (unused, advertised so clients are content)
	1: {4, 11}, 2: {1, 7}, 3: {1, 12}, 8: {0, 9}, 9: {0, 9}, 10: {0, 5}, 11: {0, 9},
	12: {0, 4}, 13: {0, 5}, 14: {0, 5}, 15: {0, 5}, 16: {0, 4}, 18: {0, 3}, 42: {0, 2}, 47: {0, 0},
}

func startMiniBroker(t *testing.T, c *Coordinator, topics map[string]int32) *miniBroker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	b := &miniBroker{t: t, c: c, ln: ln, host: "127.0.0.1", port: int32(addr.Port), topics: topics, conns: make(map[net.Conn]bool), seen: make(map[int16]int16)}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			b.mu.Lock()
			b.conns[conn] = true
			b.mu.Unlock()
			b.wg.Add(1)
			go func() { defer b.wg.Done(); b.serve(conn) }()
		}
	}()
	t.Cleanup(b.close)
	return b
}

func (b *miniBroker) addr() string { return b.host + ":" + strconv.Itoa(int(b.port)) }

func (b *miniBroker) close() {
	b.ln.Close()
	b.mu.Lock()
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *miniBroker) serve(conn net.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	defer conn.Close()
	ctx = WithClientInfo(ctx, "", conn.RemoteAddr().String())
	r := bufio.NewReader(conn)
	var wmu sync.Mutex
	var inflight sync.WaitGroup
	defer inflight.Wait()
	for {
		var sz [4]byte
		if _, err := io.ReadFull(r, sz[:]); err != nil {
			return
		}
		buf := make([]byte, binary.BigEndian.Uint32(sz[:]))
		if _, err := io.ReadFull(r, buf); err != nil {
			return
		}
		kb := kbin.Reader{Src: buf}
		key, version, corr := kb.Int16(), kb.Int16(), kb.Int32()
		clientID := kb.NullableString()
		req := kmsg.RequestForKey(key)
		if req == nil {
			b.t.Logf("mini broker: unknown api key %d", key)
			return
		}
		req.SetVersion(version)
		if req.IsFlexible() {
			for n := kb.Uvarint(); n > 0; n-- {
				kb.Uvarint()
				kb.Span(int(kb.Uvarint()))
			}
		}
		if err := req.ReadFrom(kb.Src); err != nil {
			b.t.Logf("mini broker: bad request key %d v%d: %v", key, version, err)
			return
		}
		rctx := ctx
		if clientID != nil {
			rctx = WithClientInfo(ctx, *clientID, conn.RemoteAddr().String())
		}
		// requests may block (JoinGroup/SyncGroup/Fetch): answer each in
		// its own goroutine, like a pipelining broker would per group API
		inflight.Add(1)
		go func() {
			defer inflight.Done()
			resp := b.handle(rctx, req)
			if resp == nil {
				b.t.Logf("mini broker: unhandled api key %d", key)
				conn.Close()
				return
			}
			out := binary.BigEndian.AppendUint32(nil, 0)
			out = binary.BigEndian.AppendUint32(out, uint32(corr))
			if resp.IsFlexible() && key != 18 {
				out = append(out, 0)
			}
			out = resp.AppendTo(out)
			binary.BigEndian.PutUint32(out, uint32(len(out)-4))
			wmu.Lock()
			conn.Write(out)
			wmu.Unlock()
		}()
	}
}

func (b *miniBroker) handle(ctx context.Context, kreq kmsg.Request) kmsg.Response {
	b.mu.Lock()
	b.seen[kreq.Key()] = max(b.seen[kreq.Key()], kreq.GetVersion())
	b.mu.Unlock()
	switch req := kreq.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		keys := make([]int16, 0, len(miniVersions))
		for k := range miniVersions {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: miniVersions[k][0], MaxVersion: miniVersions[k][1]})
		}
		return resp
	case *kmsg.MetadataRequest:
		resp := req.ResponseKind().(*kmsg.MetadataResponse)
		resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 0, Host: b.host, Port: b.port}}
		cid := "mini"
		resp.ClusterID = &cid
		names := make([]string, 0)
		if req.Topics == nil {
			for n := range b.topics {
				names = append(names, n)
			}
		} else {
			for _, t := range req.Topics {
				names = append(names, *t.Topic)
			}
		}
		slices.Sort(names)
		for _, n := range names {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = kmsg.StringPtr(n)
			parts, ok := b.topics[n]
			if !ok {
				mt.ErrorCode = 3 // UNKNOWN_TOPIC_OR_PARTITION
			}
			mt.TopicID = [16]byte{byte(len(n)), 1}
			for p := int32(0); p < parts; p++ {
				mp := kmsg.NewMetadataResponseTopicPartition()
				mp.Partition, mp.Leader, mp.Replicas, mp.ISR = p, 0, []int32{0}, []int32{0}
				mt.Partitions = append(mt.Partitions, mp)
			}
			resp.Topics = append(resp.Topics, mt)
		}
		return resp
	case *kmsg.FindCoordinatorRequest:
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.NodeID, resp.Host, resp.Port = 0, b.host, b.port
		for _, k := range req.CoordinatorKeys {
			resp.Coordinators = append(resp.Coordinators, kmsg.FindCoordinatorResponseCoordinator{Key: k, NodeID: 0, Host: b.host, Port: b.port})
		}
		return resp
	case *kmsg.ListOffsetsRequest:
		resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewListOffsetsResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewListOffsetsResponseTopicPartition()
				rp.Partition, rp.Offset, rp.Timestamp = p.Partition, 0, -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.FetchRequest:
		wait := min(time.Duration(req.MaxWaitMillis)*time.Millisecond, 100*time.Millisecond)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewFetchResponseTopicPartition()
				rp.Partition, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset = p.Partition, 0, 0, 0
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	case *kmsg.JoinGroupRequest:
		resp := b.c.JoinGroup(ctx, req)
		b.mu.Lock()
		if resp.ErrorCode == kerr.MemberIDRequired.Code {
			b.idReq++
		}
		jr := joinRecord{newMember: req.MemberID == "", code: resp.ErrorCode, generation: resp.Generation, skip: resp.SkipAssignment}
		if req.InstanceID != nil {
			jr.instance = *req.InstanceID
		}
		b.joins = append(b.joins, jr)
		b.mu.Unlock()
		return resp
	case *kmsg.SyncGroupRequest:
		return b.c.SyncGroup(ctx, req)
	case *kmsg.HeartbeatRequest:
		return b.c.Heartbeat(ctx, req)
	case *kmsg.LeaveGroupRequest:
		return b.c.LeaveGroup(ctx, req)
	case *kmsg.OffsetCommitRequest:
		return b.c.OffsetCommit(ctx, req)
	case *kmsg.OffsetFetchRequest:
		return b.c.OffsetFetch(ctx, req)
	case *kmsg.OffsetDeleteRequest:
		return b.c.OffsetDelete(ctx, req)
	case *kmsg.ListGroupsRequest:
		return b.c.ListGroups(ctx, req)
	case *kmsg.DescribeGroupsRequest:
		return b.c.DescribeGroups(ctx, req)
	case *kmsg.DeleteGroupsRequest:
		return b.c.DeleteGroups(ctx, req)
	}
	return nil
}

// assignments tracks what a kgo group member currently owns.
type assignments struct {
	mu     sync.Mutex
	owned  map[int32]bool
	events int // callbacks that changed ownership
}

func (a *assignments) eventCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.events
}

// startKgoConsumer starts a franz-go group consumer of topic "t" in group
// "kg" that polls until ctx ends or it is closed.
func startKgoConsumer(ctx context.Context, t *testing.T, addr string, a *assignments, extra ...kgo.Opt) *kgo.Client {
	opts := []kgo.Opt{
		kgo.SeedBrokers(addr),
		kgo.ConsumerGroup("kg"),
		kgo.ConsumeTopics("t"),
		kgo.Balancers(kgo.CooperativeStickyBalancer()), // extra may override
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.SessionTimeout(6 * time.Second),
		kgo.RebalanceTimeout(10 * time.Second),
	}
	opts = append(opts, a.hooks()...)
	opts = append(opts, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			fs := cl.PollFetches(ctx)
			if fs.IsClientClosed() || ctx.Err() != nil {
				return
			}
		}
	}()
	return cl
}

func waitCond(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (a *assignments) hooks() []kgo.Opt {
	a.owned = make(map[int32]bool)
	return []kgo.Opt{
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			for _, p := range m["t"] {
				a.owned[p] = true
			}
			if len(m["t"]) > 0 {
				a.events++
			}
			a.mu.Unlock()
		}),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			for _, p := range m["t"] {
				delete(a.owned, p)
			}
			if len(m["t"]) > 0 {
				a.events++
			}
			a.mu.Unlock()
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) {
			a.mu.Lock()
			for _, p := range m["t"] {
				delete(a.owned, p)
			}
			if len(m["t"]) > 0 {
				a.events++
			}
			a.mu.Unlock()
		}),
	}
}

func (a *assignments) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.owned)
}

// TestFranzGoGroupConsumers runs real franz-go group consumers
// (cooperative-sticky, JoinGroup v9 with member id required) and kadm
// against the coordinator.
func TestFranzGoGroupConsumers(t *testing.T) {
	store := &recStore{}
	c := New(store, WithLogger(quietLogger()))
	defer c.Close()
	b := startMiniBroker(t, c, map[string]int32{"t": 4})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	newClient := func(a *assignments, extra ...kgo.Opt) *kgo.Client {
		return startKgoConsumer(ctx, t, b.addr(), a, extra...)
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			if ctx.Err() != nil {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	var a1, a2 assignments
	cl1 := newClient(&a1)
	waitFor("first consumer owns all partitions", func() bool { return a1.count() == 4 })
	cl2 := newClient(&a2, kgo.ClientID("second"))
	waitFor("partitions split between two consumers", func() bool { return a1.count() == 2 && a2.count() == 2 })

	adm := kadm.NewClient(cl1)
	dg, err := adm.DescribeGroups(ctx, "kg")
	if err != nil {
		t.Fatal(err)
	}
	d := dg["kg"]
	if d.Err != nil || d.State != "Stable" || d.Protocol != "cooperative-sticky" || d.ProtocolType != "consumer" || len(d.Members) != 2 {
		t.Fatalf("describe: %+v", d)
	}

	// commit through the group member, read back through kadm (v8+ fetch)
	var commitErr error
	cl2.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{"t": {0: {Epoch: -1, Offset: 42}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			commitErr = err
			if err == nil {
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if p.ErrorCode != 0 {
							commitErr = errors.New(errName(p.ErrorCode))
						}
					}
				}
			}
		})
	if commitErr != nil {
		t.Fatalf("commit: %v", commitErr)
	}
	waitFor("commit lands", func() bool { return e2eOffset(ctx, adm, "kg", 0) == 42 })

	// the first consumer leaves: the second takes everything
	cl1.Close()
	waitFor("survivor owns all partitions", func() bool { return a2.count() == 4 })
	adm2 := kadm.NewClient(cl2)
	if got := e2eOffset(ctx, adm2, "kg", 0); got != 42 {
		t.Fatalf("offset after rebalance %d", got)
	}
	lg, err := adm2.ListGroups(ctx)
	if err != nil || len(lg) != 1 || lg["kg"].State != "Stable" {
		t.Fatalf("list groups: %+v %v", lg, err)
	}
	cl2.Close()
	waitFor("group empty", func() bool {
		dg, err := kadm.NewClient(kgoAdminClient(t, b)).DescribeGroups(ctx, "kg")
		return err == nil && dg["kg"].State == "Empty"
	})
	// an empty group can be deleted through kadm
	admc := kgoAdminClient(t, b)
	dr, err := kadm.NewClient(admc).DeleteGroups(ctx, "kg")
	if err != nil || dr["kg"].Err != nil {
		t.Fatalf("delete group: %+v %v", dr, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[11] != 9 || b.seen[14] != 5 || b.seen[8] != 9 || b.seen[9] < 8 || b.idReq < 2 {
		t.Fatalf("clients did not use the modern group APIs: versions %v, member-id-required %d", b.seen, b.idReq)
	}
	t.Logf("api versions used: %v", b.seen)
}

func kgoAdminClient(t *testing.T, b *miniBroker) *kgo.Client {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func e2eOffset(ctx context.Context, adm *kadm.Client, group string, p int32) int64 {
	resp, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return -2
	}
	o, ok := resp.Lookup("t", p)
	if !ok || o.Err != nil {
		if o.Err != nil && !errors.Is(o.Err, context.Canceled) {
			return -3
		}
		return -1
	}
	return o.At
}

// TestFranzGoStaticMemberRestart restarts a static (group.instance.id)
// franz-go consumer: it gets its partitions back without a rebalance, so
// the other member sees no revocation.
func TestFranzGoStaticMemberRestart(t *testing.T) {
	tests := []struct {
		name     string
		restart  string // which instance restarts: i1 leads the group
		balancer kgo.GroupBalancer
	}{
		{"follower restarts, cooperative-sticky", "i2", kgo.CooperativeStickyBalancer()},
		{"follower restarts, range", "i2", kgo.RangeBalancer()},
		// kgo's cooperative-sticky leader re-balances itself after a
		// KIP-814 restart (stale owned partitions), so the leader case
		// uses the eager range balancer
		{"leader restarts (KIP-814 skip assignment), range", "i1", kgo.RangeBalancer()},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			store := &recStore{}
			c := New(store, WithLogger(quietLogger()))
			defer c.Close()
			b := startMiniBroker(t, c, map[string]int32{"t": 4})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var a1, a2 assignments
			bal := kgo.Balancers(tc.balancer)
			cl1 := startKgoConsumer(ctx, t, b.addr(), &a1, kgo.InstanceID("i1"), bal)
			waitCond(ctx, t, "first consumer owns all", func() bool { return a1.count() == 4 })
			cl2 := startKgoConsumer(ctx, t, b.addr(), &a2, kgo.InstanceID("i2"), bal)
			defer func() { cl1.Close(); cl2.Close() }()
			waitCond(ctx, t, "split", func() bool { return a1.count() == 2 && a2.count() == 2 })
			time.Sleep(300 * time.Millisecond) // let the cooperative follow-up rebalance settle

			other, otherCl, oldCl := &a2, cl2, &cl1
			if tc.restart == "i2" {
				other, otherCl, oldCl = &a1, cl1, &cl2
			}
			before := other.eventCount()
			_, genBefore := otherCl.GroupMetadata()
			(*oldCl).Close() // static members do not leave on close
			var fresh assignments
			b.mu.Lock()
			nJoins := len(b.joins)
			b.mu.Unlock()
			*oldCl = startKgoConsumer(ctx, t, b.addr(), &fresh, kgo.InstanceID(tc.restart), bal)
			waitCond(ctx, t, "restarted member owns its partitions", func() bool { return fresh.count() == 2 })
			time.Sleep(500 * time.Millisecond)
			if got := other.eventCount(); got != before || other.count() != 2 {
				t.Fatalf("other member saw %d ownership changes (owns %d)", got-before, other.count())
			}
			_, genAfter := otherCl.GroupMetadata()
			_, genFresh := (*oldCl).GroupMetadata()
			if genAfter != genBefore || genFresh != genBefore {
				t.Fatalf("generation moved from %d to %d (restarted member at %d): a rebalance happened", genBefore, genAfter, genFresh)
			}
			b.mu.Lock()
			rejoin := b.joins[nJoins]
			b.mu.Unlock()
			if rejoin.instance != tc.restart || !rejoin.newMember || rejoin.code != 0 || rejoin.generation != genBefore || rejoin.skip != (tc.restart == "i1") {
				t.Fatalf("restarted member's join: %+v (generation before %d)", rejoin, genBefore)
			}
			dg, err := kadm.NewClient(kgoAdminClient(t, b)).DescribeGroups(ctx, "kg")
			if err != nil {
				t.Fatal(err)
			}
			d := dg["kg"]
			if d.State != "Stable" || len(d.Members) != 2 {
				t.Fatalf("after static restart: %+v", d)
			}
		})
	}
}
