package controller

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestApplySecurity(t *testing.T) {
	a1 := ACL{ResourceType: 2, ResourceName: "t", PatternType: 3, Principal: "User:a", Host: "*", Operation: 3, Permission: 3}
	a2 := ACL{ResourceType: 3, ResourceName: "g", PatternType: 3, Principal: "User:a", Host: "*", Operation: 3, Permission: 3}
	cred := &SCRAMCredential{Salt: []byte("salt"), Iterations: 4096, StoredKey: []byte("sk"), ServerKey: []byte("vk")}
	tests := []struct {
		name      string
		cmds      []Cmd
		wantACLs  []ACL
		wantUsers map[string]int // user -> number of mechanisms
		wantCode  int16          // of the last command
		wantGone  []ACL          // Result.ACLs of the last command
	}{
		{"create twice keeps one", []Cmd{{Op: OpCreateACLs, ACLs: []ACL{a1}}, {Op: OpCreateACLs, ACLs: []ACL{a1, a2}}}, []ACL{a1, a2}, nil, 0, nil},
		{"delete reports what it removed", []Cmd{{Op: OpCreateACLs, ACLs: []ACL{a1, a2}}, {Op: OpDeleteACLs, ACLs: []ACL{a2, {ResourceName: "absent"}}}}, []ACL{a1}, nil, 0, []ACL{a2}},
		{"set two mechanisms", []Cmd{{Op: OpSetSCRAM, User: "u", Mechanism: 1, SCRAM: cred}, {Op: OpSetSCRAM, User: "u", Mechanism: 2, SCRAM: cred}}, nil, map[string]int{"u": 2}, 0, nil},
		{"delete the last mechanism drops the user", []Cmd{{Op: OpSetSCRAM, User: "u", Mechanism: 1, SCRAM: cred}, {Op: OpDeleteSCRAM, User: "u", Mechanism: 1}}, nil, map[string]int{}, 0, nil},
		{"delete a missing credential", []Cmd{{Op: OpDeleteSCRAM, User: "u", Mechanism: 1}}, nil, nil, kerr.ResourceNotFound.Code, nil},
		{"set without a user", []Cmd{{Op: OpSetSCRAM, Mechanism: 1, SCRAM: cred}}, nil, nil, kerr.UnacceptableCredential.Code, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := NewState()
			var r Result
			for i := range tt.cmds {
				before := s.Clone()
				r = s.Apply(&tt.cmds[i])
				if i < len(tt.cmds)-1 && r.Err != nil {
					t.Fatalf("cmd %d: %v", i, r.Err)
				}
				if i == 0 && (len(before.ACLs) != 0 || len(before.SCRAM) != 0) {
					t.Fatalf("a clone taken before the first command changed: %+v", before)
				}
			}
			var code int16
			if r.Err != nil {
				code = r.Err.Code
			}
			if code != tt.wantCode || !reflect.DeepEqual(r.ACLs, tt.wantGone) {
				t.Fatalf("last result = code %d acls %v, want code %d acls %v", code, r.ACLs, tt.wantCode, tt.wantGone)
			}
			if !reflect.DeepEqual(s.ACLs, tt.wantACLs) {
				t.Fatalf("ACLs = %v, want %v", s.ACLs, tt.wantACLs)
			}
			for u, n := range tt.wantUsers {
				if len(s.SCRAM[u]) != n {
					t.Fatalf("user %s has %d credentials, want %d", u, len(s.SCRAM[u]), n)
				}
			}
			if tt.wantUsers != nil && len(s.SCRAM) != len(tt.wantUsers) {
				t.Fatalf("SCRAM users = %v, want %v", s.SCRAM, tt.wantUsers)
			}
			// A snapshot (JSON) restores the same security state.
			data, err := json.Marshal(s)
			if err != nil {
				t.Fatal(err)
			}
			back := NewState()
			if err := json.Unmarshal(data, back); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(back.ACLs, s.ACLs) || len(back.SCRAM) != len(s.SCRAM) {
				t.Fatalf("snapshot round trip: %+v / %+v, want %+v / %+v", back.ACLs, back.SCRAM, s.ACLs, s.SCRAM)
			}
			for u, ms := range s.SCRAM {
				if !reflect.DeepEqual(back.SCRAM[u], ms) {
					t.Fatalf("snapshot round trip of %s: %+v, want %+v", u, back.SCRAM[u], ms)
				}
			}
		})
	}
}

func TestCloneSecurityIsDeep(t *testing.T) {
	s := NewState()
	s.Apply(&Cmd{Op: OpSetSCRAM, User: "u", Mechanism: 1, SCRAM: &SCRAMCredential{Iterations: 4096}})
	c := s.Clone()
	s.Apply(&Cmd{Op: OpSetSCRAM, User: "u", Mechanism: 2, SCRAM: &SCRAMCredential{Iterations: 4096}})
	s.Apply(&Cmd{Op: OpCreateACLs, ACLs: []ACL{{ResourceName: "x"}}})
	if len(c.SCRAM["u"]) != 1 || len(c.ACLs) != 0 {
		t.Fatalf("clone changed with the original: %+v %+v", c.SCRAM, c.ACLs)
	}
}
