package broker_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/internal/testenv"
)

func quietLogger() *slog.Logger {
	if os.Getenv("SLUICE_BROKER_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// groupConsumer is one kgo group member recording what it consumed.
type groupConsumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// consumed counts consumptions per record index across members.
type consumed struct {
	mu     sync.Mutex
	counts map[int]int
	total  int
}

func (c *consumed) add(t testing.TB, r *kgo.Record) {
	var i int
	if _, err := fmt.Sscanf(string(r.Key), "key-%d", &i); err != nil {
		t.Errorf("unexpected key %q", r.Key)
		return
	}
	if string(r.Value) != recValue(i) {
		t.Errorf("record %d: bad value %q", i, r.Value)
	}
	c.mu.Lock()
	c.counts[i]++
	c.total++
	c.mu.Unlock()
}

func (c *consumed) waitTotal(t testing.TB, n int, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		c.mu.Lock()
		got := c.total
		c.mu.Unlock()
		if got >= n {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t.Fatalf("consumed %d records, want %d", c.total, n)
}

func startMember(t testing.TB, addr, grp, topic string, sink *consumed) *groupConsumer {
	cl := newClient(t, addr,
		kgo.ConsumerGroup(grp), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			// Commit what was consumed before giving partitions away so
			// the next owner starts exactly after it.
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				t.Errorf("commit on revoke: %v", err)
			}
		}),
		kgo.BlockRebalanceOnPoll(),
	)
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupConsumer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			fs.EachRecord(func(r *kgo.Record) { sink.add(t, r) })
			cl.AllowRebalance()
		}
	}()
	return m
}

// stop commits and leaves the group.
func (m *groupConsumer) stop(t testing.TB) {
	m.cancel()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Errorf("final commit: %v", err)
	}
	m.cl.Close()
}

