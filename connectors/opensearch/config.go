package opensearch

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Configuration keys. Names follow Aiven's OpenSearch sink; keys prefixed
// "sluice." are sluice extensions.
const (
	KeyURL               = "connection.url"
	KeyUsername          = "connection.username"
	KeyPassword          = "connection.password"
	KeyConnTimeout       = "connection.timeout.ms"
	KeyReadTimeout       = "read.timeout.ms"
	KeyBatchSize         = "batch.size"
	KeyMaxInFlight       = "max.in.flight.requests"
	KeyMaxBuffered       = "max.buffered.records"
	KeyLinger            = "linger.ms"
	KeyFlushTimeout      = "flush.timeout.ms"
	KeyMaxRetries        = "max.retries"
	KeyRetryBackoff      = "retry.backoff.ms"
	KeyIndexWriteMethod  = "index.write.method"
	KeyKeyIgnore         = "key.ignore"
	KeyKeyIgnoreStrategy = "key.ignore.id.strategy"
	KeyTopicKeyIgnore    = "topic.key.ignore"
	KeySchemaIgnore      = "schema.ignore"
	KeyTopicSchemaIgnore = "topic.schema.ignore"
	KeyCompactMap        = "compact.map.entries"
	KeyDropInvalid       = "drop.invalid.message"
	KeyNullValues        = "behavior.on.null.values"
	KeyMalformed         = "behavior.on.malformed.documents"
	KeyVersionConflict   = "behavior.on.version.conflict"
	KeyRoutingType       = "routing.type"
	KeyRoutingValuePath  = "routing.type.record.value.path"
	KeyDataStream        = "data.stream.enabled"
	KeyDataStreamPrefix  = "data.stream.prefix"
	KeyDataStreamTSField = "data.stream.timestamp.field"
	KeyTopicIndexMap     = "topic.index.map"
	// KeyIndexPattern names the target index with ${topic} replaced by the
	// (lowercased) topic; empty means the topic name itself.
	KeyIndexPattern = "sluice.index.pattern"
	// KeyVersionSource picks the external version: kafka.offset (Aiven's
	// and Confluent's behaviour) or none (internal versioning).
	KeyVersionSource = "sluice.external.version.source"
	// KeyGCDeletes sets index.gc_deletes on indices the sink creates.
	KeyGCDeletes = "sluice.index.gc.deletes"
)

// settings is a parsed configuration.
type settings struct {
	urls                    []string
	username, password      string
	connTimeout, readTimout time.Duration
	batchSize               int
	maxInFlight             int
	maxBuffered             int
	linger                  time.Duration
	flushTimeout            time.Duration
	maxRetries              int
	retryBackoff            time.Duration
	upsert                  bool
	keyIgnore               bool
	keyIgnoreStrategy       string
	topicKeyIgnore          map[string]bool
	schemaIgnore            bool
	topicSchemaIgnore       map[string]bool
	compactMap              bool
	dropInvalid             bool
	nullValues              string
	malformed               string
	versionConflict         string
	routingType             string
	routingValuePath        string
	routingPath             []string // derived from routingValuePath
	dataStream              bool
	dataStreamPrefix        string
	dataStreamTSField       string
	topicIndexPairs         []string
	topicIndex              map[string]string // derived from topicIndexPairs
	indexPattern            string
	versionSource           string
	gcDeletes               string
}

func validateURLs(v string) error {
	urls := connect.SplitList(v)
	if len(urls) == 0 {
		return fmt.Errorf("at least one http(s)://host:port URL is required")
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return fmt.Errorf("%q is not an http(s)://host:port URL", u)
		}
	}
	return nil
}

