package connect

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"
)

type testOptions struct {
	host     string
	port     int
	wait     time.Duration
	tables   []*regexp.Regexp
	include  []string
	exclude  []string
	on       bool
	mode     string
	checkErr error
}

func (o *testOptions) Keys() ConfigDef {
	return ConfigDef{
		{Name: "host", Type: TypeString, Importance: High, Into: IntoString(&o.host)},
		{Name: "port", Type: TypeInt, Default: "5432", HasDefault: true, Validate: AtLeast(1), Into: IntoInt(&o.port)},
		{Name: "wait.ms", Type: TypeLong, Default: "250", HasDefault: true, Into: IntoMillis(&o.wait)},
		{Name: "tables", Type: TypeList, Default: "", HasDefault: true, Into: IntoRegexps(&o.tables)},
		{Name: "include", Type: TypeList, Default: "", HasDefault: true, Into: IntoList(&o.include)},
		{Name: "exclude", Type: TypeList, Default: "", HasDefault: true, Into: IntoList(&o.exclude)},
		{Name: "on", Type: TypeBoolean, Default: "false", HasDefault: true, Into: IntoBool(&o.on)},
		{Name: "mode", Type: TypeString, Default: "Fast", HasDefault: true, Validate: OneOf("fast", "slow"), Into: IntoLower(&o.mode)},
	}
}

func (o *testOptions) Check() error {
	if len(o.include) > 0 && len(o.exclude) > 0 {
		return Errorf("exclude", "cannot be used together with include")
	}
	return o.checkErr
}

func TestBind(t *testing.T) {
	cases := []struct {
		name    string
		cfg     map[string]string
		wantKey string // "" = success
		check   func(t *testing.T, o *testOptions)
	}{
		{name: "defaults", cfg: map[string]string{"host": "db"}, check: func(t *testing.T, o *testOptions) {
			if o.host != "db" || o.port != 5432 || o.wait != 250*time.Millisecond || o.on || o.mode != "fast" || o.tables != nil {
				t.Fatalf("bound %+v", o)
			}
		}},
		{name: "values", cfg: map[string]string{"host": "db", "port": "6543", "wait.ms": "10", "tables": "a\\..*, b", "on": "TRUE", "mode": " SLOW"},
			check: func(t *testing.T, o *testOptions) {
				if o.port != 6543 || o.wait != 10*time.Millisecond || !o.on || o.mode != "slow" || len(o.tables) != 2 || !o.tables[0].MatchString("a.x") || o.tables[1].MatchString("bb") {
					t.Fatalf("bound %+v", o)
				}
			}},
		{name: "missing required", cfg: map[string]string{}, wantKey: "host"},
		{name: "bad type", cfg: map[string]string{"host": "h", "port": "x"}, wantKey: "port"},
		{name: "validator", cfg: map[string]string{"host": "h", "port": "0"}, wantKey: "port"},
		{name: "into rejects", cfg: map[string]string{"host": "h", "tables": "a("}, wantKey: "tables"},
		{name: "cross field", cfg: map[string]string{"host": "h", "include": "a", "exclude": "b"}, wantKey: "exclude"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := &testOptions{}
			_, err := Bind(tc.cfg, o)
			if tc.wantKey == "" {
				if err != nil {
					t.Fatal(err)
				}
				tc.check(t, o)
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Key != tc.wantKey {
				t.Fatalf("err = %v, want a ConfigError for %q", err, tc.wantKey)
			}
			// ValidateOptions reports the same fault against the same key.
			vals, extra := ValidateOptions(tc.cfg, &testOptions{})
			if extra != nil {
				t.Fatalf("extra error %v", extra)
			}
			for _, v := range vals {
				if v.Name == tc.wantKey && len(v.Errors) > 0 {
					return
				}
			}
			t.Fatalf("ValidateOptions reported no error on %q: %+v", tc.wantKey, vals)
		})
	}
}

func TestValidateOptionsUnnamedCheckError(t *testing.T) {
	o := &testOptions{checkErr: errors.New("whole config is wrong")}
	_, extra := ValidateOptions(map[string]string{"host": "h"}, o)
	if extra == nil || !strings.Contains(extra.Error(), "whole config") {
		t.Fatalf("extra = %v", extra)
	}
}
