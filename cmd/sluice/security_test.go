package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/internal/testenv"
)

// waitPrinted waits until re matches out and returns its first group.
func waitPrinted(t *testing.T, out, errOut *testenv.SyncBuffer, re *regexp.Regexp) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not printed; stdout: %s\nstderr: %s", re, out.String(), errOut.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// `sluice up --secure`: Kafka only on SASL_SSL with the generated admin,
// the REST API only over HTTPS with basic auth, the CLI reaching both
// with the printed settings, and `sluice user`/`sluice acl` managing the
// broker.
func TestUpSecure(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr testenv.SyncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"up", "--secure", "--data-dir", dir, "--kafka-listen", "127.0.0.1:0", "--rest-listen", "127.0.0.1:0",
			"--schema-registry-listen", "127.0.0.1:0"}, &stdout, &stderr)
	}()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("sluice up did not stop")
		}
	}()
	restURL := waitPrinted(t, &stdout, &stderr, regexp.MustCompile(`Kafka Connect REST API\s+(\S+)`))
	kafka := waitPrinted(t, &stdout, &stderr, regexp.MustCompile(`Kafka bootstrap servers\s+(\S+)`))
	waitPrinted(t, &stdout, &stderr, regexp.MustCompile(`(Press Ctrl-C)`))
	if !strings.HasPrefix(restURL, "https://") {
		t.Fatalf("REST URL %s is not https", restURL)
	}
	sec := filepath.Join(dir, "security")
	pass, err := os.ReadFile(filepath.Join(sec, "admin.password"))
	if err != nil {
		t.Fatal(err)
	}
	pw := strings.TrimSpace(string(pass))
	caPEM, err := os.ReadFile(filepath.Join(sec, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)

	// REST: unauthenticated create-connector is refused.
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := hc.Post(restURL+"/connectors", "application/json", strings.NewReader(`{"name":"x","config":{"connector.class":"x"}}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("unauthenticated create-connector: HTTP %d, want 401", resp.StatusCode)
	}
	// The CLI with --ca-cert and --user.
	var out, errb testenv.SyncBuffer
	if code := run(ctx, []string{"list-connectors", "--endpoint", restURL, "--ca-cert", filepath.Join(sec, "ca.crt"), "--user", "admin:" + pw}, &out, &errb); code != 0 {
		t.Fatalf("list-connectors: exit %d: %s", code, errb.String())
	}
	if code := run(ctx, []string{"list-connectors", "--endpoint", restURL, "--ca-cert", filepath.Join(sec, "ca.crt")}, &out, &errb); code == 0 {
		t.Fatal("list-connectors without credentials succeeded")
	}

	// Kafka: users and ACLs through the CLI, then alice reads only her topic.
	cfgFile := filepath.Join(sec, "client.properties")
	for _, args := range [][]string{
		{"user", "add", "alice", "--password", "alicepw", "--bootstrap-server", kafka, "--command-config", cfgFile},
		{"acl", "add", "--allow-principal", "User:alice", "--operation", "All", "--topic", "alice-", "--resource-pattern-type", "prefixed", "--bootstrap-server", kafka, "--command-config", cfgFile},
	} {
		out = testenv.SyncBuffer{}
		if code := run(ctx, args, &out, &errb); code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errb.String())
		}
	}
	out = testenv.SyncBuffer{}
	if code := run(ctx, []string{"user", "list", "--bootstrap-server", kafka, "--command-config", cfgFile}, &out, &errb); code != 0 || !strings.Contains(out.String(), "alice") || !strings.Contains(out.String(), "admin") {
		t.Fatalf("user list: exit %d: %s %s", code, out.String(), errb.String())
	}
	out = testenv.SyncBuffer{}
	if code := run(ctx, []string{"acl", "list", "--bootstrap-server", kafka, "--command-config", cfgFile}, &out, &errb); code != 0 || !strings.Contains(out.String(), "User:alice") {
		t.Fatalf("acl list: exit %d: %s %s", code, out.String(), errb.String())
	}
	alice, err := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.DialTLSConfig(&tls.Config{RootCAs: pool}), kgo.AllowAutoTopicCreation(),
		kgo.SASL(scram.Auth{User: "alice", Pass: "alicepw"}.AsSha512Mechanism()), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	if err := alice.ProduceSync(pctx, &kgo.Record{Topic: "alice-events", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("alice produce to her topic: %v", err)
	}
	if err := alice.ProduceSync(pctx, &kgo.Record{Topic: "connect-configs", Value: []byte("v")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produce to connect-configs: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	out = testenv.SyncBuffer{}
	if code := run(ctx, []string{"acl", "remove", "--allow-principal", "User:alice", "--operation", "All", "--topic", "alice-", "--resource-pattern-type", "prefixed",
		"--bootstrap-server", kafka, "--command-config", cfgFile}, &out, &errb); code != 0 || !strings.Contains(out.String(), "removed:") {
		t.Fatalf("acl remove: exit %d: %s %s", code, out.String(), errb.String())
	}
	if err := alice.ProduceSync(pctx, &kgo.Record{Topic: "alice-events", Value: []byte("v")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("alice produce after acl remove: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// Plaintext Kafka is not served.
	plain, _ := kgo.NewClient(kgo.SeedBrokers(kafka), kgo.RequestRetries(0), kgo.DialTimeout(2*time.Second))
	defer plain.Close()
	qctx, qcancel := context.WithTimeout(ctx, 5*time.Second)
	defer qcancel()
	if _, err := plain.Request(qctx, kmsg.NewPtrMetadataRequest()); err == nil {
		t.Fatal("a PLAINTEXT client got metadata from the secured broker")
	}
}

// `sluice user --data-dir` edits a stopped broker's credential store.
func TestUserOffline(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "not-yet-created")
	var out, errb testenv.SyncBuffer
	ctx := context.Background()
	if code := run(ctx, []string{"user", "add", "bob", "--password", "pw", "--mechanism", "SCRAM-SHA-256", "--data-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("user add: exit %d: %s", code, errb.String())
	}
	out = testenv.SyncBuffer{}
	if code := run(ctx, []string{"user", "list", "--data-dir", dir}, &out, &errb); code != 0 || !regexp.MustCompile(`bob\s+SCRAM-SHA-256\s+8192`).MatchString(out.String()) {
		t.Fatalf("user list: exit %d: %q %s", code, out.String(), errb.String())
	}
	data, err := os.ReadFile(filepath.Join(dir, "security", "scram-credentials.json"))
	if err != nil || strings.Contains(string(data), `"pw"`) {
		t.Fatalf("credential file: %v %s", err, data)
	}
	if code := run(ctx, []string{"user", "add", "bob", "--data-dir", dir}, &out, &errb); code != 2 {
		t.Fatalf("user add without --password: exit %d", code)
	}
}
