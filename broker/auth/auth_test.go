package auth

import (
	"crypto/x509/pkix"
	"path/filepath"
	"testing"
)

func TestAuthorize(t *testing.T) {
	acls := []ACL{
		{ResourceTopic, "orders", PatternLiteral, "User:alice", "*", OpRead, PermissionAllow},
		{ResourceTopic, "logs-", PatternPrefixed, "User:alice", "*", OpWrite, PermissionAllow},
		{ResourceTopic, "logs-secret", PatternLiteral, "User:alice", "*", OpAll, PermissionDeny},
		{ResourceTopic, "*", PatternLiteral, "User:bob", "*", OpDescribe, PermissionAllow},
		{ResourceTopic, "pinned", PatternLiteral, "User:carol", "10.0.0.1", OpRead, PermissionAllow},
		{ResourceGroup, "g1", PatternLiteral, "User:*", "*", OpRead, PermissionAllow},
		{ResourceCluster, ClusterName, PatternLiteral, "User:ops", "*", OpAlterConfigs, PermissionAllow},
	}
	for _, noACL := range []bool{false, true} {
		s, err := OpenACLs("", AuthorizerConfig{SuperUsers: []string{"User:admin"}, AllowIfNoACL: noACL})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Add(acls...); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			p, host string
			op      Operation
			rt      ResourceType
			name    string
			want    bool
		}{
			{"User:alice", "h", OpRead, ResourceTopic, "orders", true},
			{"User:alice", "h", OpDescribe, ResourceTopic, "orders", true}, // implied by Read
			{"User:alice", "h", OpWrite, ResourceTopic, "orders", false},
			{"User:alice", "h", OpWrite, ResourceTopic, "logs-app", true},
			{"User:alice", "h", OpWrite, ResourceTopic, "logs-secret", false}, // DENY wins
			{"User:bob", "h", OpDescribe, ResourceTopic, "orders", true},      // wildcard name
			{"User:bob", "h", OpRead, ResourceTopic, "orders", false},
			{"User:carol", "10.0.0.1", OpRead, ResourceTopic, "pinned", true},
			{"User:carol", "10.0.0.2", OpRead, ResourceTopic, "pinned", false},
			{"User:zed", "h", OpRead, ResourceGroup, "g1", true}, // User:*
			{"User:zed", "h", OpRead, ResourceGroup, "g2", noACL},
			{"User:ops", "h", OpDescribeConfigs, ResourceCluster, ClusterName, true}, // implied by AlterConfigs
			{"User:admin", "h", OpDelete, ResourceTopic, "orders", true},             // super user
			{"User:zed", "h", OpRead, ResourceTopic, "untouched", false},             // the User:bob wildcard ACL covers it
			{"User:zed", "h", OpWrite, ResourceTransactionalID, "untouched", noACL},
		} {
			if got := s.Authorize(tc.p, tc.host, tc.op, tc.rt, tc.name); got != tc.want {
				t.Errorf("noACL=%v: Authorize(%s, %s, %s, %s:%s) = %v, want %v", noACL, tc.p, tc.host, tc.op, tc.rt, tc.name, got, tc.want)
			}
		}
	}
}

func TestACLPersistAndDelete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "security", "acls.json")
	s, err := OpenACLs(path, AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	a := ACL{ResourceTopic, "t", PatternLiteral, "User:u", "*", OpRead, PermissionAllow}
	b := ACL{ResourceGroup, "g", PatternPrefixed, "User:u", "*", OpRead, PermissionAllow}
	if err := s.Add(a, b, a); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ACL{ResourceTopic, "", PatternLiteral, "User:u", "*", OpRead, PermissionAllow}); err == nil {
		t.Fatal("Add accepted an empty resource name")
	}
	s2, err := OpenACLs(path, AuthorizerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Describe(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}); len(got) != 2 {
		t.Fatalf("reloaded %d ACLs, want 2: %v", len(got), got)
	}
	match := Filter{ResourceType: ResourceGroup, ResourceName: "gx", PatternType: PatternMatch, Operation: OpAny, Permission: PermissionAny}
	if got := s2.Describe(match); len(got) != 1 || got[0] != b {
		t.Fatalf("MATCH filter on gx = %v, want [%v]", got, b)
	}
	del, err := s2.Delete(match)
	if err != nil || len(del[0]) != 1 {
		t.Fatalf("Delete = %v, %v", del, err)
	}
	s3, _ := OpenACLs(path, AuthorizerConfig{})
	if got := s3.Describe(Filter{ResourceType: ResourceAny, PatternType: PatternAny, Operation: OpAny, Permission: PermissionAny}); len(got) != 1 || got[0] != a {
		t.Fatalf("after delete and reload: %v", got)
	}
}

func TestCredentials(t *testing.T) {
	path := filepath.Join(t.TempDir(), "scram.json")
	c, err := OpenCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := ScramSHA512.NewCredential("s3cret", 4096)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Set("alice", ScramSHA512, cred); err != nil {
		t.Fatal(err)
	}
	if _, err := ScramSHA256.NewCredential("x", 10); err == nil {
		t.Fatal("NewCredential accepted 10 iterations")
	}
	c2, err := OpenCredentials(path)
	if err != nil {
		t.Fatal(err)
	}
	m, got, ok := c2.Any("alice")
	if !ok || m != ScramSHA512 {
		t.Fatalf("reloaded credential: %v %v", m, ok)
	}
	if !m.VerifyPassword(got, "s3cret") || m.VerifyPassword(got, "wrong") {
		t.Fatal("VerifyPassword does not tell the right password from a wrong one")
	}
	if err := c2.Delete("alice", ScramSHA256); err != ErrNoCredential {
		t.Fatalf("Delete missing = %v", err)
	}
	if err := c2.Delete("alice", ScramSHA512); err != nil {
		t.Fatal(err)
	}
	if c3, _ := OpenCredentials(path); c3.HasUser("alice") {
		t.Fatal("deleted user is back after reload")
	}
}

func TestPrincipalMapping(t *testing.T) {
	for _, tc := range []struct{ rules, dn, want string }{
		{"", "CN=alice,OU=eng,O=ex", "CN=alice,OU=eng,O=ex"},
		{"DEFAULT", "CN=alice,O=ex", "CN=alice,O=ex"},
		{"RULE:^CN=(.*?),OU=(.*?),O=ex$/$1@$2/L, DEFAULT", "CN=Alice,OU=ENG,O=ex", "alice@eng"},
		{"RULE:^CN=(.*?),OU=(.*?),O=ex$/$1@$2/U, DEFAULT", "CN=Alice,O=other", "CN=Alice,O=other"},
		{"RULE:^CN=([^,]*).*$/$1/", "CN=svc,O=ex", "svc"},
		{`RULE:^CN=([^,]*).*$/a\/$1/`, "CN=svc,O=ex", "a/svc"},
	} {
		pm, err := ParseMappingRules(tc.rules)
		if err != nil {
			t.Fatalf("%q: %v", tc.rules, err)
		}
		if got := pm.Map(tc.dn); got != tc.want {
			t.Errorf("rules %q: Map(%q) = %q, want %q", tc.rules, tc.dn, got, tc.want)
		}
	}
	for _, bad := range []string{"RULE:nope", "BOGUS", "RULE:(/x/", "DEFAULT DEFAULT"} {
		if _, err := ParseMappingRules(bad); err == nil {
			t.Errorf("ParseMappingRules(%q) accepted", bad)
		}
	}
	if got := SubjectDN(pkix.Name{CommonName: "a", Organization: []string{"o"}}); got != "CN=a,O=o" {
		t.Errorf("SubjectDN = %q", got)
	}
}
