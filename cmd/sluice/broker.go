package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/internal/gctune"
)

func runBroker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("broker", "Run a Kafka-protocol broker.", stderr)
	dataDir := fs.String("data-dir", "data", "directory for topic metadata and partition logs")
	listen := fs.String("listen", "127.0.0.1:9092", "TCP address to listen on (port 0 picks a free port)")
	advertised := fs.String("advertised-addr", "", "host:port announced to clients (default: the bound listen address)")
	nodeID := fs.Int("node-id", 0, "broker node id")
	autoCreate := fs.Bool("auto-create-topics", true, "create unknown topics on metadata requests")
	partitions := fs.Int("default-partitions", 1, "partition count of auto-created topics")
	flush := fs.String("flush", "durable", "fsync policy: durable (acks=-1 waits for a group-committed fsync; fetches see only fsynced records), interval:<duration> or none")
	delay := fs.Duration("group-initial-rebalance-delay", 3*time.Second, "group.initial.rebalance.delay.ms: how long a new group's first rebalance waits for more members")
	minSession := fs.Duration("group-min-session-timeout", 6*time.Second, "group.min.session.timeout.ms: shortest session timeout a group member may ask for")
	maxSession := fs.Duration("group-max-session-timeout", 30*time.Minute, "group.max.session.timeout.ms: longest session timeout a group member may ask for")
	clean := fs.Duration("clean-interval", 30*time.Second, "how often retention and compaction run")
	idle := fs.Duration("idle-timeout", 10*time.Minute, "close connections idle this long (connections.max.idle.ms; 0 disables)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	secf := addBrokerSecurityFlags(fs)
	clusterOpts := addClusterFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	secOpts, err := secf.options()
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if fs.NArg() > 0 {
		return &exitError{code: 2, err: fmt.Errorf("unexpected arguments: %v", fs.Args())}
	}
	fp, err := broker.ParseFlushPolicy(*flush)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--flush: %w", err)}
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--log-level: %w", err)}
	}
	if *partitions < 1 {
		return &exitError{code: 2, err: fmt.Errorf("--default-partitions %d must be >= 1", *partitions)}
	}
	if *minSession <= 0 || *maxSession < *minSession {
		return &exitError{code: 2, err: fmt.Errorf("--group-min-session-timeout %v and --group-max-session-timeout %v: want 0 < min <= max", *minSession, *maxSession)}
	}
	if *clean <= 0 {
		return &exitError{code: 2, err: fmt.Errorf("--clean-interval must be positive")}
	}
	copts, err := clusterOpts(*nodeID)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	logger.Info("garbage collector", "policy", gctune.Current().String())
	b, err := broker.New(append([]broker.Option{
		broker.WithDataDir(*dataDir),
		broker.WithListen(*listen),
		broker.WithAdvertisedAddr(*advertised),
		broker.WithNodeID(int32(*nodeID)),
		broker.WithAutoCreateTopics(*autoCreate),
		broker.WithDefaultPartitions(int32(*partitions)),
		broker.WithFlushPolicy(fp),
		broker.WithGroupInitialRebalanceDelay(*delay),
		broker.WithGroupSessionTimeoutBounds(*minSession, *maxSession),
		broker.WithCleanInterval(*clean),
		broker.WithIdleTimeout(*idle),
		broker.WithLogger(logger),
	}, append(secOpts, copts...)...)...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "sluice broker listening on %s\n", b.Addr())
	if len(secf.listeners) > 1 {
		for name, addr := range b.ListenerAddrs() {
			fmt.Fprintf(stdout, "  listener %s on %s\n", name, addr)
		}
	}
	<-ctx.Done()
	return b.Close()
}
