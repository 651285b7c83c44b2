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

	"github.com/sluicehq/sluice/internal/gctune"
	"github.com/sluicehq/sluice/runtime/console"
	"github.com/sluicehq/sluice/runtime/kafkasec"
	"github.com/sluicehq/sluice/runtime/loglevel"
	"github.com/sluicehq/sluice/runtime/rest"
	"github.com/sluicehq/sluice/runtime/worker"
)

// workerFlag maps a command-line flag to a Kafka Connect worker property.
type workerFlag struct{ flag, key, usage string }

// workerFlagKeys lists the flags for common worker properties; flags
// override the properties file.
func workerFlagKeys() []workerFlag {
	return []workerFlag{
		{"bootstrap-servers", "bootstrap.servers", "Kafka bootstrap servers, comma-separated"},
		{"group-id", "group.id", "worker group id (default connect-cluster)"},
		{"config-storage-topic", "config.storage.topic", "config topic (default connect-configs)"},
		{"offset-storage-topic", "offset.storage.topic", "offsets topic (default connect-offsets)"},
		{"status-storage-topic", "status.storage.topic", "status topic (default connect-status)"},
		{"replication-factor", "", "replication factor of the three internal topics (default: broker default)"},
		{"key-converter", "key.converter", "default key converter class"},
		{"value-converter", "value.converter", "default value converter class"},
		{"offset-flush-interval-ms", "offset.flush.interval.ms", "offset commit interval in ms (default 60000)"},
		{"listeners", "listeners", "REST listener, e.g. http://0.0.0.0:8083 (default http://0.0.0.0:8083)"},
		{"rest-advertised-url", "rest.advertised.listener", "URL other workers and clients use to reach this worker's REST API"},
	}
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("worker", "Run a connector worker that joins a worker group on any Kafka cluster.", stderr)
	configFile := fs.String("config", "", "Kafka Connect worker properties file (worker.properties)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	vals := map[string]*string{}
	for _, f := range workerFlagKeys() {
		vals[f.flag] = fs.String(f.flag, "", f.usage)
	}
	var sets multiFlag
	fs.Var(&sets, "set", "extra worker property key=value (repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected arguments %q (use --config FILE)", fs.Args())}
	}
	props, err := workerProperties(*configFile, fs, vals, sets)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
	}
	levels := loglevel.New(level) // changed at run time through /admin/loggers
	log := slog.New(levels.Handler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: loglevel.LevelTrace})))
	log.Info("garbage collector", "policy", gctune.Current().String())
	cfg, err := worker.FromProperties(props)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	listen, err := restListenAddr(props["listeners"])
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	restSec, err := rest.SecurityFromProperties(props)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	kafkaSec, err := kafkasec.WorkerConfig(props)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if _, ok := props["rest.advertised.listener"]; !ok && props["rest.advertised.host.name"] == "" && props["listeners"] == "" {
		cfg.AdvertisedURL = "http://localhost" + listen[strings.LastIndex(listen, ":"):]
	}
	reg, err := registry()
	if err != nil {
		return err
	}
	w, err := worker.New(cfg, nil, worker.WithRegistry(reg), worker.WithLogger(log), worker.WithLogLevels(levels), worker.WithVersion(version))
	if err != nil {
		return err
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	err = w.Start(startCtx)
	cancel()
	if err != nil {
		_ = w.Close()
		return fmt.Errorf("starting worker: %w", err)
	}
	defer w.Close()
	fmt.Fprintf(stdout, "sluice worker %s started in group %s; REST API on %s, web console under %s\n", w.ID(), cfg.GroupID, listen, console.Prefix)
	con := console.New(console.WithLogger(log.With("component", "console")), console.WithMetrics(w),
		console.WithBootstrapServers(cfg.BootstrapServers...), console.WithProtectedTopics(cfg.ConfigTopic),
		console.WithKafkaOptions(kafkaSec.Options()...))
	con.Start()
	defer con.Close()
	return serveWorkerREST(ctx, w, listen, restSec, log, con.Mount)
}

// serveWorkerREST is the hook that serves the Kafka Connect REST API for a
// running worker until ctx ends. *worker.Worker implements rest.Cluster.
func serveWorkerREST(ctx context.Context, w *worker.Worker, listen string, sec *rest.Security, log *slog.Logger, mounts ...func(http.Handler) http.Handler) error {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("REST listener: %w", err)
	}
	ln = sec.Listen(ln)
	var h http.Handler = rest.New(w, rest.WithLogger(log), rest.WithVersion(version, ""))
	for _, m := range mounts {
		h = m(h)
	}
	h = sec.Wrap(h)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("REST server: %w", err)
	}
}

// workerProperties merges the properties file, --set and flags (later wins).
func workerProperties(file string, fs *flag.FlagSet, vals map[string]*string, sets multiFlag) (map[string]string, error) {
	props := map[string]string{}
	if file != "" {
		p, err := worker.LoadProperties(file)
		if err != nil {
			return nil, fmt.Errorf("--config: %w", err)
		}
		props = p
	}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("--set %q: expected key=value", s)
		}
		props[strings.TrimSpace(k)] = v
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, f := range workerFlagKeys() {
		if !given[f.flag] {
			continue
		}
		v := *vals[f.flag]
		if f.flag == "replication-factor" {
			for _, k := range []string{"config.storage.replication.factor", "offset.storage.replication.factor", "status.storage.replication.factor"} {
				props[k] = v
			}
			continue
		}
		props[f.key] = v
	}
	return props, nil
}

// restListenAddr turns the first Kafka Connect "listeners" URL into a
// host:port to bind.
func restListenAddr(listeners string) (string, error) {
	first := strings.TrimSpace(strings.Split(listeners, ",")[0])
	if first == "" {
		return "0.0.0.0:8083", nil
	}
	i := strings.Index(first, "://")
	if i < 0 {
		return "", fmt.Errorf("listeners %q: expected a URL such as http://0.0.0.0:8083", listeners)
	}
	if scheme := strings.ToLower(first[:i]); scheme != "http" && scheme != "https" {
		return "", fmt.Errorf("listeners %q: only http and https are supported", listeners)
	}
	hp := first[i+3:]
	if _, _, err := net.SplitHostPort(hp); err != nil {
		return "", fmt.Errorf("listeners %q: %v", listeners, err)
	}
	return hp, nil
}

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