// Keys implements connect.Options: every key, with its destination in s.
func (s *settings) Keys() connect.ConfigDef {
	str := func(name, def, group, doc string, v func(string) error, into func(string) error) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true,
			Importance: connect.Medium, Group: group, Doc: doc, Validate: v, Into: into}
	}
	num := func(t connect.ConfigType, name, def, group, doc string, min int64, into func(string) error) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: t, Default: def, HasDefault: true,
			Importance: connect.Medium, Group: group, Doc: doc, Validate: connect.AtLeast(min), Into: into}
	}
	boolean := func(name, def, group, doc string, dst *bool) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeBoolean, Default: def, HasDefault: true,
			Importance: connect.Medium, Group: group, Doc: doc, Into: connect.IntoBool(dst)}
	}
	trim := func(dst *string) func(string) error { return connect.Into(dst, trimmed) }
	set := func(dst *map[string]bool) func(string) error {
		return connect.Into(dst, func(v string) (map[string]bool, error) { return listSet(connect.SplitList(v)), nil })
	}
	behaviour := func(v string) error {
		if strings.TrimSpace(v) == "report" {
			return fmt.Errorf("report needs an errant record reporter, which sluice's runtime does not offer yet; use warn (logged and skipped) or fail")
		}
		return connect.OneOf("ignore", "warn", "fail")(v)
	}
	return connect.ConfigDef{
		{Name: KeyURL, Type: connect.TypeList, Importance: connect.High, Group: "Connector",
			Doc: "OpenSearch URLs (http(s)://host:port), comma-separated.", Validate: validateURLs, Into: connect.IntoList(&s.urls)},
		str(KeyUsername, "", "Connector", "Basic auth user (used with connection.password).", nil, trim(&s.username)),
		{Name: KeyPassword, Type: connect.TypePassword, Default: "", HasDefault: true, Importance: connect.High,
			Group: "Connector", Doc: "Basic auth password.", Into: connect.IntoString(&s.password)},
		num(connect.TypeInt, KeyConnTimeout, "1000", "Connector", "TCP connect timeout in ms.", 1, connect.IntoMillis(&s.connTimeout)),
		num(connect.TypeInt, KeyReadTimeout, "3000", "Connector", "Timeout of one HTTP request in ms (a timeout is retried).", 1, connect.IntoMillis(&s.readTimout)),
		num(connect.TypeInt, KeyBatchSize, "2000", "Connector", "Records per _bulk request.", 1, connect.IntoInt(&s.batchSize)),
		num(connect.TypeInt, KeyMaxInFlight, "5", "Connector", "Concurrent _bulk requests per task (1 with index.write.method=upsert or without external versions).", 1, connect.IntoInt(&s.maxInFlight)),
		num(connect.TypeInt, KeyMaxBuffered, "20000", "Connector", "Records buffered or in flight per task before the task pauses its partitions (put blocks only at twice this, as a last resort).", 1, connect.IntoInt(&s.maxBuffered)),
		num(connect.TypeLong, KeyLinger, "1", "Connector", "How long a partial batch waits for more records (ms).", 0, connect.IntoMillis(&s.linger)),
		num(connect.TypeLong, KeyFlushTimeout, "10000", "Connector", "How long a flush waits for acknowledgements (ms); when it passes, only the acknowledged offsets are committed and the rest stays in flight.", 1, connect.IntoMillis(&s.flushTimeout)),
		num(connect.TypeInt, KeyMaxRetries, "5", "Connector", "Retries of a rejected request or item (429, 5xx, I/O errors) before the task fails.", 0, connect.IntoInt(&s.maxRetries)),
		num(connect.TypeLong, KeyRetryBackoff, "100", "Connector", "Base of the exponential backoff with full jitter (ms).", 0, connect.IntoMillis(&s.retryBackoff)),
		str(KeyIndexWriteMethod, "insert", "Data Conversion", "insert (index operations, external versions) or upsert (update with doc_as_upsert).", connect.OneOf("insert", "upsert"),
			connect.Into(&s.upsert, func(v string) (bool, error) { return v == "upsert", nil })),
		boolean(KeyKeyIgnore, "false", "Data Conversion", "Ignore record keys: ids follow key.ignore.id.strategy.", &s.keyIgnore),
		str(KeyKeyIgnoreStrategy, "topic.partition.offset", "Data Conversion", "Id when keys are ignored: topic.partition.offset, record.key or none (OpenSearch generates ids).",
			connect.OneOf("topic.partition.offset", "record.key", "none"), connect.IntoString(&s.keyIgnoreStrategy)),
		{Name: KeyTopicKeyIgnore, Type: connect.TypeList, Default: "", HasDefault: true, Importance: connect.Low, Group: "Data Conversion", Doc: "Topics whose keys are ignored.", Into: set(&s.topicKeyIgnore)},
		boolean(KeySchemaIgnore, "false", "Data Conversion", "Do not create index mappings from the Connect schema (OpenSearch infers them).", &s.schemaIgnore),
		{Name: KeyTopicSchemaIgnore, Type: connect.TypeList, Default: "", HasDefault: true, Importance: connect.Low, Group: "Data Conversion", Doc: "Topics whose schemas are ignored.", Into: set(&s.topicSchemaIgnore)},
		boolean(KeyCompactMap, "true", "Data Conversion", "Write maps with string keys as objects rather than [key, value] entries.", &s.compactMap),
		boolean(KeyDropInvalid, "false", "Data Conversion", "Drop (with a warning) records that cannot be converted to a document instead of failing.", &s.dropInvalid),
		str(KeyNullValues, "ignore", "Data Conversion", "Tombstones (null values): ignore, delete or fail.", connect.OneOf("ignore", "delete", "fail"), connect.IntoString(&s.nullValues)),
		str(KeyMalformed, "fail", "Data Conversion", "Documents OpenSearch rejects as malformed (400 mapping errors): ignore, warn or fail.", behaviour, connect.IntoString(&s.malformed)),
		str(KeyVersionConflict, "ignore", "Data Conversion", "Version conflicts (409): ignore, warn or fail. sluice defaults to ignore: with external versions a conflict means a newer version is already stored.", behaviour, connect.IntoString(&s.versionConflict)),
		str(KeyRoutingType, "none", "Data Conversion", "Routing: none, key (the document id) or value (routing.type.record.value.path).", connect.OneOf("none", "key", "value"), connect.IntoString(&s.routingType)),
		str(KeyRoutingValuePath, "", "Data Conversion", "JSON Pointer (RFC 6901) into the value for routing.type=value.", nil, trim(&s.routingValuePath)),
		boolean(KeyDataStream, "false", "Data Stream", "Write to data streams (create operations).", &s.dataStream),
		str(KeyDataStreamPrefix, "", "Data Stream", "Data stream name prefix: {prefix}-{topic}.", nil, trim(&s.dataStreamPrefix)),
		str(KeyDataStreamTSField, "@timestamp", "Data Stream", "Timestamp field; the record timestamp is used when the value lacks it.", nil, trim(&s.dataStreamTSField)),
		{Name: KeyTopicIndexMap, Type: connect.TypeList, Default: "", HasDefault: true, Importance: connect.Low, Group: "Connector",
			Doc: "topic:index pairs overriding the index name.", Into: connect.IntoList(&s.topicIndexPairs)},
		str(KeyIndexPattern, "", "sluice", "Index name pattern; ${topic} is replaced by the topic.", nil, trim(&s.indexPattern)),
		str(KeyVersionSource, "kafka.offset", "sluice", "External version: kafka.offset or none.", connect.OneOf("kafka.offset", "none"), connect.IntoString(&s.versionSource)),
		str(KeyGCDeletes, "", "sluice", "index.gc_deletes for indices the sink creates (e.g. 7d), so replays cannot resurrect deleted documents.", nil, trim(&s.gcDeletes)),
	}
}

