package controller

import (
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// ACL is one replicated access-control binding; the int8 fields carry
// Kafka's wire codes (the broker's auth package gives them meaning).
type ACL struct {
	ResourceType int8   `json:"resource_type"`
	ResourceName string `json:"resource_name"`
	PatternType  int8   `json:"pattern_type"`
	Principal    string `json:"principal"`
	Host         string `json:"host"`
	Operation    int8   `json:"operation"`
	Permission   int8   `json:"permission"`
}

// SCRAMCredential is one replicated salted SCRAM credential (never the
// password).
type SCRAMCredential struct {
	Salt       []byte `json:"salt"`
	Iterations int    `json:"iterations"`
	StoredKey  []byte `json:"stored_key"`
	ServerKey  []byte `json:"server_key"`
}

// Security commands.
const (
	// OpCreateACLs adds Cmd.ACLs (a binding already present is kept once).
	OpCreateACLs Op = "create_acls"
	// OpDeleteACLs removes the exact bindings Cmd.ACLs; Result.ACLs lists
	// those that were present.
	OpDeleteACLs Op = "delete_acls"
	// OpSetSCRAM stores Cmd.SCRAM as the credential of Cmd.User for
	// mechanism Cmd.Mechanism.
	OpSetSCRAM Op = "set_scram"
	// OpDeleteSCRAM removes Cmd.User's credential for Cmd.Mechanism.
	OpDeleteSCRAM Op = "delete_scram"
)

func (s *State) applySecurity(c *Cmd) (Result, bool) {
	switch c.Op {
	case OpCreateACLs:
		for _, a := range c.ACLs {
			if !slices.Contains(s.ACLs, a) {
				s.ACLs = append(s.ACLs, a)
			}
		}
	case OpDeleteACLs:
		var removed []ACL
		s.ACLs = slices.DeleteFunc(s.ACLs, func(a ACL) bool {
			if slices.Contains(c.ACLs, a) {
				removed = append(removed, a)
				return true
			}
			return false
		})
		return Result{ACLs: removed}, true
	case OpSetSCRAM:
		if c.User == "" || c.SCRAM == nil {
			return Result{Err: errf(kerr.UnacceptableCredential, "set_scram: user or credential missing")}, true
		}
		if s.SCRAM == nil {
			s.SCRAM = map[string]map[int8]SCRAMCredential{}
		}
		if s.SCRAM[c.User] == nil {
			s.SCRAM[c.User] = map[int8]SCRAMCredential{}
		}
		s.SCRAM[c.User][c.Mechanism] = *c.SCRAM
	case OpDeleteSCRAM:
		if _, ok := s.SCRAM[c.User][c.Mechanism]; !ok {
			return Result{Err: errf(kerr.ResourceNotFound, "no SCRAM credential for user %q, mechanism %d", c.User, c.Mechanism)}, true
		}
		delete(s.SCRAM[c.User], c.Mechanism)
		if len(s.SCRAM[c.User]) == 0 {
			delete(s.SCRAM, c.User)
		}
	default:
		return Result{}, false
	}
	return Result{}, true
}

// cloneSecurity copies the security part of s into c. Credentials are
// never modified in place, so their byte slices are shared.
func (s *State) cloneSecurity(c *State) {
	c.ACLs = slices.Clone(s.ACLs)
	if s.SCRAM != nil {
		c.SCRAM = make(map[string]map[int8]SCRAMCredential, len(s.SCRAM))
		for u, ms := range s.SCRAM {
			m := make(map[int8]SCRAMCredential, len(ms))
			for k, v := range ms {
				m[k] = v
			}
			c.SCRAM[u] = m
		}
	}
}
