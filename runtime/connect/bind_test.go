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

type givenOptions struct {
	Given
	version int
	mode    string
	old     string
}

func (o *givenOptions) Keys() ConfigDef {
	return ConfigDef{
		{Name: "version", Type: TypeInt, Default: "", HasDefault: true, Validate: AtLeast(1), Into: IntoInt(&o.version)},
		{Name: "mode", Type: TypeString, Default: "V1", HasDefault: true, Validate: OneOf("V1", "V2"), Into: IntoOneOf(&o.mode, "V1", "V2")},
		{Name: "old.mode", Type: TypeString, Default: "", HasDefault: true, Into: IntoString(&o.old)},
	}
}

func (o *givenOptions) Check() error {
	if o.Has("mode") && o.Has("old.mode") {
		return Errorf("old.mode", "cannot be used together with mode")
	}
	return nil
}

func TestBindGivenNullDefaultOneOf(t *testing.T) {
	o := &givenOptions{}
	if _, err := Bind(map[string]string{"mode": " v2"}, o); err != nil {
		t.Fatal(err)
	}
	if o.version != 0 || o.mode != "V2" || !o.Has("mode") || o.Has("old.mode") {
		t.Fatalf("bound %+v", o)
	}
	if v, ok := o.Raw("mode"); !ok || v != " v2" {
		t.Fatalf("Raw(mode) = %q %v", v, ok)
	}
	o = &givenOptions{}
	if _, err := Bind(map[string]string{"version": "3"}, o); err != nil || o.version != 3 || o.mode != "V1" {
		t.Fatalf("bound %+v, %v", o, err)
	}
	for want, cfg := range map[string]map[string]string{
		"version":  {"version": "0"},
		"old.mode": {"mode": "V1", "old.mode": "x"},
	} {
		_, err := Bind(cfg, &givenOptions{})
		var ce *ConfigError
		if !errors.As(err, &ce) || ce.Key != want {
			t.Errorf("%v: err %v, want a ConfigError for %s", cfg, err, want)
		}
		vals, _ := ValidateOptions(cfg, &givenOptions{})
		found := false
		for _, v := range vals {
			found = found || v.Name == want && len(v.Errors) > 0
		}
		if !found {
			t.Errorf("%v: ValidateOptions %+v", cfg, vals)
		}
	}
	if vals, extra := ValidateOptions(nil, &givenOptions{}); extra != nil || len(vals) != 3 || len(vals[0].Errors) != 0 {
		t.Fatalf("null default reported %+v %v", vals, extra)
	}
	var s string
	if err := IntoOneOf(&s, "Date", "Time")("time"); err != nil || s != "Time" {
		t.Fatalf("IntoOneOf = %q %v", s, err)
	}
	if err := IntoOneOf(&s, "Date")("x"); err == nil {
		t.Fatal("IntoOneOf accepted x")
	}
}
