package pool

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestBenchPool is `make bench-pool` (SLUICE_BENCH_POOL=1): the time from
// the start of a CPU-heavy load to the pool scaled out (1 -> 2 -> 3
// workers), and the throughput of a CPU-bound sink on 1 and on 3
// provisioned workers. It prints BENCH lines for BENCHMARKS.md.
func TestBenchPool(t *testing.T) {
	if os.Getenv("SLUICE_BENCH_POOL") != "1" {
		t.Skip("set SLUICE_BENCH_POOL=1 (make bench-pool)")
	}
	n := testenv.EnvInt("SLUICE_BENCH_RECORDS", 4000)
	rounds := "20000"

	t.Run("scale-out", func(t *testing.T) {
		const topic = "bench-scale"
		bs, cl := setupTopic(t, topic, 6)
		dir := t.TempDir()
		p := startPool(t, "bench-scale", append([]string{"--bootstrap-servers", bs,
			"--connector-configuration", sinkConfig(topic, dir, ",burn.rounds="+rounds),
			"--capacity", `{"autoScaling":{"minWorkerCount":1,"maxWorkerCount":3,"mcuCount":1,"scaleOutPolicy":{"cpuUtilizationPercentage":15},"scaleInPolicy":{"cpuUtilizationPercentage":5}}}`,
			"--scale-interval", "500ms", "--scale-out-window", "2s", "--scale-in-window", "1m", "--scale-out-cooldown", "1s"}, fastWorker...)...)
		waitWorkers(t, p, 1, false, 2*time.Minute)
		start := time.Now()
		produced := 0
		var at2 time.Duration
		for {
			if time.Since(start) > 4*time.Minute {
				t.Fatal("no scale-out to 3 workers in 4m")
			}
			_, lines := delivered(t, dir)
			if produced-lines < 400 {
				produce(t, cl, topic, produced, produced+100)
				produced += 100
			}
			s, err := p.status(t)
			if err == nil && len(s.Workers) >= 2 && at2 == 0 {
				at2 = time.Since(start)
			}
			if err == nil && len(s.Workers) == 3 {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		at3 := time.Since(start)
		waitWorkers(t, p, 3, true, 2*time.Minute)
		spread := time.Since(start)
		fmt.Printf("BENCH scale-out: load start -> 2 workers %.1fs, -> 3 workers %.1fs, tasks spread over 3 workers %.1fs (interval 500ms, scale-out window 2s, cooldown 1s)\n",
			at2.Seconds(), at3.Seconds(), spread.Seconds())
	})

	throughput := func(workers int) {
		topic := fmt.Sprintf("bench-tp%d", workers)
		bs, cl := setupTopic(t, topic, 6)
		dir := t.TempDir()
		p := startPool(t, topic, append([]string{"--bootstrap-servers", bs,
			"--connector-configuration", sinkConfig(topic, dir, ",tasks.max=6,burn.rounds="+rounds),
			"--capacity", fmt.Sprintf(`{"provisionedCapacity":{"workerCount":%d,"mcuCount":1}}`, workers)}, fastWorker...)...)
		waitWorkers(t, p, workers, true, 2*time.Minute)
		produce(t, cl, topic, 0, n)
		start := time.Now()
		waitDelivered(t, p, dir, n, 10*time.Minute)
		el := time.Since(start)
		fmt.Printf("BENCH throughput: %d worker(s) x 1 MCU, 6 tasks, %d records x %s SHA-256 rounds: %.1fs, %.0f records/s\n",
			workers, n, rounds, el.Seconds(), float64(n)/el.Seconds())
	}
	t.Run("throughput-1", func(t *testing.T) { throughput(1) })
	t.Run("throughput-3", func(t *testing.T) { throughput(3) })
}
