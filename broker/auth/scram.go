package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"

	blog "github.com/sluicehq/sluice/broker/log"
)

// Mechanism is a SCRAM mechanism.
type Mechanism int8

// The SCRAM mechanisms, numbered as KIP-554 numbers them on the wire.
const (
	ScramSHA256 Mechanism = 1
	ScramSHA512 Mechanism = 2
)

// MinIterations and MaxIterations bound SCRAM iteration counts (Kafka's
// limits).
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// ErrUnknownMechanism is returned for a mechanism other than
// SCRAM-SHA-256 and SCRAM-SHA-512.
var ErrUnknownMechanism = errors.New("unknown SCRAM mechanism")

// ParseMechanism parses "SCRAM-SHA-256" or "SCRAM-SHA-512".
func ParseMechanism(s string) (Mechanism, error) {
	switch s {
	case "SCRAM-SHA-256":
		return ScramSHA256, nil
	case "SCRAM-SHA-512":
		return ScramSHA512, nil
	}
	return 0, fmt.Errorf("%w %q (want SCRAM-SHA-256 or SCRAM-SHA-512)", ErrUnknownMechanism, s)
}

// String returns the SASL mechanism name.
func (m Mechanism) String() string {
	switch m {
	case ScramSHA256:
		return "SCRAM-SHA-256"
	case ScramSHA512:
		return "SCRAM-SHA-512"
	}
	return fmt.Sprintf("SCRAM(%d)", int8(m))
}

