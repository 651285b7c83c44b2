package broker_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestUncleanLeaderElectionConfig: the key is accepted with false only,
// at creation and when altered, and true is refused with the reason.
func TestUncleanLeaderElectionConfig(t *testing.T) {
	addr := testenv.StartBroker(t)
	ctx := context.Background()
	adm := kadm.NewClient(newClient(t, addr))
	const key = "unclean.leader.election.enable"
	cases := []struct {
		value   string
		wantErr string // "" = accepted
	}{
		{"false", ""},
		{"FALSE", ""},
		{"true", "lose acknowledged records"},
		{"maybe", "not a boolean"},
	}
	for i, tc := range cases {
		t.Run(tc.value, func(t *testing.T) {
			name := "unclean" + string(rune('a'+i))
			r, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{key: kmsg.StringPtr(tc.value)}, name)
			if r.Err == nil {
				r.Err = err // kadm returns a single topic's error as err too
			}
			if tc.wantErr == "" {
				if r.Err != nil {
					t.Fatalf("create with %s=%s: %v", key, tc.value, r.Err)
				}
				return
			}
			if !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, key) || !strings.Contains(r.ErrMessage, tc.wantErr) {
				t.Fatalf("create with %s=%s: %v %q, want INVALID_CONFIG naming the key and %q", key, tc.value, r.Err, r.ErrMessage, tc.wantErr)
			}
			// Altering an existing topic is refused the same way.
			if r, err := adm.CreateTopic(ctx, 1, 1, nil, name); err != nil || r.Err != nil {
				t.Fatalf("create %s: %v %v", name, err, r.Err)
			}
			rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: key, Value: kmsg.StringPtr(tc.value)}}, name)
			if err != nil || len(rs) != 1 || !errors.Is(rs[0].Err, kerr.InvalidConfig) {
				t.Fatalf("alter to %s=%s: %v %+v, want INVALID_CONFIG", key, tc.value, err, rs)
			}
		})
	}
	// Describe reports the default false.
	rcs, err := adm.DescribeTopicConfigs(ctx, "uncleana")
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On("uncleana", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range rc.Configs {
		if c.Key == key {
			found = c.Value != nil && strings.EqualFold(*c.Value, "false")
		}
	}
	if !found {
		t.Fatalf("DescribeConfigs does not report %s=false: %+v", key, rc.Configs)
	}
}
