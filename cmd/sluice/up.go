package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/gctune"
	"github.com/sluicehq/sluice/runtime/console"
	"github.com/sluicehq/sluice/runtime/loglevel"
	"github.com/sluicehq/sluice/runtime/rest"
	"github.com/sluicehq/sluice/runtime/schemaregistry"
	"github.com/sluicehq/sluice/runtime/worker"
)

// upWorker is one in-process worker of `sluice up` and its REST server.
type upWorker struct {
	w   *worker.Worker
	ln  net.Listener
	url string
	srv *http.Server
}

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("up", "Run an embedded broker, worker pool and Kafka Connect REST API in one process.\n"+
		"Everything lives under --data-dir; stopping with Ctrl-C (SIGINT/SIGTERM) flushes and commits,\n"+
		"and starting again on the same directory resumes every connector where it stopped.", stderr)
	dataDir := fs.String("data-dir", "sluice-data", "directory holding the broker's topics (connector configs, offsets, statuses and data)")
	kafkaListen := fs.String("kafka-listen", "127.0.0.1:9092", "Kafka listener address of the embedded broker (port 0 picks a free port)")
	restListen := fs.String("rest-listen", "127.0.0.1:8083", "REST API address of the first worker; the others listen on free ports of the same host")
	brokers := fs.Int("brokers", 1, "number of embedded brokers; more than 1 runs a replicated cluster in this process (topics get replication factor min(3, brokers))")
	workers := fs.Int("workers", 1, "number of in-process workers (one worker group; tasks are balanced over them)")
	groupID := fs.String("group-id", "connect-cluster", "worker group id (group.id)")
	flushInterval := fs.Duration("offset-flush-interval", 10*time.Second, "how often tasks commit offsets (offset.flush.interval.ms); sinks upload on this tick too")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	srListen := fs.String("schema-registry-listen", "127.0.0.1:8081", "address of the embedded schema registry (empty disables it)")
	pprofListen := fs.String("pprof-listen", "", "address of a Go profiling server (net/http/pprof under /debug/pprof/; empty disables it)")
	mskf := addMSKFlags(fs)
	secure := fs.Bool("secure", false, "secure the quick start: generate a local CA, certificates and an admin user under --data-dir/security; Kafka on SASL_SSL (SCRAM) with ACLs, REST over HTTPS with basic auth")
	var sets multiFlag
	fs.Var(&sets, "set", "extra worker property key=value, e.g. --set key.converter=...(repeatable)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	if *workers < 1 || *workers > 64 {
		return &exitError{code: 2, err: fmt.Errorf("--workers %d: must be between 1 and 64", *workers)}
	}
	if *flushInterval <= 0 {
		return &exitError{code: 2, err: fmt.Errorf("--offset-flush-interval %s: must be positive", *flushInterval)}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
	}
	restHost, _, err := net.SplitHostPort(*restListen)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--rest-listen %q: %v", *restListen, err)}
	}
	props := map[string]string{}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return &exitError{code: 2, err: fmt.Errorf("--set %q: expected key=value", s)}
		}
		props[strings.TrimSpace(k)] = v
	}
	for _, k := range []string{"bootstrap.servers", "listeners", "rest.advertised.listener", "rest.advertised.host.name", "rest.advertised.port", "sluice.worker.id"} {
		if _, ok := props[k]; ok {
			return &exitError{code: 2, err: fmt.Errorf("--set %s: sluice up sets it itself (use --kafka-listen/--rest-listen)", k)}
		}
	}
	if _, ok := props["group.id"]; !ok {
		props["group.id"] = *groupID
	}
	if _, ok := props["offset.flush.interval.ms"]; !ok {
		props["offset.flush.interval.ms"] = strconv.FormatInt(flushInterval.Milliseconds(), 10)
	}

	levels := loglevel.New(lvl) // changed at run time through /admin/loggers
	log := slog.New(levels.Handler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: loglevel.LevelTrace})))
	log.Info("garbage collector", "policy", gctune.Current().String())
	pprofURL := ""
	if *pprofListen != "" {
		u, stopPprof, err := startPprof(*pprofListen, log)
		if err != nil {
			return err
		}
		defer stopPprof()
		pprofURL = u
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("--data-dir: %w", err)
	}
	unlock, err := lockDataDir(abs)
	if err != nil {
		return err
	}
	defer unlock()

	// A short initial rebalance delay lets the in-process workers join the
	// group's first rebalance together; one worker needs none.
	delay := time.Duration(0)
	if *workers > 1 {
		delay = 500 * time.Millisecond
	}
	if *brokers < 1 || *brokers > 9 {
		return &exitError{code: 2, err: fmt.Errorf("--brokers %d: want 1..9", *brokers)}
	}
	var sec *upSecurity
	if *secure {
		kh, _, _ := net.SplitHostPort(*kafkaListen)
		if sec, err = setupUpSecurity(abs, []string{"localhost", "127.0.0.1", kh, restHost}); err != nil {
			return fmt.Errorf("--secure: %w", err)
		}
	}
	b, err := startUpBrokers(ctx, *brokers, abs, *kafkaListen, delay, log, sec.clusterOptions(), sec.brokerOptions(*kafkaListen)...)
	if err != nil {
		return fmt.Errorf("starting broker: %w", err)
	}
	// Every component started from here on is closed by td, in reverse
	// order: on an error path at once, at shutdown after the REST servers
	// stop taking requests.
	var td teardown
	defer td.run()
	var brokerErr error
	td.add(func() {
		if brokerErr = b.Close(); brokerErr != nil {
			log.Error("closing broker", "err", brokerErr)
		}
	})
	if err := sec.addAdmin(b.bs...); err != nil {
		return fmt.Errorf("--secure: %w", err)
	}
	props["bootstrap.servers"] = b.Bootstrap()
	if sec != nil {
		for k, v := range sec.props {
			props[k] = v
		}
	}

	var sr *embeddedRegistry
	if *srListen != "" {
		sr, err = startSchemaRegistry(ctx, []string{b.Addr()}, *srListen, "", log, schemaregistry.WithKafkaOptions(sec.kafkaOptions()...))
		if err != nil && !flagSet(fs, "schema-registry-listen") {
			// The default port is taken (another registry?): use a free one.
			log.Warn("schema registry: default address unavailable, using a free port", "addr", *srListen, "err", err)
			host, _, _ := net.SplitHostPort(*srListen)
			sr, err = startSchemaRegistry(ctx, []string{b.Addr()}, net.JoinHostPort(host, "0"), "", log, schemaregistry.WithKafkaOptions(sec.kafkaOptions()...))
		}
		if err != nil {
			return err
		}
		td.add(func() { sr.close(log) })
	}
	ws, err := startUpWorkers(ctx, *workers, restHost, *restListen, props, sec.restSecurity(), log)
	if err != nil {
		return err
	}
	td.add(func() { closeUpWorkers(ws, log) })

	// Connectors created with a capacity run on worker pools of their own.
	poolProps := map[string]string{}
	for k, v := range props {
		if k != "group.id" && k != "bootstrap.servers" && !strings.HasSuffix(k, ".storage.topic") {
			poolProps[k] = v
		}
	}
	pools, err := newUpPools(ctx, abs, b.Addr(), poolProps, log)
	if err != nil {
		return fmt.Errorf("worker pools: %w", err)
	}
	td.add(pools.close) // pool workers drain: their tasks commit to the broker
	// The web console on every worker's REST port, under /ui/; it samples
	// all in-process workers' metrics.
	con := newConsole(props, log, sec.kafkaOptions(), ws...)
	td.add(func() { con.Close() })
	// The MSK Connect API (/v1/...) on every worker's REST port too.
	msk, err := newUpMSK(mskf, abs, b.Addr(), pools, ws[0].srv.Handler, log)
	if err != nil {
		return err
	}
	for _, uw := range ws {
		uw.srv.Handler = sec.restSecurity().Wrap(con.Mount(mountMSK(msk, pools.wrap(uw.srv.Handler))))
	}

	fmt.Fprintf(stdout, "sluice up: data directory %s\n", abs)
	fmt.Fprintf(stdout, "  %-24s %s\n", "Kafka bootstrap servers", b.Bootstrap())
	fmt.Fprintf(stdout, "  %-24s %s\n", "Kafka Connect REST API", ws[0].url)
	fmt.Fprintf(stdout, "  %-24s %s\n", "Web console", ws[0].url+console.Prefix)
	fmt.Fprintf(stdout, "  %-24s %s (aws kafkaconnect --endpoint-url; cluster %s)\n", "MSK Connect API", ws[0].url, msk.ClusterArn())
	if sr != nil {
		fmt.Fprintf(stdout, "  %-24s %s\n", "Schema Registry", sr.url)
	}
	if pprofURL != "" {
		fmt.Fprintf(stdout, "  %-24s %s\n", "Go profiles (pprof)", pprofURL)
	}
	for i, uw := range ws {
		fmt.Fprintf(stdout, "  %-24s %s (id %s, group %s)\n", fmt.Sprintf("worker %d", i), uw.url, uw.w.ID(), props["group.id"])
	}
	sec.printHowTo(stdout, b.Addr(), ws[0].url)
	fmt.Fprintf(stdout, "Press Ctrl-C to stop; starting again with --data-dir %s resumes every connector.\n", abs)

	errc := make(chan error, len(ws))
	for _, uw := range ws {
		go func() {
			if err := uw.srv.Serve(uw.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("REST server %s: %w", uw.url, err)
			}
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "sluice up: stopping (Ctrl-C again forces exit)")
	case runErr = <-errc:
		log.Error("stopping", "err", runErr)
	}
	forceExitOnSecondSignal(stderr)

	// Stop taking requests, then (td) the console, the pools and the
	// workers (tasks flush and commit their offsets), the schema registry,
	// and last the broker they commit to.
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	for _, uw := range ws {
		if err := uw.srv.Shutdown(sctx); err != nil {
			log.Warn("REST shutdown", "url", uw.url, "err", err)
		}
	}
	cancel()
	td.run()
	if brokerErr != nil && runErr == nil {
		runErr = fmt.Errorf("closing broker: %w", brokerErr)
	}
	if runErr == nil {
		fmt.Fprintln(stdout, "sluice up: stopped")
	}
	return runErr
}

