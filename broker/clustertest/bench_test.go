package clustertest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestBenchCluster (opt-in: SLUICE_BENCH_CLUSTER=1, run by
// scripts/bench-cluster) measures, on one three-process cluster with the
// default failure-detection settings: acks=all produce MB/s to an RF=3
// topic (min.insync.replicas=2) against an RF=1 topic, interleaved; and the
// time from kill -9 of a partition leader until the cluster reports a new
// leader and until an acks=all produce to that partition succeeds. It
// prints tab-separated BENCH lines.
func TestBenchCluster(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_CLUSTER") != "1" {
		t.Skip("set SLUICE_BENCH_CLUSTER=1 (scripts/bench-cluster) to run the cluster benchmark")
	}
	records := testenv.EnvInt("SLUICE_BENCH_RECORDS", 100_000)
	size := testenv.EnvInt("SLUICE_BENCH_RECORD_BYTES", 1024)
	reps := testenv.EnvInt("SLUICE_BENCH_REPS", 3)
	c := newCluster(t, 3, "--log-level", "warn")
	c.startAll()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	adm := kadm.NewClient(c.client())
	waitLiveBrokers(t, ctx, adm, 3, 60*time.Second)
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(rand.IntN(256))
	}
	targets := []struct {
		name  string
		rf    int16
		topic string
	}{{"RF=3 acks=all min.insync.replicas=2", 3, "bench-rf3"}, {"RF=1 acks=all", 1, "bench-rf1"}}
	for _, tg := range targets {
		res, err := adm.CreateTopic(ctx, 4, tg.rf, map[string]*string{"min.insync.replicas": kmsg.StringPtr(strconv.Itoa(min(2, int(tg.rf))))}, tg.topic)
		if err != nil || res.Err != nil {
			t.Fatalf("create %s: %v %v", tg.topic, err, res.Err)
		}
	}
	results := map[string][]float64{}
	for r := 0; r < reps; r++ {
		for _, tg := range targets {
			mbs := produceRun(t, c, tg.topic, records, value)
			results[tg.name] = append(results[tg.name], mbs)
			t.Logf("rep %d %s: %.1f MB/s", r, tg.name, mbs)
		}
	}
	for _, tg := range targets {
		v := results[tg.name]
		sort.Float64s(v)
		fmt.Printf("BENCH\tproduce\t%s\t%d\t%d\t%.1f\t%.1f\n", tg.name, records, size, v[len(v)-1], v[len(v)/2])
	}

	// Leadership recovery after kill -9.
	var elect, write []float64
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.RetryBackoffFn(func(int) time.Duration { return 20 * time.Millisecond }))
	for r := 0; r < reps; r++ {
		leader, epoch, _, err := partitionInfo(ctx, adm, "bench-rf3", 0)
		if err != nil || leader < 0 {
			t.Fatalf("leader: %d %v", leader, err)
		}
		start := time.Now()
		c.nodes[leader].kill()
		waitFor(t, "a new leader", 60*time.Second, func() bool {
			l, e, _, err := partitionInfo(ctx, adm, "bench-rf3", 0)
			return err == nil && l >= 0 && l != leader && e > epoch
		})
		elect = append(elect, time.Since(start).Seconds())
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: "bench-rf3", Partition: 0, Value: value}).FirstErr(); err != nil {
			t.Fatalf("produce after failover: %v", err)
		}
		write = append(write, time.Since(start).Seconds())
		t.Logf("rep %d: new leader after %.2fs, first write after %.2fs", r, elect[r], write[r])
		c.start(leader)
		waitFor(t, "full ISR again", 120*time.Second, func() bool {
			_, _, isr, err := partitionInfo(ctx, adm, "bench-rf3", 0)
			return err == nil && len(isr) == 3
		})
	}
	sort.Float64s(elect)
	sort.Float64s(write)
	fmt.Printf("BENCH\tfailover\tnew leader reported (s)\t%d\t%.2f\t%.2f\t%.2f\n", reps, elect[0], elect[len(elect)/2], elect[len(elect)-1])
	fmt.Printf("BENCH\tfailover\tfirst acks=all write (s)\t%d\t%.2f\t%.2f\t%.2f\n", reps, write[0], write[len(write)/2], write[len(write)-1])
}

// produceRun produces n records with acks=all and returns value MB/s.
func produceRun(t *testing.T, c *cluster, topic string, n int, value []byte) float64 {
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.seeds()...), kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(20000), kgo.ProducerBatchCompression(kgo.NoCompression()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Value: value}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	el := time.Since(start)
	if first != nil {
		t.Fatalf("produce to %s: %v", topic, first)
	}
	return float64(n*len(value)) / 1e6 / el.Seconds()
}
