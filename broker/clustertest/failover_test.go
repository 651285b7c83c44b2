package clustertest

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fastFlags keep failure detection short so the tests stay quick.
var fastFlags = []string{"--broker-session-timeout", "1500ms", "--replica-lag-time", "2s", "--log-level", "info"}

// loadProducer produces numbered records with acks=all until stopped and
// remembers which were acknowledged.
type loadProducer struct {
	cl    *kgo.Client
	topic string
	mu    sync.Mutex
	acked map[int]bool
	fails atomic.Int64
	n     atomic.Int64
	stop  chan struct{}
	done  chan struct{}
}

// maxLoadRecords bounds how much a load producer writes.
const maxLoadRecords = 200000

// loadPerTick records are produced every loadTick (5000/s): on a fast
// machine an unpaced producer reached maxLoadRecords within one broker
// restart, and tests waiting for further progress then failed.
const (
	loadPerTick = 50
	loadTick    = 10 * time.Millisecond
)

func startLoad(t *testing.T, c *cluster, topic string) *loadProducer {
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(20*time.Second), kgo.ProducerLinger(time.Millisecond),
		kgo.MaxBufferedRecords(2000), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
	lp := &loadProducer{cl: cl, topic: topic, acked: map[int]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		var wg sync.WaitGroup
		tick := time.NewTicker(loadTick)
		defer tick.Stop()
		for i := 0; ; i++ {
			if i >= maxLoadRecords {
				<-lp.stop
			}
			if i%loadPerTick == 0 {
				select {
				case <-lp.stop:
					wg.Wait()
					return
				case <-tick.C:
				}
			}
			select {
			case <-lp.stop:
				wg.Wait()
				return
			default:
			}
			v := i
			wg.Add(1)
			cl.Produce(context.Background(), &kgo.Record{Value: []byte(strconv.Itoa(v))}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					lp.fails.Add(1)
					return
				}
				lp.mu.Lock()
				lp.acked[v] = true
				lp.mu.Unlock()
				lp.n.Add(1)
			})
		}
	}()
	return lp
}

func (lp *loadProducer) halt() {
	close(lp.stop)
	<-lp.done
}

// readAll consumes topic from the start up to its current end offsets.
func readAll(t *testing.T, c *cluster, topic string) map[int]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.client())
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	cl := c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[int]int{}
	got := map[int32]int64{}
	done := func() bool {
		for p, e := range want {
			if got[p] < e {
				return false
			}
		}
		return true
	}
	for !done() {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: got offsets %v, want %v", topic, got, want)
		}
		fs.EachRecord(func(r *kgo.Record) {
			v, _ := strconv.Atoi(string(r.Value))
			seen[v]++
			got[r.Partition] = r.Offset + 1
		})
	}
	return seen
}

func TestKillLeaderUnderAcksAllLoad(t *testing.T) {
	c, ctx, adm := startThree(t, 3*time.Minute)
	const topic = "failover"
	createReplicatedTopic(t, ctx, adm, topic, 1)
	leader, epoch, isr, err := partitionInfo(ctx, adm, topic, 0)
	if err != nil || len(isr) != 3 {
		t.Fatalf("partition before load: leader %d isr %v err %v", leader, isr, err)
	}

	lp := startLoad(t, c, topic)
	waitFor(t, "records acknowledged before the kill", 60*time.Second, func() bool { return lp.n.Load() >= 3000 })
	before := lp.n.Load()
	c.nodes[leader].kill()
	t.Logf("killed leader %d (epoch %d) after %d acknowledged records", leader, epoch, before)

	var newLeader, newEpoch int32
	waitFor(t, "a new leader", 30*time.Second, func() bool {
		l, e, _, err := partitionInfo(ctx, adm, topic, 0)
		newLeader, newEpoch = l, e
		return err == nil && l >= 0 && l != leader && e > epoch
	})
	mid := lp.n.Load()
	waitFor(t, "records acknowledged by the new leader", 60*time.Second, func() bool { return lp.n.Load() >= mid+2000 })
	t.Logf("leader %d epoch %d took over; %d records acknowledged so far", newLeader, newEpoch, lp.n.Load())

	c.start(leader)
	waitFor(t, "the restarted broker back in the ISR", 60*time.Second, func() bool {
		_, _, isr, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && slices.Contains(isr, leader)
	})
	lp.halt()

	lp.mu.Lock()
	acked := lp.acked
	lp.mu.Unlock()
	seen := readAll(t, c, topic)
	lost := 0
	for v := range acked {
		if seen[v] == 0 {
			lost++
		}
	}
	t.Logf("acknowledged %d, failed %d, distinct read %d, lost %d", len(acked), lp.fails.Load(), len(seen), lost)
	if lost != 0 {
		t.Fatalf("%d acknowledged records lost", lost)
	}
	if len(acked) < 5000 {
		t.Fatalf("only %d records acknowledged", len(acked))
	}
	// Every replica ends with the same log: compare each broker's log end
	// as the leader reports it once all are in sync.
	checkReplicasAgree(t, c, topic)
}

