package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/plugin"
)

func TestRegistryHoldsEveryConnector(t *testing.T) {
	reg, err := registry()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plugins() {
		s, ok := reg.Lookup(plugin.Kind(p.Type), p.Class)
		if !ok || s.Kind != plugin.Kind(p.Type) {
			t.Errorf("%s (%s) not in the registry", p.Class, p.Type)
		}
		if len(s.ConfigDef()) == 0 && p.Class != "io.sluice.connect.log.LogSinkConnector" {
			t.Errorf("%s has no config keys", p.Class)
		}
	}
	for _, k := range []plugin.Kind{plugin.Transformation, plugin.Predicate, plugin.Converter, plugin.HeaderConverter} {
		if len(reg.All(k)) == 0 {
			t.Errorf("no %s plugins", k)
		}
	}
}

func TestListPlugins(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		contains []string
		absent   []string
	}{
		{[]string{"list-plugins"}, 0, []string{"io.debezium.connector.postgresql.PostgresConnector", "org.apache.kafka.connect.transforms.Filter", "header_converter"}, nil},
		{[]string{"list-plugins", "-kind", "sink"}, 0, []string{"io.confluent.connect.s3.S3SinkConnector"}, []string{"PostgresConnector", "transformation"}},
		{[]string{"list-plugins", "-config", "postgres"}, 0, []string{"database.hostname", "HIGH"}, nil},
		{[]string{"list-plugins", "-config", "InsertField$Value"}, 0, []string{"static.field"}, nil},
		{[]string{"list-plugins", "-config", "no.such.Plugin"}, 2, nil, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(context.Background(), tt.args, &out, &errb); code != tt.code {
				t.Fatalf("exit %d, want %d: %s", code, tt.code, errb.String())
			}
			for _, s := range tt.contains {
				if !strings.Contains(out.String(), s) {
					t.Errorf("output lacks %q:\n%s", s, out.String())
				}
			}
			for _, s := range tt.absent {
				if strings.Contains(out.String(), s) {
					t.Errorf("output has %q", s)
				}
			}
		})
	}
}
