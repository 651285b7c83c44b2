package broker_test

import (
	"context"
	"crypto/tls"
	"crypto/x509/pkix"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/internal/tlsgen"
)

// startBenchTLS is startBench with one SSL listener (TLS 1.3, ECDSA P-256
// certificate, no client certificates); it returns the client options
// that trust it.
func startBenchTLS(t *testing.T, fp broker.FlushPolicy) (string, []kgo.Opt) {
	ca, err := tlsgen.NewCA("bench CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(tlsgen.Options{Hosts: []string{"127.0.0.1"}, Subject: pkix.Name{CommonName: "bench"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := broker.New(broker.WithDataDir(t.TempDir()), broker.WithFlushPolicy(fp), broker.WithLogger(quietLogger()),
		broker.WithGroupInitialRebalanceDelay(0), broker.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{srv.TLS}}),
		broker.WithListeners(broker.Listener{Name: "SSL", Addr: "127.0.0.1:0", Protocol: broker.SSL}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b.Addr(), []kgo.Opt{kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool()})}
}

// createTopicWith creates a topic with a client using opts.
func createTopicWith(t testing.TB, addr, topic string, partitions int32, opts ...kgo.Opt) {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}
