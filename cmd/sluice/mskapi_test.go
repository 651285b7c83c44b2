package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCapacityShorthand(t *testing.T) {
	for _, tc := range []struct {
		in, want, err string
	}{
		{in: "provisionedCapacity={mcuCount=1,workerCount=2}", want: `{"provisionedCapacity":{"mcuCount":1,"workerCount":2}}`},
		{in: "autoScaling={maxWorkerCount=4,mcuCount=2,minWorkerCount=1,scaleInPolicy={cpuUtilizationPercentage=20},scaleOutPolicy={cpuUtilizationPercentage=80}}",
			want: `{"autoScaling":{"maxWorkerCount":4,"mcuCount":2,"minWorkerCount":1,"scaleInPolicy":{"cpuUtilizationPercentage":20},"scaleOutPolicy":{"cpuUtilizationPercentage":80}}}`},
		{in: `{"provisionedCapacity":{"mcuCount":1,"workerCount":1}}`, want: `{"provisionedCapacity":{"mcuCount":1,"workerCount":1}}`},
		{in: "provisionedCapacity={mcuCount=3,workerCount=1}", err: "provisionedCapacity.mcuCount 3 must be 1, 2, 4 or 8"},
		{in: "provisionedCapacity={mcuCount=1,workerCount=1", err: "missing '}'"},
		{in: "provisionedCapacity={mcuCount=1,mcuCount=2}", err: "given twice"},
		{in: "provisionedCapacity", err: "expected key=value"},
		{in: "autoScaling={mcuCount=1},provisionedCapacity={mcuCount=1,workerCount=1}", err: "only one"},
	} {
		c, err := parseCapacity(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseCapacity(%q) = %v, want error containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseCapacity(%q): %v", tc.in, err)
			continue
		}
		want, err := parseCapacity(tc.want)
		if err != nil || c.String() != want.String() || c.MCU() != want.MCU() {
			t.Errorf("parseCapacity(%q) = %s, want %s (%v)", tc.in, c, want, err)
		}
	}
}

func TestReadAWSCredentials(t *testing.T) {
	p := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(p, []byte("[default]\naws_access_key_id = AK1\naws_secret_access_key = s1\n\n[other]\naws_access_key_id=AK2\naws_secret_access_key=s2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readAWSCredentials(p)
	if err != nil || len(got) != 2 || got["AK1"] != "s1" || got["AK2"] != "s2" {
		t.Fatalf("readAWSCredentials: %v, %v", got, err)
	}
	if err := os.WriteFile(p, []byte("[default]\nregion=us-east-1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := readAWSCredentials(p); err == nil {
		t.Fatal("a file without keys was accepted")
	}
}
