package cdcconfig

import (
	"errors"
	"regexp"
	"slices"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestPass(t *testing.T) {
	res := func(ps ...string) []*regexp.Regexp {
		var out []*regexp.Regexp
		for _, p := range ps {
			out = append(out, regexp.MustCompile("^(?:"+p+")$"))
		}
		return out
	}
	cases := []struct {
		name             string
		include, exclude []*regexp.Regexp
		id               string
		want             bool
	}{
		{"no filters", nil, nil, "public.a", true},
		{"included", res(`public\.a`), nil, "public.a", true},
		{"not included", res(`public\.a`), nil, "public.b", false},
		{"excluded", nil, res(`public\..*`), "public.b", false},
		{"not excluded", nil, res(`other\..*`), "public.b", true},
		{"include wins", res(`public\.b`), res(`public\.b`), "public.b", true},
	}
	for _, tc := range cases {
		if got := Pass(tc.include, tc.exclude, tc.id); got != tc.want {
			t.Errorf("%s: Pass(%q) = %v, want %v", tc.name, tc.id, got, tc.want)
		}
	}
}

func TestParseKeyColumns(t *testing.T) {
	k, err := ParseKeyColumns(" inv\\.orders:a,b ; inv\\..*:id ", "db")
	if err != nil {
		t.Fatal(err)
	}
	if got := k.For("inv.orders"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("inv.orders -> %v", got)
	}
	if got := k.For("inv.items"); !slices.Equal(got, []string{"id"}) {
		t.Errorf("inv.items -> %v", got)
	}
	if got := k.For("other.items"); got != nil {
		t.Errorf("other.items -> %v, want nil", got)
	}
	for _, bad := range []string{"nocolon", "t:", ":a", "(:a"} {
		if _, err := ParseKeyColumns(bad, "schema"); err == nil {
			t.Errorf("ParseKeyColumns(%q) accepted", bad)
		}
	}
}

type pairOptions struct {
	connect.Given
	inc, exc string
}

func (o *pairOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: "table.include.list", Type: connect.TypeString, HasDefault: true, Into: connect.IntoString(&o.inc)},
		{Name: "table.exclude.list", Type: connect.TypeString, HasDefault: true, Into: connect.IntoString(&o.exc)},
	}
}

func (o *pairOptions) Check() error {
	return Exclusive(&o.Given, [2]string{"table.include.list", "table.exclude.list"})
}

func TestExclusive(t *testing.T) {
	cases := []struct {
		cfg     map[string]string
		wantErr bool
	}{
		{map[string]string{}, false},
		{map[string]string{"table.include.list": "a"}, false},
		{map[string]string{"table.include.list": "a", "table.exclude.list": ""}, false},
		{map[string]string{"table.include.list": "a", "table.exclude.list": "b"}, true},
	}
	for _, tc := range cases {
		_, err := connect.Bind(tc.cfg, &pairOptions{})
		var ce *connect.ConfigError
		if tc.wantErr != (err != nil) || err != nil && (!errors.As(err, &ce) || ce.Key != "table.exclude.list") {
			t.Errorf("%v: err = %v, want error %v naming table.exclude.list", tc.cfg, err, tc.wantErr)
		}
	}
}

func TestSkippedAndPrefix(t *testing.T) {
	if err := ValidSkipped("c, U,none"); err != nil {
		t.Error(err)
	}
	if err := ValidSkipped("c,x"); err == nil {
		t.Error("x accepted")
	}
	if got, _ := ParseSkipped("C,none,t"); !got["c"] || !got["t"] || len(got) != 2 {
		t.Errorf("ParseSkipped = %v", got)
	}
	for v, ok := range map[string]bool{"dbserver1": true, "a.b-c_d": true, "": false, " ": false, "a b": false, "a/b": false} {
		if err := ValidPrefix(v); (err == nil) != ok {
			t.Errorf("ValidPrefix(%q) = %v", v, err)
		}
	}
}
