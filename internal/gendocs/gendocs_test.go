package gendocs

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestTable(t *testing.T) {
	def := connect.ConfigDef{
		{Name: "a", Type: connect.TypeString, Importance: connect.High, Doc: "line one\nline | two"},
		{Name: "b", Type: connect.TypeInt, Default: "5", HasDefault: true, Importance: connect.Low, Doc: "count"},
		{Name: "c", Type: connect.TypeString, HasDefault: true, Importance: connect.Medium, Doc: "mode.", Recommended: []string{"x", "y"}},
	}
	got := Table(def)
	want := "| key | type | default | importance | description |\n" +
		"| --- | --- | --- | --- | --- |\n" +
		"| `a` | string | required | high | line one line \\| two |\n" +
		"| `b` | int | `5` | low | count |\n" +
		"| `c` | string | \"\" | medium | mode. One of: x, y. |\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestSplice(t *testing.T) {
	doc := "intro\n" + Begin("p") + "\nold\n" + End("p") + "\noutro\n"
	tests := []struct {
		name, doc, want string
		fails           bool
	}{
		{"replaces", doc, "intro\n" + Begin("p") + "\nnew\n" + End("p") + "\noutro\n", false},
		{"idempotent", "intro\n" + Begin("p") + "\nnew\n" + End("p") + "\noutro\n", "intro\n" + Begin("p") + "\nnew\n" + End("p") + "\noutro\n", false},
		{"missing end", "x\n" + Begin("p") + "\n", "", true},
		{"missing begin", "x\n" + End("p") + "\n", "", true},
		{"reversed", End("p") + "\n" + Begin("p"), "", true},
		{"repeated", doc + doc, "", true},
		{"other id", strings.ReplaceAll(doc, " p ", " q "), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Splice([]byte(tt.doc), "p", "new\n")
			if (err != nil) != tt.fails {
				t.Fatalf("err %v, fails %v", err, tt.fails)
			}
			if !tt.fails && string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