// waitStable waits until the group is Stable with n members that all own
// partitions.
func waitStable(t testing.TB, adm *kadm.Client, grp string, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		gs, err := adm.DescribeGroups(ctx, grp)
		cancel()
		if err == nil {
			g := gs[grp]
			owning := 0
			for _, m := range g.Members {
				if ca, ok := m.Assigned.AsConsumer(); ok && len(ca.Topics) > 0 {
					owning++
				}
			}
			last = fmt.Sprintf("state %s, %d members, %d owning partitions", g.State, len(g.Members), owning)
			if g.State == "Stable" && len(g.Members) == n && owning == n {
				return
			}
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("group %s not stable with %d members: %s", grp, n, last)
}

func TestConsumerGroupRebalanceExactlyOnce(t *testing.T) {
	addr := testenv.StartBroker(t)
	const topic, grp = "grp-topic", "grp-1"
	createTopic(t, addr, topic, 6, nil)
	adm := kadm.NewClient(newClient(t, addr))
	sink := &consumed{counts: make(map[int]int)}

	var members []*groupConsumer
	for i := 0; i < 3; i++ {
		members = append(members, startMember(t, addr, grp, topic, sink))
	}
	waitStable(t, adm, grp, 3)

	const n1 = 30000
	produceKgo(t, addr, topic, 0, n1)
	sink.waitTotal(t, n1, 60*time.Second)

	// One member leaves: its partitions move to the other two.
	members[2].stop(t)
	waitStable(t, adm, grp, 2)
	const n2 = 20000
	produceKgo(t, addr, topic, n1, n2)
	sink.waitTotal(t, n1+n2, 60*time.Second)

	// A new member joins: partitions spread across three again.
	members[2] = startMember(t, addr, grp, topic, sink)
	waitStable(t, adm, grp, 3)
	const n3 = 20000
	produceKgo(t, addr, topic, n1+n2, n3)
	sink.waitTotal(t, n1+n2+n3, 60*time.Second)
	time.Sleep(300 * time.Millisecond) // let any duplicate show up
	for _, m := range members {
		m.stop(t)
	}

	sink.mu.Lock()
	defer sink.mu.Unlock()
	for i := 0; i < n1+n2+n3; i++ {
		if c := sink.counts[i]; c != 1 {
			t.Fatalf("record %d consumed %d times, want exactly once", i, c)
		}
	}
	if sink.total != n1+n2+n3 {
		t.Fatalf("consumed %d records, want %d", sink.total, n1+n2+n3)
	}
}

func startAt(t testing.TB, dir string, opts ...broker.Option) *broker.Broker {
	t.Helper()
	b, err := broker.New(append([]broker.Option{
		broker.WithDataDir(dir), broker.WithListen("127.0.0.1:0"),
		broker.WithGroupInitialRebalanceDelay(0), broker.WithLogger(quietLogger()),
	}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestartKeepsTopicsOffsetsAndProducerIDs(t *testing.T) {
	dir := t.TempDir()
	b := startAt(t, dir)
	addr := b.Addr()
	createTopic(t, addr, "persist", 3, map[string]*string{"retention.ms": kmsg.StringPtr("3600000")})
	produceKgo(t, addr, "persist", 0, 5000)

	ctx := context.Background()
	cl := newClient(t, addr)
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "persist", Partition: 0, At: 11, LeaderEpoch: -1, Metadata: "m0"})
	offs.Add(kadm.Offset{Topic: "persist", Partition: 2, At: 42, LeaderEpoch: -1, Metadata: "m2"})
	if r, err := adm.CommitOffsets(ctx, "restart-grp", offs); err != nil || r.Error() != nil {
		t.Fatalf("commit: %v %v", err, r.Error())
	}
	pid1 := initProducerID(t, cl)
	topicsBefore, err := adm.ListTopics(ctx, "persist")
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	if err := b.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}

	b = startAt(t, dir)
	defer b.Close()
	addr = b.Addr()
	cl = newClient(t, addr)
	adm = kadm.NewClient(cl)
	got, err := adm.FetchOffsets(ctx, "restart-grp")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct {
		p    int32
		at   int64
		meta string
	}{{0, 11, "m0"}, {2, 42, "m2"}} {
		o, ok := got.Lookup("persist", want.p)
		if !ok || o.Err != nil || o.At != want.at || o.Metadata != want.meta {
			t.Fatalf("partition %d after restart: %+v (ok %v), want offset %d metadata %q", want.p, o, ok, want.at, want.meta)
		}
	}
	topicsAfter, err := adm.ListTopics(ctx, "persist")
	if err != nil {
		t.Fatal(err)
	}
	if topicsAfter["persist"].ID != topicsBefore["persist"].ID || len(topicsAfter["persist"].Partitions) != 3 {
		t.Fatalf("topic changed across restart: before %+v after %+v", topicsBefore["persist"], topicsAfter["persist"])
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "persist")
	if err != nil {
		t.Fatal(err)
	}
	if v, err := rc.On("persist", nil); err != nil || !hasConfig(v.Configs, "retention.ms", "3600000") {
		t.Fatalf("retention.ms lost across restart: %+v %v", v, err)
	}
	if pid2 := initProducerID(t, cl); pid2 <= pid1 {
		t.Fatalf("producer id %d after restart is not above %d from before", pid2, pid1)
	}
	consumeKgo(t, addr, "persist", 0, 5000)
}

func hasConfig(cs []kadm.Config, k, v string) bool {
	for _, c := range cs {
		if c.Key == k && c.Value != nil && *c.Value == v {
			return true
		}
	}
	return false
}

func initProducerID(t testing.TB, cl *kgo.Client) int64 {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionTimeoutMillis = 60000
	req.ProducerID, req.ProducerEpoch = -1, -1
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatal(err)
	}
	return resp.ProducerID
}

