package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SkipEnv is the environment variable that turns missing servers into
// skipped tests.
const SkipEnv = "SLUICE_SKIP_INTEGRATION"

// missing fails (or, with SLUICE_SKIP_INTEGRATION=1, skips) the test
// because a required program is not installed.
func missing(t testing.TB, what string) {
	t.Helper()
	msg := fmt.Sprintf("testenv: %s is not installed; run scripts/setup (or set %s=1 to skip integration tests)", what, SkipEnv)
	if os.Getenv(SkipEnv) == "1" {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

// lookPath finds a program on PATH or in the extra directories.
func lookPath(name string, extra ...string) (string, bool) {
	if p, err := exec.LookPath(name); err == nil {
		return p, true
	}
	for _, d := range extra {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, true
		}
	}
	return "", false
}

// FreePort returns a TCP port on 127.0.0.1 that was free when checked.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// tailBuffer keeps the last bytes written to it, for failure messages.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailMax = 64 << 10

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if b.buf.Len() > tailMax {
		rest := b.buf.Bytes()[b.buf.Len()-tailMax/2:]
		b.buf = *bytes.NewBuffer(append([]byte(nil), rest...))
	}
	return len(p), nil
}

// Tail returns up to the last n lines written.
func (b *tailBuffer) Tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	lines := strings.Split(strings.TrimRight(b.buf.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// process is a server started in its own process group.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *tailBuffer
	done chan struct{}
	err  error
}

// startProcess starts cmd in a new process group with output captured.
func startProcess(name string, cmd *exec.Cmd) (*process, error) {
	p := &process{name: name, cmd: cmd, out: &tailBuffer{}, done: make(chan struct{})}
	cmd.Stdout = p.out
	cmd.Stderr = p.out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// Pid returns the process id.
func (p *process) Pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends sig to the process group, waits up to grace, then kills the
// group and waits for the exit.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, sig)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Reap stragglers in the group (children that outlived the leader).
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
}

// waitReady polls check until it succeeds, the process exits or the
// timeout passes.
func (p *process) waitReady(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		if p.exited() {
			return fmt.Errorf("%s exited during startup (%v); log tail:\n%s", p.name, p.err, p.out.Tail(30))
		}
		if last = check(); last == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after %s: %v; log tail:\n%s", p.name, timeout, last, p.out.Tail(30))
}

// ProcessAlive reports whether a process with this pid exists (and is not
// a zombie).
func ProcessAlive(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil {
		return !errors.Is(err, syscall.ESRCH)
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// Field 3 is the state; Z is a zombie.
	if i := bytes.LastIndexByte(st, ')'); i > 0 && i+2 < len(st) {
		return st[i+2] != 'Z'
	}
	return true
}

// tempDir returns a fresh directory outside t.TempDir's 0700 parent so
// servers running as another OS user can reach it. It is removed on
// cleanup.
func tempDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", "sluice-"+prefix+"-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

// RepoRoot returns the repository root (the directory holding go.mod).
func RepoRoot(t testing.TB) string {
	t.Helper()
	d, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		parent := filepath.Dir(d)
		if parent == d {
			t.Fatal("testenv: go.mod not found above the working directory")
		}
		d = parent
	}
}

// EnvInt returns the positive integer in environment variable name, or def
// when it is unset, not a number or not positive (the benchmarks' sizes).
func EnvInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
