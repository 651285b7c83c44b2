package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/broker"
	"github.com/sluicehq/sluice/broker/auth"
	"github.com/sluicehq/sluice/internal/tlsgen"
	"github.com/sluicehq/sluice/runtime/kafkasec"
	"github.com/sluicehq/sluice/runtime/rest"
)

// upSecurity is the generated security setup of `sluice up --secure`: a
// local CA, broker/REST and client certificates, an admin user, a SASL_SSL
// listener with ACLs enforced, and an HTTPS REST API with basic auth. It
// lives under <data-dir>/security and is reused on restart.
type upSecurity struct {
	dir       string
	caPath    string
	pass      string
	clientCrt string
	clientKey string
	propsPath string
	credsPath string
	tls       *tls.Config
	// interTLS / brokerTLS secure the inter-broker listener of a cluster
	// (--brokers > 1): mTLS with a broker certificate from the local CA.
	interTLS  *tls.Config
	brokerTLS *tls.Config
	client    *kafkasec.Config
	props     map[string]string
}

const upAdminUser = "admin"

// upBrokerCN is the common name of the inter-broker certificate; its
// principal is User:CN=sluice-broker,O=sluice.
const upBrokerCN = "sluice-broker"

// setupUpSecurity creates (or loads) everything under dataDir/security.
// hosts are the names the certificates must be valid for.
func setupUpSecurity(dataDir string, hosts []string) (*upSecurity, error) {
	s := &upSecurity{dir: filepath.Join(dataDir, "security")}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, err
	}
	caCrt, caKey := filepath.Join(s.dir, "ca.crt"), filepath.Join(s.dir, "ca.key")
	var ca *tlsgen.CA
	if _, err := os.Stat(caCrt); err == nil {
		if ca, err = tlsgen.LoadCA(caCrt, caKey); err != nil {
			return nil, fmt.Errorf("security CA: %w", err)
		}
	} else {
		if ca, err = tlsgen.NewCA("sluice local CA", 10*365*24*time.Hour); err != nil {
			return nil, err
		}
		if _, _, err := ca.WriteCA(s.dir, "ca"); err != nil {
			return nil, err
		}
	}
	s.caPath = caCrt
	// The server certificate is reissued on every start (hosts may change).
	srv, err := ca.Issue(tlsgen.Options{Hosts: hosts, Subject: pkix.Name{CommonName: "sluice", Organization: []string{"sluice"}}})
	if err != nil {
		return nil, err
	}
	if _, _, err := srv.Write(s.dir, "server"); err != nil {
		return nil, err
	}
	s.tls = &tls.Config{Certificates: []tls.Certificate{srv.TLS}, MinVersion: tls.VersionTLS12}
	// The brokers of a cluster replicate over mTLS as upBrokerCN (a super
	// user); the certificate is reissued on every start.
	bc, err := ca.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: upBrokerCN, Organization: []string{"sluice"}}})
	if err != nil {
		return nil, err
	}
	s.interTLS = s.tls.Clone()
	s.interTLS.ClientAuth, s.interTLS.ClientCAs = tls.RequireAndVerifyClientCert, ca.Pool()
	s.brokerTLS = &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{bc.TLS}, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	s.clientCrt, s.clientKey = filepath.Join(s.dir, "client.crt"), filepath.Join(s.dir, "client.key")
	if _, err := os.Stat(s.clientCrt); errors.Is(err, os.ErrNotExist) {
		cl, err := ca.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: upAdminUser, Organization: []string{"sluice"}}})
		if err != nil {
			return nil, err
		}
		if _, _, err := cl.Write(s.dir, "client"); err != nil {
			return nil, err
		}
	}
	passPath := filepath.Join(s.dir, "admin.password")
	if b, err := os.ReadFile(passPath); err == nil {
		s.pass = strings.TrimSpace(string(b))
	} else {
		buf := make([]byte, 12)
		if _, err := rand.Read(buf); err != nil {
			return nil, err
		}
		s.pass = hex.EncodeToString(buf)
		if err := os.WriteFile(passPath, []byte(s.pass+"\n"), 0o600); err != nil {
			return nil, err
		}
	}
	jaas := fmt.Sprintf(`org.apache.kafka.common.security.scram.ScramLoginModule required username="%s" password="%s";`, upAdminUser, s.pass)
	s.props = map[string]string{
		"security.protocol":       "SASL_SSL",
		"sasl.mechanism":          "SCRAM-SHA-512",
		"sasl.jaas.config":        jaas,
		"ssl.truststore.type":     "PEM",
		"ssl.truststore.location": s.caPath,
	}
	var cfg strings.Builder
	cfg.WriteString("# Kafka client settings for the secured sluice broker (kcat -F, kafka-* --command-config, sluice user/acl --command-config)\n")
	for _, k := range []string{"security.protocol", "sasl.mechanism", "sasl.jaas.config", "ssl.truststore.type", "ssl.truststore.location"} {
		fmt.Fprintf(&cfg, "%s=%s\n", k, s.props[k])
	}
	s.propsPath = filepath.Join(s.dir, "client.properties")
	if err := os.WriteFile(s.propsPath, []byte(cfg.String()), 0o600); err != nil {
		return nil, err
	}
	s.credsPath = filepath.Join(s.dir, "rest-credentials.properties")
	if err := os.WriteFile(s.credsPath, []byte(upAdminUser+": "+s.pass+"\n"), 0o600); err != nil {
		return nil, err
	}
	if s.client, err = kafkasec.WorkerConfig(s.props); err != nil {
		return nil, err
	}
	return s, nil
}

