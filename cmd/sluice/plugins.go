package main

import (
	"github.com/sluicehq/sluice/connectors/file"
	"github.com/sluicehq/sluice/connectors/mysql"
	"github.com/sluicehq/sluice/connectors/opensearch"
	"github.com/sluicehq/sluice/connectors/postgres"
	"github.com/sluicehq/sluice/connectors/s3"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/plugin"
)

// plugins returns the connector plugins built into this binary. The list is
// explicit: there is no registration by import side effect.
func plugins() []connect.Plugin {
	var ps []connect.Plugin
	ps = append(ps, file.Plugins()...)   // FileStreamSource, FileStreamSink and the log sink
	ps = append(ps, postgres.Plugin())   // Debezium-compatible PostgreSQL CDC source
	ps = append(ps, s3.Plugin())         // Confluent-compatible S3 / local Parquet and JSON sink
	ps = append(ps, mysql.Plugins()...)  // Debezium-compatible MySQL and MariaDB CDC sources
	ps = append(ps, testPlugins()...)    // test-only connectors, with -tags sluicetest
	ps = append(ps, opensearch.Plugin()) // Aiven-compatible OpenSearch sink
	return ps
}

// registry returns the plugin registry of this binary: the connectors of
// plugins() and the built-in transformations, predicates, converters and
// header converters, which report the link-time version. The worker, the
// MSK API front end, list-plugins and the docs generator all read it.
func registry() (*plugin.Registry, error) {
	return plugin.New(append(plugin.Connectors(plugins()...), plugin.Builtins(version)...)...)
}
