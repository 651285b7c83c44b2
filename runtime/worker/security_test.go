package worker

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/internal/tlsgen"
	"github.com/sluicehq/sluice/runtime/api"
)

// A worker configured with Kafka Connect's security properties
// (SASL_SSL, SCRAM-SHA-512 in sasl.jaas.config, a PEM truststore) runs a
// source and a sink connector against a broker that enforces ACLs, with
// only prefixed Topic and Group ACLs for its principal.
func TestWorkerAgainstSASLSSLBrokerWithACLs(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsgen.NewCA("ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(tlsgen.Options{Hosts: []string{"127.0.0.1"}, Subject: pkix.Name{CommonName: "broker"}})
	if err != nil {
		t.Fatal(err)
	}
	caPath, _, err := ca.WriteCA(dir, "ca")
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.WithDataDir(filepath.Join(dir, "data")), broker.WithLogger(testLogger(t)),
		broker.WithDefaultPartitions(3), broker.WithGroupInitialRebalanceDelay(0),
		broker.WithGroupSessionTimeoutBounds(100*time.Millisecond, time.Hour),
		broker.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{srv.TLS}}),
		broker.WithListeners(broker.Listener{Name: "SASL_SSL", Addr: "127.0.0.1:0", Protocol: broker.SASLSSL}),
		broker.WithAuthorizer(auth.AuthorizerConfig{SuperUsers: []string{"User:admin"}}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	for user, pass := range map[string]string{"admin": "apw", "connect": "cpw"} {
		cred, _ := auth.ScramSHA512.NewCredential(pass, auth.MinIterations)
		if err := b.Credentials().Set(user, auth.ScramSHA512, cred); err != nil {
			t.Fatal(err)
		}
	}
	prefix := testPrefix(t)
	admCl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool()}),
		kgo.SASL(scram.Auth{User: "admin", Pass: "apw"}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer admCl.Close()
	res, err := kadm.NewClient(admCl).CreateACLs(context.Background(), kadm.NewACLs().Allow("User:connect").AllowHosts("*").
		Topics(prefix).Groups(prefix).Operations(kadm.OpAll).ResourcePatternType(kadm.ACLPatternPrefixed))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}

	cfg := testConfig(b.Addr(), prefix, 1)
	jaas := `org.apache.kafka.common.security.scram.ScramLoginModule required username="connect" password="cpw";`
	for k, v := range map[string]string{
		"security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512", "sasl.jaas.config": jaas,
		"ssl.truststore.type": "PEM", "ssl.truststore.location": caPath,
		"producer.security.protocol": "SASL_SSL", "producer.sasl.mechanism": "SCRAM-SHA-512", "producer.sasl.jaas.config": jaas,
		"consumer.security.protocol": "SASL_SSL", "consumer.sasl.mechanism": "SCRAM-SHA-512", "consumer.sasl.jaas.config": jaas,
	} {
		cfg.Props[k] = v
	}
	col := newCollector()
	w := startWorker(t, cfg, col)
	ctx := context.Background()
	topic := prefix + "-nums"
	const tasks, count = 1, 50
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: sourceConfig(topic, tasks, count)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "sink", Config: map[string]string{
		"connector.class": collectSinkClass, "tasks.max": "1", "topics": topic,
		"consumer.override.group.id": prefix + "-sink",
	}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "all records through the secured broker", func() error {
		if d, n := col.stats(); d != tasks*count || n != tasks*count {
			return fmt.Errorf("distinct %d total %d", d, n)
		}
		return nil
	})

	// A worker whose credentials are wrong does not start.
	bad := testConfig(b.Addr(), prefix+"-bad", 2)
	for k, v := range cfg.Props {
		bad.Props[k] = v
	}
	badJAAS := `org.apache.kafka.common.security.scram.ScramLoginModule required username="connect" password="nope";`
	bad.Props["sasl.jaas.config"], bad.Props["producer.sasl.jaas.config"], bad.Props["consumer.sasl.jaas.config"] = badJAAS, badJAAS, badJAAS
	w2, err := New(bad, testPlugins(newCollector()), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := w2.Start(sctx); err == nil {
		w2.Close()
		t.Fatal("a worker with a wrong password started")
	}
	_ = w2.Close()
}
