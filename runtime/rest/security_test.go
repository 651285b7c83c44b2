package rest_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlsgen"
	"github.com/sluicehq/sluice/runtime/kafkasec"
	"github.com/sluicehq/sluice/runtime/rest"
	"github.com/sluicehq/sluice/runtime/rest/resttest"
)

// serveSecure serves the REST API over a fake cluster with the security
// that props configure and returns its base URL.
func serveSecure(t *testing.T, props map[string]string) string {
	t.Helper()
	sec, err := rest.SecurityFromProperties(props)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: sec.Wrap(rest.New(resttest.NewCluster())), ReadHeaderTimeout: 5 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(sec.Listen(ln))
	t.Cleanup(func() { srv.Close() })
	return sec.Scheme() + "://" + ln.Addr().String()
}

func TestRESTBasicAuthAndHTTPS(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsgen.NewCA("ca", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := ca.Issue(tlsgen.Options{Hosts: []string{"127.0.0.1"}, Subject: pkix.Name{CommonName: "rest"}})
	srvCert, srvKey, _ := srv.Write(dir, "rest")
	caPath, _, _ := ca.WriteCA(dir, "ca")
	cli, _ := ca.Issue(tlsgen.Options{Client: true, Subject: pkix.Name{CommonName: "admin"}})
	creds := filepath.Join(dir, "credentials.properties")
	if err := os.WriteFile(creds, []byte("# users\nadmin: s3cret\nbob=pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	body := `{"name":"c1","config":{"connector.class":"FileStreamSource","tasks.max":"1"}}`
	post := func(cl *http.Client, url, user, pass string) (int, error) {
		req, _ := http.NewRequest("POST", url+"/connectors", bytes.NewBufferString(body))
		req.Header.Set("Content-Type", "application/json")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := cl.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	trust := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	withCert := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), Certificates: []tls.Certificate{cli.TLS}}}}

	t.Run("basic auth over http", func(t *testing.T) {
		url := serveSecure(t, map[string]string{"rest.extension.classes": rest.BasicAuthExtension, "rest.basic.auth.credentials.file": creds})
		for _, tc := range []struct {
			user, pass string
			want       int
		}{{"", "", 401}, {"admin", "wrong", 401}, {"ghost", "s3cret", 401}, {"admin", "s3cret", 201}} {
			got, err := post(http.DefaultClient, url, tc.user, tc.pass)
			if err != nil || got != tc.want {
				t.Errorf("create-connector as %q/%q: %d %v, want %d", tc.user, tc.pass, got, err, tc.want)
			}
		}
	})
	t.Run("https with basic auth", func(t *testing.T) {
		url := serveSecure(t, map[string]string{"listeners": "https://127.0.0.1:0", "ssl.keystore.type": "PEM",
			"listeners.https.ssl.keystore.location": "", "ssl.keystore.certificate.chain": string(srv.CertPEM), "ssl.keystore.key": string(srv.KeyPEM),
			"rest.extension.classes": rest.BasicAuthExtension, "rest.basic.auth.credentials.file": creds})
		if !strings.HasPrefix(url, "https://") {
			t.Fatalf("url %s", url)
		}
		if got, err := post(trust, url, "bob", "pw"); err != nil || got != 201 {
			t.Fatalf("https create: %d %v", got, err)
		}
		if got, _ := post(trust, url, "", ""); got != 401 {
			t.Fatalf("https unauthenticated create: %d", got)
		}
		if _, err := post(http.DefaultClient, url, "bob", "pw"); err == nil {
			t.Fatal("a client not trusting the CA connected")
		}
	})
	t.Run("https requiring client certificates", func(t *testing.T) {
		// One PEM file with key and chain; listeners.https.* wins over ssl.*.
		combined := filepath.Join(dir, "rest-combined.pem")
		if err := os.WriteFile(combined, append(append([]byte{}, srv.KeyPEM...), srv.CertPEM...), 0o600); err != nil {
			t.Fatal(err)
		}
		url := serveSecure(t, map[string]string{"listeners": "https://127.0.0.1:0",
			"ssl.keystore.location": srvCert + ".missing", "listeners.https.ssl.keystore.location": combined,
			"listeners.https.ssl.truststore.location": caPath, "ssl.client.auth": "required"})
		_ = srvKey
		if got, err := post(withCert, url, "", ""); err != nil || got != 201 {
			t.Fatalf("mTLS create: %d %v", got, err)
		}
		if _, err := post(trust, url, "", ""); err == nil {
			t.Fatal("a client without a certificate was served")
		}
	})
}

func TestRESTSecurityConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"rest.extension.classes": rest.BasicAuthExtension}, "rest.basic.auth.credentials.file"},
		{map[string]string{"rest.extension.classes": "com.example.Other"}, "rest.extension.classes"},
		{map[string]string{"listeners": "https://0.0.0.0:8443"}, "ssl.keystore.location"},
		{map[string]string{"rest.extension.classes": rest.BasicAuthExtension, "rest.basic.auth.credentials.file": "/nonexistent"}, "rest.basic.auth.credentials.file"},
	} {
		_, err := rest.SecurityFromProperties(tc.props)
		var pe *kafkasec.PropertyError
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.props, err, tc.want)
		}
		_ = errors.As(err, &pe)
	}
}
