// Package testenv starts real servers for sluice's integration tests:
// PostgreSQL 15 with logical decoding, a private MariaDB with a row-based
// binlog, and the versitygw S3 gateway. Each server listens on a free
// 127.0.0.1 port, keeps its data in a temporary directory and is stopped,
// with its whole process group, by t.Cleanup.
//
// A test that needs a server that is not installed fails with a message
// naming what is missing and pointing at scripts/setup. Set
// SLUICE_SKIP_INTEGRATION=1 to skip such tests instead (for quick local
// runs only; CI never sets it).
package testenv
