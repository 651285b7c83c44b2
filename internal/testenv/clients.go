package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// Kcat returns the path of the kcat (librdkafka) command-line client.
func Kcat(t testing.TB) string {
	t.Helper()
	p, ok := lookPath("kcat", "/usr/bin")
	if !ok {
		missing(t, "kcat")
	}
	return p
}

// NodeClientsDir returns test/clients with the Node.js Kafka clients
// (kafkajs) installed in node_modules.
func NodeClientsDir(t testing.TB) string {
	t.Helper()
	d := filepath.Join(RepoRoot(t), "test", "clients")
	if _, err := os.Stat(filepath.Join(d, "node_modules", "kafkajs")); err != nil {
		missing(t, "kafkajs in test/clients/node_modules")
	}
	if _, ok := lookPath("node"); !ok {
		missing(t, "node")
	}
	return d
}
