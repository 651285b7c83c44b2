package file

import (
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

// TestOptionsBindEveryKey checks the single declaration: every key the
// source and the sink declare lands in their options (Into).
func TestOptionsBindEveryKey(t *testing.T) {
	for _, o := range []connect.Options{&sourceOptions{}, &sinkOptions{}} {
		for _, k := range o.Keys() {
			if k.Into == nil {
				t.Errorf("%T: key %s is not bound", o, k.Name)
			}
		}
	}
}
