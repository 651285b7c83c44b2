package postgres

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors/internal/cdcconfig"
	"github.com/sluicehq/sluice/runtime/connect"
)

// Configuration keys, named as in Debezium's PostgreSQL connector.
const (
	KeyHostname            = "database.hostname"
	KeyPort                = "database.port"
	KeyUser                = "database.user"
	KeyPassword            = "database.password"
	KeyDBName              = "database.dbname"
	KeyTopicPrefix         = "topic.prefix"
	KeySlotName            = "slot.name"
	KeyPublicationName     = "publication.name"
	KeyPublicationAuto     = "publication.autocreate.mode"
	KeyPluginName          = "plugin.name"
	KeyTableInclude        = "table.include.list"
	KeyTableExclude        = "table.exclude.list"
	KeyColumnInclude       = "column.include.list"
	KeyColumnExclude       = "column.exclude.list"
	KeySnapshotMode        = "snapshot.mode"
	KeyHeartbeatInterval   = "heartbeat.interval.ms"
	KeyHeartbeatQuery      = "heartbeat.action.query"
	KeyHeartbeatPrefix     = "topic.heartbeat.prefix"
	KeySkippedOps          = "skipped.operations"
	KeyTombstones          = "tombstones.on.delete"
	KeyDecimalMode         = "decimal.handling.mode"
	KeyTimePrecision       = "time.precision.mode"
	KeyBinaryMode          = "binary.handling.mode"
	KeyIntervalMode        = "interval.handling.mode"
	KeyTxMetadata          = "provide.transaction.metadata"
	KeyMessageKeyColumns   = "message.key.columns"
	KeySlotDropOnStop      = "slot.drop.on.stop"
	KeySnapshotThreads     = "snapshot.max.threads"
	KeySnapshotFetchSize   = "snapshot.fetch.size"
	KeySignalCollection    = "signal.data.collection"
	KeyTasksMax            = "tasks.max"
	KeyStatusInterval      = "status.update.interval.ms"
	KeySnapshotChunkRows   = "snapshot.chunk.rows"
	KeyMaxBatchSize        = "max.batch.size"
	KeyMaxQueueSize        = "max.queue.size"
	KeyTransactionTopic    = "topic.transaction"
	KeyUnavailableValue    = "unavailable.value.placeholder"
	KeyReconnectMaxElapsed = "reconnect.max.elapsed.ms"
	KeySSLMode             = "database.sslmode"
	KeySSLRootCert         = "database.sslrootcert"
	KeyFailureHandling     = "event.processing.failure.handling.mode"
)

// UnavailableValue is Debezium's placeholder for unchanged TOASTed values.
const UnavailableValue = "__debezium_unavailable_value"

func validKeyColumns(v string) error {
	_, err := parseKeyColumns(v)
	return err
}

func parseKeyColumns(v string) (cdcconfig.KeyColumns, error) {
	return cdcconfig.ParseKeyColumns(v, "schema")
}

func validPlugin(v string) error {
	if !strings.EqualFold(strings.TrimSpace(v), "pgoutput") {
		return fmt.Errorf("logical decoding plugin %q is not supported; only pgoutput is", v)
	}
	return nil
}

func validTasksMax(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return fmt.Errorf("must be a positive integer")
	}
	if n != 1 {
		return fmt.Errorf("the PostgreSQL connector runs exactly one task (tasks.max must be 1, got %d)", n)
	}
	return nil
}

func validSlotName(v string) error {
	if !regexp.MustCompile(`^[a-z0-9_]{1,63}$`).MatchString(v) {
		return fmt.Errorf("slot names may contain only lower case letters, digits and underscores (max 63)")
	}
	return nil
}

// configDef declares the connector configuration (the keys of options).
func configDef() connect.ConfigDef { return (&options{}).Keys() }