// checkReplicasAgree reads the partition straight from the leader and
// checks the restarted and surviving brokers report it in sync.
func checkReplicasAgree(t *testing.T, c *cluster, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.client())
	waitFor(t, "a full ISR", 30*time.Second, func() bool {
		_, _, isr, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && len(isr) == len(c.nodes)
	})
}

// rawProduce sends one acks=-1 produce request straight to a broker.
func rawProduce(ctx context.Context, cl *kgo.Client, broker int32, topic string, value string) (int16, error) {
	req := kmsg.NewPtrProduceRequest()
	req.Acks = -1
	req.TimeoutMillis = 3000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition = 0
	rb := kmsg.NewRecordBatch()
	rec := kmsg.NewRecord()
	rec.Value = []byte(value)
	rec.Length = int32(len(rec.AppendTo(nil)) - 1) // short records: a one-byte length varint
	rb.Magic = 2
	rb.NumRecords = 1
	rb.Records = rec.AppendTo(nil)
	rb.ProducerID, rb.ProducerEpoch, rb.FirstSequence = -1, -1, -1
	rb.FirstTimestamp, rb.MaxTimestamp = time.Now().UnixMilli(), time.Now().UnixMilli()
	raw := rb.AppendTo(nil)
	rb.Length = int32(len(raw) - 12)
	raw = rb.AppendTo(nil)
	rb.CRC = int32(crc32c(raw[21:]))
	rp.Records = rb.AppendTo(nil)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return 0, err
	}
	pr := resp.(*kmsg.ProduceResponse)
	if len(pr.Topics) != 1 || len(pr.Topics[0].Partitions) != 1 {
		return 0, errors.New("malformed produce response")
	}
	sp := pr.Topics[0].Partitions[0]
	if sp.ErrorCode == kerr.CorruptMessage.Code && sp.ErrorMessage != nil {
		return sp.ErrorCode, errors.New(*sp.ErrorMessage)
	}
	return sp.ErrorCode, nil
}

func TestIsolatedLeaderAcceptsNoWrites(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three broker processes")
	}
	c := newCluster(t, 3, fastFlags...)
	// Every controller link i->j goes through its own proxy.
	links := map[[2]int32]*proxy{}
	for i := int32(1); i <= 3; i++ {
		var parts []string
		for j := int32(1); j <= 3; j++ {
			addr := c.nodes[j].ctrl
			if i != j {
				p := newProxy(t, c.nodes[j].ctrl)
				links[[2]int32{i, j}] = p
				addr = p.addr()
			}
			parts = append(parts, fmt.Sprintf("%d@%s", j, addr))
		}
		c.nodes[i].quorum = joinComma(parts)
		// Brokers reach each other (replica fetches) through a proxy too;
		// the test talks to the real listeners.
		kp := newProxy(t, c.nodes[i].kafka)
		links[[2]int32{i, 0}] = kp
		c.nodes[i].adv = kp.addr()
	}
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.client())
	waitLiveBrokers(t, ctx, adm, 3, 30*time.Second)
	const topic = "split"
	createReplicatedTopic(t, ctx, adm, topic, 1)
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	for i := 0; i < 100; i++ {
		if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("before-" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	old, oldEpoch, _, err := partitionInfo(ctx, adm, topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := kgo.NewClient(kgo.SeedBrokers(c.nodes[old].kafka))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if code, err := rawProduce(ctx, raw, old, topic, "direct-ok"); err != nil || code != 0 {
		t.Fatalf("produce to the leader before the cut: code %d err %v", code, err)
	}

	// Cut the leader off from the other controllers.
	for k, p := range links {
		if k[0] == old || k[1] == old {
			p.setCut(true)
		}
	}
	t.Logf("isolated leader %d (epoch %d)", old, oldEpoch)
	var accepted []string
	var codes []int16
	// Until the majority has elected a new leader, and after, the old
	// leader must not acknowledge an acks=all write.
	majority := map[int32]bool{}
	for id := range c.nodes {
		if id != old {
			majority[id] = true
		}
	}
	var newLeader int32 = -1
	deadline := time.Now().Add(40 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		v := "stale-" + strconv.Itoa(i)
		code, err := rawProduce(ctx, raw, old, topic, v)
		if err == nil && code == 0 {
			accepted = append(accepted, v)
		}
		codes = append(codes, code)
		if code == kerr.NotLeaderForPartition.Code {
			// Self-fenced: check the majority moved on too.
			l, e, _, err := partitionInfo(ctx, kadm.NewClient(c.clientOf(majority)), topic, 0)
			if err == nil && l >= 0 && l != old && e > oldEpoch {
				newLeader = l
				break
			}
		}
	}
	if len(accepted) > 0 {
		t.Fatalf("the isolated leader acknowledged %d acks=all writes: %v", len(accepted), accepted)
	}
	if newLeader < 0 {
		t.Fatalf("no new leader among the majority; old leader answered codes %v", codes)
	}
	// The majority accepts writes.
	mcl := c.clientOf(majority, kgo.RequiredAcks(kgo.AllISRAcks()), kgo.DefaultProduceTopic(topic))
	for i := 0; i < 50; i++ {
		if err := mcl.ProduceSync(ctx, &kgo.Record{Value: []byte("after-" + strconv.Itoa(i))}).FirstErr(); err != nil {
			t.Fatalf("produce to the majority: %v", err)
		}
	}
	// Heal: the old leader rejoins as a follower and the log is the
	// majority's.
	for _, p := range links {
		p.setCut(false)
	}
	waitFor(t, "the old leader back in the ISR", 60*time.Second, func() bool {
		_, _, isr, err := partitionInfo(ctx, adm, topic, 0)
		return err == nil && slices.Contains(isr, old)
	})
	vals := readValues(t, c, topic)
	for _, v := range vals {
		if len(v) > 6 && v[:6] == "stale-" {
			t.Fatalf("a record the isolated leader never acknowledged is in the log: %s", v)
		}
	}
	for i := 0; i < 50; i++ {
		if !slices.Contains(vals, "after-"+strconv.Itoa(i)) {
			t.Fatalf("acknowledged record after-%d missing", i)
		}
	}
	for i := 0; i < 100; i++ {
		if !slices.Contains(vals, "before-"+strconv.Itoa(i)) {
			t.Fatalf("acknowledged record before-%d missing", i)
		}
	}
	if !slices.Contains(vals, "direct-ok") {
		t.Fatal("acknowledged record direct-ok missing")
	}
	t.Logf("isolated leader answered %d produce attempts, none acknowledged; new leader %d; final log %d records", len(codes), newLeader, len(vals))
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ","
		}
		out += x
	}
	return out
}

