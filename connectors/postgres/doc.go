// Package postgres is sluice's Debezium-compatible PostgreSQL CDC source
// (connector.class io.debezium.connector.postgresql.PostgresConnector,
// alias "postgres"), built on pgoutput logical replication with
// github.com/jackc/pglogrepl and pgx.
//
// A task optionally takes a consistent initial snapshot (the replication
// slot is created with an exported snapshot that several REPEATABLE READ
// transactions import, each reading primary key or ctid ranges in
// parallel), then streams changes from the slot. Events, topics, schemas
// and offsets follow Debezium's PostgreSQL connector: envelope
// <prefix>.<schema>.<table>.Envelope with before/after/source/transaction/op
// and ts_ms/ts_us/ts_ns, key <prefix>.<schema>.<table>.Key, tombstones after
// deletes, heartbeats on __debezium-heartbeat.<prefix>, Debezium logical
// type names (io.debezium.time.*, io.debezium.data.*).
//
// At-least-once: the slot's confirmed_flush_lsn advances only in Commit,
// which the runtime calls after Kafka acknowledged the records and their
// offsets were stored; until then the slot keeps the WAL. On restart the
// task resumes from the committed offset and skips the events of a
// partially committed transaction that were already emitted (tx_seq), so
// nothing is lost and acknowledged events are not repeated.
//
// See docs/connectors/postgres.md for configuration and behaviour.
package postgres
