// Package kafkasec turns Kafka client security properties, as Kafka
// Connect worker configs spell them (security.protocol, ssl.*, sasl.*),
// into franz-go client options: TLS with PEM trust and key stores and SASL
// PLAIN or SCRAM-SHA-256/512 with credentials from sasl.jaas.config.
package kafkasec

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// PropertyError is a bad or unsupported security property.
type PropertyError struct {
	Key    string
	Reason string
}

// Error names the property and the problem.
func (e *PropertyError) Error() string { return e.Key + ": " + e.Reason }

func propErr(key, format string, args ...any) error {
	return &PropertyError{Key: key, Reason: fmt.Sprintf(format, args...)}
}

// Config is the parsed security configuration of a Kafka client.
type Config struct {
	// Protocol is security.protocol (default PLAINTEXT).
	Protocol string
	// TLS is set for SSL and SASL_SSL.
	TLS *tls.Config
	// SASL is set for SASL_PLAINTEXT and SASL_SSL.
	SASL sasl.Mechanism
}

// Options returns the franz-go options of c (none for PLAINTEXT).
func (c *Config) Options() []kgo.Opt {
	var opts []kgo.Opt
	if c.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(c.TLS))
	}
	if c.SASL != nil {
		opts = append(opts, kgo.SASL(c.SASL))
	}
	return opts
}

// IsSecurityKey reports whether key is a client security property.
func IsSecurityKey(key string) bool {
	return key == "security.protocol" || strings.HasPrefix(key, "ssl.") || strings.HasPrefix(key, "sasl.")
}

// Parse reads the security properties of props (unprefixed keys).
func Parse(props map[string]string) (*Config, error) {
	get := func(k string) string { return strings.TrimSpace(props[k]) }
	c := &Config{Protocol: strings.ToUpper(get("security.protocol"))}
	if c.Protocol == "" {
		c.Protocol = "PLAINTEXT"
	}
	var useTLS, useSASL bool
	switch c.Protocol {
	case "PLAINTEXT":
	case "SSL":
		useTLS = true
	case "SASL_PLAINTEXT":
		useSASL = true
	case "SASL_SSL":
		useTLS, useSASL = true, true
	default:
		return nil, propErr("security.protocol", "%q is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", props["security.protocol"])
	}
	if useTLS {
		_, hostCheckSet := props["ssl.endpoint.identification.algorithm"]
		cfg, err := parseTLS(get, hostCheckSet)
		if err != nil {
			return nil, err
		}
		c.TLS = cfg
	}
	if useSASL {
		m, err := parseSASL(get)
		if err != nil {
			return nil, err
		}
		c.SASL = m
	}
	return c, nil
}

func parseTLS(get func(string) string, hostCheckSet bool) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch p := get("ssl.protocol"); p {
	case "", "TLS", "TLSv1.2":
	case "TLSv1.3":
		cfg.MinVersion = tls.VersionTLS13
	default:
		return nil, propErr("ssl.protocol", "%q: want TLSv1.2 or TLSv1.3", p)
	}
	if t := get("ssl.truststore.type"); t != "" && !strings.EqualFold(t, "PEM") {
		return nil, propErr("ssl.truststore.type", "%q is not supported; convert the truststore to PEM (ssl.truststore.type=PEM)", t)
	}
	var caPEM []byte
	switch loc, inline := get("ssl.truststore.location"), get("ssl.truststore.certificates"); {
	case loc != "" && inline != "":
		return nil, propErr("ssl.truststore.certificates", "set either it or ssl.truststore.location, not both")
	case loc != "":
		b, err := os.ReadFile(loc)
		if err != nil {
			return nil, propErr("ssl.truststore.location", "%v", err)
		}
		caPEM = b
	case inline != "":
		caPEM = []byte(inline)
	}
	if caPEM != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			key := "ssl.truststore.location"
			if get("ssl.truststore.certificates") != "" {
				key = "ssl.truststore.certificates"
			}
			return nil, propErr(key, "no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	if t := get("ssl.keystore.type"); t != "" && !strings.EqualFold(t, "PEM") {
		return nil, propErr("ssl.keystore.type", "%q is not supported; convert the keystore to PEM (ssl.keystore.type=PEM)", t)
	}
	if get("ssl.key.password") != "" || get("ssl.keystore.password") != "" {
		key := "ssl.key.password"
		if get("ssl.key.password") == "" {
			key = "ssl.keystore.password"
		}
		return nil, propErr(key, "encrypted PEM keys are not supported; use an unencrypted PKCS#8 key")
	}
	var certPEM, keyPEM []byte
	switch loc, chain, key := get("ssl.keystore.location"), get("ssl.keystore.certificate.chain"), get("ssl.keystore.key"); {
	case loc != "" && (chain != "" || key != ""):
		return nil, propErr("ssl.keystore.location", "set either it or ssl.keystore.certificate.chain with ssl.keystore.key, not both")
	case loc != "":
		b, err := os.ReadFile(loc)
		if err != nil {
			return nil, propErr("ssl.keystore.location", "%v", err)
		}
		certPEM, keyPEM = b, b // one PEM file holding the key and the chain
	case chain != "" || key != "":
		if chain == "" || key == "" {
			return nil, propErr("ssl.keystore.key", "ssl.keystore.certificate.chain and ssl.keystore.key must be set together")
		}
		certPEM, keyPEM = []byte(chain), []byte(key)
	}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			key := "ssl.keystore.location"
			if get("ssl.keystore.location") == "" {
				key = "ssl.keystore.certificate.chain"
			}
			return nil, propErr(key, "%v", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	switch alg := strings.ToLower(get("ssl.endpoint.identification.algorithm")); alg {
	case "https":
	case "":
		if hostCheckSet {
			// Explicitly empty: verify the chain but not the host name.
			cfg.InsecureSkipVerify = true
			roots := cfg.RootCAs
			cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
				return verifyChainOnly(raw, roots)
			}
		}
	default:
		return nil, propErr("ssl.endpoint.identification.algorithm", "%q: want https or empty", alg)
	}
	return cfg, nil
}

