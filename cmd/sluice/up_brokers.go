package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/broker"
)

// upBrokers is the embedded broker of `sluice up`: one node, or with
// --brokers N a cluster of N nodes in this process (node ids 1..N, data
// under <data-dir>/broker-<id>, controllers on free local ports).
type upBrokers struct {
	bs []*broker.Broker
}

// Addr is the first broker's address (clients discover the others).
func (u *upBrokers) Addr() string { return u.bs[0].Addr() }

// Bootstrap lists every broker's address.
func (u *upBrokers) Bootstrap() string {
	var s []string
	for _, b := range u.bs {
		s = append(s, b.Addr())
	}
	return strings.Join(s, ",")
}

// Close closes every broker (concurrently, so controlled shutdowns still
// find a quorum).
func (u *upBrokers) Close() error {
	var wg sync.WaitGroup
	errs := make([]error, len(u.bs))
	for i, b := range u.bs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = b.Close()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// startUpBrokers starts the brokers; single adds options to a one-node
// broker (the --secure listeners) and perNode returns those of the cluster
// node listening for clients on its address (nil: none).
func startUpBrokers(ctx context.Context, n int, dataDir, listen string, delay time.Duration, log *slog.Logger, perNode func(listen string) []broker.Option, single ...broker.Option) (*upBrokers, error) {
	common := []broker.Option{broker.WithGroupInitialRebalanceDelay(delay)}
	if n == 1 {
		b, err := broker.New(append(append(common,
			broker.WithDataDir(filepath.Join(dataDir, "broker")),
			broker.WithListen(listen),
			broker.WithLogger(log.With("component", "broker"))), single...)...)
		if err != nil {
			return nil, err
		}
		return &upBrokers{bs: []*broker.Broker{b}}, nil
	}
	host, portS, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--kafka-listen %q: %w", listen, err)
	}
	port, _ := strconv.Atoi(portS)
	// Controller listeners on free ports: the quorum's addresses are not
	// persisted, only its ids.
	quorum := map[int32]string{}
	for id := int32(1); id <= int32(n); id++ {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return nil, fmt.Errorf("controller port: %w", err)
		}
		quorum[id] = l.Addr().String()
		l.Close()
	}
	u := &upBrokers{}
	for id := int32(1); id <= int32(n); id++ {
		kl := net.JoinHostPort(host, "0")
		if port != 0 {
			kl = net.JoinHostPort(host, strconv.Itoa(port+int(id)-1))
		}
		opts := append(common,
			broker.WithDataDir(filepath.Join(dataDir, fmt.Sprintf("broker-%d", id))),
			broker.WithListen(kl),
			broker.WithNodeID(id),
			broker.WithControllerQuorum(quorum),
			broker.WithLogger(log.With("component", "broker", "node_id", id)))
		if perNode != nil {
			opts = append(opts, perNode(kl)...)
		}
		b, err := broker.New(opts...)
		if err != nil {
			u.Close()
			return nil, err
		}
		u.bs = append(u.bs, b)
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := u.bs[0].WaitClusterReady(wctx, n); err != nil {
		u.Close()
		return nil, err
	}
	return u, nil
}