// TestBrokerChild is the body of the subprocess TestKillNineKeepsAckedRecords
// runs; it does nothing in a normal run.
func TestBrokerChild(t *testing.T) {
	dir := os.Getenv("SLUICE_BROKER_CHILD_DIR")
	if dir == "" {
		t.Skip("subprocess helper")
	}
	b, err := broker.New(broker.WithDataDir(dir), broker.WithListen("127.0.0.1:0"),
		broker.WithGroupInitialRebalanceDelay(0), broker.WithLogger(quietLogger()))
	if err != nil {
		fmt.Println("ERR", err)
		os.Exit(1)
	}
	fmt.Println("ADDR", b.Addr())
	select {} // until killed
}

func startChild(t testing.TB, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBrokerChild$")
	cmd.Env = append(os.Environ(), "SLUICE_BROKER_CHILD_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		t.Fatalf("child broker: %q %v", line, err)
	}
	return cmd, strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
}

func TestKillNineKeepsAckedRecords(t *testing.T) {
	dir := t.TempDir()
	cmd, addr := startChild(t, dir)
	createTopic(t, addr, "crash", 4, nil)

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("crash"),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordRetries(3),
		kgo.ProducerLinger(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		acked = make(map[int]bool)
		wg    sync.WaitGroup
	)
	ctx, cancel := context.WithCancel(context.Background())
	killed := make(chan struct{})
	go func() {
		// Kill once enough records are acknowledged, while producing.
		for {
			mu.Lock()
			n := len(acked)
			mu.Unlock()
			if n >= 20000 {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		close(killed)
	}()
	for i := 0; ; i++ {
		select {
		case <-killed:
		default:
			wg.Add(1)
			i := i
			cl.Produce(ctx, &kgo.Record{Key: []byte(recKey(i)), Value: []byte(recValue(i))}, func(_ *kgo.Record, err error) {
				defer wg.Done()
				if err == nil {
					mu.Lock()
					acked[i] = true
					mu.Unlock()
				}
			})
			if i%1000 == 999 {
				time.Sleep(time.Millisecond)
			}
			continue
		}
		break
	}
	_ = cmd.Wait()
	cancel()
	cl.Close() // fails whatever is still buffered
	wg.Wait()
	mu.Lock()
	ackedN := len(acked)
	mu.Unlock()
	t.Logf("%d records acknowledged before kill -9", ackedN)

	_, addr = startChild(t, dir)
	cc := newClient(t, addr, kgo.ConsumeTopics("crash"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	adm := kadm.NewClient(cc)
	ends, err := adm.ListEndOffsets(context.Background(), "crash")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	got := make(map[int]bool)
	rctx, rcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer rcancel()
	var n int64
	for n < total {
		fs := cc.PollFetches(rctx)
		if rctx.Err() != nil {
			t.Fatalf("read back %d of %d records", n, total)
		}
		fs.EachRecord(func(r *kgo.Record) {
			n++
			var i int
			if _, err := fmt.Sscanf(string(r.Key), "key-%d", &i); err != nil || string(r.Value) != recValue(i) {
				t.Fatalf("bad record after crash: %q=%q", r.Key, r.Value)
			}
			got[i] = true
		})
	}
	for i := range acked {
		if !got[i] {
			t.Fatalf("acknowledged record %d lost after kill -9 (%d acked, %d on disk)", i, ackedN, total)
		}
	}
}

func TestTopicAdminAndConfigs(t *testing.T) {
	addr := testenv.StartBroker(t)
	ctx := context.Background()
	cl := newClient(t, addr)
	adm := kadm.NewClient(cl)

	// Unknown config keys and bad values are INVALID_CONFIG.
	create := func(parts int32, rf int16, cfg map[string]*string, name string) error {
		r, err := adm.CreateTopic(ctx, parts, rf, cfg, name)
		if err != nil {
			return err
		}
		return r.Err
	}
	if err := create(1, 1, map[string]*string{"no.such.key": kmsg.StringPtr("1")}, "badcfg"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("unknown key: %v", err)
	}
	if err := create(1, 1, map[string]*string{"retention.ms": kmsg.StringPtr("soon")}, "badcfg"); !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("bad value: %v", err)
	}
	if err := create(1, 3, nil, "rf3"); !errors.Is(err, kerr.InvalidReplicationFactor) {
		t.Fatalf("rf 3: %v", err)
	}
	createTopic(t, addr, "small", 2, map[string]*string{
		"max.message.bytes": kmsg.StringPtr("2000"), "min.insync.replicas": kmsg.StringPtr("1"),
		"cleanup.policy": kmsg.StringPtr("compact,delete"),
	})
	if err := create(1, 1, nil, "small"); !errors.Is(err, kerr.TopicAlreadyExists) {
		t.Fatalf("duplicate create: %v", err)
	}

	// max.message.bytes is enforced.
	pcl := newClient(t, addr, kgo.DefaultProduceTopic("small"), kgo.RecordRetries(1))
	big := make([]byte, 5000)
	_, _ = rand.Read(big) // incompressible: kgo compresses by default
	err := pcl.ProduceSync(ctx, &kgo.Record{Value: big}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("oversize record: %v, want MESSAGE_TOO_LARGE", err)
	}
	if err := pcl.ProduceSync(ctx, &kgo.Record{Value: make([]byte, 100)}).FirstErr(); err != nil {
		t.Fatalf("small record: %v", err)
	}

	// Incremental alter: set, append to a list, delete.
	alter := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "max.message.bytes", Value: kmsg.StringPtr("100000")},
		{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kmsg.StringPtr("delete")},
		{Op: kadm.DeleteConfig, Name: "min.insync.replicas"},
	}
	if rs, err := adm.AlterTopicConfigs(ctx, alter, "small"); err != nil || rs[0].Err != nil {
		t.Fatalf("alter: %v %+v", err, rs)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	v, _ := rc.On("small", nil)
	if !hasConfig(v.Configs, "max.message.bytes", "100000") || !hasConfig(v.Configs, "cleanup.policy", "compact") || !hasConfig(v.Configs, "min.insync.replicas", "1") {
		t.Fatalf("configs after alter: %+v", v.Configs)
	}
	if err := pcl.ProduceSync(ctx, &kgo.Record{Value: big}).FirstErr(); err != nil {
		t.Fatalf("5000-byte record after raising max.message.bytes: %v", err)
	}
	if rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "bogus", Value: kmsg.StringPtr("x")}}, "small"); err != nil || !errors.Is(rs[0].Err, kerr.InvalidConfig) {
		t.Fatalf("alter unknown key: %v %+v", err, rs)
	}
	// Non-incremental AlterConfigs replaces the whole set.
	if rs, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("1000")}}, "small"); err != nil || rs[0].Err != nil {
		t.Fatalf("alter state: %v %+v", err, rs)
	}
	rc, _ = adm.DescribeTopicConfigs(ctx, "small")
	v, _ = rc.On("small", nil)
	if !hasConfig(v.Configs, "retention.ms", "1000") || !hasConfig(v.Configs, "max.message.bytes", strconv.Itoa(1048588)) {
		t.Fatalf("configs after AlterConfigs: %+v", v.Configs)
	}

	// CreatePartitions, ListOffsets, DeleteRecords, DeleteTopics.
	if rs, err := adm.UpdatePartitions(ctx, 4, "small"); err != nil || rs["small"].Err != nil {
		t.Fatalf("create partitions: %v %+v", err, rs)
	}
	if rs, _ := adm.UpdatePartitions(ctx, 2, "small"); !errors.Is(rs["small"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink partitions: %+v", rs)
	}
	listOffset := func(p int32, ts int64) int64 {
		req := kmsg.NewPtrListOffsetsRequest()
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "small"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp = p, ts
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Topics[0].Partitions[0].ErrorCode; c != 0 {
			t.Fatalf("ListOffsets small[%d] at %d: code %d", p, ts, c)
		}
		return resp.Topics[0].Partitions[0].Offset
	}
	endOf := func(p int32) int64 { return listOffset(p, -1) }
	before := endOf(0)
	produceKgo(t, addr, "small", 0, 1000, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if got := endOf(0); got != before+1000 {
		t.Fatalf("end offset of small[0] = %d, want %d", got, before+1000)
	}
	if got := listOffset(0, 0); got != 0 {
		t.Fatalf("offset for timestamp 0 = %d, want 0", got)
	}
	if got := listOffset(0, time.Now().Add(time.Hour).UnixMilli()); got != -1 {
		t.Fatalf("offset for a future timestamp = %d, want -1", got)
	}
	if got := listOffset(0, -2); got != 0 {
		t.Fatalf("earliest = %d, want 0", got)
	}

	// Max timestamp (-3): the record with the largest timestamp wins even
	// when it is not the last one.
	tcl := newClient(t, addr, kgo.DefaultProduceTopic("small"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	future := time.Now().Add(time.Hour)
	for i, ts := range []time.Time{future.Add(-time.Minute), future, future.Add(-2 * time.Minute)} {
		r := &kgo.Record{Partition: 1, Value: []byte(strconv.Itoa(i)), Timestamp: ts}
		if err := tcl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	end1 := endOf(1)
	if got := listOffset(1, -3); got != end1-2 {
		t.Fatalf("max-timestamp offset = %d, want %d", got, end1-2)
	}
	ro := kadm.Offsets{}
	ro.Add(kadm.Offset{Topic: "small", Partition: 0, At: 500})
	if rs, err := adm.DeleteRecords(ctx, ro); err != nil || rs.Error() != nil {
		t.Fatalf("delete records: %v %v", err, rs.Error())
	}
	starts, _ := adm.ListStartOffsets(ctx, "small")
	if o, _ := starts.Lookup("small", 0); o.Offset != 500 {
		t.Fatalf("start offset after DeleteRecords = %d, want 500", o.Offset)
	}
	dirs, err := adm.DescribeAllLogDirs(ctx, kadm.TopicsSet{"small": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	var dirSize int64
	dirs.Each(func(d kadm.DescribedLogDir) { dirSize += d.Size() })
	if dirSize <= 0 {
		t.Fatalf("DescribeLogDirs reports %d bytes for small[0]", dirSize)
	}
	if rs, err := adm.DeleteTopics(ctx, "small"); err != nil || rs["small"].Err != nil {
		t.Fatalf("delete topic: %v %+v", err, rs)
	}
	if md := rawMetadata(t, cl, "small"); md.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("metadata after delete: %+v", md)
	}
}

func TestIdempotentDuplicateAnswersOriginalOffset(t *testing.T) {
	addr := testenv.StartBroker(t)
	createTopic(t, addr, "idem", 1, nil)
	cl := newClient(t, addr)
	pid := initProducerID(t, cl)
	batch := func(seq int32) []byte {
		// A one-record v2 batch built by kmsg.
		rec := kmsg.Record{Key: []byte("k"), Value: []byte("v")}
		recBytes := rec.AppendTo(nil)
		recs := append(binary.AppendVarint(nil, int64(len(recBytes)-1)), recBytes[1:]...)
		_ = recs
		b := kmsg.RecordBatch{
			PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: 0,
			FirstTimestamp: time.Now().UnixMilli(), MaxTimestamp: time.Now().UnixMilli(),
			ProducerID: pid, ProducerEpoch: 0, FirstSequence: seq, NumRecords: 1,
		}
		r := kmsg.Record{Key: []byte("k"), Value: []byte("v")}
		body := r.AppendTo(nil)
		r.Length = int32(len(body) - 1)
		b.Records = r.AppendTo(nil)
		raw := b.AppendTo(nil)
		binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
		binary.BigEndian.PutUint32(raw[17:], crc32c(raw[21:]))
		return raw
	}
	produce := func(raw []byte) (int16, int64) {
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = -1, 5000
		tp := kmsg.NewProduceRequestTopic()
		tp.Topic = "idem"
		pp := kmsg.NewProduceRequestTopicPartition()
		pp.Records = raw
		tp.Partitions = append(tp.Partitions, pp)
		req.Topics = append(req.Topics, tp)
		resp, err := req.RequestWith(context.Background(), cl)
		if err != nil {
			t.Fatal(err)
		}
		p := resp.Topics[0].Partitions[0]
		return p.ErrorCode, p.BaseOffset
	}
	if c, off := produce(batch(0)); c != 0 || off != 0 {
		t.Fatalf("first: code %d offset %d", c, off)
	}
	if c, off := produce(batch(1)); c != 0 || off != 1 {
		t.Fatalf("second: code %d offset %d", c, off)
	}
	if c, off := produce(batch(0)); c != 0 || off != 0 {
		t.Fatalf("duplicate: code %d offset %d, want no error and the original offset 0", c, off)
	}
	if c, _ := produce(batch(5)); c != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("gap: code %d, want OUT_OF_ORDER_SEQUENCE_NUMBER", c)
	}
}

func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	logs := &testenv.SyncBuffer{}
	addr := testenv.StartBroker(t, broker.WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	wantLog := map[string]string{
		"oversize":        "exceeds the limit",
		"negative size":   "below the 8-byte",
		"unknown api key": "unsupported api key 9999",
		"bad version":     "unsupported version 99 of Metadata",
		"truncated body":  "malformed body",
		"garbage header":  "client id length",
	}
	frames := map[string][]byte{
		"oversize":        binary.BigEndian.AppendUint32(nil, 200<<20),
		"negative size":   binary.BigEndian.AppendUint32(nil, 0xffffffff),
		"unknown api key": frame(9999, 0, nil),
		"bad version":     frame(3, 99, nil),
		"truncated body":  frame(0, 7, []byte{0, 0, 0}),
		"garbage header":  append(binary.BigEndian.AppendUint32(nil, 12), 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0xff, 0, 0),
	}
	for name, f := range frames {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(f); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if n, err := c.Read(make([]byte, 1)); err == nil {
				t.Fatalf("connection still open after %s (read %d bytes)", name, n)
			} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection not closed after %s", name)
			}
			deadline := time.Now().Add(2 * time.Second)
			for !strings.Contains(logs.String(), wantLog[name]) {
				if time.Now().After(deadline) {
					t.Fatalf("no log line containing %q; logs:\n%s", wantLog[name], logs.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	// The broker still serves.
	createTopic(t, addr, "after-bad", 1, nil)
	produceKgo(t, addr, "after-bad", 0, 10)
	consumeKgo(t, addr, "after-bad", 0, 10)
}

func frame(key, version int16, body []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 1)
	b = binary.BigEndian.AppendUint16(b, 0xffff) // null client id
	b = append(b, body...)
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(b))), b...)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)) }

func TestFetchLongPollWakesOnAppend(t *testing.T) {
	addr := testenv.StartBroker(t)
	createTopic(t, addr, "poll", 1, nil)
	cl := newClient(t, addr)
	req := kmsg.NewPtrFetchRequest()
	req.Version = 12
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 10000, 1, 1<<20
	req.SessionEpoch = -1
	tds, err := kadm.NewClient(cl).ListTopics(context.Background(), "poll")
	if err != nil {
		t.Fatal(err)
	}
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "poll"
	ft.TopicID = tds["poll"].ID // kgo sends v13, which addresses topics by id
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)

	go func() {
		time.Sleep(300 * time.Millisecond)
		produceKgo(t, addr, "poll", 0, 1)
	}()
	start := time.Now()
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 || len(p.RecordBatches) == 0 || p.HighWatermark != 1 {
		t.Fatalf("fetch: code %d, %d bytes, hw %d", p.ErrorCode, len(p.RecordBatches), p.HighWatermark)
	}
	if took < 250*time.Millisecond || took > 5*time.Second {
		t.Fatalf("long poll returned after %v; want it to wait for the append (~300ms), not the 10s MaxWait", took)
	}
	if resp.SessionID != 0 {
		t.Fatalf("session id %d, want 0 (sessionless)", resp.SessionID)
	}

	// With nothing to read, the request waits MaxWait and returns empty.
	req.MaxWaitMillis = 200
	req.Topics[0].Partitions[0].FetchOffset = 1
	start = time.Now()
	resp, err = req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Fatalf("empty fetch returned after %v, before MaxWait", took)
	}
	if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 || len(p.RecordBatches) != 0 {
		t.Fatalf("empty fetch: code %d, %d bytes", p.ErrorCode, len(p.RecordBatches))
	}
	// Past the end: OFFSET_OUT_OF_RANGE.
	req.Topics[0].Partitions[0].FetchOffset = 5
	resp, err = req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	if c := resp.Topics[0].Partitions[0].ErrorCode; c != kerr.OffsetOutOfRange.Code {
		t.Fatalf("fetch past end: code %d, want OFFSET_OUT_OF_RANGE", c)
	}
}

