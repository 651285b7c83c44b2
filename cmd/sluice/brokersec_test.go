package main

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

func TestBrokerSecurityFlagErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--ssl-cert", "x.crt", "--listener", "SSL://127.0.0.1:0"}, "--ssl-key"},
		{[]string{"--super-users", "User:a"}, "--authorizer"},
		{[]string{"--advertised-listener", "SSL://h:1"}, "--listener"},
		{[]string{"--listener", "FOO://127.0.0.1:0"}, "listener.security.protocol.map"},
		{[]string{"--ssl-principal-mapping-rules", "RULE:broken"}, "--ssl-principal-mapping-rules"},
		{[]string{"--connections-max-reauth", "-1s"}, "--connections-max-reauth"},
		{[]string{"--inter-broker-sasl-user", "b"}, "need --inter-broker-listener"},
		{[]string{"--listener", "SASL_PLAINTEXT://127.0.0.1:0", "--inter-broker-listener", "SASL_PLAINTEXT", "--inter-broker-sasl-user", "b", "--inter-broker-sasl-password-file", "/nonexistent/pw"}, "--inter-broker-sasl-password-file"},
		{[]string{"--listener", "SSL://127.0.0.1:0", "--inter-broker-listener", "SSL", "--inter-broker-ssl-cert", "/nonexistent/c.crt", "--inter-broker-ssl-key", "/nonexistent/c.key"}, "--inter-broker-ssl-cert"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"broker", "--data-dir", t.TempDir()}, tc.args...), &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, errb.String(), tc.want)
		}
	}
}

// `sluice broker` with a SASL_PLAINTEXT and a PLAINTEXT listener and the
// authorizer: the user made with `sluice user --data-dir` is a super user,
// the anonymous PLAINTEXT client is refused.
func TestBrokerSecurityFlags(t *testing.T) {
	dir := t.TempDir()
	var out, errb lockedBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if code := run(ctx, []string{"user", "add", "root", "--password", "rootpw", "--data-dir", dir}, &out, &errb); code != 0 {
		t.Fatalf("user add: %d %s", code, errb.String())
	}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"broker", "--data-dir", dir, "--log-level", "error", "--group-initial-rebalance-delay", "0s",
			"--listener", "CLIENT://127.0.0.1:0", "--listener", "PLAINTEXT://127.0.0.1:0", "--listener-security-protocol-map", "CLIENT:SASL_PLAINTEXT",
			"--authorizer", "--super-users", "User:root"}, &out, &errb)
	}()
	var sasl, plainAddr string
	deadline := time.Now().Add(20 * time.Second)
	for sasl == "" || plainAddr == "" {
		for _, m := range regexp.MustCompile(`listener (\w+) on (\S+)\n`).FindAllStringSubmatch(out.String(), -1) {
			if m[1] == "CLIENT" {
				sasl = m[2]
			} else {
				plainAddr = m[2]
			}
		}
		select {
		case code := <-done:
			t.Fatalf("broker exited %d: %s", code, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("listeners not printed: %q %q", out.String(), errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	root, err := kgo.NewClient(kgo.SeedBrokers(sasl), kgo.SASL(plain.Auth{User: "root", Pass: "rootpw"}.AsMechanism()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
	defer pcancel()
	if err := root.ProduceSync(pctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("super user produce: %v", err)
	}
	anon, err := kgo.NewClient(kgo.SeedBrokers(plainAddr), kgo.RequestRetries(0))
	if err != nil {
		t.Fatal(err)
	}
	defer anon.Close()
	if err := anon.ProduceSync(pctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("anonymous produce: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("broker exit %d: %s", code, errb.String())
	}
}
