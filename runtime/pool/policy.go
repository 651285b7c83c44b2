package pool

import (
	"fmt"
	"math"
	"time"
)

// Policy holds the autoscaler's timing knobs. MSK Connect documents none
// of these; the defaults (DefaultPolicy) follow CloudWatch's one-minute
// datapoints and the Kubernetes HPA's slow scale-in.
type Policy struct {
	// Interval is how often the manager samples CPU and backlog signals
	// and checks worker health.
	Interval time.Duration
	// ScaleOutWindow: scale out when the pool's mean CPU over this window
	// is above the scale-out percentage (or a backlog signal's mean over
	// it asks for more workers).
	ScaleOutWindow time.Duration
	// ScaleInWindow: scale in when the mean CPU over this window is below
	// the scale-in percentage and no backlog signal needs the workers.
	ScaleInWindow time.Duration
	// ScaleOutCooldown is the minimum time after any scale event before a
	// scale-out; ScaleInCooldown before a scale-in.
	ScaleOutCooldown time.Duration
	ScaleInCooldown  time.Duration
	// SettleTimeout bounds how long a scale event waits for the
	// connector's tasks to run on the new worker set.
	SettleTimeout time.Duration
}

// DefaultPolicy returns the default timings: sample every 10s, scale out
// on a 1-minute mean, scale in on a 5-minute mean, cooldowns of 2 and 5
// minutes.
func DefaultPolicy() Policy {
	return Policy{
		Interval:         10 * time.Second,
		ScaleOutWindow:   time.Minute,
		ScaleInWindow:    5 * time.Minute,
		ScaleOutCooldown: 2 * time.Minute,
		ScaleInCooldown:  5 * time.Minute,
		SettleTimeout:    2 * time.Minute,
	}
}

func (p Policy) withDefaults() Policy {
	d := DefaultPolicy()
	if p.Interval <= 0 {
		p.Interval = d.Interval
	}
	if p.ScaleOutWindow <= 0 {
		p.ScaleOutWindow = d.ScaleOutWindow
	}
	if p.ScaleInWindow <= 0 {
		p.ScaleInWindow = d.ScaleInWindow
	}
	if p.ScaleOutCooldown < 0 {
		p.ScaleOutCooldown = 0
	}
	if p.ScaleInCooldown < 0 {
		p.ScaleInCooldown = 0
	}
	if p.SettleTimeout <= 0 {
		p.SettleTimeout = d.SettleTimeout
	}
	return p
}

// Sample is one observation of the pool: its mean CPU utilization (percent
// of the workers' MCUs) and each backlog signal's value.
type Sample struct {
	At      time.Time
	CPU     float64
	Backlog map[string]float64
}

// Decision is the autoscaler's verdict.
type Decision struct {
	Target int
	Reason string
}

// Decide applies the scaling rules to samples taken since the last scale
// event (oldest first): MSK's CPU rule (mean CPU over the window above
// the scale-out percentage adds a worker, below the scale-in percentage
// removes one), and each backlog signal asking for ceil(mean/threshold)
// workers (it can add workers and veto a scale-in, never remove workers).
// A window only counts once the samples cover it; cooldowns count from
// lastScale. The target stays within the capacity's bounds; provisioned
// capacity always targets workerCount.
func Decide(p Policy, c Capacity, signals []Signal, current int, samples []Sample, now, lastScale time.Time) Decision {
	lo, hi := c.Bounds()
	if c.AutoScaling == nil || current < lo || current > hi {
		t := c.Clamp(current)
		if t != current {
			return Decision{t, fmt.Sprintf("capacity requires %d-%d worker(s)", lo, hi)}
		}
		return Decision{current, ""}
	}
	a := c.AutoScaling
	window := func(d time.Duration) ([]Sample, bool) {
		if len(samples) == 0 || now.Sub(samples[0].At) < d-p.Interval/2 {
			return nil, false
		}
		i := len(samples)
		for i > 0 && now.Sub(samples[i-1].At) <= d {
			i--
		}
		return samples[i:], len(samples[i:]) > 0
	}
	meanCPU := func(ss []Sample) float64 {
		var s float64
		for _, x := range ss {
			s += x.CPU
		}
		return s / float64(len(ss))
	}
	signalWant := func(ss []Sample, sig Signal) (int, float64) {
		var s float64
		for _, x := range ss {
			s += x.Backlog[sig.Name]
		}
		m := s / float64(len(ss))
		if sig.Threshold <= 0 || m <= 0 {
			return 0, m
		}
		return int(math.Ceil(m / sig.Threshold)), m
	}
	since := now.Sub(lastScale)
	if out, ok := window(p.ScaleOutWindow); ok && since >= p.ScaleOutCooldown && current < hi {
		target, reason := current, ""
		if m := meanCPU(out); m > float64(a.ScaleOutCPU()) {
			target = current + 1
			reason = fmt.Sprintf("mean CPU %.0f%% above scale-out %d%% over %s", m, a.ScaleOutCPU(), p.ScaleOutWindow)
		}
		for _, sig := range signals {
			if want, m := signalWant(out, sig); want > target {
				target = want
				reason = fmt.Sprintf("mean %s %.0f over %s wants %d worker(s) at threshold %.0f per worker", sig.Name, m, p.ScaleOutWindow, want, sig.Threshold)
			}
		}
		if target > current {
			return Decision{min(target, hi), reason}
		}
	}
	if in, ok := window(p.ScaleInWindow); ok && since >= p.ScaleInCooldown && current > lo {
		m := meanCPU(in)
		if m >= float64(a.ScaleInCPU()) {
			return Decision{current, ""}
		}
		for _, sig := range signals {
			if want, _ := signalWant(in, sig); want >= current {
				return Decision{current, ""}
			}
		}
		return Decision{current - 1, fmt.Sprintf("mean CPU %.0f%% below scale-in %d%% over %s", m, a.ScaleInCPU(), p.ScaleInWindow)}
	}
	return Decision{current, ""}
}
