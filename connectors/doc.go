// Package connectors is the root of sluice's built-in connector plugins:
// Debezium-compatible CDC sources (Postgres, MySQL/MariaDB) and sinks (S3
// Parquet, OpenSearch). Each lives in its own subpackage and exports its
// connect.Plugin; the sluice binary lists them explicitly.
package connectors
