// Package transform implements Single Message Transforms (SMTs) and
// predicates with the class names, configuration keys and behavior of
// Kafka Connect's org.apache.kafka.connect.transforms.* and Debezium's
// io.debezium.transforms.ExtractNewRecordState, and the chain a connector
// configuration declares:
//
//	transforms=unwrap,route
//	transforms.unwrap.type=io.debezium.transforms.ExtractNewRecordState
//	transforms.unwrap.add.fields=op,table,source.ts_ms
//	transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter
//	transforms.route.regex=dbserver1\.public\.(.*)
//	transforms.route.replacement=lake.$1
//	transforms.route.predicate=notHeartbeat
//	transforms.route.negate=true
//	predicates=notHeartbeat
//	predicates.notHeartbeat.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches
//	predicates.notHeartbeat.pattern=__debezium-heartbeat.*
//
// Transformations: InsertField, ReplaceField, MaskField, ValueToKey,
// ExtractField, HoistField, Flatten, Cast, TimestampConverter,
// SetSchemaMetadata, HeaderFrom (each $Key and $Value where Kafka has
// both), RegexRouter, TimestampRouter, InsertHeader, DropHeaders, Filter
// and ExtractNewRecordState. Predicates: TopicNameMatches, HasHeaderKey,
// RecordIsTombstone. Full class names are accepted, and the simple name
// after the last dot as a shorthand.
//
// Every transformation handles records with a schema (*connect.Struct
// values; derived schemas are cached per input schema) and, where Kafka's
// does, schemaless records (map[string]any values). Transformations never
// modify their input record. Java regular expressions are compiled as Go
// RE2 expressions (lookaround and backreferences are rejected at
// configuration time) and Java replacement strings ($1, ${name}, \$) are
// translated; SimpleDateFormat patterns are interpreted directly, in UTC.
//
// Each class declares its configuration once, as an options type
// (connect.Options: Keys with Into destinations, Check for cross-key
// rules); Builtins lists the classes with their keys and constructors,
// which runtime/plugin's registry wraps. NewChainFrom and ValidateFrom
// resolve class names through a Lookup (the worker passes its registry);
// NewChain and Validate use the built-in classes.
//
// Configuration errors are *connect.ConfigError values naming the exact
// connector configuration key (transforms.route.regex); Validate reports
// all of them per key for /config/validate.
package transform
