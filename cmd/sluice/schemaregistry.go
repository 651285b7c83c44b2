package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/schemaregistry"
)

func runSchemaRegistry(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("schema-registry", "Run a Confluent-compatible schema registry storing schemas in a Kafka topic.\n"+
		"Several instances may share one topic: one primary is elected through Kafka and the others forward writes to it.", stderr)
	bootstrap := fs.String("bootstrap-servers", "127.0.0.1:9092", "Kafka bootstrap servers (comma-separated)")
	listen := fs.String("listen", "127.0.0.1:8081", "REST API address")
	advertised := fs.String("advertised-url", "", "URL other instances forward writes to (default http://<bound listen address>)")
	topic := fs.String("topic", schemaregistry.DefaultTopic, "storage topic (kafkastore.topic)")
	group := fs.String("group-id", schemaregistry.DefaultGroupID, "primary election group (schema.registry.group.id)")
	compat := fs.String("compatibility", "BACKWARD", "default compatibility level (schema.compatibility.level)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	level, err := schemaregistry.ParseCompatibility(*compat)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--compatibility: %w", err)}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	sr, err := startSchemaRegistry(ctx, strings.Split(*bootstrap, ","), *listen, *advertised, log,
		schemaregistry.WithTopic(*topic), schemaregistry.WithGroupID(*group), schemaregistry.WithDefaultCompatibility(level))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sluice schema-registry listening on %s (topic %s, group %s)\n", sr.url, *topic, *group)
	select {
	case <-ctx.Done():
	case err = <-sr.errc:
	}
	sr.close(log)
	return err
}

// embeddedRegistry is a schema registry serving HTTP, as `sluice up` and
// `sluice schema-registry` run it.
type embeddedRegistry struct {
	r    *schemaregistry.Registry
	srv  *http.Server
	url  string
	errc chan error
}

func startSchemaRegistry(ctx context.Context, brokers []string, listen, advertised string, log *slog.Logger, opts ...schemaregistry.Option) (*embeddedRegistry, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("schema registry: %w", err)
	}
	url := advertised
	if url == "" {
		url = "http://" + advertisable(ln.Addr())
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	r, err := schemaregistry.New(sctx, append([]schemaregistry.Option{
		schemaregistry.WithBrokers(brokers...), schemaregistry.WithAdvertisedURL(url),
		schemaregistry.WithLogger(log.With("component", "schema-registry")),
	}, opts...)...)
	if err != nil {
		ln.Close()
		return nil, err
	}
	e := &embeddedRegistry{r: r, url: url, errc: make(chan error, 1),
		srv: &http.Server{Handler: r.Handler(), ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := e.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.errc <- fmt.Errorf("schema registry %s: %w", url, err)
		}
	}()
	return e, nil
}

func (e *embeddedRegistry) close(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		log.Warn("schema registry shutdown", "err", err)
	}
	e.r.Close()
}

// flagSet reports whether the named flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
