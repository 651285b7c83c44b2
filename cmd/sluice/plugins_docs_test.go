package main

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluicehq/sluice/internal/gendocs"
	"github.com/sluicehq/sluice/runtime/plugin"
)

var updateDocs = flag.Bool("update", false, "rewrite the generated config tables in docs/connectors/*.md")

// connectorDocs maps each documented connector class to its doc page.
var connectorDocs = []struct{ doc, class string }{
	{"postgres.md", "io.debezium.connector.postgresql.PostgresConnector"},
	{"mysql.md", "io.debezium.connector.mysql.MySqlConnector"},
	{"mysql.md", "io.debezium.connector.mariadb.MariaDbConnector"},
	{"s3.md", "io.confluent.connect.s3.S3SinkConnector"},
	{"opensearch.md", "io.aiven.kafka.connect.opensearch.OpensearchSinkConnector"},
}

// undocumented are connectors without a page in docs/connectors.
var undocumented = map[string]bool{
	"org.apache.kafka.connect.file.FileStreamSourceConnector": true,
	"org.apache.kafka.connect.file.FileStreamSinkConnector":   true,
	"io.sluice.connect.log.LogSinkConnector":                  true,
}

// TestConnectorConfigDocs fails when a config table in docs/connectors
// differs from the connector's ConfigDef. Regenerate with
//
//	go test ./cmd/sluice -run TestConnectorConfigDocs -update
func TestConnectorConfigDocs(t *testing.T) {
	reg, err := registry()
	if err != nil {
		t.Fatal(err)
	}
	mapped := map[string]bool{}
	for _, d := range connectorDocs {
		mapped[d.class] = true
	}
	for _, s := range reg.All(plugin.Source, plugin.Sink) {
		if !mapped[s.Class] && !undocumented[s.Class] {
			t.Errorf("connector %s has no generated config table: add it to connectorDocs and markers %s / %s to its page", s.Class, gendocs.Begin(s.Class), gendocs.End(s.Class))
		}
	}
	for _, d := range connectorDocs {
		s, ok := reg.Lookup(plugin.Source, d.class)
		if !ok {
			t.Errorf("%s: unknown connector %s", d.doc, d.class)
			continue
		}
		path := filepath.Join("..", "..", "docs", "connectors", d.doc)
		old, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := gendocs.Splice(old, d.class, gendocs.Table(s.ConfigDef()))
		if err != nil {
			t.Errorf("%s: %v", d.doc, err)
			continue
		}
		if string(got) == string(old) {
			continue
		}
		if *updateDocs {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("%s: the config table of %s differs from its ConfigDef; run go test ./cmd/sluice -run TestConnectorConfigDocs -update", d.doc, d.class)
	}
}