// Keys implements connect.Options: every key, with its destination in o.
func (o *options) Keys() connect.ConfigDef {
	s := func(name, def, doc string, v func(string) error, into func(string) error, rec ...string) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true, Importance: connect.Medium, Doc: doc, Validate: v, Recommended: rec, Into: into}
	}
	i := func(name, def, doc string, min int64, into func(string) error) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeInt, Default: def, HasDefault: true, Importance: connect.Low, Doc: doc, Validate: connect.AtLeast(min), Into: into}
	}
	b := func(name, def, doc string, dst *bool) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeBoolean, Default: def, HasDefault: true, Importance: connect.Low, Doc: doc, Into: connect.IntoBool(dst)}
	}
	// A filter list: compiled into dst, and remembered as given when its
	// value is not empty (include and exclude exclude each other).
	filter := func(name, doc string, dst *[]*regexp.Regexp) connect.ConfigKey {
		return s(name, "", doc, cdcconfig.ValidRegexList, connect.IntoRegexps(dst))
	}
	return connect.ConfigDef{
		{Name: KeyHostname, Type: connect.TypeString, Importance: connect.High, Doc: "PostgreSQL server host.", Validate: cdcconfig.NonEmpty, Into: connect.IntoString(&o.host)},
		i(KeyPort, "5432", "PostgreSQL server port.", 1, connect.IntoInt(&o.port)),
		{Name: KeyUser, Type: connect.TypeString, Importance: connect.High, Doc: "User with REPLICATION privilege.", Validate: cdcconfig.NonEmpty, Into: connect.IntoString(&o.user)},
		{Name: KeyPassword, Type: connect.TypePassword, HasDefault: true, Importance: connect.High, Doc: "Password.", Into: connect.IntoString(&o.password)},
		{Name: KeyDBName, Type: connect.TypeString, Importance: connect.High, Doc: "Database to capture.", Validate: cdcconfig.NonEmpty, Into: connect.IntoString(&o.dbname)},
		{Name: KeyTopicPrefix, Type: connect.TypeString, Importance: connect.High, Doc: "Logical server name: prefix of every topic and schema name.", Validate: cdcconfig.ValidPrefix, Into: connect.IntoString(&o.prefix)},
		s(KeySlotName, "debezium", "Logical replication slot name.", validSlotName, connect.IntoString(&o.slot)),
		s(KeyPublicationName, "dbz_publication", "Publication streamed with pgoutput.", cdcconfig.NonEmpty, connect.IntoString(&o.publication)),
		s(KeyPublicationAuto, "all_tables", "Publication creation: all_tables, disabled or filtered.", connect.OneOf("all_tables", "disabled", "filtered"), connect.IntoLower(&o.pubMode), "all_tables", "disabled", "filtered"),
		s(KeyPluginName, "pgoutput", "Logical decoding plugin; only pgoutput.", validPlugin, nil, "pgoutput"),
		filter(KeyTableInclude, "Regular expressions (schema.table) of tables to capture.", &o.tableInclude),
		filter(KeyTableExclude, "Regular expressions (schema.table) of tables not to capture.", &o.tableExclude),
		filter(KeyColumnInclude, "Regular expressions (schema.table.column) of columns to include.", &o.colInclude),
		filter(KeyColumnExclude, "Regular expressions (schema.table.column) of columns to exclude.", &o.colExclude),
		s(KeySnapshotMode, "initial", "initial, always, initial_only, no_data (never) or when_needed.",
			connect.OneOf("initial", "always", "initial_only", "no_data", "never", "when_needed"), connect.IntoLower(&o.snapshotMode), "initial", "always", "initial_only", "no_data", "when_needed"),
		i(KeyHeartbeatInterval, "0", "Heartbeat interval in ms (0 disables heartbeats).", 0, connect.IntoMillis(&o.heartbeat)),
		s(KeyHeartbeatQuery, "", "SQL run at every heartbeat.", nil, connect.IntoString(&o.heartbeatQuery)),
		s(KeyHeartbeatPrefix, "__debezium-heartbeat", "Heartbeat topic prefix.", cdcconfig.NonEmpty, connect.IntoString(&o.heartbeatPrefix)),
		s(KeySkippedOps, "t", "Operations not emitted: c, u, d, t or none.", cdcconfig.ValidSkipped, connect.Into(&o.skip, cdcconfig.ParseSkipped)),
		b(KeyTombstones, "true", "Emit a tombstone after each delete.", &o.tombstones),
		s(KeyDecimalMode, "precise", "numeric representation: precise, double or string.", connect.OneOf("precise", "double", "string"), connect.IntoLower(&o.decimalMode), "precise", "double", "string"),
		s(KeyTimePrecision, "adaptive", "Temporal representation: adaptive, adaptive_time_microseconds or connect.",
			connect.OneOf("adaptive", "adaptive_time_microseconds", "connect"), connect.IntoLower(&o.timeMode), "adaptive", "adaptive_time_microseconds", "connect"),
		s(KeyBinaryMode, "bytes", "bytea representation: bytes, base64, base64-url-safe or hex.",
			connect.OneOf("bytes", "base64", "base64-url-safe", "hex"), connect.IntoLower(&o.binaryMode), "bytes", "base64", "base64-url-safe", "hex"),
		s(KeyIntervalMode, "numeric", "interval representation: numeric or string.", connect.OneOf("numeric", "string"), connect.IntoLower(&o.intervalMode), "numeric", "string"),
		b(KeyTxMetadata, "false", "Emit transaction BEGIN/END events and the transaction block.", &o.txMetadata),
		s(KeyMessageKeyColumns, "", "Custom message keys: <schema.table regex>:<col>,<col>;...", validKeyColumns, connect.Into(&o.keyColumns, parseKeyColumns)),
		b(KeySlotDropOnStop, "false", "Drop the replication slot when the task stops.", &o.dropSlot),
		i(KeySnapshotThreads, "1", "Parallel snapshot workers.", 1, connect.IntoInt(&o.threads)),
		i(KeySnapshotFetchSize, "10240", "Rows fetched per snapshot round trip.", 1, connect.IntoInt(&o.fetchSize)),
		i(KeySnapshotChunkRows, "100000", "Target rows per snapshot chunk.", 1, connect.IntoInt64(&o.chunkRows)),
		s(KeySignalCollection, "", "Signal table (schema.table) for incremental snapshots.", nil, connect.Into(&o.signal, cdcconfig.Trimmed)),
		{Name: KeyTasksMax, Type: connect.TypeInt, Default: "1", HasDefault: true, Importance: connect.Low, Doc: "Must be 1.", Validate: validTasksMax},
		i(KeyStatusInterval, "10000", "Interval of standby status updates to the server in ms.", 100, connect.IntoMillis(&o.statusInterval)),
		i(KeyMaxBatchSize, "2048", "Maximum records returned by one poll.", 1, connect.IntoInt(&o.maxBatch)),
		i(KeyMaxQueueSize, "8192", "Maximum records queued ahead of poll.", 1, connect.IntoInt(&o.maxQueue)),
		s(KeyTransactionTopic, "transaction", "Suffix of the transaction metadata topic (<prefix>.<suffix>).", cdcconfig.NonEmpty, connect.IntoString(&o.txSuffix)),
		s(KeyUnavailableValue, UnavailableValue, "Placeholder for unchanged TOASTed values.", nil, connect.IntoString(&o.placeholder)),
		i(KeyReconnectMaxElapsed, "300000", "How long to keep reconnecting after the connection is lost, in ms.", 0, connect.IntoMillis(&o.reconnectMax)),
		s(KeySSLMode, "prefer", "disable, allow, prefer, require, verify-ca or verify-full.",
			connect.OneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full"), connect.IntoLower(&o.sslMode), "disable", "prefer", "require", "verify-ca", "verify-full"),
		s(KeySSLRootCert, "", "CA certificate file for verify-ca / verify-full.", nil, connect.IntoString(&o.sslRootCert)),
		s(KeyFailureHandling, "fail", "A value that cannot be encoded: fail the task, warn (log and emit null or the NOT NULL fallback), or skip the event.",
			connect.OneOf("fail", "warn", "skip"), connect.IntoLower(&o.failureMode), "fail", "warn", "skip"),
	}
}

