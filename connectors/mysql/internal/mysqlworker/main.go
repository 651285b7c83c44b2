// Command mysqlworker runs one sluice worker (runtime/worker) whose only
// plugins are the MySQL and MariaDB sources, and creates one connector from
// a JSON file ({"name": ..., "config": {...}}) unless it already exists.
// The MySQL source's kill -9 test runs it as a separate process.
//
// Usage: mysqlworker worker.properties connector.json
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/connectors/mysql"
	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/worker"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mysqlworker:", err)
		os.Exit(1)
	}
}

func run() error {
	if len(os.Args) != 3 {
		return errors.New("usage: mysqlworker worker.properties connector.json")
	}
	props, err := worker.LoadProperties(os.Args[1])
	if err != nil {
		return err
	}
	cfg, err := worker.FromProperties(props)
	if err != nil {
		return err
	}
	b, err := os.ReadFile(os.Args[2])
	if err != nil {
		return err
	}
	var req api.CreateConnectorRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return fmt.Errorf("%s: %w", os.Args[2], err)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	w, err := worker.New(cfg, mysql.Plugins(), worker.WithLogger(log))
	if err != nil {
		return err
	}
	if err := w.Start(ctx); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	defer w.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := w.CreateConnector(cctx, req)
		cancel()
		if err == nil || errors.Is(err, api.ErrConflict) && connectorExists(ctx, w, req.Name) {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("create connector %s: %w", req.Name, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	log.Info("mysqlworker ready", "connector", req.Name)
	<-ctx.Done()
	return nil
}

func connectorExists(ctx context.Context, w *worker.Worker, name string) bool {
	_, err := w.Connector(ctx, name)
	return err == nil
}
