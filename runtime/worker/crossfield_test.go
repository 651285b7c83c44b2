package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/connectors/mysql"
	"github.com/sluicehq/sluice/connectors/postgres"
	"github.com/sluicehq/sluice/connectors/s3"
	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
)

// TestValidateRunsStartRules checks that config validation applies the
// rules the connectors' Start applies beyond their ConfigDefs (rules
// across keys), naming the field, and that a config passing validation is
// one Start accepts.
func TestValidateRunsStartRules(t *testing.T) {
	plugins := append([]connect.Plugin{s3.Plugin(), postgres.Plugin()}, mysql.Plugins()...)
	w, err := New(DefaultConfig(), plugins, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	pg := map[string]string{"name": "pg", "connector.class": postgres.Class, "database.hostname": "h", "database.user": "u",
		"database.password": "p", "database.dbname": "d", "topic.prefix": "srv"}
	my := map[string]string{"name": "my", "connector.class": mysql.ClassMySQL, "database.hostname": "h", "database.user": "u",
		"database.password": "p", "topic.prefix": "srv", "database.server.id": "7",
		"schema.history.internal.kafka.topic": "h", "schema.history.internal.kafka.bootstrap.servers": "k:9092"}
	s3c := map[string]string{"name": "s3", "connector.class": s3.Class, "topics": "t", "s3.bucket.name": "b", "s3.region": "us-east-1",
		"format.class": s3.JSONFormatClass, "flush.size": "10", "storage.class": "io.confluent.connect.s3.storage.S3Storage"}
	with := func(base map[string]string, kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range base {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name  string
		cfg   map[string]string
		field string // "" = valid
	}{
		{"postgres valid", pg, ""},
		{"postgres include and exclude", with(pg, "table.include.list", "public.a", "table.exclude.list", "public.b"), "table.exclude.list"},
		{"mysql valid", my, ""},
		{"mysql include and exclude", with(my, "database.include.list", "a", "database.exclude.list", "b"), "database.exclude.list"},
		{"s3 valid", s3c, ""},
		{"s3 kms key without aws:kms", with(s3c, "s3.sse.kms.key.id", "k1"), "s3.sse.kms.key.id"},
		{"s3 access key without secret", with(s3c, "aws.access.key.id", "AKIA"), "aws.secret.access.key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			infos, err := w.ValidateConfig(context.Background(), tc.cfg["connector.class"], tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := fieldErrors(infos)
			if tc.field == "" {
				if infos.ErrorCount != 0 {
					t.Fatalf("errors %v", got)
				}
				// What validation accepts, Start accepts.
				p, _ := w.plugin(tc.cfg["connector.class"])
				c := p.New()
				parsed, err := c.ConfigDef().Parse(tc.cfg)
				if err == nil {
					err = c.Start(context.Background(), parsed)
				}
				if err != nil {
					t.Fatalf("validation passed, Start failed: %v", err)
				}
				return
			}
			if infos.ErrorCount != 1 || len(got[tc.field]) != 1 || !strings.Contains(got[tc.field][0], tc.field) {
				t.Fatalf("error count %d, errors %v; want one on %s", infos.ErrorCount, got, tc.field)
			}
			// The same config is a 400 from create/update.
			verr := w.validateOrError(context.Background(), tc.cfg)
			if !errors.Is(verr, api.ErrBadRequest) || !strings.Contains(verr.Error(), tc.field) {
				t.Fatalf("validateOrError: %v", verr)
			}
		})
	}
}
