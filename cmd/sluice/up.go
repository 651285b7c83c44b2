package main

import (
	"context"
	"io"
)

func runUp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("up", "Run an embedded broker, worker pool and REST API in one process.", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return errNotImplemented
}
