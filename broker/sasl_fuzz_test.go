package broker

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/auth"
)

// FuzzSASLExchange feeds arbitrary frames through request decoding and
// the SASL handshake/authenticate path of an unauthenticated SASL
// connection: nothing may panic, nothing may authenticate without the
// password, and the connection must end up closed or still
// unauthenticated.
func FuzzSASLExchange(f *testing.F) {
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "GSSAPI", ""} {
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = 1, mech
		for _, tok := range []string{"n,,n=alice,r=abc", "\x00alice\x00wrong", "y,a=alice,n=alice,r=x", "n,,n=al=2Cice,r=1,tokenauth=true", "c=biws,r=abc,p=AAAA", ""} {
			au := kmsg.NewPtrSASLAuthenticateRequest()
			au.Version, au.SASLAuthBytes = 1, []byte(tok)
			f.Add(encodeRequestFrame(hs, "c"), encodeRequestFrame(au, "c"), []byte("c=biws,r=abcXYZ,p=AAAA"))
		}
	}
	creds, err := auth.OpenCredentials("")
	if err != nil {
		f.Fatal(err)
	}
	for _, m := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA512} {
		c, err := m.NewCredential("the-password", auth.MinIterations)
		if err != nil {
			f.Fatal(err)
		}
		if err := creds.Set("alice", m, c); err != nil {
			f.Fatal(err)
		}
	}
	b := &Broker{
		log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		sec: &security{creds: creds, mechanisms: []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}},
	}
	f.Fuzz(func(t *testing.T, frame1, frame2, final []byte) {
		s := &session{listener: &listenerInfo{Listener: Listener{Protocol: SASLPlaintext}}, principal: auth.Anonymous}
		for _, fr := range [][]byte{frame1, frame2} {
			r, err := decodeRequest(fr)
			if err != nil {
				return // the connection would be closed
			}
			switch r.msg.(type) {
			case *kmsg.SASLHandshakeRequest, *kmsg.SASLAuthenticateRequest:
				b.dispatch(context.Background(), s, r, "127.0.0.1:1")
			default:
				// Anything else before authentication closes the connection.
				if resp := b.dispatch(context.Background(), s, r, "127.0.0.1:1"); resp != nil && r.key != apiKeyApiVersions {
					t.Fatalf("%s answered before authentication", kmsg.NameForKey(r.key))
				}
				if r.key != apiKeyApiVersions && !s.closing() {
					t.Fatalf("%s before authentication did not close the connection", kmsg.NameForKey(r.key))
				}
			}
			if s.closing() {
				return
			}
		}
		au := kmsg.NewPtrSASLAuthenticateRequest()
		au.Version, au.SASLAuthBytes = 1, final
		b.handleSaslAuthenticate(s, au)
		if s.authed && !s.closing() {
			t.Fatalf("authenticated as %s without the password", s.principal)
		}
	})
}
