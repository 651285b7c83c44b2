package pool

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// TasksPerMCU is how many tasks MSK Connect runs per MCU when it derives
// tasks.max in autoscaled mode.
const TasksPerMCU = 2

// MiBPerMCU is the memory of one MCU (1 MCU = 1 vCPU + 4 GiB).
const MiBPerMCU = 4096

// Capacity is MSK Connect's capacity: exactly one of AutoScaling and
// ProvisionedCapacity is set.
type Capacity struct {
	AutoScaling         *AutoScaling         `json:"autoScaling,omitempty"`
	ProvisionedCapacity *ProvisionedCapacity `json:"provisionedCapacity,omitempty"`
}

// AutoScaling is MSK Connect's autoscaled capacity.
type AutoScaling struct {
	MaxWorkerCount          int            `json:"maxWorkerCount"`
	McuCount                int            `json:"mcuCount"`
	MinWorkerCount          int            `json:"minWorkerCount"`
	MaxAutoscalingTaskCount int            `json:"maxAutoscalingTaskCount,omitempty"`
	ScaleInPolicy           *ScalingPolicy `json:"scaleInPolicy,omitempty"`
	ScaleOutPolicy          *ScalingPolicy `json:"scaleOutPolicy,omitempty"`
}

// ScalingPolicy is a scale-in or scale-out policy.
type ScalingPolicy struct {
	CPUUtilizationPercentage int `json:"cpuUtilizationPercentage"`
}

// ProvisionedCapacity is MSK Connect's fixed capacity.
type ProvisionedCapacity struct {
	McuCount    int `json:"mcuCount"`
	WorkerCount int `json:"workerCount"`
}

// Default CPU thresholds used when an autoscaled capacity has no policy
// (the values MSK users commonly set; AWS documents no default).
const (
	DefaultScaleInCPU  = 20
	DefaultScaleOutCPU = 80
)

// MaxWorkers is the per-pool worker limit sluice enforces (MSK's old
// documented range for worker counts).
const MaxWorkers = 10

// CapacityError names the capacity field at fault.
type CapacityError struct {
	Field string
	Msg   string
}

// Error implements error.
func (e *CapacityError) Error() string { return e.Field + " " + e.Msg }

// ParseCapacity decodes MSK-style capacity JSON (unknown fields are errors)
// and validates it.
func ParseCapacity(s string) (Capacity, error) {
	var c Capacity
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return c, err
	}
	return c, c.Validate()
}

func validMCU(n int) bool { return n == 1 || n == 2 || n == 4 || n == 8 }

// Validate applies MSK Connect's rules: exactly one branch, mcuCount 1, 2,
// 4 or 8, worker counts within 1..MaxWorkers, min <= max,
// maxAutoscalingTaskCount >= maxWorkerCount, CPU percentages 1..100 and
// scale-in below scale-out.
func (c Capacity) Validate() error {
	switch {
	case c.AutoScaling == nil && c.ProvisionedCapacity == nil:
		return errors.New("set one of autoScaling or provisionedCapacity")
	case c.AutoScaling != nil && c.ProvisionedCapacity != nil:
		return errors.New("set only one of autoScaling or provisionedCapacity")
	case c.ProvisionedCapacity != nil:
		p := c.ProvisionedCapacity
		if !validMCU(p.McuCount) {
			return &CapacityError{"provisionedCapacity.mcuCount", fmt.Sprintf("%d must be 1, 2, 4 or 8", p.McuCount)}
		}
		if p.WorkerCount < 1 || p.WorkerCount > MaxWorkers {
			return &CapacityError{"provisionedCapacity.workerCount", fmt.Sprintf("%d must be between 1 and %d", p.WorkerCount, MaxWorkers)}
		}
		return nil
	}
	a := c.AutoScaling
	if !validMCU(a.McuCount) {
		return &CapacityError{"autoScaling.mcuCount", fmt.Sprintf("%d must be 1, 2, 4 or 8", a.McuCount)}
	}
	if a.MinWorkerCount < 1 || a.MinWorkerCount > MaxWorkers {
		return &CapacityError{"autoScaling.minWorkerCount", fmt.Sprintf("%d must be between 1 and %d", a.MinWorkerCount, MaxWorkers)}
	}
	if a.MaxWorkerCount < a.MinWorkerCount || a.MaxWorkerCount > MaxWorkers {
		return &CapacityError{"autoScaling.maxWorkerCount", fmt.Sprintf("%d must be between minWorkerCount (%d) and %d", a.MaxWorkerCount, a.MinWorkerCount, MaxWorkers)}
	}
	if a.MaxAutoscalingTaskCount != 0 && a.MaxAutoscalingTaskCount < a.MaxWorkerCount {
		return &CapacityError{"autoScaling.maxAutoscalingTaskCount", fmt.Sprintf("%d must be at least maxWorkerCount (%d)", a.MaxAutoscalingTaskCount, a.MaxWorkerCount)}
	}
	for _, p := range []struct {
		name string
		p    *ScalingPolicy
	}{{"scaleInPolicy", a.ScaleInPolicy}, {"scaleOutPolicy", a.ScaleOutPolicy}} {
		if p.p != nil && (p.p.CPUUtilizationPercentage < 1 || p.p.CPUUtilizationPercentage > 100) {
			return &CapacityError{"autoScaling." + p.name + ".cpuUtilizationPercentage", fmt.Sprintf("%d must be between 1 and 100", p.p.CPUUtilizationPercentage)}
		}
	}
	if in, out := a.ScaleInCPU(), a.ScaleOutCPU(); in >= out {
		return &CapacityError{"autoScaling.scaleInPolicy.cpuUtilizationPercentage", fmt.Sprintf("%d must be below scaleOutPolicy.cpuUtilizationPercentage (%d)", in, out)}
	}
	return nil
}

