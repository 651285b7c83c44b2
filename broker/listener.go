package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/broker/auth"
)

// SecurityProtocol is a listener's security protocol, named as Kafka and
// MSK name them.
type SecurityProtocol string

// The security protocols.
const (
	Plaintext     SecurityProtocol = "PLAINTEXT"
	SSL           SecurityProtocol = "SSL"
	SASLPlaintext SecurityProtocol = "SASL_PLAINTEXT"
	SASLSSL       SecurityProtocol = "SASL_SSL"
)

// ParseSecurityProtocol parses a protocol name (case-insensitive).
func ParseSecurityProtocol(s string) (SecurityProtocol, error) {
	p := SecurityProtocol(strings.ToUpper(strings.TrimSpace(s)))
	switch p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("unknown security protocol %q (want PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", s)
}

func (p SecurityProtocol) tls() bool  { return p == SSL || p == SASLSSL }
func (p SecurityProtocol) sasl() bool { return p == SASLPlaintext || p == SASLSSL }

// Listener is one Kafka listener: a name (as in listeners=NAME://host:port),
// the address to bind, the address advertised to clients that connect to
// it (default: the bound address) and its security protocol.
type Listener struct {
	Name       string
	Addr       string
	Advertised string
	Protocol   SecurityProtocol
	// TLS overrides WithTLSConfig for this listener (for example a
	// different ssl.client.auth).
	TLS *tls.Config
}

// ParseListeners parses Kafka's listeners, advertised.listeners and
// listener.security.protocol.map settings: "NAME://host:port,..." lists and
// a "NAME:PROTOCOL,..." map. A listener named after a protocol (SSL://...)
// needs no map entry.
func ParseListeners(listeners, advertised, protocolMap string) ([]Listener, error) {
	pm := map[string]SecurityProtocol{}
	for _, e := range splitListenerList(protocolMap) {
		name, proto, ok := strings.Cut(e, ":")
		if !ok {
			return nil, fmt.Errorf("listener.security.protocol.map entry %q: want NAME:PROTOCOL", e)
		}
		p, err := ParseSecurityProtocol(proto)
		if err != nil {
			return nil, fmt.Errorf("listener.security.protocol.map entry %q: %w", e, err)
		}
		pm[strings.ToUpper(name)] = p
	}
	parse := func(what, s string) ([]Listener, error) {
		var out []Listener
		for _, e := range splitListenerList(s) {
			name, addr, ok := strings.Cut(e, "://")
			if !ok || name == "" {
				return nil, fmt.Errorf("%s entry %q: want NAME://host:port", what, e)
			}
			if _, _, err := net.SplitHostPort(addr); err != nil {
				return nil, fmt.Errorf("%s entry %q: %w", what, e, err)
			}
			out = append(out, Listener{Name: strings.ToUpper(name), Addr: addr})
		}
		return out, nil
	}
	ls, err := parse("listeners", listeners)
	if err != nil {
		return nil, err
	}
	adv, err := parse("advertised.listeners", advertised)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i := range ls {
		l := &ls[i]
		if seen[l.Name] {
			return nil, fmt.Errorf("listeners: name %s appears twice", l.Name)
		}
		seen[l.Name] = true
		if p, ok := pm[l.Name]; ok {
			l.Protocol = p
		} else if p, err := ParseSecurityProtocol(l.Name); err == nil {
			l.Protocol = p
		} else {
			return nil, fmt.Errorf("listener %s: no security protocol (add %s:PROTOCOL to listener.security.protocol.map)", l.Name, l.Name)
		}
	}
	for _, a := range adv {
		found := false
		for i := range ls {
			if ls[i].Name == a.Name {
				ls[i].Advertised, found = a.Addr, true
			}
		}
		if !found {
			return nil, fmt.Errorf("advertised.listeners: %s is not in listeners", a.Name)
		}
	}
	return ls, nil
}

func splitListenerList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// securityOptions are the broker's security settings.
type securityOptions struct {
	listeners  []Listener
	tls        *tls.Config
	mechanisms []string
	authorizer *auth.AuthorizerConfig
	mapper     *auth.PrincipalMapper
	reauth     time.Duration
	// interBroker names the inter-broker listener; interClient holds the
	// credentials used on it (security_cluster.go).
	interBroker string
	interClient InterBrokerClient
}

// WithListeners sets the broker's listeners; the first one replaces
// WithListen/WithAdvertisedAddr and its advertised address is what Addr
// returns. Each connection's Metadata and FindCoordinator answers
// advertise the address of the listener it arrived on.
func WithListeners(ls ...Listener) Option {
	return func(o *options) {
		o.sec.listeners = ls
		if len(ls) > 0 {
			o.listen, o.advertised = ls[0].Addr, ls[0].Advertised
		}
	}
}