func TestFindCoordinatorAndCluster(t *testing.T) {
	addr := testenv.StartBroker(t, broker.WithNodeID(7))
	cl := newClient(t, addr)
	ctx := context.Background()
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.CoordinatorKeys = []string{"g1", "g2"}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Coordinators) != 2 || resp.Coordinators[0].NodeID != 7 || resp.Coordinators[1].ErrorCode != 0 {
		t.Fatalf("group coordinators: %+v", resp.Coordinators)
	}
	req.CoordinatorType = 1
	resp, err = req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Coordinators[0].ErrorCode == 0 {
		t.Fatalf("transaction coordinator lookup succeeded; transactions are not supported")
	}
	dreq := kmsg.NewPtrDescribeClusterRequest()
	dc, err := dreq.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if dc.ErrorCode != 0 || dc.ControllerID != 7 || len(dc.Brokers) != 1 || dc.Brokers[0].NodeID != 7 || dc.ClusterID == "" {
		t.Fatalf("describe cluster: %+v", dc)
	}
	av, err := kadm.NewClient(cl).ApiVersions(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range av {
		if min, _, ok := v.KeyVersions(0); !ok || min != 0 {
			t.Fatalf("Produce must be advertised from v0 (min %d, ok %v)", min, ok)
		}
	}
}

