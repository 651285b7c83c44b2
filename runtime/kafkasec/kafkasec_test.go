package kafkasec

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/internal/tlsgen"
)

func TestParseJAAS(t *testing.T) {
	got, err := ParseJAAS(`org.apache.kafka.common.security.scram.ScramLoginModule required
		username="al ice" password="p\"w;x" tokenauth=false;`)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Module != "org.apache.kafka.common.security.scram.ScramLoginModule" || got[0].Flag != "required" ||
		got[0].Options["username"] != "al ice" || got[0].Options["password"] != `p"w;x` || got[0].Options["tokenauth"] != "false" {
		t.Fatalf("ParseJAAS = %+v", got)
	}
	for _, bad := range []string{"", "Mod", "Mod required username=\"x\"", "Mod maybe;", "Mod required username;", `Mod required u="x;`} {
		if _, err := ParseJAAS(bad); err == nil {
			t.Errorf("ParseJAAS(%q) accepted", bad)
		}
	}
}

func TestParseErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.pem")
	os.WriteFile(notPEM, []byte("nope"), 0o600)
	scramJAAS := `org.apache.kafka.common.security.scram.ScramLoginModule required username="u" password="p";`
	for _, tc := range []struct {
		props map[string]string
		key   string
	}{
		{map[string]string{"security.protocol": "SASL_TLS"}, "security.protocol"},
		{map[string]string{"security.protocol": "SSL", "ssl.truststore.type": "JKS"}, "ssl.truststore.type"},
		{map[string]string{"security.protocol": "SSL", "ssl.truststore.location": notPEM}, "ssl.truststore.location"},
		{map[string]string{"security.protocol": "SSL", "ssl.truststore.location": filepath.Join(dir, "missing")}, "ssl.truststore.location"},
		{map[string]string{"security.protocol": "SSL", "ssl.keystore.type": "PKCS12"}, "ssl.keystore.type"},
		{map[string]string{"security.protocol": "SSL", "ssl.keystore.key": "k"}, "ssl.keystore.key"},
		{map[string]string{"security.protocol": "SSL", "ssl.key.password": "k"}, "ssl.key.password"},
		{map[string]string{"security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "dns"}, "ssl.endpoint.identification.algorithm"},
		{map[string]string{"security.protocol": "SASL_SSL"}, "sasl.mechanism"}, // GSSAPI default
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512"}, "sasl.jaas.config"},
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "PLAIN", "sasl.jaas.config": scramJAAS}, "sasl.jaas.config"},
		{map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-256", "sasl.jaas.config": `org.apache.kafka.common.security.scram.ScramLoginModule required password="p";`}, "sasl.jaas.config"},
	} {
		_, err := WorkerConfig(tc.props)
		var pe *PropertyError
		if !errors.As(err, &pe) || pe.Key != tc.key {
			t.Errorf("%v: error %v, want one naming %s", tc.props, err, tc.key)
		}
	}
	// Role prefixes: equal is fine, different or alone is an error.
	base := map[string]string{"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": scramJAAS}
	ok := map[string]string{"producer.security.protocol": "SASL_SSL", "consumer.sasl.jaas.config": scramJAAS}
	for k, v := range base {
		ok[k] = v
	}
	if _, err := WorkerConfig(ok); err != nil {
		t.Fatalf("repeated prefixed keys: %v", err)
	}
	ok["admin.sasl.mechanism"] = "PLAIN"
	if _, err := WorkerConfig(ok); err == nil || !strings.Contains(err.Error(), "admin.sasl.mechanism") {
		t.Fatalf("differing admin.sasl.mechanism: %v", err)
	}
	if _, err := WorkerConfig(map[string]string{"producer.security.protocol": "SSL"}); err == nil {
		t.Fatal("a lone producer.security.protocol was accepted")
	}
	if c, err := WorkerConfig(map[string]string{}); err != nil || c.Protocol != "PLAINTEXT" || len(c.Options()) != 0 {
		t.Fatalf("empty config: %+v %v", c, err)
	}
}

// Real connections to a broker: SASL_SSL with SCRAM-SHA-512 and a
// truststore file, SSL with inline PEM key material (mTLS), SASL_PLAINTEXT
// with PLAIN, and a wrong password.
func TestClientsAgainstSecuredBroker(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsgen.NewCA("ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(tlsgen.Options{Hosts: []string{"127.0.0.1"}, Subject: pkix.Name{CommonName: "broker"}})
	cli, _ := ca.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: "worker"}})
	caPath, _, err := ca.WriteCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	mtls := &tls.Config{Certificates: []tls.Certificate{srv.TLS}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	b, err := broker.New(broker.WithDataDir(filepath.Join(dir, "data")), broker.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
		broker.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{srv.TLS}}),
		broker.WithListeners(
			broker.Listener{Name: "SASL_SSL", Addr: "127.0.0.1:0", Protocol: broker.SASLSSL},
			broker.Listener{Name: "SSL", Addr: "127.0.0.1:0", Protocol: broker.SSL, TLS: mtls},
			broker.Listener{Name: "SASL_PLAINTEXT", Addr: "127.0.0.1:0", Protocol: broker.SASLPlaintext},
		))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cred, _ := auth.ScramSHA512.NewCredential("wpw", auth.MinIterations)
	if err := b.Credentials().Set("worker", auth.ScramSHA512, cred); err != nil {
		t.Fatal(err)
	}
	addrs := b.ListenerAddrs()
	jaas := func(module, pass string) string {
		return "org.apache.kafka.common.security." + module + " required username=\"worker\" password=\"" + pass + "\";"
	}
	for _, tc := range []struct {
		name    string
		addr    string
		props   map[string]string
		wantErr error
	}{
		{"SASL_SSL SCRAM-SHA-512", addrs["SASL_SSL"], map[string]string{"security.protocol": "SASL_SSL", "ssl.truststore.type": "PEM", "ssl.truststore.location": caPath,
			"sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": jaas("scram.ScramLoginModule", "wpw")}, nil},
		{"SSL mTLS inline PEM", addrs["SSL"], map[string]string{"security.protocol": "SSL", "ssl.truststore.type": "PEM", "ssl.truststore.certificates": string(ca.PEM),
			"ssl.keystore.type": "PEM", "ssl.keystore.certificate.chain": string(cli.CertPEM), "ssl.keystore.key": string(cli.KeyPEM)}, nil},
		{"SASL_PLAINTEXT PLAIN", addrs["SASL_PLAINTEXT"], map[string]string{"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN",
			"sasl.jaas.config": jaas("plain.PlainLoginModule", "wpw")}, nil},
		{"wrong password", addrs["SASL_SSL"], map[string]string{"security.protocol": "SASL_SSL", "ssl.truststore.location": caPath,
			"sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": jaas("scram.ScramLoginModule", "nope")}, kerr.SaslAuthenticationFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := WorkerConfig(tc.props)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(append(c.Options(), kgo.SeedBrokers(tc.addr), kgo.AllowAutoTopicCreation(), kgo.RequestRetries(0), kgo.RetryTimeout(5*time.Second))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if tc.wantErr != nil {
				if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); !errors.Is(err, tc.wantErr) {
					t.Fatalf("metadata: %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "sec", Value: []byte("v")}).FirstErr(); err != nil {
				t.Fatalf("produce: %v", err)
			}
		})
	}
}