// WithTLSConfig sets the server TLS configuration of SSL and SASL_SSL
// listeners (certificate; ClientAuth and ClientCAs for mTLS). Versions
// below TLS 1.2 are refused whatever MinVersion says.
func WithTLSConfig(cfg *tls.Config) Option { return func(o *options) { o.sec.tls = cfg } }

// WithSASLMechanisms sets the enabled SASL mechanisms
// (sasl.enabled.mechanisms; default SCRAM-SHA-256, SCRAM-SHA-512, PLAIN).
// PLAIN checks the password against the user's stored SCRAM credential.
func WithSASLMechanisms(m ...string) Option { return func(o *options) { o.sec.mechanisms = m } }

// WithAuthorizer enables ACL authorization on every API (Kafka's
// StandardAuthorizer) with super users and allow.everyone.if.no.acl.found.
// Without it every principal may do everything and the ACL APIs answer
// SECURITY_DISABLED.
func WithAuthorizer(cfg auth.AuthorizerConfig) Option {
	return func(o *options) { o.sec.authorizer = &cfg }
}

// WithPrincipalMapping sets ssl.principal.mapping.rules for TLS client
// certificates (default: the subject DN as is).
func WithPrincipalMapping(pm *auth.PrincipalMapper) Option {
	return func(o *options) { o.sec.mapper = pm }
}

// WithReauthInterval sets connections.max.reauth.ms (KIP-368): SASL
// sessions last d (announced in SaslAuthenticate v1+), a client must
// re-authenticate before then, and a request on an expired session closes
// the connection. 0 (the default) means sessions never expire.
func WithReauthInterval(d time.Duration) Option { return func(o *options) { o.sec.reauth = d } }

// security is the broker's running security state.
type security struct {
	creds      *auth.Credentials
	acls       *auth.ACLs // nil: authorization disabled
	mechanisms []string
	mapper     *auth.PrincipalMapper
	reauth     time.Duration
	tls        *tls.Config
	primary    *listenerInfo
	extra      []*listenerInfo

	// syncMu serializes syncSecurity; synced is the Applied index of the
	// controller state last copied into creds and acls.
	syncMu sync.Mutex
	synced uint64
}

// listenerInfo is one bound listener.
type listenerInfo struct {
	Listener
	ln   net.Listener
	host string
	port int32
}

// secListener wraps a net.Listener so accepted connections carry their
// listener (and are TLS-wrapped on SSL/SASL_SSL listeners).
type secListener struct {
	net.Listener
	info *listenerInfo
	tls  *tls.Config
}

// Accept returns the next connection, wrapped.
func (l *secListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	if l.tls != nil {
		c = tls.Server(c, l.tls)
	}
	return &listenerConn{Conn: c, l: l.info}, nil
}

// listenerConn is an accepted connection and the listener it came from.
type listenerConn struct {
	net.Conn
	l *listenerInfo
}

func (b *Broker) credentialsPath() string { return b.opts.dataDir + "/security/scram-credentials.json" }
func (b *Broker) aclsPath() string        { return b.opts.dataDir + "/security/acls.json" }

// startSecurity loads the credential and ACL stores and wraps the primary
// listener b.ln (already bound at b.opts.listen); it binds the other
// listeners and starts their accept loops.
func (b *Broker) startSecurity() error {
	so := b.opts.sec
	s := &security{mechanisms: so.mechanisms, mapper: so.mapper, reauth: so.reauth}
	if s.mechanisms == nil {
		s.mechanisms = []string{"SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN"}
	}
	for _, m := range s.mechanisms {
		if _, err := auth.ParseMechanism(m); err != nil && m != "PLAIN" {
			return fmt.Errorf("broker: sasl mechanism %q: want SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN", m)
		}
	}
	if s.mapper == nil {
		s.mapper, _ = auth.ParseMappingRules("")
	}
	var err error
	credsPath, aclsPath := b.credentialsPath(), b.aclsPath()
	if b.cl != nil {
		// The controller's replicated state holds them (startClusterSecurity).
		credsPath, aclsPath = "", ""
	}
	if s.creds, err = auth.OpenCredentials(credsPath); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	if so.authorizer != nil {
		if s.acls, err = auth.OpenACLs(aclsPath, *so.authorizer); err != nil {
			return fmt.Errorf("broker: %w", err)
		}
	}
	if so.tls != nil {
		s.tls = so.tls.Clone()
		if s.tls.MinVersion < tls.VersionTLS12 {
			s.tls.MinVersion = tls.VersionTLS12
		}
	}
	ls := so.listeners
	if len(ls) == 0 {
		ls = []Listener{{Name: "PLAINTEXT", Addr: b.opts.listen, Advertised: b.opts.advertised, Protocol: Plaintext}}
	}
	for i, l := range ls {
		if l.Protocol == "" {
			ls[i].Protocol = Plaintext
		} else if _, err := ParseSecurityProtocol(string(l.Protocol)); err != nil {
			return fmt.Errorf("broker: listener %s: %w", l.Name, err)
		}
		if l.TLS != nil {
			ls[i].TLS = l.TLS.Clone()
			if ls[i].TLS.MinVersion < tls.VersionTLS12 {
				ls[i].TLS.MinVersion = tls.VersionTLS12
			}
		}
		if ls[i].Protocol.tls() && s.tls == nil && ls[i].TLS == nil {
			return fmt.Errorf("broker: listener %s uses %s but no TLS certificate is configured", l.Name, l.Protocol)
		}
	}
	if err := b.checkInterBroker(ls); err != nil {
		return err
	}
	s.primary = &listenerInfo{Listener: ls[0], ln: b.ln, host: b.host, port: b.port}
	b.ln = s.wrap(s.primary)
	b.sec = s
	for _, l := range ls[1:] {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			s.closeExtra()
			return fmt.Errorf("broker: listen %s (%s): %w", l.Addr, l.Name, err)
		}
		info := &listenerInfo{Listener: l, ln: ln}
		adv := l.Advertised
		if adv == "" {
			adv = ln.Addr().String()
		}
		if info.host, info.port, err = splitAdvertised(adv); err != nil {
			ln.Close()
			s.closeExtra()
			return fmt.Errorf("broker: listener %s: advertised address %q: %w", l.Name, adv, err)
		}
		s.extra = append(s.extra, info)
	}
	for _, info := range s.extra {
		b.wg.Add(1)
		go b.acceptExtra(s.wrap(info))
	}
	if b.cl != nil {
		b.startClusterSecurity()
	}
	return nil
}

