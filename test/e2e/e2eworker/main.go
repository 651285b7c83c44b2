// Command e2eworker runs one sluice worker (runtime/worker) with the REST
// API (runtime/rest) and the built-in file connectors, configured by a
// Kafka Connect worker properties file. The end-to-end tests use it when
// the sluice binary's own worker command is not available.
//
// Usage: e2eworker worker.properties
//
// The REST listener is the first entry of "listeners"
// (http://host:port). SIGTERM/SIGINT shut down gracefully.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/connectors/file"
	"github.com/sluicehq/sluice/runtime/rest"
	"github.com/sluicehq/sluice/runtime/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "e2eworker:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 2 {
		return errors.New("usage: e2eworker worker.properties")
	}
	props, err := worker.LoadProperties(os.Args[1])
	if err != nil {
		return err
	}
	cfg, err := worker.FromProperties(props)
	if err != nil {
		return err
	}
	listen := "127.0.0.1:8083"
	if l := strings.TrimSpace(strings.Split(props["listeners"], ",")[0]); l != "" {
		u, err := url.Parse(l)
		if err != nil {
			return fmt.Errorf("listeners %q: %v", l, err)
		}
		listen = u.Host
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	w, err := worker.New(cfg, file.Plugins(), worker.WithLogger(log))
	if err != nil {
		return err
	}
	srv := rest.New(w, rest.WithLogger(log), rest.WithVersion("e2e", ""))
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe(listen) }()
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	log.Info("worker ready", "rest", listen, "id", w.ID())
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			w.Close()
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(sctx)
	return w.Close()
}