// Hash returns the mechanism's hash constructor, or nil if unknown.
func (m Mechanism) Hash() func() hash.Hash {
	switch m {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// Valid reports whether m is a known mechanism.
func (m Mechanism) Valid() bool { return m.Hash() != nil }

// Credential is one user's salted SCRAM credential (RFC 5802): the salt,
// iteration count, StoredKey and ServerKey. It cannot be turned back into
// the password.
type Credential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// SaltPassword computes SaltedPassword = Hi(password, salt, iterations).
func (m Mechanism) SaltPassword(password string, salt []byte, iterations int) ([]byte, error) {
	h := m.Hash()
	if h == nil {
		return nil, ErrUnknownMechanism
	}
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// HMAC returns HMAC(key, msg) with the mechanism's hash.
func (m Mechanism) HMAC(key, msg []byte) []byte {
	mac := hmac.New(m.Hash(), key)
	mac.Write(msg)
	return mac.Sum(nil)
}

// H returns the mechanism's hash of b.
func (m Mechanism) H(b []byte) []byte {
	h := m.Hash()()
	h.Write(b)
	return h.Sum(nil)
}

// CredentialFromSalted derives a Credential from a salted password, the
// form AlterUserScramCredentials carries.
func (m Mechanism) CredentialFromSalted(salt, salted []byte, iterations int) Credential {
	clientKey := m.HMAC(salted, []byte("Client Key"))
	return Credential{
		Salt:       slices.Clone(salt),
		Iterations: iterations,
		StoredKey:  m.H(clientKey),
		ServerKey:  m.HMAC(salted, []byte("Server Key")),
	}
}

// NewCredential salts password with a fresh random salt.
func (m Mechanism) NewCredential(password string, iterations int) (Credential, error) {
	if iterations < MinIterations || iterations > MaxIterations {
		return Credential{}, fmt.Errorf("iterations %d: must be between %d and %d", iterations, MinIterations, MaxIterations)
	}
	salt := make([]byte, 24)
	if _, err := rand.Read(salt); err != nil {
		return Credential{}, err
	}
	salted, err := m.SaltPassword(password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return m.CredentialFromSalted(salt, salted, iterations), nil
}

// VerifyPassword reports whether password matches c (used by SASL/PLAIN,
// which checks a password against the stored SCRAM credential).
func (m Mechanism) VerifyPassword(c Credential, password string) bool {
	salted, err := m.SaltPassword(password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	stored := m.H(m.HMAC(salted, []byte("Client Key")))
	return subtle.ConstantTimeCompare(stored, c.StoredKey) == 1
}

// UserCredential describes one credential without its secrets.
type UserCredential struct {
	User       string
	Mechanism  Mechanism
	Iterations int
}

// Credentials is the SCRAM credential store. It is safe for concurrent
// use; every change is written to its file before it is visible.
type Credentials struct {
	path string
	rep  CredentialReplicator // nil: changes go to path
	mu   sync.RWMutex
	// users maps user -> mechanism -> credential.
	users map[string]map[Mechanism]Credential
}

type credFile struct {
	Users map[string]map[string]Credential `json:"users"`
}

// OpenCredentials loads the store from path (a missing file is an empty
// store). An empty path keeps the store in memory only.
func OpenCredentials(path string) (*Credentials, error) {
	c := &Credentials{path: path, users: map[string]map[Mechanism]Credential{}}
	if path == "" {
		return c, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("scram credentials: %w", err)
	}
	var f credFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("scram credentials %s: %w", path, err)
	}
	for u, ms := range f.Users {
		for name, cred := range ms {
			m, err := ParseMechanism(name)
			if err != nil {
				return nil, fmt.Errorf("scram credentials %s: user %q: %w", path, u, err)
			}
			if c.users[u] == nil {
				c.users[u] = map[Mechanism]Credential{}
			}
			c.users[u][m] = cred
		}
	}
	return c, nil
}

// Lookup returns user's credential for m.
func (c *Credentials) Lookup(user string, m Mechanism) (Credential, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	cred, ok := c.users[user][m]
	return cred, ok
}

// Any returns any credential of user (SASL/PLAIN checks passwords
// against it), preferring SCRAM-SHA-512.
func (c *Credentials) Any(user string) (Mechanism, Credential, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, m := range []Mechanism{ScramSHA512, ScramSHA256} {
		if cred, ok := c.users[user][m]; ok {
			return m, cred, true
		}
	}
	return 0, Credential{}, false
}

// Set stores (or replaces) user's credential for m.
func (c *Credentials) Set(user string, m Mechanism, cred Credential) error {
	if user == "" {
		return errors.New("user name is empty")
	}
	if !m.Valid() {
		return ErrUnknownMechanism
	}
	if c.rep != nil {
		return c.rep.SetCredential(user, m, cred)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next := c.cloneLocked()
	if next[user] == nil {
		next[user] = map[Mechanism]Credential{}
	}
	next[user][m] = cred
	return c.commitLocked(next)
}

// ErrNoCredential is returned when deleting a credential that does not
// exist.
var ErrNoCredential = errors.New("no such SCRAM credential")

// Delete removes user's credential for m.
func (c *Credentials) Delete(user string, m Mechanism) error {
	if c.rep != nil {
		return c.rep.DeleteCredential(user, m)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.users[user][m]; !ok {
		return ErrNoCredential
	}
	next := c.cloneLocked()
	delete(next[user], m)
	if len(next[user]) == 0 {
		delete(next, user)
	}
	return c.commitLocked(next)
}

// Describe lists the credentials of the given users (all users if none
// are given), sorted by user and mechanism.
func (c *Credentials) Describe(users ...string) []UserCredential {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(users) == 0 {
		users = slices.Sorted(maps.Keys(c.users))
	}
	var out []UserCredential
	for _, u := range users {
		for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
			if cred, ok := c.users[u][m]; ok {
				out = append(out, UserCredential{User: u, Mechanism: m, Iterations: cred.Iterations})
			}
		}
	}
	return out
}

// HasUser reports whether user has any credential.
func (c *Credentials) HasUser(user string) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.users[user]) > 0
}

func (c *Credentials) cloneLocked() map[string]map[Mechanism]Credential {
	next := make(map[string]map[Mechanism]Credential, len(c.users))
	for u, ms := range c.users {
		next[u] = maps.Clone(ms)
	}
	return next
}

func (c *Credentials) commitLocked(next map[string]map[Mechanism]Credential) error {
	if c.path != "" {
		f := credFile{Users: map[string]map[string]Credential{}}
		for u, ms := range next {
			f.Users[u] = map[string]Credential{}
			for m, cred := range ms {
				f.Users[u][m.String()] = cred
			}
		}
		data, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
			return err
		}
		if err := blog.WriteFileAtomic(c.path, data); err != nil {
			return fmt.Errorf("persist scram credentials: %w", err)
		}
	}
	c.users = next
	return nil
}
