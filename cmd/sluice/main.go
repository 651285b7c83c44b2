// Command sluice is the sluice connector runtime: one binary that runs an
// embedded Kafka-protocol broker, connector workers and the Kafka
// Connect-compatible REST API, plus MSK Connect-style CLI verbs that manage
// connectors through that API.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/sluicehq/sluice/internal/gctune"
)

// command is one subcommand of the sluice binary.
type command struct {
	summary string
	// run executes the subcommand with its arguments (without the
	// subcommand name). It returns an error wrapped in exitError to choose
	// the exit status.
	run func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// exitError carries a process exit status out of a subcommand.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// errNotImplemented is returned by subcommands whose issue has not landed.
var errNotImplemented = errors.New("not implemented yet")

func commands() map[string]command {
	return map[string]command{
		"up":                 {"run broker, worker pool and REST API in one process", runUp},
		"broker":             {"run a Kafka-protocol broker", runBroker},
		"worker":             {"run a connector worker against any Kafka cluster", runWorker},
		"pool":               {"run a connector on its own autoscaled worker pool (child worker processes)", runPool},
		"create-connector":   {"create a connector from a Kafka Connect JSON config", runCreateConnector},
		"describe-connector": {"show a connector's config, state, tasks and lag", runDescribeConnector},
		"list-connectors":    {"list connectors and their states", runListConnectors},
		"update-connector":   {"replace a connector's configuration", runUpdateConnector},
		"delete-connector":   {"delete a connector", runDeleteConnector},
		"version":            {"print the sluice version", runVersion},
		"list-plugins":       {"list the connectors, SMTs, predicates and converters, or one plugin's config keys", runListPlugins},
		"schema-registry":    {"run a Confluent-compatible schema registry on Kafka", runSchemaRegistry},
		"user":               {"manage SASL/SCRAM users of a broker (add, delete, list)", runUser},
		"acl":                {"manage Kafka ACLs of a broker (add, list, remove)", runACL},
	}
}

func main() {
	gctune.Apply() // before any work: see internal/gctune
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches to a subcommand and maps its result to an exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "sluice: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	err := c.run(ctx, args[1:], stdout, stderr)
	if err == nil {
		return 0
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintf(stderr, "sluice %s: %v\n", args[0], err)
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if errors.Is(err, errNotImplemented) {
		return 2
	}
	return 1
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: sluice <command> [flags]")
	fmt.Fprintln(w, "\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-20s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'sluice <command> --help' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting and
// prints its usage to stderr.
func newFlagSet(name, summary string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sluice "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: sluice %s [flags]\n\n%s\n\nflags:\n", name, summary)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args with fs, turning parse errors into usage errors
// (exit status 2). --help returns flag.ErrHelp (exit status 0).
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return err
	}
	return &exitError{code: 2, err: err}
}
