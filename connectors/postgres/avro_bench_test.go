package postgres

import (
	"context"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/sluicehq/sluice/runtime/schemaregistry"
)

// benchAvroConverters starts sluice's schema registry on the benchmark's
// broker and returns AvroConverters for keys and values using it.
func benchAvroConverters(t *testing.T, brokers string) (convert.Converter, convert.Converter) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := schemaregistry.New(ctx, schemaregistry.WithBrokers(brokers), schemaregistry.WithAdvertisedURL(url))
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: r.Handler()}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); r.Close() })
	cfg := map[string]string{convert.SchemaRegistryURLConfig: url}
	kc, err := convert.NewAvro(cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	vc, err := convert.NewAvro(cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	return kc, vc
}
