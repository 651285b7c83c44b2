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
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/internal/gctune"
	"github.com/sluicehq/sluice/runtime/pool"
)

func runPool(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("pool", "Run one connector on its own autoscaled or provisioned worker pool against any Kafka cluster.\n"+
		"Each worker is a child `sluice worker` process (GOMAXPROCS and GOMEMLIMIT from mcuCount) in the pool's own\n"+
		"worker group sluice-pool-<name> with its own internal topics. --listen serves the pool's REST API: the\n"+
		"Kafka Connect API of the pool's workers plus /connectors/<name>/pool, /capacity and /operations.", stderr)
	var cs configSource
	cs.addFlags(fs)
	bootstrap := fs.String("bootstrap-servers", "", "Kafka bootstrap servers, comma-separated (required)")
	listen := fs.String("listen", "127.0.0.1:8090", "address of the pool's REST API")
	binary := fs.String("worker-binary", "", "sluice binary to run workers with (default: this one)")
	logDir := fs.String("log-dir", "", "directory for per-worker logs (default: worker output goes to stderr)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	flush := fs.Duration("offset-flush-interval", 10*time.Second, "workers' offset.flush.interval.ms")
	interval := fs.Duration("scale-interval", 0, "how often CPU and backlog are sampled (default 10s)")
	outWin := fs.Duration("scale-out-window", 0, "mean CPU/backlog window for scale-out (default 1m)")
	inWin := fs.Duration("scale-in-window", 0, "mean CPU/backlog window for scale-in (default 5m)")
	outCool := fs.Duration("scale-out-cooldown", -1, "minimum time after a scale event before scaling out (default 2m)")
	inCool := fs.Duration("scale-in-cooldown", -1, "minimum time after a scale event before scaling in (default 5m)")
	settle := fs.Duration("settle-timeout", 0, "how long a scale event waits for tasks to run on the new workers (default 2m)")
	lagThreshold := fs.Int64("lag-threshold", 0, "sink lag signal: consumer lag (records) one worker should handle; the pool scales out to ceil(lag/threshold) workers (0: off)")
	slotDSN := fs.String("backlog-postgres-dsn", "", "source backlog signal: PostgreSQL DSN to read the replication slot's lag from")
	slot := fs.String("backlog-postgres-slot", "", "source backlog signal: replication slot name (default: the config's slot.name, or debezium)")
	slotThreshold := fs.Int64("backlog-threshold-bytes", 0, "source backlog signal: WAL bytes one worker should handle (0: off)")
	var sets multiFlag
	fs.Var(&sets, "set", "extra worker property key=value for every pool worker (repeatable)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if *bootstrap == "" {
		return usageError("--bootstrap-servers is required")
	}
	def, err := cs.build(pos)
	if err != nil {
		return err
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageError("--log-level: %v", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	log.Info("garbage collector", "policy", gctune.Current().String())
	capacity := Capacity{ProvisionedCapacity: &ProvisionedCapacity{McuCount: 1, WorkerCount: 1}}
	if s := def.config[capacityConfig]; s != "" {
		if capacity, err = parseCapacity(s); err != nil {
			return usageError("%v", err)
		}
	}
	// The pool owns capacity and tasks.max: they are not part of the
	// connector config, so resizing never rewrites it needlessly.
	delete(def.config, capacityConfig)
	if set := splitPoolSettings(def.config); len(set) > 0 {
		return usageError("%s* config keys configure pools in sluice up; sluice pool takes the --scale-*, --lag-threshold and --backlog-* flags", poolSettingPrefix)
	}
	if *binary == "" {
		if *binary, err = os.Executable(); err != nil {
			return fmt.Errorf("--worker-binary: %w", err)
		}
	}
	props := map[string]string{
		"bootstrap.servers":        *bootstrap,
		"group.id":                 "sluice-pool-" + def.name,
		"config.storage.topic":     "sluice-pool-" + def.name + "-configs",
		"offset.storage.topic":     "sluice-pool-" + def.name + "-offsets",
		"status.storage.topic":     "sluice-pool-" + def.name + "-status",
		"offset.flush.interval.ms": strconv.FormatInt(flush.Milliseconds(), 10),
	}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return usageError("--set %q: expected key=value", s)
		}
		k = strings.TrimSpace(k)
		if k == "listeners" || strings.HasPrefix(k, "rest.advertised") {
			return usageError("--set %s: the pool assigns each worker its REST listener", k)
		}
		props[k] = v
	}
	prov := &pool.LocalProvisioner{Binary: *binary, Props: props, LogDir: *logDir, Output: stderr}
	if *logDir != "" {
		if err := os.MkdirAll(*logDir, 0o755); err != nil {
			return fmt.Errorf("--log-dir: %w", err)
		}
	}
	pol := pool.Policy{Interval: *interval, ScaleOutWindow: *outWin, ScaleInWindow: *inWin, SettleTimeout: *settle}
	d := pool.DefaultPolicy()
	pol.ScaleOutCooldown, pol.ScaleInCooldown = d.ScaleOutCooldown, d.ScaleInCooldown
	if *outCool >= 0 {
		pol.ScaleOutCooldown = *outCool
	}
	if *inCool >= 0 {
		pol.ScaleInCooldown = *inCool
	}
	opts := []pool.Option{pool.WithPolicy(pol), pool.WithLogger(log.With("component", "pool"))}
	if *lagThreshold > 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(*bootstrap, ",")...))
		if err != nil {
			return fmt.Errorf("kafka client: %w", err)
		}
		defer cl.Close()
		opts = append(opts, pool.WithSignals(pool.SinkLag(kadm.NewClient(cl), def.name, float64(*lagThreshold))))
	}
	if *slotThreshold > 0 {
		if *slotDSN == "" {
			return usageError("--backlog-threshold-bytes needs --backlog-postgres-dsn")
		}
		name := *slot
		if name == "" {
			name = def.config["slot.name"]
		}
		if name == "" {
			name = "debezium"
		}
		opts = append(opts, pool.WithSignals(pool.PostgresSlotLag(*slotDSN, name, float64(*slotThreshold))))
	}
	m, err := pool.New(def.name, def.config, capacity, prov, opts...)
	if err != nil {
		return usageError("%v", err)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(stdout, "sluice pool: connector %s, %s\n", def.name, capacity)
	fmt.Fprintf(stdout, "  %-24s %s\n", "pool REST API", "http://"+advertisable(ln.Addr()))
	fmt.Fprintf(stdout, "  %-24s %s\n", "worker group", props["group.id"])
	runErr := m.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	_ = srv.Shutdown(sctx)
	cancel()
	if errors.Is(runErr, pool.ErrDeleted) {
		fmt.Fprintf(stdout, "sluice pool: connector %s deleted; pool stopped\n", def.name)
		return nil
	}
	if runErr == nil {
		fmt.Fprintln(stdout, "sluice pool: stopped")
	}
	return runErr
}
