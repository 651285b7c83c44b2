package convert

import (
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestStringConverterRendersValues(t *testing.T) {
	ts := time.Date(2024, 11, 27, 21, 33, 41, 947000000, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"string", "abc", "abc"},
		{"bytes", []byte("raw"), "raw"},
		{"int", int64(42), "42"},
		{"time as RFC 3339 in UTC", ts, "2024-11-27T20:33:41.947Z"},
		{"time pointer", &ts, "2024-11-27T20:33:41.947Z"},
		{"whole seconds", time.Unix(0, 0), "1970-01-01T00:00:00Z"},
	}
	c, err := NewString(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		b, err := c.FromConnect("t", connect.StringSchema, tc.v)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if string(b) != tc.want {
			t.Errorf("%s: wrote %q, want %q", tc.name, b, tc.want)
		}
	}
}
