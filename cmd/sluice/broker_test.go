package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// lockedBuffer is a bytes.Buffer safe for one writer and one reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestBrokerSessionTimeoutFlags(t *testing.T) {
	t.Run("bad bounds", func(t *testing.T) {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"broker", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
			"--group-min-session-timeout", "10s", "--group-max-session-timeout", "5s"}, &out, &errb)
		if code != 2 || !strings.Contains(errb.String(), "--group-min-session-timeout") {
			t.Fatalf("exit %d, stderr %q", code, errb.String())
		}
	})
	t.Run("lowered minimum accepts a 1s session", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var out, errb lockedBuffer
		done := make(chan int, 1)
		go func() {
			done <- run(ctx, []string{"broker", "--data-dir", t.TempDir(), "--listen", "127.0.0.1:0",
				"--group-initial-rebalance-delay", "0s", "--log-level", "error",
				"--group-min-session-timeout", "500ms", "--group-max-session-timeout", "1m"}, &out, &errb)
		}()
		var addr string
		deadline := time.Now().Add(20 * time.Second)
		for addr == "" {
			if _, rest, ok := strings.Cut(out.String(), "listening on "); ok && strings.HasSuffix(rest, "\n") {
				addr = strings.TrimSpace(rest)
				break
			}
			select {
			case code := <-done:
				t.Fatalf("broker exited %d: %s", code, errb.String())
			default:
			}
			if time.Now().After(deadline) {
				t.Fatalf("broker did not start: %q %q", out.String(), errb.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		req := kmsg.NewPtrJoinGroupRequest()
		req.Group, req.ProtocolType = "g", "consumer"
		req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = 1000, 5000
		p := kmsg.NewJoinGroupRequestProtocol()
		p.Name, p.Metadata = "range", []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}
		req.Protocols = append(req.Protocols, p)
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		resp, err := req.RequestWith(rctx, cl)
		if err == nil && resp.ErrorCode == kerr.MemberIDRequired.Code {
			req.MemberID = resp.MemberID
			resp, err = req.RequestWith(rctx, cl)
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("JoinGroup with a 1s session timeout: %v", kerr.ErrorForCode(resp.ErrorCode))
		}
		cancel()
		if code := <-done; code != 0 {
			t.Fatalf("broker exit %d: %s", code, errb.String())
		}
	})
}
