package broker

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/auth"
)

// handleSaslHandshake selects the mechanism for the next SaslAuthenticate
// exchanges. On an authenticated connection it starts a re-authentication
// (KIP-368).
func (b *Broker) handleSaslHandshake(s *session, req *kmsg.SASLHandshakeRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = b.sec.mechanisms
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil || !s.listener.Protocol.sasl() {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		s.close = true
		return resp
	}
	if req.Version == 0 {
		// v0 is followed by unframed SASL tokens (clients before Kafka 1.0).
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		s.close = true
		return resp
	}
	if s.mech != "" && !s.authed {
		// A second handshake before authenticating.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		s.close = true
		return resp
	}
	if !slices.Contains(b.sec.mechanisms, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		s.close = true
		return resp
	}
	if s.authed {
		if s.mech != req.Mechanism {
			// Kafka refuses to switch mechanisms on re-authentication.
			resp.ErrorCode = kerr.IllegalSaslState.Code
			s.close = true
			return resp
		}
		s.reauthing = true
	}
	s.mech = req.Mechanism
	s.scram = nil
	return resp
}

// handleSaslAuthenticate runs one SASL exchange step.
func (b *Broker) handleSaslAuthenticate(s *session, req *kmsg.SASLAuthenticateRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	s.mu.Lock()
	defer s.mu.Unlock()
	fail := func(code int16, msg string) kmsg.Response {
		resp.ErrorCode = code
		resp.ErrorMessage = kmsg.StringPtr(msg)
		s.close = true
		b.log.Info("SASL authentication failed", "remote_host", s.host, "mechanism", s.mech, "reason", msg)
		return resp
	}
	if s.mech == "" || (s.authed && !s.reauthing) {
		return fail(kerr.IllegalSaslState.Code, "SaslAuthenticate without a preceding SaslHandshake")
	}
	var user string
	var done bool
	switch s.mech {
	case "PLAIN":
		u, err := b.plainAuth(req.SASLAuthBytes)
		if err != nil {
			return fail(kerr.SaslAuthenticationFailed.Code, fmt.Sprintf("Authentication failed: %v", err))
		}
		user, done = u, true
	default:
		m, _ := auth.ParseMechanism(s.mech)
		if s.scram == nil {
			s.scram = &scramServer{mech: m, creds: b.sec.creds}
		}
		out, u, err := s.scram.step(req.SASLAuthBytes)
		if err != nil {
			b.log.Info("SCRAM exchange failed", "remote_host", s.host, "mechanism", s.mech, "user", s.scram.user, "reason", err.Error())
			return fail(kerr.SaslAuthenticationFailed.Code, fmt.Sprintf("Authentication failed during authentication due to invalid credentials with SASL mechanism %s", s.mech))
		}
		resp.SASLAuthBytes = out
		user, done = u, u != ""
	}
	if !done {
		return resp
	}
	p := auth.UserPrincipal(user)
	if s.reauthing {
		if p != s.principal {
			return fail(kerr.SaslAuthenticationFailed.Code, fmt.Sprintf("Cannot change principals during re-authentication from %s to %s", s.principal, p))
		}
		b.log.Debug("SASL re-authentication succeeded", "principal", p, "remote_host", s.host)
	}
	s.principal, s.authed, s.reauthing, s.scram = p, true, false, nil
	if b.sec.reauth > 0 {
		s.expires = time.Now().Add(b.sec.reauth)
		if req.Version >= 1 {
			resp.SessionLifetimeMillis = b.sec.reauth.Milliseconds()
		}
	}
	return resp
}

// plainAuth checks a PLAIN message ("authzid NUL user NUL password")
// against the user's stored SCRAM credential.
func (b *Broker) plainAuth(msg []byte) (string, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return "", errors.New("PLAIN message must be authzid NUL user NUL password")
	}
	authz, user, pass := string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" {
		return "", errors.New("empty user name")
	}
	if authz != "" && authz != user {
		return "", errors.New("authorization id must be empty or the user name")
	}
	m, cred, ok := b.sec.creds.Any(user)
	if !ok || !m.VerifyPassword(cred, pass) {
		//lint:ignore ST1005 Kafka's own wording, which clients show to users
		return "", errors.New("Invalid username or password")
	}
	return user, nil
}

// scramServer is the server side of one SCRAM exchange (RFC 5802):
// client-first -> server-first, client-final -> server-final.
type scramServer struct {
	mech  auth.Mechanism
	creds *auth.Credentials

	stage       int
	user        string
	known       bool
	cred        auth.Credential
	gs2         string
	nonce       string
	clientFirst string // client-first-message-bare
	serverFirst string
}

