package broker_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker"
)

// TestGroupSessionTimeoutBounds checks that WithGroupSessionTimeoutBounds
// reaches the group coordinator: a 1s session timeout is refused with
// Kafka's default bounds (6s..30m) and accepted once the minimum is lowered.
func TestGroupSessionTimeoutBounds(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []broker.Option
		want int16
	}{
		{"default bounds", nil, kerr.InvalidSessionTimeout.Code},
		{"min 500ms", []broker.Option{broker.WithGroupSessionTimeoutBounds(500*time.Millisecond, time.Minute)}, 0},
		{"max below request", []broker.Option{broker.WithGroupSessionTimeoutBounds(100*time.Millisecond, 900*time.Millisecond)}, kerr.InvalidSessionTimeout.Code},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// broker.New directly: testenv.StartBroker lowers the bounds.
			b, err := broker.New(append([]broker.Option{
				broker.WithDataDir(t.TempDir()),
				broker.WithListen("127.0.0.1:0"),
				broker.WithGroupInitialRebalanceDelay(0),
				broker.WithLogger(quietLogger()),
			}, tc.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { b.Close() })
			cl := newClient(t, b.Addr())
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req := kmsg.NewPtrJoinGroupRequest()
			req.Group = "g"
			req.MemberID = ""
			req.ProtocolType = "consumer"
			req.SessionTimeoutMillis = 1000
			req.RebalanceTimeoutMillis = 5000
			p := kmsg.NewJoinGroupRequestProtocol()
			p.Name = "range"
			p.Metadata = []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
			req.Protocols = append(req.Protocols, p)
			resp, err := req.RequestWith(ctx, cl)
			if err == nil && resp.ErrorCode == kerr.MemberIDRequired.Code {
				// v4+: join again with the member id the broker assigned.
				req.MemberID = resp.MemberID
				resp, err = req.RequestWith(ctx, cl)
			}
			if err != nil {
				t.Fatal(err)
			}
			if resp.ErrorCode != tc.want {
				t.Fatalf("JoinGroup with a 1s session timeout: error %v, want %v", kerr.ErrorForCode(resp.ErrorCode), kerr.ErrorForCode(tc.want))
			}
			if tc.want == 0 && (resp.MemberID == "" || resp.LeaderID != resp.MemberID) {
				t.Fatalf("accepted join: member %q leader %q", resp.MemberID, resp.LeaderID)
			}
		})
	}
	if _, err := broker.New(broker.WithDataDir(t.TempDir()), broker.WithListen("127.0.0.1:0"),
		broker.WithGroupSessionTimeoutBounds(time.Minute, time.Second)); err == nil {
		t.Fatal("New accepted min > max session timeout bounds")
	}
}