func TestFlushPoliciesPersistAcrossCleanRestart(t *testing.T) {
	for _, fp := range []string{"durable", "interval:20ms", "none"} {
		t.Run(fp, func(t *testing.T) {
			p, err := broker.ParseFlushPolicy(fp)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			b := startAt(t, dir, broker.WithFlushPolicy(p))
			createTopic(t, b.Addr(), "fp", 2, nil)
			produceKgo(t, b.Addr(), "fp", 0, 3000)
			if err := b.Close(); err != nil {
				t.Fatal(err)
			}
			b = startAt(t, dir, broker.WithFlushPolicy(p))
			defer b.Close()
			consumeKgo(t, b.Addr(), "fp", 0, 3000)
		})
	}
}

func TestAutoCreateAndRecreate(t *testing.T) {
	ctx := context.Background()
	t.Run("auto-create on", func(t *testing.T) {
		addr := testenv.StartBroker(t, broker.WithDefaultPartitions(3))
		cl := newClient(t, addr, kgo.AllowAutoTopicCreation())
		req := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("auto")
		req.Topics = append(req.Topics, mt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if tp := resp.Topics[0]; tp.ErrorCode != 0 || len(tp.Partitions) != 3 || tp.TopicID == ([16]byte{}) {
			t.Fatalf("auto-created topic: %+v", tp)
		}
		// Invalid names are refused, not created.
		mt.Topic = kmsg.StringPtr("bad/name")
		req.Topics[0] = mt
		resp, err = req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Topics[0].ErrorCode; c != kerr.InvalidTopicException.Code {
			t.Fatalf("bad name: code %d", c)
		}

		// Delete and re-create: new id, no old data.
		adm := kadm.NewClient(cl)
		produceKgo(t, addr, "auto", 0, 100)
		before := rawMetadata(t, cl, "auto")
		if rs, err := adm.DeleteTopics(ctx, "auto"); err != nil || rs["auto"].Err != nil {
			t.Fatalf("delete: %v %+v", err, rs)
		}
		createTopic(t, addr, "auto", 1, nil)
		after := rawMetadata(t, cl, "auto")
		if before.TopicID == after.TopicID || len(after.Partitions) != 1 {
			t.Fatalf("re-created topic: before %+v after %+v", before, after)
		}
		ends, _ := adm.ListEndOffsets(ctx, "auto")
		if o, _ := ends.Lookup("auto", 0); o.Offset != 0 {
			t.Fatalf("re-created topic has end offset %d, want 0", o.Offset)
		}
	})
	t.Run("auto-create off", func(t *testing.T) {
		addr := testenv.StartBroker(t, broker.WithAutoCreateTopics(false))
		cl := newClient(t, addr)
		req := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr("nope")
		req.Topics = append(req.Topics, mt)
		req.AllowAutoTopicCreation = true
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		if c := resp.Topics[0].ErrorCode; c != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("auto-create disabled: code %d", c)
		}
	})
}

