package gctune

import "testing"

func TestDecide(t *testing.T) {
	tests := []struct {
		name      string
		env       map[string]string
		cgroupMax string
		want      Policy
		text      string
	}{
		{"default", nil, "", Policy{Percent: DefaultPercent, PercentFrom: "default"}, "GOGC=400 (default)"},
		{"GOGC set", map[string]string{"GOGC": "150"}, "", Policy{Percent: 150, PercentFrom: "GOGC"}, "GOGC=150 (GOGC)"},
		{"GOGC off", map[string]string{"GOGC": "off"}, "", Policy{Percent: -1, PercentFrom: "GOGC"}, "GOGC=off (GOGC)"},
		{"GOGC unparsable", map[string]string{"GOGC": "lots"}, "", Policy{Percent: 100, PercentFrom: "GOGC"}, "GOGC=100 (GOGC)"},
		{"cgroup unlimited", nil, "max\n", Policy{Percent: DefaultPercent, PercentFrom: "default"}, "GOGC=400 (default)"},
		{"cgroup limit", nil, "1073741824\n", Policy{Percent: DefaultPercent, PercentFrom: "default", MemoryLimit: 966367641, MemoryLimitFrom: "cgroup"},
			"GOGC=400 (default), GOMEMLIMIT=921MiB (cgroup)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(Env{Getenv: func(k string) string { return tt.env[k] }, CgroupMax: tt.cgroupMax})
			if got != tt.want {
				t.Fatalf("Decide = %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.text {
				t.Fatalf("String = %q, want %q", s, tt.text)
			}
		})
	}
}

// TestDecideGOMEMLIMITWins checks that an operator's GOMEMLIMIT is
// reported, not replaced by the cgroup-derived limit.
func TestDecideGOMEMLIMITWins(t *testing.T) {
	got := Decide(Env{Getenv: func(k string) string {
		if k == "GOMEMLIMIT" {
			return "512MiB"
		}
		return ""
	}, CgroupMax: "1073741824"})
	if got.MemoryLimitFrom != "GOMEMLIMIT" {
		t.Fatalf("MemoryLimitFrom = %q, want GOMEMLIMIT", got.MemoryLimitFrom)
	}
}
