package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalProvisioner runs each worker as a child `sluice worker` process of
// the given binary, crash-isolated from the manager, with GOMAXPROCS and
// GOMEMLIMIT set from the MCU count.
type LocalProvisioner struct {
	// Binary is the sluice binary (os.Executable() for the running one).
	Binary string
	// Props are the worker properties every worker gets (bootstrap.servers,
	// group.id, internal topics, ...), passed with --set.
	Props map[string]string
	// Host is the REST listener host (default 127.0.0.1).
	Host string
	// LogDir, when set, receives one log file per worker index
	// (worker-<i>.log, appended across restarts); otherwise worker output
	// goes to Output.
	LogDir string
	// Output receives worker output when LogDir is empty (nil discards).
	Output io.Writer

	mu    sync.Mutex
	ports map[int]int // stable REST port per index
}

// memLimitFraction is the share of the MCU memory given to GOMEMLIMIT (a
// soft limit; the rest is headroom for non-heap memory).
const memLimitFraction = 0.8

// Env returns the environment entries that size a worker with mcu MCUs.
func Env(mcu int) []string {
	return []string{
		"GOMAXPROCS=" + strconv.Itoa(mcu),
		"GOMEMLIMIT=" + strconv.Itoa(int(float64(mcu*MiBPerMCU)*memLimitFraction)) + "MiB",
	}
}

func (p *LocalProvisioner) port(idx int) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ports == nil {
		p.ports = map[int]int{}
	}
	if port, ok := p.ports[idx]; ok {
		return port, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(p.host(), "0"))
	if err != nil {
		return 0, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p.ports[idx] = port
	return port, nil
}

func (p *LocalProvisioner) host() string {
	if p.Host == "" {
		return "127.0.0.1"
	}
	return p.Host
}

// Start implements Provisioner.
func (p *LocalProvisioner) Start(ctx context.Context, spec WorkerSpec) (Worker, error) {
	if p.Binary == "" {
		return nil, errors.New("pool: LocalProvisioner.Binary is empty")
	}
	port, err := p.port(spec.Index)
	if err != nil {
		return nil, fmt.Errorf("pool: REST port for worker %d: %w", spec.Index, err)
	}
	addr := net.JoinHostPort(p.host(), strconv.Itoa(port))
	args := []string{"worker", "--listeners", "http://" + addr, "--rest-advertised-url", "http://" + addr}
	for k, v := range p.Props {
		args = append(args, "--set", k+"="+v)
	}
	cmd := exec.Command(p.Binary, args...)
	cmd.Env = append(os.Environ(), Env(spec.MCU)...)
	// A worker outliving its manager (kill -9 of the manager) drains and
	// exits instead of running unsupervised.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var out io.Writer = io.Discard
	var logf *os.File
	switch {
	case p.LogDir != "":
		if logf, err = os.OpenFile(filepath.Join(p.LogDir, fmt.Sprintf("worker-%d.log", spec.Index)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
			return nil, fmt.Errorf("pool: worker log: %w", err)
		}
		out = logf
	case p.Output != nil:
		out = p.Output
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("pool: starting worker %d: %w", spec.Index, err)
	}
	w := &localWorker{spec: spec, cmd: cmd, url: "http://" + addr, id: addr, done: make(chan struct{})}
	go func() {
		w.err = cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		close(w.done)
	}()
	return w, nil
}

type localWorker struct {
	spec    WorkerSpec
	cmd     *exec.Cmd
	url, id string
	done    chan struct{}
	err     error
}

func (w *localWorker) Spec() WorkerSpec      { return w.spec }
func (w *localWorker) ID() string            { return w.id }
func (w *localWorker) URL() string           { return w.url }
func (w *localWorker) PID() int              { return w.cmd.Process.Pid }
func (w *localWorker) Done() <-chan struct{} { return w.done }
func (w *localWorker) Err() error            { return w.err }

// clockTicks is USER_HZ, fixed at 100 in the Linux user ABI.
const clockTicks = 100

// CPUSeconds reads utime+stime from /proc/<pid>/stat.
func (w *localWorker) CPUSeconds() (float64, error) {
	return procCPUSeconds(w.PID())
}

func procCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the parenthesised command name; utime and stime are
	// fields 14 and 15 (1-based) of the whole line.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("pool: unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("pool: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("pool: bad /proc/%d/stat times", pid)
	}
	return float64(ut+st) / clockTicks, nil
}

// Drain sends SIGTERM (the worker stops its tasks, which commit, then
// leaves the group) and SIGKILL if it has not exited when ctx ends.
func (w *localWorker) Drain(ctx context.Context) error {
	select {
	case <-w.done:
		return nil
	default:
	}
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		_ = w.cmd.Process.Kill()
		<-w.done
		return fmt.Errorf("pool: worker %d did not stop in time; killed", w.spec.Index)
	}
}

// drainTimeout bounds a graceful drain before SIGKILL.
const drainTimeout = 30 * time.Second