// brokerOptions makes the broker's one listener SASL_SSL and enforces
// ACLs with the admin as super user.
func (s *upSecurity) brokerOptions(listen string) []broker.Option {
	if s == nil {
		return nil
	}
	return []broker.Option{
		broker.WithTLSConfig(s.tls),
		broker.WithListeners(broker.Listener{Name: "SASL_SSL", Addr: listen, Protocol: broker.SASLSSL}),
		broker.WithAuthorizer(auth.AuthorizerConfig{SuperUsers: []string{auth.UserPrincipal(upAdminUser)}}),
	}
}

// clusterBrokerOptions are brokerOptions for one broker of a cluster
// listening for clients on listen: replication uses a second listener,
// INTERNAL, on a free loopback port with mTLS (the broker certificate's
// principal is a super user, so it holds ClusterAction).
func (s *upSecurity) clusterBrokerOptions(listen string) []broker.Option {
	if s == nil {
		return nil
	}
	return []broker.Option{
		broker.WithTLSConfig(s.tls),
		broker.WithListeners(
			broker.Listener{Name: "SASL_SSL", Addr: listen, Protocol: broker.SASLSSL},
			broker.Listener{Name: "INTERNAL", Addr: "127.0.0.1:0", Protocol: broker.SSL, TLS: s.interTLS},
		),
		broker.WithInterBrokerListener("INTERNAL", broker.InterBrokerClient{TLS: s.brokerTLS}),
		broker.WithAuthorizer(auth.AuthorizerConfig{SuperUsers: []string{auth.UserPrincipal(upAdminUser), auth.UserPrincipal("CN=" + upBrokerCN + ",O=sluice")}}),
	}
}

// clusterOptions returns clusterBrokerOptions as startUpBrokers takes it
// (nil without --secure).
func (s *upSecurity) clusterOptions() func(string) []broker.Option {
	if s == nil {
		return nil
	}
	return s.clusterBrokerOptions
}

// addAdmin stores the admin's SCRAM credentials in the broker.
func (s *upSecurity) addAdmin(bs ...*broker.Broker) error {
	if s == nil || len(bs) == 0 {
		return nil
	}
	b := bs[0]
	for _, m := range []auth.Mechanism{auth.ScramSHA256, auth.ScramSHA512} {
		if cred, ok := b.Credentials().Lookup(upAdminUser, m); ok && m.VerifyPassword(cred, s.pass) {
			continue
		}
		cred, err := m.NewCredential(s.pass, 8192)
		if err != nil {
			return err
		}
		if err := b.Credentials().Set(upAdminUser, m, cred); err != nil {
			return err
		}
	}
	// In a cluster the credential reaches the other brokers through the
	// metadata quorum: wait until every broker verifies it, so the
	// workers' first connections (to any broker) authenticate.
	deadline := time.Now().Add(60 * time.Second)
	for _, other := range bs[1:] {
		for {
			cred, ok := other.Credentials().Lookup(upAdminUser, auth.ScramSHA512)
			if ok && auth.ScramSHA512.VerifyPassword(cred, s.pass) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("the %s credential did not reach every broker within 60s", upAdminUser)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// kafkaOptions are the franz-go options of in-process Kafka clients.
func (s *upSecurity) kafkaOptions() []kgo.Opt {
	if s == nil {
		return nil
	}
	return s.client.Options()
}

// restSecurity serves the REST API over HTTPS with basic auth.
func (s *upSecurity) restSecurity() *rest.Security {
	if s == nil {
		return nil
	}
	return &rest.Security{TLS: s.tls, Users: map[string]string{upAdminUser: s.pass}}
}

// printHowTo prints how to connect to the secured endpoints.
func (s *upSecurity) printHowTo(w io.Writer, kafkaAddr, restURL string) {
	if s == nil {
		return
	}
	fmt.Fprintf(w, "Secured (--secure): files in %s\n", s.dir)
	fmt.Fprintf(w, "  Kafka: SASL_SSL with SCRAM-SHA-512, user %s, password in admin.password; ACLs enforced (%s is a super user)\n", upAdminUser, upAdminUser)
	fmt.Fprintf(w, "    kcat -b %s -X security.protocol=SASL_SSL -X sasl.mechanisms=SCRAM-SHA-512 -X sasl.username=%s -X sasl.password=$(cat %s) -X ssl.ca.location=%s -L\n",
		kafkaAddr, upAdminUser, filepath.Join(s.dir, "admin.password"), s.caPath)
	fmt.Fprintf(w, "    sluice user add alice --password ... --bootstrap-server %s --command-config %s\n", kafkaAddr, s.propsPath)
	fmt.Fprintf(w, "  REST: HTTPS with basic auth (%s)\n", s.credsPath)
	fmt.Fprintf(w, "    SLUICE_ENDPOINT=%s SLUICE_CA_CERT=%s SLUICE_USER=%s:$(cat %s) sluice list-connectors\n",
		restURL, s.caPath, upAdminUser, filepath.Join(s.dir, "admin.password"))
}
