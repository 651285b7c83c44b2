package broker_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/testenv"
)

// quickEnv=1 shrinks the client/codec cases that are not the designated
// 100k case of their client to 10k records (for fast local iteration).
// By default every client moves 100k records with every codec.
const quickEnv = "SLUICE_BROKER_QUICK"

// recordCount returns how many records a client/codec case moves.
func recordCount(bigCase bool) int {
	if bigCase || os.Getenv(quickEnv) != "1" {
		return 100_000
	}
	return 10_000
}

// codecs are the compression codecs every client is tested with.
var codecNames = []string{"none", "gzip", "snappy", "lz4", "zstd"}

func kgoCodec(name string) kgo.CompressionCodec {
	switch name {
	case "gzip":
		return kgo.GzipCompression()
	case "snappy":
		return kgo.SnappyCompression()
	case "lz4":
		return kgo.Lz4Compression()
	case "zstd":
		return kgo.ZstdCompression()
	}
	return kgo.NoCompression()
}

// recKey and recValue are the deterministic content of record i; values
// vary in length and are compressible but not constant.
func recKey(i int) string { return "key-" + strconv.Itoa(i) }

func recValue(i int) string {
	return fmt.Sprintf("value-%d-%s", i, bytes.Repeat([]byte{byte('a' + i%26)}, i%97))
}

func newClient(t testing.TB, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t testing.TB, addr, topic string, partitions int32, configs map[string]*string) {
	t.Helper()
	adm := kadm.NewClient(newClient(t, addr))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, partitions, 1, configs, topic)
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
	if resp.Err != nil {
		t.Fatalf("create topic %s: %v (%s)", topic, resp.Err, resp.ErrMessage)
	}
}

// produceKgo produces records [from, from+n) with kgo.
func produceKgo(t testing.TB, addr, topic string, from, n int, opts ...kgo.Opt) {
	t.Helper()
	cl := newClient(t, addr, append([]kgo.Opt{kgo.DefaultProduceTopic(topic)}, opts...)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	for i := from; i < from+n; i++ {
		wg.Add(1)
		cl.Produce(ctx, &kgo.Record{
			Key:     []byte(recKey(i)),
			Value:   []byte(recValue(i)),
			Headers: []kgo.RecordHeader{{Key: "i", Value: []byte(strconv.Itoa(i))}},
		}, func(r *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if first != nil {
		t.Fatalf("produce to %s: %v", topic, first)
	}
}

// consumeKgo reads n records from the start of topic and checks that
// records [from, from+n) each arrive exactly once with their content.
func consumeKgo(t testing.TB, addr, topic string, from, n int) {
	t.Helper()
	cl := newClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	seen := make([]bool, n)
	got := 0
	for got < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s: got %d of %d records: %v", topic, got, n, err)
		}
		fs.EachError(func(tp string, p int32, err error) {
			t.Fatalf("consume %s[%d]: %v", tp, p, err)
		})
		fs.EachRecord(func(r *kgo.Record) {
			checkRecord(t, r.Key, r.Value, headerValue(r, "i"), from, seen)
			got++
		})
	}
	if got != n {
		t.Fatalf("consumed %d records, want %d", got, n)
	}
}

func headerValue(r *kgo.Record, k string) []byte {
	for _, h := range r.Headers {
		if h.Key == k {
			return h.Value
		}
	}
	return nil
}

// checkRecord verifies one consumed record against the generator and marks
// it seen (duplicates fail).
func checkRecord(t testing.TB, key, value, hdr []byte, from int, seen []bool) {
	t.Helper()
	var i int
	if _, err := fmt.Sscanf(string(key), "key-%d", &i); err != nil {
		t.Fatalf("unexpected key %q", key)
	}
	if i < from || i >= from+len(seen) {
		t.Fatalf("record %d outside [%d,%d)", i, from, from+len(seen))
	}
	if string(value) != recValue(i) {
		t.Fatalf("record %d: value %q, want %q", i, value, recValue(i))
	}
	if hdr != nil && string(hdr) != strconv.Itoa(i) {
		t.Fatalf("record %d: header i=%q", i, hdr)
	}
	if seen[i-from] {
		t.Fatalf("record %d consumed twice", i)
	}
	seen[i-from] = true
}

func TestKgoProduceConsumeCodecs(t *testing.T) {
	addr := testenv.StartBroker(t)
	for _, c := range codecNames {
		t.Run(c, func(t *testing.T) {
			n := recordCount(c == "zstd")
			topic := "kgo-" + c
			createTopic(t, addr, topic, 3, nil)
			start := time.Now()
			produceKgo(t, addr, topic, 0, n, kgo.ProducerBatchCompression(kgoCodec(c)))
			mid := time.Now()
			consumeKgo(t, addr, topic, 0, n)
			t.Logf("%s: %d records produced in %v, consumed in %v", c, n, mid.Sub(start), time.Since(mid))
		})
	}
}

var _ = errors.New

// kcatTimeout bounds one kcat run.
const kcatTimeout = 20 * time.Second

// kcatProduce pipes records [from, from+n) into kcat -P.
func kcatProduce(t testing.TB, kcat, addr, topic, codec string, from, n int, extra ...string) {
	t.Helper()
	var in bytes.Buffer
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&in, "%s\t%s\n", recKey(i), recValue(i))
	}
	args := append([]string{"-P", "-b", addr, "-t", topic, "-K", "\t", "-z", codec,
		"-X", "linger.ms=5", "-X", "queue.buffering.max.messages=1000000"}, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = &in
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kcat produce %s (%s): %v\n%s", topic, codec, err, out)
	}
}