// clientOf is a client seeded with the given brokers only.
func (c *cluster) clientOf(ids map[int32]bool, opts ...kgo.Opt) *kgo.Client {
	var seeds []string
	for id := range ids {
		seeds = append(seeds, c.nodes[id].kafka)
	}
	cl, err := kgo.NewClient(c.clientOpts(append([]kgo.Opt{kgo.SeedBrokers(seeds...)}, opts...))...)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(cl.Close)
	return cl
}

// readValues returns every record value of topic-0 in offset order.
func readValues(t *testing.T, c *cluster, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	adm := kadm.NewClient(c.client())
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	end, _ := ends.Lookup(topic, 0)
	cl := c.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	var vals []string
	next := int64(0)
	for next < end.Offset {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: at %d of %d", topic, next, end.Offset)
		}
		fs.EachRecord(func(r *kgo.Record) {
			vals = append(vals, string(r.Value))
			next = r.Offset + 1
		})
	}
	return vals
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

func TestRollingRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three broker processes")
	}
	c := newCluster(t, 3, append([]string{"--leader-rebalance-interval", "2s"}, fastFlags...)...)
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.client())
	waitLiveBrokers(t, ctx, adm, 3, 30*time.Second)
	const topic = "rolling"
	createReplicatedTopic(t, ctx, adm, topic, 3)
	fullISR := func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		for _, pd := range md.Topics[topic].Partitions {
			if len(pd.ISR) != 3 || pd.Leader < 0 {
				return false
			}
		}
		return len(md.Topics[topic].Partitions) == 3
	}
	waitFor(t, "full ISRs", 30*time.Second, fullISR)
	lp := startLoad(t, c, topic)
	for id := int32(1); id <= 3; id++ {
		mark := lp.n.Load()
		waitFor(t, "progress before restarting the next broker", 60*time.Second, func() bool { return lp.n.Load() >= mark+1000 })
		c.nodes[id].stop(t)
		c.start(id)
		waitFor(t, "full ISRs after restarting a broker", 60*time.Second, fullISR)
		t.Logf("restarted broker %d; %d records acknowledged", id, lp.n.Load())
	}
	mark := lp.n.Load()
	waitFor(t, "progress after the last restart", 60*time.Second, func() bool { return lp.n.Load() >= mark+1000 })
	lp.halt()
	lp.mu.Lock()
	acked := lp.acked
	lp.mu.Unlock()
	seen := readAll(t, c, topic)
	lost := 0
	for v := range acked {
		if seen[v] == 0 {
			lost++
		}
	}
	t.Logf("acknowledged %d, failed %d, lost %d", len(acked), lp.fails.Load(), lost)
	if lost != 0 {
		t.Fatalf("%d acknowledged records lost", lost)
	}
	// The controller moves leadership back to the preferred replicas.
	waitFor(t, "preferred replicas leading again", 30*time.Second, func() bool {
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			return false
		}
		for _, pd := range md.Topics[topic].Partitions {
			if pd.Leader != pd.Replicas[0] {
				return false
			}
		}
		return true
	})
}
