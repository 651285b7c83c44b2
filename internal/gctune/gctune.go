// Package gctune sets the garbage collector policy sluice processes run
// with. A connector task allocates every record it moves and keeps few of
// them, so with Go's default target (GOGC=100) and a small live heap the
// collector runs hundreds of times a second and its marking and write
// barriers become a large share of a task's CPU. sluice therefore raises
// the target to [DefaultPercent] unless the operator chose one, and, when
// the process runs in a cgroup with a memory limit and GOMEMLIMIT is not
// set, sets a soft memory limit below it so the higher target cannot push
// the process into the cgroup's OOM killer.
package gctune

import (
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// DefaultPercent is the collector's target percentage (GOGC) sluice uses
// when the GOGC environment variable is not set.
const DefaultPercent = 400

// limitShare is the fraction of a cgroup memory limit used as the soft
// memory limit when GOMEMLIMIT is not set.
const limitShare = 0.9

// Policy is the collector setting a process runs with.
type Policy struct {
	// Percent is the GOGC target; negative means collection is off.
	Percent int
	// PercentFrom says where Percent came from: "default" or "GOGC".
	PercentFrom string
	// MemoryLimit is the soft memory limit in bytes, 0 for none set by sluice
	// or the environment.
	MemoryLimit int64
	// MemoryLimitFrom says where MemoryLimit came from: "GOMEMLIMIT",
	// "cgroup" or "" when there is none.
	MemoryLimitFrom string
}

// String renders the policy for a startup log line.
func (p Policy) String() string {
	s := fmt.Sprintf("GOGC=%d (%s)", p.Percent, p.PercentFrom)
	if p.Percent < 0 {
		s = "GOGC=off (" + p.PercentFrom + ")"
	}
	if p.MemoryLimitFrom != "" {
		s += fmt.Sprintf(", GOMEMLIMIT=%dMiB (%s)", p.MemoryLimit>>20, p.MemoryLimitFrom)
	}
	return s
}

// Env is what Decide reads: environment variables and the cgroup v2
// memory limit file's content ("" when absent).
type Env struct {
	Getenv    func(string) string
	CgroupMax string
}

// Decide returns the policy for env without applying it. GOGC and
// GOMEMLIMIT, when set, are the Go runtime's own and win; Decide only
// reports them.
func Decide(env Env) Policy {
	p := Policy{Percent: DefaultPercent, PercentFrom: "default"}
	if v := env.Getenv("GOGC"); v != "" {
		p.PercentFrom = "GOGC"
		if strings.EqualFold(v, "off") {
			p.Percent = -1
		} else if n, err := strconv.Atoi(v); err == nil {
			p.Percent = n
		} else {
			p.Percent = 100 // what the runtime does with a value it cannot parse
		}
	}
	if v := env.Getenv("GOMEMLIMIT"); v != "" {
		p.MemoryLimitFrom = "GOMEMLIMIT"
		p.MemoryLimit = debug.SetMemoryLimit(-1) // the runtime parsed it
		return p
	}
	if n, err := strconv.ParseInt(strings.TrimSpace(env.CgroupMax), 10, 64); err == nil && n > 0 {
		p.MemoryLimit = int64(float64(n) * limitShare)
		p.MemoryLimitFrom = "cgroup"
	}
	return p
}

// Apply decides the policy from the process environment and sets what
// the runtime does not already take from it: the default GOGC target and
// the cgroup-derived memory limit.
func Apply() Policy {
	p := Current()
	if p.PercentFrom == "default" {
		debug.SetGCPercent(p.Percent)
	}
	if p.MemoryLimitFrom == "cgroup" {
		debug.SetMemoryLimit(p.MemoryLimit)
	}
	return p
}

// Current is the policy Apply sets for this process's environment, for
// logging where Apply's result is not at hand.
func Current() Policy {
	max, _ := os.ReadFile("/sys/fs/cgroup/memory.max")
	return Decide(Env{Getenv: os.Getenv, CgroupMax: string(max)})
}
