package broker_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/internal/testenv"
)

// benchEnv enables TestBenchBrokerVsKfake (run by scripts/bench-broker).
const benchEnv = "SLUICE_BENCH_BROKER"

// TestBenchBrokerVsKfake measures produce and consume MB/s of sluice's
// broker and of kfake (in-process) with the same kgo workload and prints
// one "BENCH" line per target. Opt-in: SLUICE_BENCH_BROKER=1.
func TestBenchBrokerVsKfake(t *testing.T) {
	if os.Getenv(benchEnv) != "1" {
		t.Skip("set " + benchEnv + "=1 (scripts/bench-broker) to run the broker benchmark")
	}
	records := testenv.EnvInt("SLUICE_BENCH_RECORDS", 300_000)
	size := testenv.EnvInt("SLUICE_BENCH_RECORD_BYTES", 1024)
	const topic, partitions = "bench", 4

	targets := []struct {
		name  string
		start func(t *testing.T) (string, []kgo.Opt)
	}{
		{"sluice (flush=durable)", func(t *testing.T) (string, []kgo.Opt) {
			return startBench(t, broker.FlushPolicy{Mode: broker.FlushDurable}), nil
		}},
		{"sluice TLS (SSL listener, flush=durable)", func(t *testing.T) (string, []kgo.Opt) {
			return startBenchTLS(t, broker.FlushPolicy{Mode: broker.FlushDurable})
		}},
		{"sluice (flush=none)", func(t *testing.T) (string, []kgo.Opt) {
			return startBench(t, broker.FlushPolicy{Mode: broker.FlushNone}), nil
		}},
		{"sluice TLS (SSL listener, flush=none)", func(t *testing.T) (string, []kgo.Opt) {
			return startBenchTLS(t, broker.FlushPolicy{Mode: broker.FlushNone})
		}},
		{"kfake (in-memory)", func(t *testing.T) (string, []kgo.Opt) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topic))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.Close)
			return c.ListenAddrs()[0], nil
		}},
	}
	if only := os.Getenv("SLUICE_BENCH_TARGETS"); only != "" {
		// A comma-separated list of substrings of target names, e.g.
		// "durable" for paired runs of one target across builds.
		kept := targets[:0]
		for _, tg := range targets {
			for _, w := range strings.Split(only, ",") {
				if w != "" && strings.Contains(tg.name, w) {
					kept = append(kept, tg)
					break
				}
			}
		}
		targets = kept
	}
	// Repetitions run interleaved (target after target) so background
	// load on a shared machine hits every target alike; best and median
	// are reported.
	reps := testenv.EnvInt("SLUICE_BENCH_REPS", 3)
	prod := make([][]float64, len(targets))
	cons := make([][]float64, len(targets))
	for rep := 0; rep < reps; rep++ {
		for i, tg := range targets {
			t.Run(fmt.Sprintf("%s/%d", tg.name, rep), func(t *testing.T) {
				addr, opts := tg.start(t)
				if tg.name[:6] == "sluice" {
					createTopicWith(t, addr, topic, partitions, opts...)
				}
				p, c := benchOne(t, addr, topic, records, size, opts...)
				prod[i] = append(prod[i], p)
				cons[i] = append(cons[i], c)
			})
		}
	}
	for i, tg := range targets {
		pb, pm := bestMedian(prod[i])
		cb, cm := bestMedian(cons[i])
		fmt.Printf("BENCH\t%s\t%d\t%d\t%.1f\t%.1f\t%.1f\t%.1f\n", tg.name, records, size, pb, pm, cb, cm)
	}
}

// bestMedian returns the largest and the median value.
func bestMedian(v []float64) (float64, float64) {
	if len(v) == 0 {
		return 0, 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)-1], s[len(s)/2]
}

func startBench(t *testing.T, fp broker.FlushPolicy) string {
	b, err := broker.New(broker.WithDataDir(t.TempDir()), broker.WithListen("127.0.0.1:0"),
		broker.WithFlushPolicy(fp), broker.WithLogger(quietLogger()), broker.WithGroupInitialRebalanceDelay(0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr()
}

// benchOne produces records of size bytes (incompressible, no
// compression, acks=all, idempotent) and consumes them back; it returns
// the produce and consume rates in MB/s of record values.
func benchOne(t *testing.T, addr, topic string, records, size int, opts ...kgo.Opt) (float64, float64) {
	val := make([]byte, size)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range val {
		val[i] = byte(r.Uint32())
	}
	pcl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(1 << 20),
		kgo.MaxBufferedRecords(100_000)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var perr error
	start := time.Now()
	for i := 0; i < records; i++ {
		wg.Add(1)
		pcl.Produce(ctx, &kgo.Record{Value: val}, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				perr = err
				mu.Unlock()
			}
			wg.Done()
		})
	}
	wg.Wait()
	pd := time.Since(start)
	if perr != nil {
		t.Fatal(perr)
	}
	ccl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(50 << 20)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer ccl.Close()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start = time.Now()
	n, bytes := 0, 0
	for n < records {
		fs := ccl.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatalf("consumed %d of %d", n, records)
		}
		fs.EachRecord(func(r *kgo.Record) { n++; bytes += len(r.Value) })
	}
	cd := time.Since(start)
	mb := float64(records*size) / 1e6
	return mb / pd.Seconds(), mb / cd.Seconds()
}
