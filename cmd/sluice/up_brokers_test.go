package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestUpThreeBrokers: `sluice up --brokers 3` runs a replicated cluster in
// the process; Kafka Connect's internal topics get replication factor 3.
func TestUpThreeBrokers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-broker cluster")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"up", "--brokers", "3", "--data-dir", t.TempDir(), "--kafka-listen", "127.0.0.1:0",
			"--rest-listen", "127.0.0.1:0", "--schema-registry-listen", ""}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("sluice up exit %d; stderr tail: %s", code, tail(stderr.String(), 20))
			}
		case <-time.After(60 * time.Second):
			t.Error("sluice up did not stop")
		}
	}()
	re := regexp.MustCompile(`Kafka bootstrap servers\s+(\S+)`)
	deadline := time.Now().Add(90 * time.Second)
	var bootstrap string
	for bootstrap == "" {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			bootstrap = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no bootstrap servers printed; stdout: %s\nstderr: %s", stdout.String(), tail(stderr.String(), 30))
		} else {
			time.Sleep(50 * time.Millisecond)
		}
	}
	seeds := strings.Split(bootstrap, ",")
	if len(seeds) != 3 {
		t.Fatalf("bootstrap %q: want 3 brokers", bootstrap)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	qctx, qcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer qcancel()
	md, err := adm.Metadata(qctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(md.Brokers) != 3 {
		t.Fatalf("metadata lists %d brokers, want 3", len(md.Brokers))
	}
	internal := 0
	for name, td := range md.Topics {
		if !strings.HasPrefix(name, "connect-") {
			continue
		}
		internal++
		for p, pd := range td.Partitions {
			if len(pd.Replicas) != 3 {
				t.Fatalf("%s-%d has replicas %v, want 3", name, p, pd.Replicas)
			}
		}
	}
	if internal < 3 {
		t.Fatalf("%d connect-* topics, want the 3 internal topics", internal)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
