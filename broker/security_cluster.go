package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/broker/controller"
)

// In cluster mode the ACLs and SCRAM credentials live in the controller's
// replicated state: CreateAcls, DeleteAcls and AlterUserScramCredentials
// (and Credentials().Set) propose commands, and every broker's stores are
// replaced by the state's contents whenever it is applied (syncSecurity).

// secReplicator routes the broker's ACL and credential changes through the
// controller quorum; it implements auth.ACLReplicator and
// auth.CredentialReplicator.
type secReplicator struct{ b *Broker }

func (r secReplicator) propose(cmd *controller.Cmd) (controller.Result, *topicError) {
	res, terr := r.b.cl.propose(r.b.ctx, cmd)
	if terr == nil {
		// Propose returns once the command is applied here: the local
		// stores reflect it before the request is answered.
		r.b.syncSecurity(r.b.cl.node.State())
	}
	return res, terr
}

// AddACLs proposes create_acls.
func (r secReplicator) AddACLs(acls []auth.ACL) error {
	if _, terr := r.propose(&controller.Cmd{Op: controller.OpCreateACLs, ACLs: toControllerACLs(acls)}); terr != nil {
		return fmt.Errorf("controller: %s", terr.msg)
	}
	return nil
}

// DeleteACLs proposes delete_acls.
func (r secReplicator) DeleteACLs(acls []auth.ACL) ([]auth.ACL, error) {
	res, terr := r.propose(&controller.Cmd{Op: controller.OpDeleteACLs, ACLs: toControllerACLs(acls)})
	if terr != nil {
		return nil, fmt.Errorf("controller: %s", terr.msg)
	}
	return fromControllerACLs(res.ACLs), nil
}

// SetCredential proposes set_scram.
func (r secReplicator) SetCredential(user string, m auth.Mechanism, c auth.Credential) error {
	_, terr := r.propose(&controller.Cmd{Op: controller.OpSetSCRAM, User: user, Mechanism: int8(m),
		SCRAM: &controller.SCRAMCredential{Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}})
	if terr != nil {
		return fmt.Errorf("controller: %s", terr.msg)
	}
	return nil
}

// DeleteCredential proposes delete_scram.
func (r secReplicator) DeleteCredential(user string, m auth.Mechanism) error {
	_, terr := r.propose(&controller.Cmd{Op: controller.OpDeleteSCRAM, User: user, Mechanism: int8(m)})
	switch {
	case terr == nil:
		return nil
	case terr.code == kerr.ResourceNotFound.Code:
		return auth.ErrNoCredential
	}
	return fmt.Errorf("controller: %s", terr.msg)
}

func toControllerACLs(in []auth.ACL) []controller.ACL {
	out := make([]controller.ACL, len(in))
	for i, a := range in {
		out[i] = controller.ACL{ResourceType: int8(a.ResourceType), ResourceName: a.ResourceName, PatternType: int8(a.PatternType),
			Principal: a.Principal, Host: a.Host, Operation: int8(a.Operation), Permission: int8(a.Permission)}
	}
	return out
}

func fromControllerACLs(in []controller.ACL) []auth.ACL {
	out := make([]auth.ACL, len(in))
	for i, a := range in {
		out[i] = auth.ACL{ResourceType: auth.ResourceType(a.ResourceType), ResourceName: a.ResourceName, PatternType: auth.PatternType(a.PatternType),
			Principal: a.Principal, Host: a.Host, Operation: auth.Operation(a.Operation), Permission: auth.Permission(a.Permission)}
	}
	return out
}

// startClusterSecurity makes the (in-memory) stores follow the replicated
// state; called by startSecurity in cluster mode.
func (b *Broker) startClusterSecurity() {
	r := secReplicator{b}
	b.sec.creds.Replicate(r)
	if b.sec.acls != nil {
		b.sec.acls.Replicate(r)
	}
	b.syncSecurity(b.cl.node.State())
}

// syncSecurity replaces the ACL and credential stores' contents with st's
// unless a newer state was already synced.
func (b *Broker) syncSecurity(st *controller.State) {
	s := b.sec
	if s == nil || b.cl == nil {
		return
	}
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if st.Applied < s.synced {
		return
	}
	s.synced = st.Applied
	if s.acls != nil {
		if acls := fromControllerACLs(st.ACLs); !slices.Equal(acls, s.acls.List()) {
			s.acls.Replace(acls)
		}
	}
	users := make(map[string]map[auth.Mechanism]auth.Credential, len(st.SCRAM))
	for u, ms := range st.SCRAM {
		users[u] = make(map[auth.Mechanism]auth.Credential, len(ms))
		for m, c := range ms {
			users[u][auth.Mechanism(m)] = auth.Credential{Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}
		}
	}
	s.creds.Replace(users)
}

// InterBrokerClient is how a broker authenticates to the other brokers'
// inter-broker listener (WithInterBrokerListener).
type InterBrokerClient struct {
	// TLS is the client TLS configuration for SSL and SASL_SSL listeners
	// (RootCAs; Certificates for a broker certificate under mTLS).
	TLS *tls.Config
	// Mechanism, User and Password are the SASL credentials for
	// SASL_PLAINTEXT and SASL_SSL listeners (SCRAM-SHA-256, SCRAM-SHA-512
	// or PLAIN). The principal needs ClusterAction on the cluster when an
	// authorizer is on (or to be a super user).
	Mechanism string
	User      string
	Password  string
}

