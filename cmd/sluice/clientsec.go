package main

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// clientSecFlags are the REST client's TLS and authentication flags.
type clientSecFlags struct {
	caCert, cert, key string
	user              string
}

func addClientSecFlags(fs *flag.FlagSet, f *clientSecFlags) {
	fs.StringVar(&f.caCert, "ca-cert", os.Getenv("SLUICE_CA_CERT"), "PEM CA certificate(s) to trust for an https endpoint (env SLUICE_CA_CERT)")
	fs.StringVar(&f.cert, "client-cert", os.Getenv("SLUICE_CLIENT_CERT"), "PEM client certificate for REST APIs requiring one (env SLUICE_CLIENT_CERT)")
	fs.StringVar(&f.key, "client-key", os.Getenv("SLUICE_CLIENT_KEY"), "PEM key of --client-cert (env SLUICE_CLIENT_KEY)")
	fs.StringVar(&f.user, "user", os.Getenv("SLUICE_USER"), "HTTP basic credentials user:password (env SLUICE_USER)")
}

// basicAuth is a user and password sent with every request.
type basicAuth struct{ user, pass string }

func (b *basicAuth) apply(r *http.Request) {
	if b != nil {
		r.SetBasicAuth(b.user, b.pass)
	}
}

// apply sets cl's TLS configuration and credentials from the flags.
func (f *clientSecFlags) apply(cl *client) error {
	if f.user != "" {
		u, p, ok := strings.Cut(f.user, ":")
		if !ok || u == "" {
			return fmt.Errorf("--user: want user:password")
		}
		cl.auth = &basicAuth{u, p}
	}
	if f.caCert == "" && f.cert == "" && f.key == "" {
		return nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if f.caCert != "" {
		pem, err := os.ReadFile(f.caCert)
		if err != nil {
			return fmt.Errorf("--ca-cert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("--ca-cert %s: no PEM certificate", f.caCert)
		}
		cfg.RootCAs = pool
	}
	if f.cert != "" || f.key != "" {
		if f.cert == "" || f.key == "" {
			return fmt.Errorf("--client-cert and --client-key must be given together")
		}
		pair, err := tls.LoadX509KeyPair(f.cert, f.key)
		if err != nil {
			return fmt.Errorf("--client-cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	cl.http.Transport = tr
	return nil
}
