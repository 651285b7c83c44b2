// Package runtime is the root of sluice's connector runtime, the Kafka
// Connect equivalent. Its subpackages hold the connector API
// (runtime/connect), the REST entities (runtime/api), converters, single
// message transforms, workers and the REST server. The runtime talks to any
// Kafka cluster and coordinates workers only through Kafka itself.
package runtime
