package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		code     int
		inStdout string
		inStderr string
	}{
		{"no args prints usage", nil, 2, "", "usage: sluice <command>"},
		{"help", []string{"--help"}, 0, "", "create-connector"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"version", []string{"version"}, 0, "sluice ", ""},
		{"subcommand help", []string{"version", "--help"}, 0, "", "usage: sluice version"},
		{"bad flag", []string{"version", "--nope"}, 2, "", "flag provided but not defined: -nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tt.args, &out, &errb)
			if code != tt.code {
				t.Fatalf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.inStdout) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.inStdout)
			}
			if !strings.Contains(errb.String(), tt.inStderr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.inStderr)
			}
		})
	}
}

func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands() {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), []string{name, "--help"}, &out, &errb); code != 0 {
				t.Fatalf("%s --help exit %d: %s", name, code, errb.String())
			}
			if !strings.Contains(errb.String(), "usage: sluice "+name) {
				t.Fatalf("%s --help printed %q", name, errb.String())
			}
		})
	}
}