// step consumes one client message and returns the reply; user is set
// once the exchange completes successfully.
func (sc *scramServer) step(in []byte) (out []byte, user string, err error) {
	switch sc.stage {
	case 0:
		sc.stage = 1
		return sc.first(string(in))
	case 1:
		sc.stage = 2
		return sc.final(string(in))
	}
	return nil, "", errors.New("SCRAM exchange already finished")
}

func (sc *scramServer) first(msg string) ([]byte, string, error) {
	// gs2-header: "n," or "y," (no channel binding), optional "a=authzid", ",".
	if !strings.HasPrefix(msg, "n,") && !strings.HasPrefix(msg, "y,") {
		return nil, "", errors.New("client-first: channel binding is not supported")
	}
	i := strings.IndexByte(msg[2:], ',')
	if i < 0 {
		return nil, "", errors.New("client-first: missing gs2 header")
	}
	authz := msg[2 : 2+i]
	sc.gs2 = msg[:2+i+1]
	bare := msg[2+i+1:]
	sc.clientFirst = bare
	attrs := strings.Split(bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, "", errors.New("client-first: want n=user,r=nonce")
	}
	user, err := scramUnescape(attrs[0][2:])
	if err != nil {
		return nil, "", err
	}
	if authz != "" {
		az, err := scramUnescape(strings.TrimPrefix(authz, "a="))
		if err != nil || !strings.HasPrefix(authz, "a=") || az != user {
			return nil, "", errors.New("client-first: authorization id must equal the user name")
		}
	}
	for _, ext := range attrs[2:] {
		// Extensions such as tokenauth=true (delegation tokens) are not supported.
		if strings.HasPrefix(ext, "tokenauth=") && ext != "tokenauth=false" {
			return nil, "", errors.New("client-first: delegation tokens are not supported")
		}
	}
	cnonce := attrs[1][2:]
	if cnonce == "" {
		return nil, "", errors.New("client-first: empty nonce")
	}
	sc.user = user
	sc.cred, sc.known = sc.creds.Lookup(user, sc.mech)
	if !sc.known {
		// Answer like for a real user so the exchange does not reveal
		// which users exist; the proof check fails at the end.
		salt := make([]byte, 24)
		_, _ = rand.Read(salt)
		sc.cred = auth.Credential{Salt: salt, Iterations: auth.MinIterations}
	}
	snonce := make([]byte, 18)
	if _, err := rand.Read(snonce); err != nil {
		return nil, "", err
	}
	sc.nonce = cnonce + base64.RawURLEncoding.EncodeToString(snonce)
	sc.serverFirst = fmt.Sprintf("r=%s,s=%s,i=%d", sc.nonce, base64.StdEncoding.EncodeToString(sc.cred.Salt), sc.cred.Iterations)
	return []byte(sc.serverFirst), "", nil
}

func (sc *scramServer) final(msg string) ([]byte, string, error) {
	idx := strings.LastIndex(msg, ",p=")
	if idx < 0 {
		return nil, "", errors.New("client-final: missing proof")
	}
	withoutProof := msg[:idx]
	proof, err := base64.StdEncoding.DecodeString(msg[idx+3:])
	if err != nil {
		return nil, "", errors.New("client-final: proof is not base64")
	}
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "c=") || !strings.HasPrefix(attrs[1], "r=") {
		return nil, "", errors.New("client-final: want c=<binding>,r=<nonce>,p=<proof>")
	}
	if attrs[0][2:] != base64.StdEncoding.EncodeToString([]byte(sc.gs2)) {
		return nil, "", errors.New("client-final: channel binding does not match the gs2 header")
	}
	// Like Kafka, accept a nonce that ends with ours: librdkafka repeats
	// its client nonce in front of the combined nonce.
	if !strings.HasSuffix(attrs[1][2:], sc.nonce) {
		return nil, "", errors.New("client-final: nonce mismatch")
	}
	if !sc.known {
		return nil, "", errors.New("unknown user")
	}
	authMsg := []byte(sc.clientFirst + "," + sc.serverFirst + "," + withoutProof)
	sig := sc.mech.HMAC(sc.cred.StoredKey, authMsg)
	if len(proof) != len(sig) {
		return nil, "", errors.New("client-final: proof has the wrong length")
	}
	clientKey := make([]byte, len(sig))
	for i := range sig {
		clientKey[i] = proof[i] ^ sig[i]
	}
	if subtle.ConstantTimeCompare(sc.mech.H(clientKey), sc.cred.StoredKey) != 1 {
		return nil, "", errors.New("invalid proof")
	}
	serverSig := sc.mech.HMAC(sc.cred.ServerKey, authMsg)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSig)), sc.user, nil
}

// scramUnescape decodes a SCRAM saslname ("=2C" is ',', "=3D" is '=').
func scramUnescape(s string) (string, error) {
	if !strings.Contains(s, "=") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", fmt.Errorf("client-first: bad escape in user name at byte %d", i)
		}
		i += 2
	}
	return b.String(), nil
}
