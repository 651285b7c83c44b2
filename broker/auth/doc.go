// Package auth holds the broker's security state: salted SCRAM credentials
// (never passwords), Kafka's ACL model with its authorization rules, and
// the mapping of TLS client-certificate subjects to principals. Both
// stores persist atomically under the broker's data directory.
package auth
