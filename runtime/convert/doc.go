// Package convert holds sluice's converters: the translation between the
// runtime's data model (runtime/connect) and the bytes stored in Kafka
// record keys, values and headers. They are compatible with Kafka
// Connect's, by class name, configuration keys and bytes:
//
//   - JsonConverter (org.apache.kafka.connect.json.JsonConverter, alias
//     json): schemas.enable (envelope {"schema":...,"payload":...}),
//     decimal.format BASE64/NUMERIC, replace.null.with.default,
//     schemas.cache.size. Output is byte-identical to Kafka's (Jackson):
//     schema members in Kafka's order, doubles in Java's Double.toString
//     form, NaN/Infinity as strings, bytes and BASE64 decimals as base64,
//     Date/Time/Timestamp as epoch days/milliseconds, maps with string
//     keys as objects and other maps as [key, value] pairs (map entries
//     sorted for determinism). Schema parameters are written with Kafka's
//     and Debezium's known keys first (scale, connect.decimal.precision,
//     __debezium.source.column.*) and the rest sorted, since Go maps do not
//     keep insertion order.
//   - StringConverter (org.apache.kafka.connect.storage.StringConverter,
//     alias string), converter.encoding UTF-8 (default), ISO-8859-1 or
//     US-ASCII.
//   - ByteArrayConverter (org.apache.kafka.connect.converters.ByteArrayConverter,
//     alias bytes).
//   - SimpleHeader, like SimpleHeaderConverter, for header values.
//   - Avro (io.confluent.connect.avro.AvroConverter, alias avro):
//     Confluent's wire format and Connect<->Avro mapping, schemas in a
//     Confluent-compatible schema registry (docs/converters.md).
//
// Each class declares its configuration once, as an options type
// (connect.Options); Builtins lists the classes with their aliases, keys
// and constructors, which runtime/plugin's registry wraps, and New,
// NewHeaderConverter and ConfigDef resolve names through the same list.
//
// A nil value always converts to nil bytes (a tombstone), even with a
// schema (Kafka's JsonConverter writes an envelope with a null payload
// there). Data errors are *DataError values naming the field path at fault
// (field "after.amount": expected number, got string); malformed JSON is a
// *SyntaxError with the byte offset.
package convert
