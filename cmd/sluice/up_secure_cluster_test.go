package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestUpSecureThreeBrokers: `sluice up --secure --brokers 3` runs a
// secured replicated cluster: a user added through one broker and an ACL
// added through another let alice produce and consume through the third,
// and her topic's replicas (fetching over the mTLS inter-broker listener)
// all join the ISR.
func TestUpSecureThreeBrokers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a three-broker cluster")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"up", "--secure", "--brokers", "3", "--data-dir", dir, "--kafka-listen", "127.0.0.1:0",
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
	kafka := waitPrinted(t, &stdout, &stderr, regexp.MustCompile(`Kafka bootstrap servers\s+(\S+)`))
	waitPrinted(t, &stdout, &stderr, regexp.MustCompile(`(Press Ctrl-C)`))
	seeds := strings.Split(kafka, ",")
	if len(seeds) != 3 {
		t.Fatalf("bootstrap %q: want 3 brokers", kafka)
	}
	sec := filepath.Join(dir, "security")
	cfgFile := filepath.Join(sec, "client.properties")
	var out, errb testenv.SyncBuffer
	for _, args := range [][]string{
		{"user", "add", "alice", "--password", "alicepw", "--bootstrap-server", seeds[1], "--command-config", cfgFile},
		{"acl", "add", "--allow-principal", "User:alice", "--operation", "All", "--topic", "alice-", "--resource-pattern-type", "prefixed", "--bootstrap-server", seeds[0], "--command-config", cfgFile},
	} {
		if code := run(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
	}
	caPEM, err := os.ReadFile(filepath.Join(sec, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds[2]), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}),
		kgo.SASL(scram.Auth{User: "alice", Pass: "alicepw"}.AsSha512Mechanism()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ConsumeTopics("alice-t"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	qctx, qcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer qcancel()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(qctx, 1, 3, nil, "alice-t"); err != nil {
		t.Fatal(err)
	}
	// acks=all is answered once every ISR member has the record; within
	// less than replica.lag.time.max (30s) no follower has left the ISR, so
	// an answer shows both followers fetched it over INTERNAL.
	pctx, pcancel := context.WithTimeout(qctx, 20*time.Second)
	defer pcancel()
	if err := cl.ProduceSync(pctx, &kgo.Record{Topic: "alice-t", Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("alice produce: %v", err)
	}
	fs := cl.PollFetches(qctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 || string(fs.Records()[0].Value) != "hello" {
		t.Fatalf("alice consume: %v, %d records", err, fs.NumRecords())
	}
	for {
		md, err := adm.Metadata(qctx, "alice-t")
		if err != nil {
			t.Fatal(err)
		}
		if p := md.Topics["alice-t"].Partitions[0]; len(p.ISR) == 3 {
			break
		}
		select {
		case <-qctx.Done():
			t.Fatalf("alice-t replicas never all in sync: %+v", md.Topics["alice-t"].Partitions[0])
		case <-time.After(100 * time.Millisecond):
		}
	}
}