func verifyChainOnly(raw [][]byte, roots *x509.CertPool) error {
	if len(raw) == 0 {
		return errors.New("server sent no certificate")
	}
	certs := make([]*x509.Certificate, len(raw))
	for i, r := range raw {
		c, err := x509.ParseCertificate(r)
		if err != nil {
			return err
		}
		certs[i] = c
	}
	inter := x509.NewCertPool()
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	_, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

func parseSASL(get func(string) string) (sasl.Mechanism, error) {
	mech := strings.ToUpper(get("sasl.mechanism"))
	if mech == "" {
		mech = "GSSAPI" // Kafka's default
	}
	var module string
	switch mech {
	case "PLAIN":
		module = "org.apache.kafka.common.security.plain.PlainLoginModule"
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		module = "org.apache.kafka.common.security.scram.ScramLoginModule"
	default:
		return nil, propErr("sasl.mechanism", "%q is not supported (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", mech)
	}
	jaas := get("sasl.jaas.config")
	if jaas == "" {
		return nil, propErr("sasl.jaas.config", "required for sasl.mechanism=%s, e.g. %s required username=\"alice\" password=\"secret\";", mech, module)
	}
	entries, err := ParseJAAS(jaas)
	if err != nil {
		return nil, propErr("sasl.jaas.config", "%v", err)
	}
	if len(entries) != 1 {
		return nil, propErr("sasl.jaas.config", "want exactly one login module, found %d", len(entries))
	}
	e := entries[0]
	if e.Module != module {
		return nil, propErr("sasl.jaas.config", "login module %s does not match sasl.mechanism=%s (want %s)", e.Module, mech, module)
	}
	user, pass := e.Options["username"], e.Options["password"]
	if user == "" {
		return nil, propErr("sasl.jaas.config", "option username is missing or empty")
	}
	if _, ok := e.Options["password"]; !ok {
		return nil, propErr("sasl.jaas.config", "option password is missing")
	}
	switch mech {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	default:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
}

// Roles are the prefixes Kafka Connect worker configs use for the
// clients of connectors (producer., consumer.) and admin clients (admin.).
var Roles = []string{"producer", "consumer", "admin"}

// WorkerConfig parses a worker's security properties. A worker's Kafka
// clients share one security configuration: role-prefixed security keys
// (producer.sasl.jaas.config, ...) are accepted when they repeat the
// unprefixed value, as Connect documentation has users do, and are an
// error when they differ or stand alone.
func WorkerConfig(props map[string]string) (*Config, error) {
	var keys []string
	for k := range props {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, role := range Roles {
			base, ok := strings.CutPrefix(k, role+".")
			if !ok || !IsSecurityKey(base) {
				continue
			}
			top, set := props[base]
			switch {
			case !set:
				return nil, propErr(k, "set %s as well: a worker's Kafka clients share one security configuration", base)
			case strings.TrimSpace(top) != strings.TrimSpace(props[k]):
				return nil, propErr(k, "differs from %s: a worker's Kafka clients share one security configuration", base)
			}
		}
	}
	return Parse(props)
}

// ServerTLS builds a server TLS configuration from PEM key and trust
// stores, as Kafka Connect configures its HTTPS REST listener:
// ssl.keystore.* holds the server certificate (required),
// ssl.truststore.* the CAs client certificates must chain to, and
// ssl.client.auth is none (default), requested or required.
func ServerTLS(props map[string]string) (*tls.Config, error) {
	get := func(k string) string { return strings.TrimSpace(props[k]) }
	client, err := parseTLS(get, false)
	if err != nil {
		return nil, err
	}
	if len(client.Certificates) == 0 {
		return nil, propErr("ssl.keystore.location", "an HTTPS listener needs a server certificate (ssl.keystore.location, or ssl.keystore.certificate.chain with ssl.keystore.key)")
	}
	cfg := &tls.Config{MinVersion: client.MinVersion, Certificates: client.Certificates}
	switch ca := strings.ToLower(get("ssl.client.auth")); ca {
	case "", "none":
		cfg.ClientAuth = tls.NoClientCert
	case "requested":
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case "required":
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	default:
		return nil, propErr("ssl.client.auth", "%q: want none, requested or required", ca)
	}
	if cfg.ClientAuth != tls.NoClientCert {
		if client.RootCAs == nil {
			return nil, propErr("ssl.truststore.location", "ssl.client.auth=%s needs the CAs of client certificates (ssl.truststore.location or ssl.truststore.certificates)", get("ssl.client.auth"))
		}
		cfg.ClientCAs = client.RootCAs
	}
	return cfg, nil
}
