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
	routingPath             []string
	dataStream              bool
	dataStreamPrefix        string
	dataStreamTSField       string
	topicIndex              map[string]string
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

func configDef() connect.ConfigDef {
	str := func(name, def, group, doc string, v func(string) error) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true,
			Importance: connect.Medium, Group: group, Doc: doc, Validate: v}
	}
	num := func(t connect.ConfigType, name, def, group, doc string, min int64) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: t, Default: def, HasDefault: true,
			Importance: connect.Medium, Group: group, Doc: doc, Validate: connect.AtLeast(min)}
	}
	boolean := func(name, def, group, doc string) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeBoolean, Default: def, HasDefault: true,
			Importance: connect.Medium, Group: group, Doc: doc}
	}
	behaviour := func(v string) error {
		if strings.TrimSpace(v) == "report" {
			return fmt.Errorf("report needs an errant record reporter, which sluice's runtime does not offer yet; use warn (logged and skipped) or fail")
		}
		return connect.OneOf("ignore", "warn", "fail")(v)
	}
	return connect.ConfigDef{
		{Name: KeyURL, Type: connect.TypeList, Importance: connect.High, Group: "Connector",
			Doc: "OpenSearch URLs (http(s)://host:port), comma-separated.", Validate: validateURLs},
		str(KeyUsername, "", "Connector", "Basic auth user (used with connection.password).", nil),
		{Name: KeyPassword, Type: connect.TypePassword, Default: "", HasDefault: true, Importance: connect.High,
			Group: "Connector", Doc: "Basic auth password."},
		num(connect.TypeInt, KeyConnTimeout, "1000", "Connector", "TCP connect timeout in ms.", 1),
		num(connect.TypeInt, KeyReadTimeout, "3000", "Connector", "Timeout of one HTTP request in ms (a timeout is retried).", 1),
		num(connect.TypeInt, KeyBatchSize, "2000", "Connector", "Records per _bulk request.", 1),
		num(connect.TypeInt, KeyMaxInFlight, "5", "Connector", "Concurrent _bulk requests per task (1 with index.write.method=upsert or without external versions).", 1),
		num(connect.TypeInt, KeyMaxBuffered, "20000", "Connector", "Records buffered or in flight per task before the task pauses its partitions (put blocks only at twice this, as a last resort).", 1),
		num(connect.TypeLong, KeyLinger, "1", "Connector", "How long a partial batch waits for more records (ms).", 0),
		num(connect.TypeLong, KeyFlushTimeout, "10000", "Connector", "How long a flush waits for acknowledgements (ms); when it passes, only the acknowledged offsets are committed and the rest stays in flight.", 1),
		num(connect.TypeInt, KeyMaxRetries, "5", "Connector", "Retries of a rejected request or item (429, 5xx, I/O errors) before the task fails.", 0),
		num(connect.TypeLong, KeyRetryBackoff, "100", "Connector", "Base of the exponential backoff with full jitter (ms).", 0),
		str(KeyIndexWriteMethod, "insert", "Data Conversion", "insert (index operations, external versions) or upsert (update with doc_as_upsert).", connect.OneOf("insert", "upsert")),
		boolean(KeyKeyIgnore, "false", "Data Conversion", "Ignore record keys: ids follow key.ignore.id.strategy."),
		str(KeyKeyIgnoreStrategy, "topic.partition.offset", "Data Conversion", "Id when keys are ignored: topic.partition.offset, record.key or none (OpenSearch generates ids).",
			connect.OneOf("topic.partition.offset", "record.key", "none")),
		{Name: KeyTopicKeyIgnore, Type: connect.TypeList, Default: "", HasDefault: true, Importance: connect.Low, Group: "Data Conversion", Doc: "Topics whose keys are ignored."},
		boolean(KeySchemaIgnore, "false", "Data Conversion", "Do not create index mappings from the Connect schema (OpenSearch infers them)."),
		{Name: KeyTopicSchemaIgnore, Type: connect.TypeList, Default: "", HasDefault: true, Importance: connect.Low, Group: "Data Conversion", Doc: "Topics whose schemas are ignored."},
		boolean(KeyCompactMap, "true", "Data Conversion", "Write maps with string keys as objects rather than [key, value] entries."),
		boolean(KeyDropInvalid, "false", "Data Conversion", "Drop (with a warning) records that cannot be converted to a document instead of failing."),
		str(KeyNullValues, "ignore", "Data Conversion", "Tombstones (null values): ignore, delete or fail.", connect.OneOf("ignore", "delete", "fail")),
		str(KeyMalformed, "fail", "Data Conversion", "Documents OpenSearch rejects as malformed (400 mapping errors): ignore, warn or fail.", behaviour),
		str(KeyVersionConflict, "ignore", "Data Conversion", "Version conflicts (409): ignore, warn or fail. sluice defaults to ignore: with external versions a conflict means a newer version is already stored.", behaviour),
		str(KeyRoutingType, "none", "Data Conversion", "Routing: none, key (the document id) or value (routing.type.record.value.path).", connect.OneOf("none", "key", "value")),
		str(KeyRoutingValuePath, "", "Data Conversion", "JSON Pointer (RFC 6901) into the value for routing.type=value.", nil),
		boolean(KeyDataStream, "false", "Data Stream", "Write to data streams (create operations)."),
		str(KeyDataStreamPrefix, "", "Data Stream", "Data stream name prefix: {prefix}-{topic}.", nil),
		str(KeyDataStreamTSField, "@timestamp", "Data Stream", "Timestamp field; the record timestamp is used when the value lacks it.", nil),
		{Name: KeyTopicIndexMap, Type: connect.TypeList, Default: "", HasDefault: true, Importance: connect.Low, Group: "Connector",
			Doc: "topic:index pairs overriding the index name."},
		str(KeyIndexPattern, "", "sluice", "Index name pattern; ${topic} is replaced by the topic.", nil),
		str(KeyVersionSource, "kafka.offset", "sluice", "External version: kafka.offset or none.", connect.OneOf("kafka.offset", "none")),
		str(KeyGCDeletes, "", "sluice", "index.gc_deletes for indices the sink creates (e.g. 7d), so replays cannot resurrect deleted documents.", nil),
	}
}

