package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sluicehq/sluice/broker"
)

// interBrokerFlags select the listener replica fetchers use in cluster
// mode and the credentials they present on it.
type interBrokerFlags struct {
	name     *string
	mech     *string
	user     *string
	passFile *string
	ca       *string
	cert     *string
	key      *string
}

func addInterBrokerFlags(fs *flag.FlagSet) *interBrokerFlags {
	return &interBrokerFlags{
		name:     fs.String("inter-broker-listener", "", "cluster mode: the listener (by name) replica fetchers connect to on the other brokers, with its protocol (inter.broker.listener.name; default: the first listener, unauthenticated)"),
		mech:     fs.String("inter-broker-sasl-mechanism", "SCRAM-SHA-512", "SASL mechanism on a SASL inter-broker listener (sasl.mechanism.inter.broker.protocol)"),
		user:     fs.String("inter-broker-sasl-user", "", "SASL user of this broker on a SASL inter-broker listener (needs ClusterAction or super user)"),
		passFile: fs.String("inter-broker-sasl-password-file", "", "file holding --inter-broker-sasl-user's password"),
		ca:       fs.String("inter-broker-ssl-ca", "", "PEM CA certificates the other brokers' certificates must chain to (default: --ssl-ca)"),
		cert:     fs.String("inter-broker-ssl-cert", "", "PEM client certificate this broker presents on an SSL inter-broker listener (mTLS)"),
		key:      fs.String("inter-broker-ssl-key", "", "PEM private key of --inter-broker-ssl-cert"),
	}
}

// option returns the WithInterBrokerListener option (nil without
// --inter-broker-listener); clientCA is --ssl-ca.
func (f *interBrokerFlags) option(clientCA string) (broker.Option, error) {
	name := strings.ToUpper(strings.TrimSpace(*f.name))
	if name == "" {
		if *f.user != "" || *f.passFile != "" || *f.cert != "" || *f.ca != "" {
			return nil, fmt.Errorf("--inter-broker-sasl-*/--inter-broker-ssl-* need --inter-broker-listener")
		}
		return nil, nil
	}
	c := broker.InterBrokerClient{Mechanism: *f.mech, User: *f.user}
	if *f.passFile != "" {
		b, err := os.ReadFile(*f.passFile)
		if err != nil {
			return nil, fmt.Errorf("--inter-broker-sasl-password-file: %w", err)
		}
		c.Password = strings.TrimSpace(string(b))
	}
	caPath := *f.ca
	if caPath == "" {
		caPath = clientCA
	}
	if caPath != "" || *f.cert != "" {
		c.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		if caPath != "" {
			pem, err := os.ReadFile(caPath)
			if err != nil {
				return nil, fmt.Errorf("inter-broker CA: %w", err)
			}
			c.TLS.RootCAs = x509.NewCertPool()
			if !c.TLS.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("inter-broker CA %s: no PEM certificate", caPath)
			}
		}
		if *f.cert != "" || *f.key != "" {
			pair, err := tls.LoadX509KeyPair(*f.cert, *f.key)
			if err != nil {
				return nil, fmt.Errorf("--inter-broker-ssl-cert/--inter-broker-ssl-key: %w", err)
			}
			c.TLS.Certificates = []tls.Certificate{pair}
		}
	}
	return broker.WithInterBrokerListener(name, c), nil
}
