package broker_test

import (
	"crypto/tls"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/broker"
)

func TestParseListeners(t *testing.T) {
	ls, err := broker.ParseListeners("SASL_SSL://0.0.0.0:9096, client://:9094,PLAINTEXT://127.0.0.1:9092",
		"SASL_SSL://kafka.example.com:9096", "CLIENT:SSL")
	if err != nil {
		t.Fatal(err)
	}
	want := []broker.Listener{
		{Name: "SASL_SSL", Addr: "0.0.0.0:9096", Advertised: "kafka.example.com:9096", Protocol: broker.SASLSSL},
		{Name: "CLIENT", Addr: ":9094", Protocol: broker.SSL},
		{Name: "PLAINTEXT", Addr: "127.0.0.1:9092", Protocol: broker.Plaintext},
	}
	if len(ls) != len(want) {
		t.Fatalf("got %+v", ls)
	}
	for i := range want {
		if ls[i] != want[i] {
			t.Errorf("listener %d = %+v, want %+v", i, ls[i], want[i])
		}
	}
	for _, tc := range []struct{ listeners, advertised, pmap, want string }{
		{"INTERNAL://:9092", "", "", "no security protocol"},
		{"SSL://:9092,SSL://:9093", "", "", "appears twice"},
		{"SSL:9092", "", "", "NAME://host:port"},
		{"SSL://nohostport", "", "", "SSL://nohostport"},
		{"SSL://:9092", "OTHER://h:1", "", "not in listeners"},
		{"X://:9092", "", "X:TLS", "unknown security protocol"},
		{"X://:9092", "", "X", "NAME:PROTOCOL"},
	} {
		_, err := broker.ParseListeners(tc.listeners, tc.advertised, tc.pmap)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseListeners(%q, %q, %q) = %v, want an error containing %q", tc.listeners, tc.advertised, tc.pmap, err, tc.want)
		}
	}
}

// A TLS listener without a certificate, and unknown SASL mechanisms, are
// refused at start.
func TestSecurityOptionErrors(t *testing.T) {
	for _, tc := range []struct {
		opts []broker.Option
		want string
	}{
		{[]broker.Option{broker.WithListeners(broker.Listener{Name: "SSL", Addr: "127.0.0.1:0", Protocol: broker.SSL})}, "no TLS certificate"},
		{[]broker.Option{broker.WithSASLMechanisms("GSSAPI")}, "GSSAPI"},
		{[]broker.Option{broker.WithInterBrokerListener("INTERNAL", broker.InterBrokerClient{})}, `inter-broker listener "INTERNAL" is not one of the listeners`},
		{[]broker.Option{broker.WithListeners(broker.Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}, broker.Listener{Name: "INTERNAL", Addr: "127.0.0.1:0", Protocol: broker.SASLPlaintext}),
			broker.WithInterBrokerListener("INTERNAL", broker.InterBrokerClient{Mechanism: "SCRAM-SHA-512"})}, "a SASL user is needed"},
		{[]broker.Option{broker.WithListeners(broker.Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}, broker.Listener{Name: "INTERNAL", Addr: "127.0.0.1:0", Protocol: broker.SASLPlaintext}),
			broker.WithInterBrokerListener("INTERNAL", broker.InterBrokerClient{Mechanism: "GSSAPI", User: "b"})}, `SASL mechanism "GSSAPI"`},
		{[]broker.Option{broker.WithTLSConfig(&tls.Config{}), broker.WithListeners(broker.Listener{Name: "PLAINTEXT", Addr: "127.0.0.1:0"}, broker.Listener{Name: "SSL", Addr: "127.0.0.1:0", Protocol: broker.SSL}),
			broker.WithInterBrokerListener("SSL", broker.InterBrokerClient{})}, "a client TLS configuration is needed"},
	} {
		b, err := broker.New(append([]broker.Option{broker.WithDataDir(t.TempDir()), broker.WithListen("127.0.0.1:0"), broker.WithLogger(quietLogger())}, tc.opts...)...)
		if err == nil {
			b.Close()
			t.Errorf("New accepted %s", tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New: %v, want %q", err, tc.want)
		}
	}
}
