package transform

import (
	"fmt"
	"strings"

	"github.com/sluicehq/sluice/runtime/connect"
)

func str(name, def, doc string) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true, Importance: connect.Medium, Doc: doc}
}

func req(name string, t connect.ConfigType, doc string) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: t, Importance: connect.High, Doc: doc}
}

func list(name, doc string) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeList, Default: "", HasDefault: true, Importance: connect.Medium, Doc: doc}
}

func boolean(name, def, doc string) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeBoolean, Default: def, HasDefault: true, Importance: connect.Medium, Doc: doc}
}

func enum(name, def, doc string, values ...string) connect.ConfigKey {
	return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true, Importance: connect.Medium,
		Doc: doc, Validate: connect.OneOf(values...), Recommended: values}
}

var replaceNullKey = boolean("replace.null.with.default", "true",
	"Whether to replace fields that have a default value and that are null to the default value.")

// ConfigDef returns the configuration keys of a transformation or predicate
// class (full or simple name), for REST plugin listings and
// /connector-plugins/{class}/config. Keys are those of the Kafka/Debezium
// class that sluice implements.
func ConfigDef(class string) (connect.ConfigDef, error) {
	if full, ok := resolveClass(class, transformFactories()); ok {
		class = full
	} else if full, ok := resolveClass(class, predicateFactories()); ok {
		class = full
	} else {
		return nil, fmt.Errorf("%w %q", ErrUnknownClass, class)
	}
	base := class
	if i := strings.IndexByte(class, '$'); i >= 0 {
		base = class[:i]
	}
	switch base {
	case pkg + "InsertField":
		return connect.ConfigDef{
			str("topic.field", "", "Field name for Kafka topic. Suffix with ! to make this a required field, or ? to keep it optional (the default)."),
			str("partition.field", "", "Field name for Kafka partition (same suffixes)."),
			str("offset.field", "", "Field name for Kafka offset, only for sink connectors (same suffixes)."),
			str("timestamp.field", "", "Field name for record timestamp (same suffixes)."),
			str("static.field", "", "Field name for static data field (same suffixes)."),
			str("static.value", "", "Static field value, if field name configured."),
			replaceNullKey,
		}, nil
	case pkg + "ReplaceField":
		return connect.ConfigDef{
			list("exclude", "Fields to exclude. This takes precedence over the fields to include."),
			list("include", "Fields to include. If specified, only these fields will be used."),
			list("renames", "Field rename mappings, e.g. foo:bar,abc:xyz."),
			replaceNullKey,
		}, nil
	case pkg + "MaskField":
		return connect.ConfigDef{
			req("fields", connect.TypeList, "Names of fields to mask."),
			str("replacement", "", "Custom value replacement applied to all fields (numbers and strings only)."),
			replaceNullKey,
		}, nil
	case ValueToKeyClass:
		return connect.ConfigDef{req("fields", connect.TypeList, "Field names on the record value to extract as the record key."), replaceNullKey}, nil
	case pkg + "ExtractField":
		return connect.ConfigDef{
			req("field", connect.TypeString, "Field name to extract."),
			enum("field.syntax.version", "V1", "V1: field names are literal; V2: dotted paths into nested structs.", "V1", "V2"),
			replaceNullKey,
		}, nil
	case RegexRouterClass:
		return connect.ConfigDef{
			req("regex", connect.TypeString, "Regular expression to use for matching the whole topic name."),
			req("replacement", connect.TypeString, "Replacement string, with $1-style group references."),
		}, nil
	case TimestampRouterClass:
		return connect.ConfigDef{
			str("topic.format", "${topic}-${timestamp}", "Format string which can contain ${topic} and ${timestamp} as placeholders."),
			str("timestamp.format", "yyyyMMdd", "Format string for the timestamp compatible with java.text.SimpleDateFormat (UTC)."),
		}, nil
	case FilterClass, RecordIsTombstone:
		return connect.ConfigDef{}, nil
	case pkg + "Flatten":
		return connect.ConfigDef{str("delimiter", ".", "Delimiter to insert between field names from the input record.")}, nil
	case pkg + "HoistField":
		return connect.ConfigDef{req("field", connect.TypeString, "Field name for the single field that will be created.")}, nil
	case InsertHeaderClass:
		return connect.ConfigDef{
			req("header", connect.TypeString, "The name of the header."),
			req("value.literal", connect.TypeString, "The literal value that is to be set as the header value."),
		}, nil
	case DropHeadersClass:
		return connect.ConfigDef{req("headers", connect.TypeList, "The name of the headers to be removed.")}, nil
	case pkg + "SetSchemaMetadata":
		return connect.ConfigDef{
			str("schema.name", "", "Schema name to set."),
			{Name: "schema.version", Type: connect.TypeInt, Importance: connect.High, Doc: "Schema version to set.", Default: "", HasDefault: true,
				Validate: func(v string) error {
					if strings.TrimSpace(v) == "" {
						return nil
					}
					return connect.AtLeast(1)(v)
				}},
		}, nil
	case pkg + "TimestampConverter":
		return connect.ConfigDef{
			str("field", "", "The field containing the timestamp, or empty if the entire value is a timestamp."),
			{Name: "target.type", Type: connect.TypeString, Importance: connect.High, Doc: "The desired timestamp representation: string, unix, Date, Time, or Timestamp.",
				Validate: connect.OneOf(tsString, tsUnix, tsDate, tsTime, tsTimestamp), Recommended: []string{tsString, tsUnix, tsDate, tsTime, tsTimestamp}},
			str("format", "", "A SimpleDateFormat-compatible format for the timestamp."),
			enum("unix.precision", "milliseconds", "The desired Unix precision for the timestamp.", "seconds", "milliseconds", "microseconds", "nanoseconds"),
			replaceNullKey,
		}, nil
	case pkg + "Cast":
		return connect.ConfigDef{req("spec", connect.TypeList, "List of fields and the type to cast them to (field:type,...), or a single type to cast the entire value."), replaceNullKey}, nil
	case pkg + "HeaderFrom":
		return connect.ConfigDef{
			req("fields", connect.TypeList, "Field names in the record whose values are to be copied or moved to headers."),
			req("headers", connect.TypeList, "Header names, in the same order as the field names listed in the fields configuration property."),
			{Name: "operation", Type: connect.TypeString, Importance: connect.High, Doc: "Either move if the fields are to be moved to the headers (removed from the key/value), or copy.",
				Validate: connect.OneOf("move", "copy"), Recommended: []string{"move", "copy"}},
			replaceNullKey,
		}, nil
	case TopicNameMatches:
		return connect.ConfigDef{req("pattern", connect.TypeString, "A Java regular expression for matching against the name of a record's topic.")}, nil
	case HasHeaderKey:
		return connect.ConfigDef{req("name", connect.TypeString, "The header name.")}, nil
	case ExtractNewRecordStateClass:
		return connect.ConfigDef{
			enum("delete.tombstone.handling.mode", "tombstone", "How delete events and tombstones are handled.",
				modeDrop, modeTombstone, modeRewrite, modeRewriteWithTombstone, modeDeleteToTombstone),
			enum("delete.handling.mode", "drop", "Deprecated: how delete events are handled.", "drop", "rewrite", "none"),
			boolean("drop.tombstones", "true", "Deprecated: drop tombstone records."),
			list("add.fields", "Envelope fields to add to the record value (op, table, lsn, source.ts_ms, field:new_name, ...)."),
			str("add.fields.prefix", "__", "Prefix of the added fields."),
			list("add.headers", "Envelope fields to add as headers."),
			str("add.headers.prefix", "__", "Prefix of the added headers."),
			str("route.by.field", "", "Row field whose value becomes the topic name."),
			replaceNullKey,
		}, nil
	}
	return connect.ConfigDef{}, nil
}