func listSet(l []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range l {
		m[v] = true
	}
	return m
}

// parseSettings binds raw (connect.Bind) and returns the task settings.
// Errors are *connect.ConfigError naming the key.
func parseSettings(raw map[string]string) (*settings, error) {
	s := &settings{}
	if _, err := connect.Bind(raw, s); err != nil {
		return nil, err
	}
	return s, nil
}

// Check implements connect.Options: the rules across keys, and the values
// derived from several keys.
func (s *settings) Check() error {
	s.topicIndex = map[string]string{}
	for _, pair := range s.topicIndexPairs {
		t, ix, ok := strings.Cut(pair, ":")
		if !ok || strings.TrimSpace(t) == "" || strings.TrimSpace(ix) == "" {
			return connect.Errorf(KeyTopicIndexMap, "entry %q is not topic:index", pair)
		}
		s.topicIndex[strings.TrimSpace(t)] = strings.TrimSpace(ix)
	}
	if s.username != "" && s.password == "" || s.username == "" && s.password != "" {
		return connect.Errorf(KeyPassword, "%s and %s must be set together", KeyUsername, KeyPassword)
	}
	if s.routingType == "value" {
		p := s.routingValuePath
		if !strings.HasPrefix(p, "/") {
			return connect.Errorf(KeyRoutingValuePath, "routing.type=value needs a JSON Pointer such as /customer_id")
		}
		for _, seg := range strings.Split(p[1:], "/") {
			s.routingPath = append(s.routingPath, strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~"))
		}
	}
	if s.dataStream && s.upsert {
		return connect.Errorf(KeyIndexWriteMethod, "upsert is not possible with %s=true (data streams are append-only)", KeyDataStream)
	}
	if s.maxBuffered < s.batchSize {
		return connect.Errorf(KeyMaxBuffered, "must be at least %s (%d)", KeyBatchSize, s.batchSize)
	}
	if s.gcDeletes != "" {
		if !timeValue.MatchString(s.gcDeletes) {
			return connect.Errorf(KeyGCDeletes, "%q is not a time value such as 60s, 1h or 7d", s.gcDeletes)
		}
	}
	return nil
}

func trimmed(v string) (string, error) { return strings.TrimSpace(v), nil }

// timeValue matches an OpenSearch time value such as 500ms, 60s or 7d.
var timeValue = regexp.MustCompile(`^[0-9]+(ms|s|m|h|d)$`)