// rawMetadata asks the broker directly (kadm answers from kgo's metadata
// cache).
func rawMetadata(t testing.TB, cl *kgo.Client, topic string) kmsg.MetadataResponseTopic {
	t.Helper()
	req := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, mt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0]
}

func TestBackgroundCleanerAppliesRetention(t *testing.T) {
	addr := testenv.StartBroker(t, broker.WithCleanInterval(50*time.Millisecond))
	createTopic(t, addr, "ret", 1, map[string]*string{
		"segment.bytes":   kmsg.StringPtr("4096"),
		"retention.bytes": kmsg.StringPtr("8192"),
	})
	produceKgo(t, addr, "ret", 0, 500, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0), kgo.MaxBufferedRecords(1))
	cl := newClient(t, addr)
	adm := kadm.NewClient(cl)
	deadline := time.Now().Add(10 * time.Second)
	for {
		starts, err := adm.ListStartOffsets(context.Background(), "ret")
		if err != nil {
			t.Fatal(err)
		}
		if o, _ := starts.Lookup("ret", 0); o.Offset > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("retention.bytes never advanced the log start offset")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestMissingMetadataRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	b := startAt(t, dir)
	createTopic(t, b.Addr(), "keep", 1, nil)
	produceKgo(t, b.Addr(), "keep", 0, 10)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(dir + "/meta.json"); err != nil {
		t.Fatal(err)
	}
	_, err := broker.New(broker.WithDataDir(dir), broker.WithListen("127.0.0.1:0"), broker.WithLogger(quietLogger()))
	if err == nil || !strings.Contains(err.Error(), "refusing to start") {
		t.Fatalf("New without meta.json: %v, want a refusal", err)
	}
	if ents, _ := os.ReadDir(dir + "/logs"); len(ents) < 2 {
		t.Fatalf("partition directories were removed: %d left", len(ents))
	}
}

func TestProduceAcks(t *testing.T) {
	addr := testenv.StartBroker(t)
	for _, tc := range []struct {
		name string
		acks kgo.Acks
	}{{"acks=0", kgo.NoAck()}, {"acks=1", kgo.LeaderAck()}, {"acks=-1", kgo.AllISRAcks()}} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "acks-" + strings.TrimPrefix(tc.name, "acks=")
			createTopic(t, addr, topic, 2, nil)
			produceKgo(t, addr, topic, 0, 5000, kgo.RequiredAcks(tc.acks), kgo.DisableIdempotentWrite())
			// With acks=0 nothing confirms the writes; consumeKgo waits
			// until all 5000 arrived.
			consumeKgo(t, addr, topic, 0, 5000)
		})
	}
}