// Check implements connect.Options: the rules across keys, and the values
// derived from several keys.
func (o *options) Check() error {
	if err := cdcconfig.Exclusive(&o.Given, [2]string{KeyTableInclude, KeyTableExclude}, [2]string{KeyColumnInclude, KeyColumnExclude}); err != nil {
		return err
	}
	if o.signal != "" && strings.Count(o.signal, ".") != 1 {
		return connect.Errorf(KeySignalCollection, "must name a table as <schema>.<table>")
	}
	if o.snapshotMode == "never" {
		o.snapshotMode = "no_data"
	}
	o.heartbeatTopic = o.heartbeatPrefix + "." + o.prefix
	o.txTopic = o.prefix + "." + o.txSuffix
	return nil
}

// options is the parsed, typed configuration.
type options struct {
	connect.Given                // include/exclude lists exclude each other when both are given
	host, user, password, dbname string
	port                         int
	prefix                       string
	slot, publication, pubMode   string
	tableInclude, tableExclude   []*regexp.Regexp
	colInclude, colExclude       []*regexp.Regexp
	snapshotMode                 string
	heartbeat                    time.Duration
	heartbeatQuery               string
	heartbeatPrefix              string
	heartbeatTopic               string // derived: <heartbeatPrefix>.<prefix>
	skip                         map[string]bool
	tombstones                   bool
	decimalMode                  string
	timeMode                     string
	binaryMode                   string
	intervalMode                 string
	txMetadata                   bool
	txSuffix                     string
	txTopic                      string // derived: <prefix>.<txSuffix>
	keyColumns                   cdcconfig.KeyColumns
	dropSlot                     bool
	threads, fetchSize           int
	chunkRows                    int64
	statusInterval               time.Duration
	maxBatch, maxQueue           int
	placeholder                  string
	reconnectMax                 time.Duration
	signal                       string
	sslMode, sslRootCert         string
	failureMode                  string
}

