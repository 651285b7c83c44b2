package pool

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func auto(min, max, mcu, cap, in, out int) Capacity {
	a := &AutoScaling{MinWorkerCount: min, MaxWorkerCount: max, McuCount: mcu, MaxAutoscalingTaskCount: cap}
	if in > 0 {
		a.ScaleInPolicy = &ScalingPolicy{CPUUtilizationPercentage: in}
	}
	if out > 0 {
		a.ScaleOutPolicy = &ScalingPolicy{CPUUtilizationPercentage: out}
	}
	return Capacity{AutoScaling: a}
}

func TestCapacityTasksMax(t *testing.T) {
	tests := []struct {
		name    string
		c       Capacity
		workers int
		want    int
		ok      bool
	}{
		{"provisioned keeps the connector's", Capacity{ProvisionedCapacity: &ProvisionedCapacity{McuCount: 2, WorkerCount: 3}}, 3, 0, false},
		{"autoscaled 1 worker", auto(1, 4, 1, 0, 0, 0), 1, 2, true},
		{"autoscaled 3 workers x 2 MCU", auto(1, 4, 2, 0, 0, 0), 3, 12, true},
		{"AWS example: 4 workers x 8 MCU", auto(1, 4, 8, 0, 0, 0), 4, 64, true},
		{"AWS example capped at 15", auto(1, 4, 8, 15, 0, 0), 4, 15, true},
		{"cap above the product", auto(1, 4, 1, 100, 0, 0), 2, 4, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := tc.c.TasksMax(tc.workers)
			if got != tc.want || ok != tc.ok {
				t.Errorf("TasksMax(%d) = %d, %v; want %d, %v", tc.workers, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestCapacityValidate(t *testing.T) {
	tests := []struct {
		json, field string
	}{
		{`{"provisionedCapacity":{"mcuCount":3,"workerCount":1}}`, "provisionedCapacity.mcuCount"},
		{`{"provisionedCapacity":{"mcuCount":1,"workerCount":0}}`, "provisionedCapacity.workerCount"},
		{`{"autoScaling":{"mcuCount":1,"minWorkerCount":3,"maxWorkerCount":2}}`, "autoScaling.maxWorkerCount"},
		{`{"autoScaling":{"mcuCount":1,"minWorkerCount":1,"maxWorkerCount":4,"maxAutoscalingTaskCount":3}}`, "autoScaling.maxAutoscalingTaskCount"},
		{`{"autoScaling":{"mcuCount":1,"minWorkerCount":1,"maxWorkerCount":2,"scaleOutPolicy":{"cpuUtilizationPercentage":101}}}`, "autoScaling.scaleOutPolicy.cpuUtilizationPercentage"},
		{`{"autoScaling":{"mcuCount":1,"minWorkerCount":1,"maxWorkerCount":2,"scaleInPolicy":{"cpuUtilizationPercentage":90}}}`, "autoScaling.scaleInPolicy.cpuUtilizationPercentage"},
		{`{"autoScaling":{"mcuCount":1,"minWorkerCount":1,"maxWorkerCount":2}}`, ""},
		{`{"provisionedCapacity":{"mcuCount":8,"workerCount":10}}`, ""},
	}
	for _, tc := range tests {
		_, err := ParseCapacity(tc.json)
		var ce *CapacityError
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: %v", tc.json, err)
		case tc.field != "" && (!errors.As(err, &ce) || ce.Field != tc.field):
			t.Errorf("%s: error %v, want one naming %s", tc.json, err, tc.field)
		}
	}
	for _, bad := range []string{`{}`, `{"autoScaling":{"mcuCount":1,"minWorkerCount":1,"maxWorkerCount":1},"provisionedCapacity":{"mcuCount":1,"workerCount":1}}`, `{"provisioned":{}}`} {
		if _, err := ParseCapacity(bad); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

func TestDecide(t *testing.T) {
	p := Policy{Interval: time.Second, ScaleOutWindow: 3 * time.Second, ScaleInWindow: 5 * time.Second, ScaleOutCooldown: 2 * time.Second, ScaleInCooldown: 4 * time.Second}
	c := auto(1, 3, 1, 0, 20, 80)
	t0 := time.Unix(1000, 0)
	series := func(cpu float64, n int, lag float64) []Sample {
		var ss []Sample
		for i := range n {
			ss = append(ss, Sample{At: t0.Add(time.Duration(i) * time.Second), CPU: cpu, Backlog: map[string]float64{"sink_lag": lag}})
		}
		return ss
	}
	lag := []Signal{{Name: "sink_lag", Threshold: 100}}
	now := func(ss []Sample) time.Time { return ss[len(ss)-1].At }
	tests := []struct {
		name      string
		c         Capacity
		signals   []Signal
		current   int
		samples   []Sample
		lastScale time.Time
		want      int
		reason    string
	}{
		{"hot for the window: out by one", c, nil, 1, series(95, 4, 0), t0.Add(-time.Minute), 2, "mean CPU 95% above scale-out 80%"},
		{"hot but window not covered", c, nil, 1, series(95, 2, 0), t0.Add(-time.Minute), 1, ""},
		{"hot but in cooldown", c, nil, 1, series(95, 4, 0), t0.Add(2 * time.Second), 1, ""},
		{"hot at max", c, nil, 3, series(95, 6, 0), t0.Add(-time.Minute), 3, ""},
		{"exactly at threshold is not above", c, nil, 1, series(80, 4, 0), t0.Add(-time.Minute), 1, ""},
		{"cold for the scale-in window: in by one", c, nil, 3, series(5, 6, 0), t0.Add(-time.Minute), 2, "below scale-in 20%"},
		{"cold but scale-in window not covered", c, nil, 3, series(5, 4, 0), t0.Add(-time.Minute), 3, ""},
		{"cold at min", c, nil, 1, series(5, 6, 0), t0.Add(-time.Minute), 1, ""},
		{"between thresholds", c, nil, 2, series(50, 6, 0), t0.Add(-time.Minute), 2, ""},
		{"lag asks for workers at low CPU", c, lag, 1, series(5, 4, 250), t0.Add(-time.Minute), 3, "sink_lag"},
		{"lag capped at max", c, lag, 1, series(5, 4, 5000), t0.Add(-time.Minute), 3, "sink_lag"},
		{"lag vetoes scale-in", c, lag, 3, series(5, 6, 250), t0.Add(-time.Minute), 3, ""},
		{"provisioned restores workerCount", Capacity{ProvisionedCapacity: &ProvisionedCapacity{McuCount: 1, WorkerCount: 2}}, nil, 1, series(95, 6, 0), t0, 2, "capacity requires"},
		{"provisioned ignores CPU", Capacity{ProvisionedCapacity: &ProvisionedCapacity{McuCount: 1, WorkerCount: 2}}, nil, 2, series(95, 6, 0), t0.Add(-time.Minute), 2, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(p, tc.c, tc.signals, tc.current, tc.samples, now(tc.samples), tc.lastScale)
			if d.Target != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %+v, want target %d with reason containing %q", d, tc.want, tc.reason)
			}
		})
	}
}

func TestOperationLog(t *testing.T) {
	l := NewOperationLog("c")
	from := &WorkerSetting{WorkerCount: 1}
	id := l.Begin(OpUpdateWorkerSetting, "autoscaler", "hot", from, &WorkerSetting{WorkerCount: 2})
	op, ok := l.Get(id)
	if !ok || op.State != OpInProgress || op.Steps[1].StepState != StepInProgress || !op.Ended.IsZero() {
		t.Fatalf("begun: %+v", op)
	}
	l.End(id, nil)
	id2 := l.Begin(OpUpdateWorkerSetting, "user", "resize", from, from)
	l.End(id2, errors.New("boom"))
	ops := l.List()
	if len(ops) != 2 || ops[0].State != OpComplete || ops[0].Ended.IsZero() || ops[1].State != OpFailed || ops[1].ErrorInfo == nil || ops[1].ErrorInfo.Message != "boom" {
		t.Fatalf("ops %+v", ops)
	}
	if ops[0].ID == ops[1].ID {
		t.Fatal("operation ids repeat")
	}
}

func TestEnvFromMCU(t *testing.T) {
	got := strings.Join(Env(2), " ")
	if got != "GOMAXPROCS=2 GOMEMLIMIT=6553MiB" {
		t.Errorf("Env(2) = %s", got)
	}
}
