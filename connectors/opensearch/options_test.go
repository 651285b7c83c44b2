package opensearch

import "testing"

// TestOptionsBindEveryKey checks the single declaration: every key the
// connector declares lands in its settings (Into), except the keys that are
// only validated.
func TestOptionsBindEveryKey(t *testing.T) {
	validatedOnly := map[string]bool{}
	for _, k := range (&settings{}).Keys() {
		if bound := k.Into != nil; bound == validatedOnly[k.Name] {
			t.Errorf("key %s: bound %v, want %v", k.Name, bound, !validatedOnly[k.Name])
		}
	}
}
