package rest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/sluicehq/sluice/runtime/kafkasec"
)

// BasicAuthExtension is the Kafka Connect REST extension class whose
// presence in rest.extension.classes turns on HTTP basic authentication.
const BasicAuthExtension = "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension"

// Security is the REST API's transport security and authentication.
type Security struct {
	// TLS serves HTTPS when set.
	TLS *tls.Config
	// Users are the HTTP basic credentials (user -> password); nil means
	// no authentication.
	Users map[string]string
}

// SecurityFromProperties reads the REST security settings of a worker
// config: an https:// URL in listeners (listeners.https.ssl.* override
// ssl.* for it, like Kafka Connect; ssl.client.auth none, requested or
// required), and basic authentication when rest.extension.classes names
// BasicAuthSecurityRestExtension, with users from the properties file that
// rest.basic.auth.credentials.file names ("user: password" lines, the
// format of Kafka Connect's PropertyFileLoginModule file).
func SecurityFromProperties(props map[string]string) (*Security, error) {
	s := &Security{}
	if strings.HasPrefix(strings.ToLower(strings.TrimSpace(strings.Split(props["listeners"], ",")[0])), "https://") {
		sslProps := map[string]string{}
		for k, v := range props {
			if strings.HasPrefix(k, "ssl.") {
				sslProps[k] = v
			}
		}
		for k, v := range props {
			if rest, ok := strings.CutPrefix(k, "listeners.https."); ok && strings.HasPrefix(rest, "ssl.") {
				sslProps[rest] = v
			}
		}
		cfg, err := kafkasec.ServerTLS(sslProps)
		if err != nil {
			return nil, fmt.Errorf("REST https listener: %w", err)
		}
		s.TLS = cfg
	}
	basic := false
	for _, c := range strings.Split(props["rest.extension.classes"], ",") {
		switch c = strings.TrimSpace(c); c {
		case "":
		case BasicAuthExtension:
			basic = true
		default:
			return nil, fmt.Errorf("rest.extension.classes: %q is not supported (only %s)", c, BasicAuthExtension)
		}
	}
	if basic {
		path := strings.TrimSpace(props["rest.basic.auth.credentials.file"])
		if path == "" {
			return nil, fmt.Errorf("rest.basic.auth.credentials.file: required with %s (a file of \"user: password\" lines)", BasicAuthExtension)
		}
		users, err := LoadCredentialsFile(path)
		if err != nil {
			return nil, fmt.Errorf("rest.basic.auth.credentials.file: %w", err)
		}
		s.Users = users
	}
	return s, nil
}

// LoadCredentialsFile reads a Java-properties style credentials file:
// "user: password" or "user=password" per line, '#' and '!' comments.
func LoadCredentialsFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	users := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, ":=")
		if i <= 0 {
			return nil, fmt.Errorf("%s line %d: want user: password", path, n)
		}
		user, pass := strings.TrimSpace(line[:i]), strings.TrimSpace(line[i+1:])
		if user == "" {
			return nil, fmt.Errorf("%s line %d: empty user name", path, n)
		}
		users[user] = pass
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: no users", path)
	}
	return users, nil
}

// Listen wraps ln with TLS when s serves HTTPS.
func (s *Security) Listen(ln net.Listener) net.Listener {
	if s == nil || s.TLS == nil {
		return ln
	}
	return tls.NewListener(ln, s.TLS)
}

// Scheme is "https" or "http".
func (s *Security) Scheme() string {
	if s != nil && s.TLS != nil {
		return "https"
	}
	return "http"
}

// Wrap returns h behind HTTP basic authentication when s has users; a
// request without valid credentials gets 401 with Kafka Connect's JSON
// error body.
func (s *Security) Wrap(h http.Handler) http.Handler {
	if s == nil || s.Users == nil {
		return h
	}
	hashes := make(map[string][32]byte, len(s.Users))
	for u, p := range s.Users {
		hashes[u] = sha256.Sum256([]byte(p))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if ok {
			want, known := hashes[user]
			got := sha256.Sum256([]byte(pass))
			if subtle.ConstantTimeCompare(want[:], got[:]) == 1 && known {
				// Authenticated.
				h.ServeHTTP(w, r)
				return
			}
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="sluice"`)
		msg := "Credentials are required to access this resource."
		if ok {
			msg = "User cannot access the resource."
		}
		writeError(w, http.StatusUnauthorized, msg)
	})
}
