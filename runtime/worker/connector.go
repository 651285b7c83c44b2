package worker

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
)

const (
	stateRunning    = api.Running
	statePaused     = api.Paused
	stateStopped    = api.Stopped
	stateFailed     = api.Failed
	stateRestarting = api.Restarting
)

// connectorRunner runs one connector instance on the leader.
type connectorRunner struct {
	w    *Worker
	name string
	raw  map[string]string // as stored (unresolved)

	conn      connect.Connector
	state     string
	target    string // target the runner last applied
	wroteTask bool   // task configs generated for this instance
	// reconfigure is set when the connector asked for new task configs.
	reconfigure atomic.Bool
	// startAttempts counts retriable Start failures; retryAt is when the
	// next attempt may run (see startFailed).
	startAttempts int
	retryAt       time.Time
}

func (w *Worker) newConnectorRunner(name string, raw map[string]string) *connectorRunner {
	return &connectorRunner{w: w, name: name, raw: maps.Clone(raw)}
}

func (c *connectorRunner) fail(err error) {
	c.state = string(stateFailed)
	msg := redact(err.Error(), c.w.secretValues(c.raw))
	c.w.log.Error("connector failed", "connector", c.name, "err", msg)
	c.w.writeConnectorStatus(c.name, c.state, msg)
	if c.conn != nil {
		_ = c.conn.Stop()
		c.conn = nil
	}
}

// reconcile applies the snapshot's target state to the connector.
func (c *connectorRunner) reconcile(snap *snapshot, gen int32) {
	if c.state == string(stateFailed) {
		return
	}
	target := snap.target(c.name)
	w := c.w
	switch target {
	case targetStopped:
		if c.target != targetStopped {
			c.stopInstance()
			c.target = targetStopped
			c.state = string(stateStopped)
			w.writeConnectorStatus(c.name, c.state, "")
		}
		// A stopped connector has no tasks (KIP-875).
		if len(snap.tasks[c.name]) > 0 {
			ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
			if err := w.writeTaskConfigs(ctx, c.name, gen, nil); err != nil {
				w.log.Warn("writing empty task configs", "connector", c.name, "err", err)
			}
			cancel()
		}
		return
	case targetPaused:
		if c.target != targetPaused {
			c.stopInstance()
			c.target = targetPaused
			c.state = string(statePaused)
			w.writeConnectorStatus(c.name, c.state, "")
		}
		return
	}
	if c.conn == nil {
		if time.Now().Before(c.retryAt) {
			return // a retriable Start failure waits for its backoff
		}
		if err := c.startInstance(); err != nil {
			c.startFailed(err)
			return
		}
		c.startAttempts, c.retryAt = 0, time.Time{}
		c.state = string(stateRunning)
		c.target = targetStarted
		w.writeConnectorStatus(c.name, c.state, "")
	}
	if c.reconfigure.Swap(false) {
		c.wroteTask = false
	}
	if c.wroteTask {
		return
	}
	maxTasks := 1
	if v, ok := c.raw["tasks.max"]; ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 {
			c.fail(fmt.Errorf("invalid tasks.max %q: must be a positive integer", v))
			return
		}
		maxTasks = n
	}
	tcs, err := c.conn.TaskConfigs(maxTasks)
	if err != nil {
		c.fail(fmt.Errorf("generating task configs: %w", err))
		return
	}
	if len(tcs) > maxTasks {
		tcs = tcs[:maxTasks]
	}
	resolved, _ := resolveConfig(c.raw)
	for i := range tcs {
		tcs[i] = reverseResolve(tcs[i], c.raw, resolved)
	}
	if tasksEqual(tcs, snap.tasks[c.name]) && !snap.reconfiguring[c.name] {
		c.wroteTask = true
		return
	}
	ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
	defer cancel()
	if err := w.writeTaskConfigs(ctx, c.name, gen, tcs); err != nil {
		w.log.Warn("writing task configs", "connector", c.name, "err", err)
		return
	}
	c.wroteTask = true
}

func tasksEqual(a, b []map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !maps.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

func (c *connectorRunner) startInstance() error {
	class := c.raw["connector.class"]
	p, ok := c.w.plugin(class)
	if !ok {
		return fmt.Errorf("no plugin for connector.class %q", class)
	}
	cfg, err := resolveConfig(c.raw)
	if err != nil {
		return err
	}
	conn := p.New()
	if conn == nil {
		return fmt.Errorf("plugin %s returned no connector", p.Class)
	}
	parsed, err := conn.ConfigDef().Parse(cfg)
	if err != nil {
		return err
	}
	if err := conn.Start(c.w.ctx, parsed); err != nil {
		return fmt.Errorf("starting connector: %w", err)
	}
	c.conn = conn
	c.wroteTask = false
	if r, ok := conn.(Reconfigurable); ok {
		r.SetRequestReconfiguration(func() {
			c.reconfigure.Store(true)
			c.w.poke()
		})
	}
	return nil
}

func (c *connectorRunner) stopInstance() {
	if c.conn != nil {
		if err := c.conn.Stop(); err != nil {
			c.w.log.Warn("stopping connector", "connector", c.name, "err", err)
		}
		c.conn = nil
	}
	c.wroteTask = false
}

// stop stops the instance (rebalance, delete or reconfiguration).
func (c *connectorRunner) stop() { c.stopInstance() }

type apiState = api.State

// Reconfigurable is optionally implemented by connectors that notice
// changes needing new task configs (new tables, new files) while running.
// After Start the worker hands them a function to call; it then asks the
// connector for task configs again and writes them when they changed.
// (runtime/connect has no ConnectorContext yet; this is the hook.)
type Reconfigurable interface {
	SetRequestReconfiguration(request func())
}

// startFailed handles a failed connector Start: a retriable error is
// retried with the task start policy (errors.max.retries,
// errors.retry.delay.*), the connector showing RESTARTING with the error
// meanwhile; anything else, or retries used up, fails it.
func (c *connectorRunner) startFailed(err error) {
	r, perr := parseStartRetry(c.raw)
	if perr != nil || !connect.IsRetriable(err) {
		c.fail(err)
		return
	}
	c.startAttempts++
	if r.max >= 0 && c.startAttempts > r.max {
		c.fail(fmt.Errorf("giving up after %d attempts (errors.max.retries=%d): %w", c.startAttempts, r.max, err))
		return
	}
	d := r.delay(c.startAttempts)
	c.retryAt = time.Now().Add(d)
	msg := redact(fmt.Sprintf("retriable error on start, retry %d in %s: %s", c.startAttempts, d, trace(err)), c.w.secretValues(c.raw))
	c.w.log.Warn("connector start failed with a retriable error; retrying", "connector", c.name, "attempt", c.startAttempts, "delay", d, "err", msg)
	c.state = string(stateRestarting)
	c.w.writeConnectorStatus(c.name, c.state, msg)
	time.AfterFunc(d, c.w.poke)
}
