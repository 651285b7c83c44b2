package testenv

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Child is a process a test started (a `sluice up`, a worker, a broker):
// it runs in its own process group with stdout and stderr captured, and
// the whole group is killed when the test ends if it is still running.
type Child struct {
	// Name labels the process in failure messages.
	Name string
	// Cmd is the started command.
	Cmd *exec.Cmd
	// Stdout and Stderr hold everything the process wrote.
	Stdout, Stderr *SyncBuffer

	done chan struct{}
	err  error
}

// StartChild starts cmd (its Stdout, Stderr and SysProcAttr are set here)
// and registers the cleanup that stops the process (by default: kills its
// process group at once; see GracefulCleanup) and, when the test failed,
// logs the tail of its stderr.
func StartChild(t testing.TB, name string, cmd *exec.Cmd, opts ...ChildOption) *Child {
	t.Helper()
	var o childOptions
	for _, opt := range opts {
		opt(&o)
	}
	c := &Child{Name: name, Cmd: cmd, Stdout: &SyncBuffer{}, Stderr: &SyncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = c.Stdout, c.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		if o.stopSig != 0 && !c.Exited() {
			_ = cmd.Process.Signal(o.stopSig)
			select {
			case <-c.done:
			case <-time.After(o.stopGrace):
				t.Logf("%s still running %v after %v; killing it", name, o.stopGrace, o.stopSig)
			}
		}
		c.Kill()
		if t.Failed() {
			t.Logf("%s (pid %d) stdout tail:\n%s\nstderr tail:\n%s", name, cmd.Process.Pid, Tail(c.Stdout.String(), 30), Tail(c.Stderr.String(), 60))
			if o.onFail != nil {
				o.onFail(t)
			}
		}
	})
	return c
}

// Kill kills the process group and waits for the process to exit.
func (c *Child) Kill() {
	select {
	case <-c.done:
	default:
		_ = syscall.Kill(-c.Cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	}
}

// Done is closed when the process has exited.
func (c *Child) Done() <-chan struct{} { return c.done }

// Exited reports whether the process has exited.
func (c *Child) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Err is the process's exit error; meaningful once Done is closed.
func (c *Child) Err() error { return c.err }

// WaitStdout waits until stdout contains s, failing the test if the
// process exits first or timeout passes.
func (c *Child) WaitStdout(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for !strings.Contains(c.Stdout.String(), s) {
		select {
		case <-c.done:
			t.Fatalf("%s exited before printing %q (%v); stdout:\n%s\nstderr:\n%s", c.Name, s, c.err, c.Stdout.String(), Tail(c.Stderr.String(), 40))
		case <-deadline:
			t.Fatalf("%s did not print %q within %v; stdout:\n%s\nstderr:\n%s", c.Name, s, timeout, c.Stdout.String(), Tail(c.Stderr.String(), 40))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Stop sends sig and waits up to timeout for a clean (status 0) exit,
// failing the test otherwise.
func (c *Child) Stop(t testing.TB, sig syscall.Signal, timeout time.Duration) {
	t.Helper()
	if err := c.Cmd.Process.Signal(sig); err != nil {
		t.Fatalf("%v to %s: %v", sig, c.Name, err)
	}
	select {
	case <-c.done:
		if c.err != nil {
			t.Fatalf("%s exited with %v after %v; stderr tail:\n%s", c.Name, c.err, sig, Tail(c.Stderr.String(), 40))
		}
	case <-time.After(timeout):
		t.Fatalf("%s still running %v after %v; stderr tail:\n%s", c.Name, timeout, sig, Tail(c.Stderr.String(), 40))
	}
}

// Tail returns the last n lines of s.
func Tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
