// Package schemaregistry is sluice's schema registry: Confluent Schema
// Registry's REST API (subjects, versions, schemas by id, compatibility,
// config, mode, soft and hard deletes, schema references) for Avro
// schemas, with compatibility checks per Avro's schema-resolution rules
// (BACKWARD, FORWARD, FULL, their _TRANSITIVE forms, NONE).
//
// State lives in a compacted Kafka topic (_schemas by default) in
// Confluent's key/value record format, so the registry runs against any
// Kafka cluster and restarts with the same ids. Several instances share
// one topic: one primary is elected through a Kafka consumer group
// (the member assigned the topic's only partition); followers serve reads
// from their own copy of the topic and forward writes to the primary.
package schemaregistry
