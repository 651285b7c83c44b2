// Package connect is sluice's connector API: the contract between the
// runtime (workers, converters, transforms) and connector plugins.
//
// It mirrors Kafka Connect's model so that Kafka Connect and Debezium
// configurations and data carry over unchanged:
//
//   - [Schema], [Field] and [Struct] describe and hold structured data, with
//     the same types, optionality, names, parameters and logical types
//     (Decimal, Date, Time, Timestamp) as org.apache.kafka.connect.data.
//   - [Record] is the unit of data flowing through the runtime: a source task
//     produces records with a source partition and offset; a sink task
//     receives records with a Kafka topic, partition and offset.
//   - [SourceConnector]/[SourceTask] and [SinkConnector]/[SinkTask] define the
//     lifecycle. Following Conduit, a task is opened from a committed
//     position, and it is told what has become durable so it may acknowledge
//     upstream only then: a source task's Commit is called only after its
//     records are acknowledged by Kafka and their source offsets are written
//     to the offsets topic; a sink task's Flush reports which offsets are
//     durable downstream, and only those are committed to the consumer group.
//   - [ConfigDef] declares a connector's configuration so the runtime can
//     validate it (REST /config/validate) and mask secrets.
//
// Go value representation per schema type: INT8 int8, INT16 int16, INT32
// int32, INT64 int64, FLOAT32 float32, FLOAT64 float64, BOOLEAN bool, STRING
// string, BYTES []byte, ARRAY []any, MAP map[any]any (keys must be
// comparable Go values), STRUCT *Struct. Logical types: Decimal is
// [Decimal], Date, Time and Timestamp are time.Time (UTC). Schemaless data
// (nil schema) uses JSON-like values: map[string]any, []any, string, bool,
// int64, float64, []byte and nil.
package connect
