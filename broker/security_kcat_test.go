package broker_test

import (
	"bytes"
	"context"
	"crypto/x509/pkix"
	"fmt"
	"log/slog"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/internal/tlsgen"
)

// runKcat runs kcat with args and stdin and returns stdout and stderr.
func runKcat(t testing.TB, kcat, stdin string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kcatTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// librdkafka (kcat) over SASL_SSL with SCRAM-SHA-512, over SSL with a
// client certificate and over SASL_PLAINTEXT with PLAIN; a wrong password
// and an untrusted certificate fail.
func TestKcatSASLSSLAndMTLS(t *testing.T) {
	kcat := testenv.Kcat(t)
	var logs testenv.SyncBuffer
	e := startSecure(t, t.TempDir(), broker.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	defer func() {
		if t.Failed() {
			t.Logf("broker log:\n%s", logs.String())
		}
	}()
	certDir := t.TempDir()
	caPath, _, err := e.ca.WriteCA(certDir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	ops, err := e.ca.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: "ops", Organization: []string{"sluice"}}})
	if err != nil {
		t.Fatal(err)
	}
	opsCert, opsKey, err := ops.Write(certDir, "ops")
	if err != nil {
		t.Fatal(err)
	}
	other, _ := tlsgen.NewCA("other", time.Hour)
	stranger, _ := other.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: "stranger"}})
	strCert, strKey, err := stranger.Write(certDir, "stranger")
	if err != nil {
		t.Fatal(err)
	}
	scramArgs := func(pass string) []string {
		return []string{"-b", e.addrs["CLIENT"], "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=admin", "-X", "sasl.password=" + pass, "-X", "ssl.ca.location=" + caPath}
	}
	mtlsArgs := func(cert, key string) []string {
		return []string{"-b", e.addrs["MTLS"], "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + caPath,
			"-X", "ssl.certificate.location=" + cert, "-X", "ssl.key.location=" + key}
	}
	const n = 20
	var in strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&in, "%s\t%s\n", recKey(i), recValue(i))
	}
	for _, tc := range []struct {
		name, topic string
		args        []string
	}{
		{"SASL_SSL SCRAM-SHA-512", "kcat-scram", scramArgs(adminPass)},
		{"SSL mTLS", "kcat-mtls", mtlsArgs(opsCert, opsKey)},
		{"SASL_PLAINTEXT PLAIN", "kcat-plain", []string{"-b", e.addrs["SASL_PLAINTEXT"], "-X", "security.protocol=SASL_PLAINTEXT",
			"-X", "sasl.mechanisms=PLAIN", "-X", "sasl.username=admin", "-X", "sasl.password=" + adminPass}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, stderr, err := runKcat(t, kcat, in.String(), append(append([]string{"-P", "-t", tc.topic, "-K", "\t"}, tc.args...), "-X", "allow.auto.create.topics=true")...); err != nil {
				t.Fatalf("kcat produce: %v\n%s", err, stderr)
			}
			out, stderr, err := runKcat(t, kcat, "", append([]string{"-C", "-t", tc.topic, "-o", "beginning", "-e", "-q", "-f", "%k\t%s\n"}, tc.args...)...)
			if err != nil {
				t.Fatalf("kcat consume: %v\n%s", err, stderr)
			}
			if got := strings.Count(out, "\n"); got != n || !strings.HasPrefix(out, recKey(0)+"\t"+recValue(0)) {
				t.Fatalf("kcat consumed %d lines, want %d: %q (stderr %s)", got, n, out[:min(len(out), 200)], stderr)
			}
		})
	}
	t.Run("wrong password", func(t *testing.T) {
		_, stderr, err := runKcat(t, kcat, "", append([]string{"-L", "-m", "5"}, scramArgs("wrong")...)...)
		if err == nil || !strings.Contains(stderr, "Authentication failed") {
			t.Fatalf("kcat with a wrong password: err %v, stderr %s", err, stderr)
		}
	})
	t.Run("missing ACL", func(t *testing.T) {
		e.setUser(t, "eve", "evepw", auth.ScramSHA512)
		args := []string{"-P", "-t", "kcat-scram", "-b", e.addrs["CLIENT"], "-X", "security.protocol=SASL_SSL", "-X", "sasl.mechanisms=SCRAM-SHA-512",
			"-X", "sasl.username=eve", "-X", "sasl.password=evepw", "-X", "ssl.ca.location=" + caPath}
		_, stderr, err := runKcat(t, kcat, "x\n", args...)
		if err == nil || !strings.Contains(stderr, "Topic authorization failed") {
			t.Fatalf("kcat produce without an ACL: err %v, stderr %s", err, stderr)
		}
	})
	t.Run("untrusted client certificate", func(t *testing.T) {
		_, stderr, err := runKcat(t, kcat, "", append([]string{"-L", "-m", "5"}, mtlsArgs(strCert, strKey)...)...)
		if err == nil {
			t.Fatalf("kcat with an untrusted certificate succeeded: %s", stderr)
		}
	})
}

// ssl.principal.mapping.rules turn a client certificate's subject into
// the principal ACLs name.
func TestCertificatePrincipalMapping(t *testing.T) {
	e := startSecure(t, t.TempDir())
	svc, err := e.ca.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: "Billing", OrganizationalUnit: []string{"apps"}, Organization: []string{"sluice"}}})
	if err != nil {
		t.Fatal(err)
	}
	createACLs(t, kadmClient(e.admin(t)), aclAllowTopic("User:billing", "billing"))
	cl := e.client(t, "MTLS", kgo.DialTLSConfig(e.clientTLS(svc)))
	produceConsume(t, cl, "billing")
	_ = filepath.Join
	_ = auth.Anonymous
}