// ScaleInCPU is the scale-in CPU percentage (DefaultScaleInCPU if unset).
func (a *AutoScaling) ScaleInCPU() int {
	if a.ScaleInPolicy == nil {
		return DefaultScaleInCPU
	}
	return a.ScaleInPolicy.CPUUtilizationPercentage
}

// ScaleOutCPU is the scale-out CPU percentage (DefaultScaleOutCPU if unset).
func (a *AutoScaling) ScaleOutCPU() int {
	if a.ScaleOutPolicy == nil {
		return DefaultScaleOutCPU
	}
	return a.ScaleOutPolicy.CPUUtilizationPercentage
}

// Autoscaled reports whether the capacity is autoscaled.
func (c Capacity) Autoscaled() bool { return c.AutoScaling != nil }

// MCU is the MCU count of every worker.
func (c Capacity) MCU() int {
	if c.ProvisionedCapacity != nil {
		return c.ProvisionedCapacity.McuCount
	}
	if c.AutoScaling != nil {
		return c.AutoScaling.McuCount
	}
	return 1
}

// Bounds returns the worker count range: [workerCount, workerCount] when
// provisioned, [minWorkerCount, maxWorkerCount] when autoscaled.
func (c Capacity) Bounds() (lo, hi int) {
	if p := c.ProvisionedCapacity; p != nil {
		return p.WorkerCount, p.WorkerCount
	}
	if a := c.AutoScaling; a != nil {
		return a.MinWorkerCount, a.MaxWorkerCount
	}
	return 1, 1
}

// Clamp returns n within Bounds.
func (c Capacity) Clamp(n int) int {
	lo, hi := c.Bounds()
	return max(lo, min(hi, n))
}

// TasksMax is the tasks.max MSK Connect imposes at the given worker count:
// in autoscaled mode workers × mcuCount × 2, capped by
// maxAutoscalingTaskCount; ok is false in provisioned mode, where MSK
// keeps the connector's own tasks.max.
func (c Capacity) TasksMax(workers int) (n int, ok bool) {
	a := c.AutoScaling
	if a == nil {
		return 0, false
	}
	n = workers * a.McuCount * TasksPerMCU
	if a.MaxAutoscalingTaskCount > 0 && a.MaxAutoscalingTaskCount < n {
		n = a.MaxAutoscalingTaskCount
	}
	return n, true
}

// String renders the capacity for people.
func (c Capacity) String() string {
	if p := c.ProvisionedCapacity; p != nil {
		return fmt.Sprintf("provisioned: %d worker(s) x %d MCU", p.WorkerCount, p.McuCount)
	}
	if a := c.AutoScaling; a != nil {
		return fmt.Sprintf("autoscaling: %d-%d worker(s) x %d MCU, scale out above %d%% CPU, in below %d%%", a.MinWorkerCount, a.MaxWorkerCount, a.McuCount, a.ScaleOutCPU(), a.ScaleInCPU())
	}
	return "none"
}
