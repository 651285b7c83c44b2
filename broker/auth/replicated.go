package auth

import (
	"maps"
	"slices"
)

// CredentialReplicator makes credential changes go through a replicated
// log (the broker's controller quorum) instead of the store's file: Set
// and Delete call it, and the store's contents change only by Replace,
// when the replicated state is applied. Delete returns ErrNoCredential for
// a credential the replicated state does not have.
type CredentialReplicator interface {
	SetCredential(user string, m Mechanism, cred Credential) error
	DeleteCredential(user string, m Mechanism) error
}

// ACLReplicator makes ACL changes go through a replicated log: Add and
// Delete call it and the store changes only by Replace. DeleteACLs returns
// the bindings that were present.
type ACLReplicator interface {
	AddACLs(acls []ACL) error
	DeleteACLs(acls []ACL) ([]ACL, error)
}

// Replicate routes c's changes through r. Call it before the store is
// shared.
func (c *Credentials) Replicate(r CredentialReplicator) { c.rep = r }

// Replace sets the store's contents (the replicated state) without
// writing its file.
func (c *Credentials) Replace(users map[string]map[Mechanism]Credential) {
	next := make(map[string]map[Mechanism]Credential, len(users))
	for u, ms := range users {
		next[u] = maps.Clone(ms)
	}
	c.mu.Lock()
	c.users = next
	c.mu.Unlock()
}

// Replicate routes s's changes through r. Call it before the store is
// shared.
func (s *ACLs) Replicate(r ACLReplicator) { s.rep = r }

// Replace sets the bindings (the replicated state) without writing the
// file.
func (s *ACLs) Replace(acls []ACL) {
	next := slices.Clone(acls)
	s.mu.Lock()
	s.acls = next
	s.mu.Unlock()
}

// List returns every binding.
func (s *ACLs) List() []ACL {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return slices.Clone(s.acls)
}
