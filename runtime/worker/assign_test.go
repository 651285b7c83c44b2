package worker

import "testing"

func TestAssignCooperative(t *testing.T) {
	tk := func(c string, ids ...int) []taskKey {
		var out []taskKey
		for _, i := range ids {
			out = append(out, taskKey{c, i})
		}
		return out
	}
	tests := []struct {
		name        string
		members     []memberState
		tasks       map[string]int
		wantLoad    map[string]int // tasks per member in the full assignment
		wantRevoked map[string]int
	}{
		{"fresh spread", []memberState{{id: "a"}, {id: "b"}}, map[string]int{"x": 4, "y": 2}, map[string]int{"a": 3, "b": 3}, nil},
		{"sticky", []memberState{{id: "a", current: tk("x", 0, 1)}, {id: "b", current: tk("x", 2, 3)}}, map[string]int{"x": 4}, map[string]int{"a": 2, "b": 2}, nil},
		{"new member: surplus revoked, not reassigned yet", []memberState{{id: "a", current: tk("x", 0, 1, 2, 3)}, {id: "b"}}, map[string]int{"x": 4}, map[string]int{"a": 2, "b": 0}, map[string]int{"a": 2}},
		{"dead member's tasks reassigned", []memberState{{id: "a", current: tk("x", 0, 1)}}, map[string]int{"x": 4}, map[string]int{"a": 4}, nil},
		{"duplicate holder revoked", []memberState{{id: "a", current: tk("x", 0)}, {id: "b", current: tk("x", 0, 1)}}, map[string]int{"x": 2}, map[string]int{"a": 1, "b": 1}, map[string]int{"b": 1}},
		{"deleted connector dropped", []memberState{{id: "a", current: tk("gone", 0, 1)}, {id: "b"}}, map[string]int{"x": 2}, map[string]int{"a": 1, "b": 1}, nil},
		{"third member joins 2+2: one task moves to it", []memberState{{id: "a", current: tk("x", 0, 1)}, {id: "b", current: tk("x", 2, 3)}, {id: "c"}}, map[string]int{"x": 4}, map[string]int{"a": 2, "b": 1, "c": 0}, map[string]int{"b": 1}},
		{"third member after the revocation round", []memberState{{id: "a", current: tk("x", 0, 1)}, {id: "b", current: tk("x", 2)}, {id: "c"}}, map[string]int{"x": 4}, map[string]int{"a": 2, "b": 1, "c": 1}, nil},
		{"shrunk task count", []memberState{{id: "a", current: tk("x", 0, 1, 2)}}, map[string]int{"x": 1}, map[string]int{"a": 1}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var conns []string
			for c := range tc.tasks {
				conns = append(conns, c)
			}
			sortStrings(conns)
			full, revoked := assignCooperative("a", tc.members, conns, tc.tasks)
			seen := map[taskKey]string{}
			for id, ks := range full {
				n := 0
				for _, k := range ks {
					if k.id == connectorTask {
						if id != "a" {
							t.Fatalf("connector %s on non-leader %s", k.conn, id)
						}
						continue
					}
					if other, dup := seen[k]; dup {
						t.Fatalf("task %v on %s and %s", k, id, other)
					}
					seen[k] = id
					n++
				}
				if n != tc.wantLoad[id] {
					t.Errorf("member %s runs %d tasks, want %d: %v", id, n, tc.wantLoad[id], ks)
				}
			}
			for id, ks := range revoked {
				if len(ks) != tc.wantRevoked[id] {
					t.Errorf("member %s revoked %v, want %d", id, ks, tc.wantRevoked[id])
				}
				for _, k := range ks {
					if owner, ok := seen[k]; ok && !holds(tc.members, owner, k) {
						t.Fatalf("revoked %v reassigned to %s in the same round", k, owner)
					}
				}
			}
			if len(tc.wantRevoked) == 0 && len(revoked) != 0 {
				t.Errorf("unexpected revocations %v", revoked)
			}
			// Every existing task is assigned or revoked (pending).
			for c, n := range tc.tasks {
				for i := 0; i < n; i++ {
					k := taskKey{c, i}
					if _, ok := seen[k]; !ok && !contains(revoked, k) {
						t.Errorf("task %v unassigned", k)
					}
				}
			}
		})
	}
}

func contains(m map[string][]taskKey, k taskKey) bool {
	for _, ks := range m {
		for _, x := range ks {
			if x == k {
				return true
			}
		}
	}
	return false
}

func holds(ms []memberState, id string, k taskKey) bool {
	for _, m := range ms {
		if m.id != id {
			continue
		}
		for _, x := range m.current {
			if x == k {
				return true
			}
		}
	}
	return false
}