func (s *security) wrap(info *listenerInfo) net.Listener {
	sl := &secListener{Listener: info.ln, info: info}
	if info.Protocol.tls() {
		sl.tls = s.tls
		if info.TLS != nil {
			sl.tls = info.TLS
		}
	}
	return sl
}

func (s *security) closeExtra() {
	for _, l := range s.extra {
		l.ln.Close()
	}
}

func splitAdvertised(adv string) (string, int32, error) {
	host, portS, err := net.SplitHostPort(adv)
	if err != nil {
		return "", 0, err
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, errors.New("bad port")
	}
	return host, int32(port), nil
}

// ListenerAddrs returns each listener's advertised host:port by name.
func (b *Broker) ListenerAddrs() map[string]string {
	out := map[string]string{}
	if b.sec == nil {
		return out
	}
	for _, l := range append([]*listenerInfo{b.sec.primary}, b.sec.extra...) {
		out[l.Name] = net.JoinHostPort(l.host, strconv.Itoa(int(l.port)))
	}
	return out
}

// Credentials returns the broker's SCRAM credential store.
func (b *Broker) Credentials() *auth.Credentials { return b.sec.creds }

// ACLs returns the ACL store, or nil if authorization is disabled.
func (b *Broker) ACLs() *auth.ACLs { return b.sec.acls }

// acceptExtra accepts on a non-primary listener until the broker closes.
func (b *Broker) acceptExtra(ln net.Listener) {
	defer b.wg.Done()
	stop := context.AfterFunc(b.ctx, func() { ln.Close() })
	defer stop()
	b.accept(ln)
}

// tlsHandshakeTimeout bounds the TLS handshake of a new connection.
const tlsHandshakeTimeout = 10 * time.Second

// session is one connection's security state.
type session struct {
	listener *listenerInfo
	host     string // client IP, as ACL hosts name it

	mu        sync.Mutex
	principal string
	authed    bool   // SASL authentication done (or not needed)
	mech      string // mechanism of the current (re)authentication
	scram     *scramServer
	expires   time.Time // zero: never
	reauthing bool
	close     bool // close the connection after the current response
}

// newSession completes the TLS handshake (if any) and derives the
// connection's initial principal.
func (b *Broker) newSession(ctx context.Context, c net.Conn) (*session, error) {
	s := &session{principal: auth.Anonymous, authed: true}
	host, _, err := net.SplitHostPort(c.RemoteAddr().String())
	if err != nil {
		host = c.RemoteAddr().String()
	}
	s.host = host
	lc, ok := c.(*listenerConn)
	if !ok || b.sec == nil {
		return s, nil
	}
	s.listener = lc.l
	if tc, ok := lc.Conn.(*tls.Conn); ok {
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 && !lc.l.Protocol.sasl() {
			s.principal = b.sec.mapper.CertPrincipal(certs[0])
		}
	}
	if lc.l.Protocol.sasl() {
		s.authed = false
	}
	return s, nil
}

func (s *session) closing() bool {
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.close
}

// advertisedFor returns the host and port to advertise on the session's
// listener; ok is false on the primary listener (handlers already use it).
func (s *session) advertisedFor() (string, int32, bool) {
	if s == nil || s.listener == nil || s.listener.ln == nil {
		return "", 0, false
	}
	return s.listener.host, s.listener.port, true
}
