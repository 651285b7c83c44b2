package s3

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestKill9ThroughRuntime runs the S3 sink in a real worker process
// against the bundled broker and versitygw, kills the worker with SIGKILL
// mid-stream, restarts it and checks that the bucket ends up with every
// input row exactly once.
func TestKill9ThroughRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a worker process")
	}
	root, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "s3worker")
	build := exec.Command("go", "build", "-o", bin, "./connectors/s3/internal/s3worker")
	build.Dir = filepath.Dir(strings.TrimSpace(string(root)))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build s3worker: %v\n%s", err, out)
	}

	bootstrap := testenv.StartBroker(t)
	s3cfg, store := versity(t)
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.DefaultProduceTopic("orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatal(err)
	}
	const perPart, flushSize = 1500, 50
	produce := func(from, to int) {
		var recs []*kgo.Record
		for p := range int32(2) {
			for i := from; i < to; i++ {
				id := int(p)*100000 + i
				v := fmt.Sprintf(`{"schema":{"type":"struct","name":"orders.Value","optional":false,"fields":[`+
					`{"field":"id","type":"int32","optional":false},{"field":"note","type":"string","optional":true}]},`+
					`"payload":{"id":%d,"note":"order %d"}}`, id, id)
				recs = append(recs, &kgo.Record{Partition: p, Key: []byte(fmt.Sprint(id)), Value: []byte(v)})
			}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce: %v", err)
		}
	}
	produce(0, 1000)

	dir := t.TempDir()
	props := strings.Join([]string{
		"bootstrap.servers=" + bootstrap,
		"group.id=s3-kill",
		"config.storage.topic=s3-kill-configs",
		"offset.storage.topic=s3-kill-offsets",
		"status.storage.topic=s3-kill-status",
		"key.converter=org.apache.kafka.connect.storage.StringConverter",
		"value.converter=org.apache.kafka.connect.json.JsonConverter",
		"value.converter.schemas.enable=true",
		"offset.flush.interval.ms=1500",
		"session.timeout.ms=6000",
		"heartbeat.interval.ms=1000",
		"consumer.session.timeout.ms=6000",
		"consumer.heartbeat.interval.ms=1000",
		"consumer.auto.offset.reset=earliest",
		"consumer.max.poll.records=100",
	}, "\n")
	if err := os.WriteFile(filepath.Join(dir, "worker.properties"), []byte(props), 0o644); err != nil {
		t.Fatal(err)
	}
	conn := withCfg(s3cfg, "connector.class", "s3", "tasks.max", "1", "topics", "orders",
		KeyFlushSize, fmt.Sprint(flushSize), KeyFormatClass, ParquetFormatClass)
	b, _ := json.Marshal(map[string]any{"name": "orders-lake", "config": conn})
	if err := os.WriteFile(filepath.Join(dir, "connector.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}

	start := func() (*exec.Cmd, *testenv.SyncBuffer) {
		out := &testenv.SyncBuffer{}
		cmd := exec.Command(bin, filepath.Join(dir, "worker.properties"), filepath.Join(dir, "connector.json"))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, out
	}
	waitFiles := func(what string, timeout time.Duration, cond func(n int) bool, out *testenv.SyncBuffer) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			n := len(dataKeys(store.list(t)))
			if cond(n) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s (%d data files); worker output:\n%s", what, n, out)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	w1, out1 := start()
	waitFiles("first uploads", 90*time.Second, func(n int) bool { return n >= 6 }, out1)
	if err := w1.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w1.Wait()
	before := len(dataKeys(store.list(t)))
	t.Logf("killed the worker with %d of %d files uploaded", before, 2*perPart/flushSize)

	produce(1000, perPart)
	w2, out2 := start()
	t.Cleanup(func() {
		w2.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { w2.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			w2.Process.Kill()
		}
	})
	want := 2 * perPart / flushSize
	waitFiles("all files", 120*time.Second, func(n int) bool { return n >= want }, out2)

	keys := dataKeys(store.list(t))
	if len(keys) != want {
		t.Fatalf("%d data files, want %d: %v", len(keys), want, keys)
	}
	for _, k := range keys {
		var p, off int
		base := k[strings.LastIndex(k, "/")+1:]
		if _, err := fmt.Sscanf(base, "orders+%d+%d.snappy.parquet", &p, &off); err != nil || off%flushSize != 0 {
			t.Errorf("unexpected object %s", k)
		}
	}
	ids := bucketIDs(t, store)
	for p := range 2 {
		for i := range perPart {
			if c := ids[int32(p*100000+i)]; c != 1 {
				t.Fatalf("id %d appears %d times", p*100000+i, c)
			}
		}
	}
	if len(ids) != 2*perPart {
		t.Fatalf("%d distinct ids, want %d", len(ids), 2*perPart)
	}
	if before > 0 && !strings.Contains(out2.String(), "resuming after data already in storage") {
		t.Errorf("restarted task did not seek from its commit markers; worker output:\n%s", out2)
	}
}
