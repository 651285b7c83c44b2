package main

import (
	"context"
	"io"
)

func runCreateConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return notYet("create-connector", "Create a connector from a Kafka Connect JSON config.", args, stderr)
}

func runDescribeConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return notYet("describe-connector", "Show a connector's config, state, tasks and lag.", args, stderr)
}

func runListConnectors(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return notYet("list-connectors", "List connectors and their states.", args, stderr)
}

func runUpdateConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return notYet("update-connector", "Replace a connector's configuration.", args, stderr)
}

func runDeleteConnector(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return notYet("delete-connector", "Delete a connector.", args, stderr)
}

func notYet(name, summary string, args []string, stderr io.Writer) error {
	fs := newFlagSet(name, summary, stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	return errNotImplemented
}