// kcatConsume reads topic from the beginning to its end with kcat and
// checks records [from, from+n).
func kcatConsume(t testing.TB, kcat, addr, topic string, from, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-C", "-b", addr, "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat consume %s: %v\n%s", topic, err, stderr.String()[max(0, stderr.Len()-20000):])
	}
	seen := make([]bool, n)
	got := 0
	for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("\t"))
		if !ok {
			t.Fatalf("kcat output line %q has no tab", line)
		}
		checkRecord(t, k, v, nil, from, seen)
		got++
	}
	if got != n {
		t.Fatalf("kcat consumed %d records from %s, want %d (stderr: %s)", got, topic, n, stderr.String())
	}
}

func TestKcatProduceConsumeCodecs(t *testing.T) {
	kcat := testenv.Kcat(t)
	addr := testenv.StartBroker(t)
	for _, c := range codecNames {
		t.Run(c, func(t *testing.T) {
			n := recordCount(c == "lz4")
			topic := "kcat-" + c
			createTopic(t, addr, topic, 2, nil)
			start := time.Now()
			kcatProduce(t, kcat, addr, topic, c, 0, n)
			mid := time.Now()
			kcatConsume(t, kcat, addr, topic, 0, n)
			// kgo must read librdkafka's batches too.
			consumeKgo(t, addr, topic, 0, n)
			t.Logf("%s: %d records produced in %v, consumed in %v", c, n, mid.Sub(start), time.Since(mid))
		})
	}
}

// TestKcatLegacyMessageFormat makes librdkafka believe the broker is Kafka
// 0.10.0 so it produces magic 1 (and, for gzip/snappy/lz4, compressed
// wrapper) message sets with Produce v2; the broker converts them to v2
// batches that modern clients read back.
func TestKcatLegacyMessageFormat(t *testing.T) {
	kcat := testenv.Kcat(t)
	addr := testenv.StartBroker(t)
	for _, c := range []string{"none", "gzip", "snappy", "lz4"} {
		for _, ver := range []string{"0.9.0", "0.10.0"} {
			t.Run(c+"-"+ver, func(t *testing.T) {
				topic := "legacy-" + c + "-" + strings.ReplaceAll(ver, ".", "")
				createTopic(t, addr, topic, 1, nil)
				n := 2000
				kcatProduce(t, kcat, addr, topic, c, 0, n, "-X", "api.version.request=false", "-X", "broker.version.fallback="+ver)
				consumeKgo(t, addr, topic, 0, n)
				kcatConsume(t, kcat, addr, topic, 0, n)
			})
		}
	}
}

// runNode runs test/clients/produce-consume.js.
func runNode(t testing.TB, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"produce-consume.js"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node produce-consume.js %v: %v\nstdout: %s\nstderr: %s", args, err, out, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

func TestKafkajsProduceConsumeCodecs(t *testing.T) {
	dir := testenv.NodeClientsDir(t)
	addr := testenv.StartBroker(t)
	for _, c := range codecNames {
		t.Run(c, func(t *testing.T) {
			n := recordCount(c == "gzip")
			topic := "kafkajs-" + c
			createTopic(t, addr, topic, 3, nil)
			p := runNode(t, dir, "produce", addr, topic, "0", strconv.Itoa(n), c)
			cs := runNode(t, dir, "consume", addr, topic, "0", strconv.Itoa(n), c)
			// franz-go must read kafkajs's batches too.
			consumeKgo(t, addr, topic, 0, n)
			t.Logf("%s: %d records; produce %s; consume %s", c, n, p, cs)
		})
	}
	// kafkajs reads what franz-go compressed (zstd excluded: the test
	// codec only decodes raw zstd blocks).
	for _, c := range []string{"gzip", "snappy", "lz4"} {
		t.Run("kgo-to-kafkajs-"+c, func(t *testing.T) {
			topic := "kgo-kafkajs-" + c
			createTopic(t, addr, topic, 2, nil)
			produceKgo(t, addr, topic, 0, 5000, kgo.ProducerBatchCompression(kgoCodec(c)))
			runNode(t, dir, "consume", addr, topic, "0", "5000", c)
		})
	}
}

// TestKcatConsumerGroup runs librdkafka's balanced consumer (kcat -G)
// against the broker's group coordinator and checks its committed offsets.
func TestKcatConsumerGroup(t *testing.T) {
	kcat := testenv.Kcat(t)
	addr := testenv.StartBroker(t)
	const topic, n = "kcat-group", 10000
	createTopic(t, addr, topic, 3, nil)
	produceKgo(t, addr, topic, 0, n)

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, "-b", addr, "-G", "kcat-grp", "-o", "beginning", "-e", "-q",
		"-X", "enable.auto.commit=true", "-X", "auto.commit.interval.ms=100", "-f", "%k\t%s\n", topic)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat -G: %v\n%s", err, stderr.String())
	}
	seen := make([]bool, n)
	got := 0
	for _, line := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		k, v, _ := bytes.Cut(line, []byte("\t"))
		checkRecord(t, k, v, nil, 0, seen)
		got++
	}
	if got != n {
		t.Fatalf("kcat -G consumed %d records, want %d", got, n)
	}
	adm := kadm.NewClient(newClient(t, addr))
	offs, err := adm.FetchOffsets(context.Background(), "kcat-grp")
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	offs.Each(func(o kadm.OffsetResponse) { committed += o.At })
	if committed != n {
		t.Fatalf("kcat committed offsets sum to %d, want %d", committed, n)
	}
}