// startUpWorkers binds every worker's REST listener, creates the workers
// (each advertises its own REST URL, which is also its worker id) and
// starts them concurrently so that they join the group together.
func startUpWorkers(ctx context.Context, n int, restHost, restListen string, props map[string]string, restSec *rest.Security, log *slog.Logger) ([]*upWorker, error) {
	ws := make([]*upWorker, 0, n)
	fail := func(err error) ([]*upWorker, error) {
		for _, uw := range ws {
			if uw.ln != nil {
				uw.ln.Close()
			}
		}
		closeUpWorkers(ws, log)
		return nil, err
	}
	for i := range n {
		addr := restListen
		if i > 0 {
			addr = net.JoinHostPort(restHost, "0")
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return fail(fmt.Errorf("REST listener %s: %w", addr, err))
		}
		uw := &upWorker{ln: restSec.Listen(ln), url: restSec.Scheme() + "://" + advertisable(ln.Addr())}
		ws = append(ws, uw)
		p := make(map[string]string, len(props)+1)
		for k, v := range props {
			p[k] = v
		}
		p["rest.advertised.listener"] = uw.url
		cfg, err := worker.FromProperties(p)
		if err != nil {
			return fail(&exitError{code: 2, err: err})
		}
		wlog := log.With("component", "worker")
		if n > 1 {
			wlog = wlog.With("worker", i)
		}
		reg, err := registry()
		if err != nil {
			return fail(err)
		}
		w, err := worker.New(cfg, nil, worker.WithRegistry(reg), worker.WithLogger(wlog), worker.WithLogLevels(loglevel.Of(log)), worker.WithVersion(version))
		if err != nil {
			return fail(fmt.Errorf("worker %d: %w", i, err))
		}
		uw.w = w
		uw.srv = &http.Server{
			Handler:           rest.New(w, rest.WithLogger(log.With("component", "rest")), rest.WithVersion(version, "")),
			ReadHeaderTimeout: 10 * time.Second,
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, uw := range ws {
		wg.Go(func() {
			if err := uw.w.Start(sctx); err != nil {
				errs[i] = fmt.Errorf("starting worker %d: %w", i, err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fail(err)
	}
	return ws, nil
}

// closeUpWorkers closes the workers concurrently: each stops its tasks,
// which flush and commit their offsets, then leaves the group.
func closeUpWorkers(ws []*upWorker, log *slog.Logger) {
	var wg sync.WaitGroup
	for i, uw := range ws {
		if uw.w == nil {
			continue
		}
		wg.Go(func() {
			if err := uw.w.Close(); err != nil {
				log.Error("closing worker", "worker", i, "err", err)
			}
		})
	}
	wg.Wait()
}

// advertisable turns a bound address into one clients can dial: an
// unspecified host (0.0.0.0, ::) becomes 127.0.0.1.
func advertisable(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// lockDataDir takes an exclusive lock on dir so that two `sluice up`
// processes never share one data directory. The lock dies with the process.
func lockDataDir(dir string) (func(), error) {
	path := filepath.Join(dir, ".lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("--data-dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("--data-dir %s is in use by another sluice process (lock %s: %v)", dir, path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// forceExitOnSecondSignal exits at once when another SIGINT/SIGTERM arrives
// during shutdown.
func forceExitOnSecondSignal(stderr io.Writer) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(stderr, "sluice up: %v again, exiting without a clean shutdown\n", s)
		os.Exit(130)
	}()
}

// newConsole starts the web console for workers configured by props: its
// broker view reads bootstrap.servers and never shows the config topic's
// records.
func newConsole(props map[string]string, log *slog.Logger, kafkaOpts []kgo.Opt, ws ...*upWorker) *console.Console {
	opts := []console.Option{console.WithLogger(log.With("component", "console")), console.WithKafkaOptions(kafkaOpts...)}
	if cfg, err := worker.FromProperties(props); err == nil {
		opts = append(opts, console.WithBootstrapServers(cfg.BootstrapServers...), console.WithProtectedTopics(cfg.ConfigTopic))
	}
	for _, uw := range ws {
		opts = append(opts, console.WithMetrics(uw.w))
	}
	con := console.New(opts...)
	con.Start()
	return con
}

// teardown closes started components in the reverse order of their start;
// run is idempotent.
type teardown struct{ steps []func() }

// add registers the close of a component that just started.
func (t *teardown) add(f func()) { t.steps = append(t.steps, f) }

// run closes every registered component, last started first.
func (t *teardown) run() {
	for len(t.steps) > 0 {
		f := t.steps[len(t.steps)-1]
		t.steps = t.steps[:len(t.steps)-1]
		f()
	}
}