// WithInterBrokerListener sets inter.broker.listener.name: in cluster mode
// replica fetchers connect to the listener of that name on the other
// brokers (every broker must have it), with its security protocol and
// client's credentials. Without it they use the first listener,
// unauthenticated.
func WithInterBrokerListener(name string, client InterBrokerClient) Option {
	return func(o *options) {
		o.sec.interBroker = name
		o.sec.interClient = client
	}
}

// checkInterBroker validates the inter-broker listener settings.
func (b *Broker) checkInterBroker(ls []Listener) error {
	so := b.opts.sec
	if so.interBroker == "" {
		return nil
	}
	i := slices.IndexFunc(ls, func(l Listener) bool { return l.Name == so.interBroker })
	if i < 0 {
		return fmt.Errorf("broker: inter-broker listener %q is not one of the listeners", so.interBroker)
	}
	p, c := ls[i].Protocol, so.interClient
	if p.tls() && c.TLS == nil {
		return fmt.Errorf("broker: inter-broker listener %s uses %s: a client TLS configuration is needed", so.interBroker, p)
	}
	if p.sasl() {
		if c.User == "" {
			return fmt.Errorf("broker: inter-broker listener %s uses %s: a SASL user is needed", so.interBroker, p)
		}
		if _, err := saslMechanism(c); err != nil {
			return fmt.Errorf("broker: inter-broker listener %s: %w", so.interBroker, err)
		}
	}
	return nil
}

func saslMechanism(c InterBrokerClient) (sasl.Mechanism, error) {
	switch c.Mechanism {
	case "SCRAM-SHA-256":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: c.User, Pass: c.Password}.AsSha512Mechanism(), nil
	case "PLAIN":
		return plain.Auth{User: c.User, Pass: c.Password}.AsMechanism(), nil
	}
	return nil, fmt.Errorf("SASL mechanism %q: want SCRAM-SHA-256, SCRAM-SHA-512 or PLAIN", c.Mechanism)
}

// listenerEndpoints returns every listener's advertised address by name,
// registered with the controller so the others find the inter-broker one.
func (b *Broker) listenerEndpoints() map[string]string {
	if b.sec == nil || len(b.sec.extra) == 0 {
		return nil
	}
	return b.ListenerAddrs()
}

// interBrokerAddr is where this broker's fetchers reach broker bi.
func (c *cluster) interBrokerAddr(bi *controller.BrokerInfo) string {
	if name := c.b.opts.sec.interBroker; name != "" {
		if a, ok := bi.Listeners[name]; ok {
			return a
		}
	}
	return netJoin(bi.Host, bi.Port)
}

// interBrokerProtocol is the inter-broker listener's protocol.
func (b *Broker) interBrokerProtocol() SecurityProtocol {
	name := b.opts.sec.interBroker
	if name == "" || b.sec == nil {
		return Plaintext
	}
	for _, l := range append([]*listenerInfo{b.sec.primary}, b.sec.extra...) {
		if l.Name == name {
			return l.Protocol
		}
	}
	return Plaintext
}

// dialInterBroker connects to another broker's inter-broker listener and
// authenticates (TLS handshake, SASL).
func (c *cluster) dialInterBroker(ctx context.Context, addr string) (*kconn, error) {
	k, err := dialKafka(ctx, addr, c.id)
	if err != nil {
		return nil, err
	}
	p, cfg := c.b.interBrokerProtocol(), c.b.opts.sec.interClient
	if p.tls() {
		tc := cfg.TLS.Clone()
		if tc.ServerName == "" {
			host, _, _ := net.SplitHostPort(addr)
			tc.ServerName = host
		}
		conn := tls.Client(k.c, tc)
		hctx, cancel := context.WithTimeout(ctx, tlsHandshakeTimeout)
		err := conn.HandshakeContext(hctx)
		cancel()
		if err != nil {
			k.close()
			return nil, fmt.Errorf("inter-broker TLS handshake with %s: %w", addr, err)
		}
		k.c = conn
		k.r.Reset(conn)
	}
	if p.sasl() {
		if err := k.saslAuthenticate(ctx, cfg, addr); err != nil {
			k.close()
			return nil, fmt.Errorf("inter-broker SASL with %s: %w", addr, err)
		}
	}
	return k, nil
}

// saslAuthenticate runs SaslHandshake and SaslAuthenticate on k.
func (k *kconn) saslAuthenticate(ctx context.Context, cfg InterBrokerClient, addr string) error {
	mech, err := saslMechanism(cfg)
	if err != nil {
		return err
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.Version, hs.Mechanism = 1, mech.Name()
	r, err := k.request(ctx, hs, 10*time.Second)
	if err != nil {
		return err
	}
	if code := r.(*kmsg.SASLHandshakeResponse).ErrorCode; code != 0 {
		return fmt.Errorf("handshake %s: %w", mech.Name(), kerr.ErrorForCode(code))
	}
	host, _, _ := net.SplitHostPort(addr)
	sess, msg, err := mech.Authenticate(ctx, host)
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		if i > 8 {
			return errors.New("too many SASL round trips")
		}
		ar := kmsg.NewPtrSASLAuthenticateRequest()
		ar.Version, ar.SASLAuthBytes = 1, msg
		r, err := k.request(ctx, ar, 10*time.Second)
		if err != nil {
			return err
		}
		resp := r.(*kmsg.SASLAuthenticateResponse)
		if resp.ErrorCode != 0 {
			m := ""
			if resp.ErrorMessage != nil {
				m = ": " + *resp.ErrorMessage
			}
			return fmt.Errorf("%w%s", kerr.ErrorForCode(resp.ErrorCode), m)
		}
		done, next, err := sess.Challenge(resp.SASLAuthBytes)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
		msg = next
	}
}