// parseOptions binds cfg (connect.Bind) and returns typed options; errors
// are *connect.ConfigError naming the key.
func parseOptions(cfg map[string]string) (*options, error) {
	o := &options{}
	if _, err := connect.Bind(cfg, o); err != nil {
		return nil, err
	}
	return o, nil
}

// dsn returns a connection URL; replication adds replication=database.
func (o *options) dsn(replication bool) string {
	u := url.URL{Scheme: "postgres", Host: fmt.Sprintf("%s:%d", o.host, o.port), Path: "/" + o.dbname}
	if o.password != "" {
		u.User = url.UserPassword(o.user, o.password)
	} else {
		u.User = url.User(o.user)
	}
	q := url.Values{}
	q.Set("sslmode", o.sslMode)
	if o.sslRootCert != "" {
		q.Set("sslrootcert", o.sslRootCert)
	}
	q.Set("application_name", "sluice-postgres")
	if replication {
		q.Set("replication", "database")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// captured reports whether schema.table passes the table filters.
func (o *options) captured(schema, table string) bool {
	return cdcconfig.Pass(o.tableInclude, o.tableExclude, schema+"."+table)
}

// columnIncluded reports whether schema.table.column passes the column filters.
func (o *options) columnIncluded(schema, table, col string) bool {
	return cdcconfig.Pass(o.colInclude, o.colExclude, schema+"."+table+"."+col)
}

// keyColumnsFor returns the message.key.columns override for a table.
func (o *options) keyColumnsFor(schema, table string) []string {
	return o.keyColumns.For(schema + "." + table)
}
