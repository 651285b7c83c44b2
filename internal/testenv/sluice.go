package testenv

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BuildSluice builds cmd/sluice (with the given build tags) into a
// temporary directory of t and returns the binary's path.
func BuildSluice(t testing.TB, tags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sluice")
	args := []string{"build"}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	build := exec.Command("go", append(args, "-o", bin, "./cmd/sluice")...)
	build.Dir = RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sluice: %v\n%s", err, out)
	}
	return bin
}

// StartUp runs `bin args...` (args start with "up") as a child process and
// waits until it prints its ready banner ("Press Ctrl-C").
func StartUp(t testing.TB, bin string, args []string, opts ...ChildOption) *Child {
	t.Helper()
	c := StartChild(t, "sluice up", exec.Command(bin, args...), opts...)
	c.WaitStdout(t, "Press Ctrl-C", 90*time.Second)
	return c
}

// CLI runs a sluice CLI verb and fails the test unless it exits 0; it
// returns the verb's stdout.
func CLI(t testing.TB, bin string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("sluice %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String()
}

// ChildOption changes how StartChild runs and cleans up a process.
type ChildOption func(*childOptions)

type childOptions struct {
	stopSig   syscall.Signal
	stopGrace time.Duration
	onFail    func(t testing.TB)
}

// GracefulCleanup makes the cleanup send sig first and wait up to grace for
// the process to exit (so it can stop its own children) before killing
// its process group.
func GracefulCleanup(sig syscall.Signal, grace time.Duration) ChildOption {
	return func(o *childOptions) { o.stopSig, o.stopGrace = sig, grace }
}

// OnFailure adds a hook run at cleanup when the test failed, after the
// process stopped (to log files it wrote, say).
func OnFailure(f func(t testing.TB)) ChildOption {
	return func(o *childOptions) { o.onFail = f }
}
