package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/auth"
)

// brokerSecFlags are the broker's security flags, named after Kafka's
// broker settings.
type brokerSecFlags struct {
	listeners  multiFlag
	advertised multiFlag
	protoMap   *string
	cert, key  *string
	clientCA   *string
	clientAuth *string
	mechanisms *string
	authorizer *bool
	superUsers *string
	allowNoACL *bool
	mapping    *string
	reauth     *time.Duration
	inter      *interBrokerFlags
}

func addBrokerSecurityFlags(fs *flag.FlagSet) *brokerSecFlags {
	f := &brokerSecFlags{}
	fs.Var(&f.listeners, "listener", "listener NAME://host:port (repeatable; listeners=). The name is its security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL) or is mapped by --listener-security-protocol-map; the first listener replaces --listen")
	fs.Var(&f.advertised, "advertised-listener", "advertised address NAME://host:port of a listener (repeatable; advertised.listeners=)")
	f.protoMap = fs.String("listener-security-protocol-map", "", "NAME:PROTOCOL,... for listeners not named after their protocol (listener.security.protocol.map)")
	f.cert = fs.String("ssl-cert", "", "PEM certificate chain of SSL and SASL_SSL listeners")
	f.key = fs.String("ssl-key", "", "PEM private key of --ssl-cert")
	f.clientCA = fs.String("ssl-ca", "", "PEM CA certificates that client certificates must chain to (mTLS)")
	f.clientAuth = fs.String("ssl-client-auth", "none", "client certificates on SSL listeners: none, requested or required (ssl.client.auth; SASL_SSL listeners never require one)")
	f.mechanisms = fs.String("sasl-enabled-mechanisms", "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN", "SASL mechanisms (sasl.enabled.mechanisms); PLAIN checks passwords against the stored SCRAM credentials")
	f.authorizer = fs.Bool("authorizer", false, "enforce ACLs on every API (authorizer.class.name=StandardAuthorizer)")
	f.superUsers = fs.String("super-users", "", "principals allowed everything, ';'-separated, e.g. User:admin;User:CN=ops (super.users)")
	f.allowNoACL = fs.Bool("allow-everyone-if-no-acl-found", false, "allow access to resources no ACL names (allow.everyone.if.no.acl.found)")
	f.mapping = fs.String("ssl-principal-mapping-rules", "DEFAULT", "map client-certificate subjects to user names: RULE:pattern/replacement/[LU],...,DEFAULT (ssl.principal.mapping.rules)")
	f.reauth = fs.Duration("connections-max-reauth", 0, "SASL session lifetime; clients must re-authenticate within it (connections.max.reauth.ms; 0 = never expire)")
	f.inter = addInterBrokerFlags(fs)
	return f
}

// options turns the flags into broker options.
func (f *brokerSecFlags) options() ([]broker.Option, error) {
	var opts []broker.Option
	if len(f.listeners) > 0 {
		ls, err := broker.ParseListeners(strings.Join(f.listeners, ","), strings.Join(f.advertised, ","), *f.protoMap)
		if err != nil {
			return nil, fmt.Errorf("--listener: %w", err)
		}
		var sslListeners []int
		for i, l := range ls {
			if l.Protocol == broker.SSL {
				sslListeners = append(sslListeners, i)
			}
		}
		if *f.cert != "" || *f.key != "" {
			if *f.cert == "" || *f.key == "" {
				return nil, fmt.Errorf("--ssl-cert and --ssl-key must be given together")
			}
			pair, err := tls.LoadX509KeyPair(*f.cert, *f.key)
			if err != nil {
				return nil, fmt.Errorf("--ssl-cert/--ssl-key: %w", err)
			}
			base := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
			opts = append(opts, broker.WithTLSConfig(base))
			if *f.clientCA != "" {
				pem, err := os.ReadFile(*f.clientCA)
				if err != nil {
					return nil, fmt.Errorf("--ssl-ca: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return nil, fmt.Errorf("--ssl-ca %s: no PEM certificate", *f.clientCA)
				}
				base.ClientCAs = pool
			}
			mtls := base.Clone()
			switch *f.clientAuth {
			case "none":
				mtls.ClientAuth = tls.NoClientCert
			case "requested":
				mtls.ClientAuth = tls.VerifyClientCertIfGiven
			case "required":
				mtls.ClientAuth = tls.RequireAndVerifyClientCert
			default:
				return nil, fmt.Errorf("--ssl-client-auth %q: want none, requested or required", *f.clientAuth)
			}
			if mtls.ClientAuth != tls.NoClientCert && mtls.ClientCAs == nil {
				return nil, fmt.Errorf("--ssl-client-auth %s needs --ssl-ca", *f.clientAuth)
			}
			for _, i := range sslListeners {
				ls[i].TLS = mtls
			}
		}
		opts = append(opts, broker.WithListeners(ls...))
	} else if len(f.advertised) > 0 {
		return nil, fmt.Errorf("--advertised-listener needs --listener")
	}
	opts = append(opts, broker.WithSASLMechanisms(splitComma(*f.mechanisms)...))
	if *f.authorizer {
		var supers []string
		for _, s := range strings.Split(*f.superUsers, ";") {
			if s = strings.TrimSpace(s); s != "" {
				supers = append(supers, s)
			}
		}
		opts = append(opts, broker.WithAuthorizer(auth.AuthorizerConfig{SuperUsers: supers, AllowIfNoACL: *f.allowNoACL}))
	} else if *f.superUsers != "" || *f.allowNoACL {
		return nil, fmt.Errorf("--super-users and --allow-everyone-if-no-acl-found need --authorizer")
	}
	pm, err := auth.ParseMappingRules(*f.mapping)
	if err != nil {
		return nil, fmt.Errorf("--ssl-principal-mapping-rules: %w", err)
	}
	opts = append(opts, broker.WithPrincipalMapping(pm))
	if *f.reauth < 0 {
		return nil, fmt.Errorf("--connections-max-reauth must not be negative")
	}
	opts = append(opts, broker.WithReauthInterval(*f.reauth))
	if f.inter != nil {
		o, err := f.inter.option(*f.clientCA)
		if err != nil {
			return nil, err
		}
		if o != nil {
			opts = append(opts, o)
		}
	}
	return opts, nil
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