func listSet(l []string) map[string]bool {
	m := map[string]bool{}
	for _, v := range l {
		m[v] = true
	}
	return m
}

func parseSettings(raw map[string]string) (*settings, error) {
	cfg, err := configDef().Parse(raw)
	if err != nil {
		return nil, err
	}
	ms := func(k string) time.Duration { return time.Duration(cfg.Int64(k)) * time.Millisecond }
	s := &settings{
		urls:              cfg.List(KeyURL),
		username:          strings.TrimSpace(cfg.String(KeyUsername)),
		password:          cfg.String(KeyPassword),
		connTimeout:       ms(KeyConnTimeout),
		readTimout:        ms(KeyReadTimeout),
		batchSize:         cfg.Int(KeyBatchSize),
		maxInFlight:       cfg.Int(KeyMaxInFlight),
		maxBuffered:       cfg.Int(KeyMaxBuffered),
		linger:            ms(KeyLinger),
		flushTimeout:      ms(KeyFlushTimeout),
		maxRetries:        cfg.Int(KeyMaxRetries),
		retryBackoff:      ms(KeyRetryBackoff),
		upsert:            cfg.String(KeyIndexWriteMethod) == "upsert",
		keyIgnore:         cfg.Bool(KeyKeyIgnore),
		keyIgnoreStrategy: cfg.String(KeyKeyIgnoreStrategy),
		topicKeyIgnore:    listSet(cfg.List(KeyTopicKeyIgnore)),
		schemaIgnore:      cfg.Bool(KeySchemaIgnore),
		topicSchemaIgnore: listSet(cfg.List(KeyTopicSchemaIgnore)),
		compactMap:        cfg.Bool(KeyCompactMap),
		dropInvalid:       cfg.Bool(KeyDropInvalid),
		nullValues:        cfg.String(KeyNullValues),
		malformed:         cfg.String(KeyMalformed),
		versionConflict:   cfg.String(KeyVersionConflict),
		routingType:       cfg.String(KeyRoutingType),
		dataStream:        cfg.Bool(KeyDataStream),
		dataStreamPrefix:  strings.TrimSpace(cfg.String(KeyDataStreamPrefix)),
		dataStreamTSField: strings.TrimSpace(cfg.String(KeyDataStreamTSField)),
		topicIndex:        map[string]string{},
		indexPattern:      strings.TrimSpace(cfg.String(KeyIndexPattern)),
		versionSource:     cfg.String(KeyVersionSource),
		gcDeletes:         strings.TrimSpace(cfg.String(KeyGCDeletes)),
	}
	for _, pair := range cfg.List(KeyTopicIndexMap) {
		t, ix, ok := strings.Cut(pair, ":")
		if !ok || strings.TrimSpace(t) == "" || strings.TrimSpace(ix) == "" {
			return nil, connect.Errorf(KeyTopicIndexMap, "entry %q is not topic:index", pair)
		}
		s.topicIndex[strings.TrimSpace(t)] = strings.TrimSpace(ix)
	}
	if s.username != "" && s.password == "" || s.username == "" && s.password != "" {
		return nil, connect.Errorf(KeyPassword, "%s and %s must be set together", KeyUsername, KeyPassword)
	}
	if s.routingType == "value" {
		p := strings.TrimSpace(cfg.String(KeyRoutingValuePath))
		if !strings.HasPrefix(p, "/") {
			return nil, connect.Errorf(KeyRoutingValuePath, "routing.type=value needs a JSON Pointer such as /customer_id")
		}
		for _, seg := range strings.Split(p[1:], "/") {
			s.routingPath = append(s.routingPath, strings.ReplaceAll(strings.ReplaceAll(seg, "~1", "/"), "~0", "~"))
		}
	}
	if s.dataStream && s.upsert {
		return nil, connect.Errorf(KeyIndexWriteMethod, "upsert is not possible with %s=true (data streams are append-only)", KeyDataStream)
	}
	if s.maxBuffered < s.batchSize {
		return nil, connect.Errorf(KeyMaxBuffered, "must be at least %s (%d)", KeyBatchSize, s.batchSize)
	}
	if s.gcDeletes != "" {
		if !timeValue.MatchString(s.gcDeletes) {
			return nil, connect.Errorf(KeyGCDeletes, "%q is not a time value such as 60s, 1h or 7d", s.gcDeletes)
		}
	}
	return s, nil
}

// timeValue matches an OpenSearch time value such as 500ms, 60s or 7d.
var timeValue = regexp.MustCompile(`^[0-9]+(ms|s|m|h|d)$`)
