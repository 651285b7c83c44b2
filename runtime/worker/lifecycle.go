package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// taskPhase is where a task instance is in its life. Every instance moves
// forward only:
//
//	created -> starting -> running -> stopping -> stopped
//	                  \________________/   \-> fenced -> stopped
//
// An instance that is stopped or fenced can no longer write to Kafka (its
// producer is closed and its offset writes are refused), so a new instance
// of the same task may start: the worker's reconcile waits in
// taskRunner.stop until the old instance reached one of those phases.
type taskPhase int

const (
	phaseCreated  taskPhase = iota // constructed, goroutine not yet running
	phaseStarting                  // opening the task (with start retries)
	phaseRunning                   // polling or consuming
	phaseStopping                  // asked to stop, still winding down
	phaseFenced                    // did not stop in time; its writes are cut off
	phaseStopped                   // run returned; nothing of it is left
)

func (p taskPhase) String() string {
	switch p {
	case phaseCreated:
		return "created"
	case phaseStarting:
		return "starting"
	case phaseRunning:
		return "running"
	case phaseStopping:
		return "stopping"
	case phaseFenced:
		return "fenced"
	case phaseStopped:
		return "stopped"
	}
	return "phase(" + strconv.Itoa(int(p)) + ")"
}

// phaseAllowed lists the legal transitions of the task state machine.
var phaseAllowed = map[taskPhase][]taskPhase{
	phaseCreated:  {phaseStarting, phaseStopping, phaseStopped},
	phaseStarting: {phaseRunning, phaseStopping, phaseStopped},
	phaseRunning:  {phaseStopping, phaseStopped},
	phaseStopping: {phaseFenced, phaseStopped},
	phaseFenced:   {phaseStopped},
}

// canMove reports whether from -> to is a legal transition.
func canMove(from, to taskPhase) bool {
	for _, p := range phaseAllowed[from] {
		if p == to {
			return true
		}
	}
	return false
}

// errFenced refuses writes of a task instance that was fenced.
var errFenced = errors.New("task instance was fenced: a newer instance owns its work")

// moveTo changes the instance's phase; false (and no change) when the
// transition is not legal, e.g. running after stopping.
func (t *taskRunner) moveTo(to taskPhase) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !canMove(t.phase, to) {
		return false
	}
	t.phase = to
	if to == phaseFenced || to == phaseStopped {
		t.releaseOnce.Do(func() { close(t.released) })
	}
	return true
}

func (t *taskRunner) currentPhase() taskPhase {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.phase
}

// setFence registers what cuts the running instance off from Kafka (it
// closes the task's producer); fence calls it at most once.
func (t *taskRunner) setFence(f func()) {
	t.fenceMu.Lock()
	t.fenceFn = f
	t.fenceMu.Unlock()
}

// fence cuts the instance off: afterwards guardWrite refuses its offset
// writes and its producer is closed. It waits for an offset write in
// progress (bounded by offset.flush.timeout.ms).
func (t *taskRunner) fence() {
	t.fenceMu.Lock()
	t.fenced = true
	f := t.fenceFn
	t.fenceFn = nil
	t.fenceMu.Unlock()
	if f != nil {
		f()
	}
}

// guardWrite runs write unless the instance was fenced; a fence waits for
// it to finish.
func (t *taskRunner) guardWrite(write func() error) error {
	t.fenceMu.RLock()
	defer t.fenceMu.RUnlock()
	if t.fenced {
		return errFenced
	}
	return write()
}

// startRetry is the retry policy for a task's Open (its start), with
// Debezium's semantics: errors.max.retries retries of retriable errors
// (-1 = no limit, 0 = none), the first after
// errors.retry.delay.initial.ms, doubling up to errors.retry.delay.max.ms.
type startRetry struct {
	max     int // -1 = no limit
	initial time.Duration
	maxWait time.Duration
}

// Debezium's defaults.
const (
	defaultStartRetries      = -1
	defaultStartDelayInitial = 300 * time.Millisecond
	defaultStartDelayMax     = 10 * time.Second
)

func parseStartRetry(conn map[string]string) (startRetry, error) {
	r := startRetry{max: defaultStartRetries, initial: defaultStartDelayInitial, maxWait: defaultStartDelayMax}
	num := func(key string, min int64) (int64, bool, error) {
		v := strings.TrimSpace(conn[key])
		if v == "" {
			return 0, false, nil
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < min {
			return 0, false, connect.Errorf(key, "%q: expected an integer of at least %d", conn[key], min)
		}
		return n, true, nil
	}
	if n, ok, err := num("errors.max.retries", -1); err != nil {
		return r, err
	} else if ok {
		r.max = int(n)
	}
	if n, ok, err := num("errors.retry.delay.initial.ms", 1); err != nil {
		return r, err
	} else if ok {
		r.initial = time.Duration(n) * time.Millisecond
	}
	if n, ok, err := num("errors.retry.delay.max.ms", 1); err != nil {
		return r, err
	} else if ok {
		r.maxWait = time.Duration(n) * time.Millisecond
	}
	if r.initial > r.maxWait {
		r.initial = r.maxWait
	}
	return r, nil
}

// delay returns the wait before retry number n (1-based).
func (r startRetry) delay(n int) time.Duration {
	d := r.initial
	for i := 1; i < n && d < r.maxWait; i++ {
		d *= 2
	}
	return min(d, r.maxWait)
}

// openWithRetry calls open until it succeeds, fails with an error that is
// not retriable, or the retries are used up. Each retry is logged and shown
// in the task's status (RESTARTING with the error as trace); the returned
// error says how many attempts were made.
func (t *taskRunner) openWithRetry(ctx context.Context, conn map[string]string, open func() error) error {
	r, err := parseStartRetry(conn)
	if err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := open()
		if err == nil {
			return nil
		}
		if !connect.IsRetriable(err) {
			return err
		}
		if ctx.Err() != nil {
			return err
		}
		if r.max >= 0 && attempt > r.max {
			return fmt.Errorf("giving up after %d attempts (errors.max.retries=%d): %w", attempt, r.max, err)
		}
		d := r.delay(attempt)
		limit := "no limit"
		if r.max >= 0 {
			limit = strconv.Itoa(r.max)
		}
		msg := fmt.Sprintf("retriable error on start, retry %d of %s in %s: %s", attempt, limit, d, trace(err))
		msg = redact(msg, t.secrets())
		t.log.Warn("task start failed with a retriable error; retrying", "attempt", attempt, "max_retries", r.max, "delay", d, "err", msg)
		t.setState(stateRestarting, msg)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(d):
		}
	}
}
