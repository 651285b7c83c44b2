package mysql

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/connectors/internal/cdcconfig"
	"github.com/sluicehq/sluice/runtime/connect"
)

// Configuration keys, named as in Debezium's MySQL and MariaDB connectors.
const (
	KeyHostname          = "database.hostname"
	KeyPort              = "database.port"
	KeyUser              = "database.user"
	KeyPassword          = "database.password"
	KeyServerID          = "database.server.id"
	KeyTopicPrefix       = "topic.prefix"
	KeyDatabaseInclude   = "database.include.list"
	KeyDatabaseExclude   = "database.exclude.list"
	KeyTableInclude      = "table.include.list"
	KeyTableExclude      = "table.exclude.list"
	KeyColumnInclude     = "column.include.list"
	KeyColumnExclude     = "column.exclude.list"
	KeySnapshotMode      = "snapshot.mode"
	KeySnapshotLocking   = "snapshot.locking.mode"
	KeySnapshotThreads   = "snapshot.max.threads"
	KeySnapshotChunkRows = "snapshot.chunk.rows"
	KeyHistoryTopic      = "schema.history.internal.kafka.topic"
	KeyHistoryBootstrap  = "schema.history.internal.kafka.bootstrap.servers"
	KeySkipUnparseable   = "schema.history.internal.skip.unparseable.ddl"
	KeyIncludeSchema     = "include.schema.changes"
	KeyIncludeQuery      = "include.query"
	KeyGTIDInclude       = "gtid.source.includes"
	KeyGTIDExclude       = "gtid.source.excludes"
	KeyHeartbeatInterval = "heartbeat.interval.ms"
	KeyHeartbeatPrefix   = "topic.heartbeat.prefix"
	KeySkippedOps        = "skipped.operations"
	KeyTombstones        = "tombstones.on.delete"
	KeyDecimalMode       = "decimal.handling.mode"
	KeyTimePrecision     = "time.precision.mode"
	KeyBigintUnsigned    = "bigint.unsigned.handling.mode"
	KeyBinaryMode        = "binary.handling.mode"
	KeyMessageKeyColumns = "message.key.columns"
	KeyTxMetadata        = "provide.transaction.metadata"
	KeyTransactionTopic  = "topic.transaction"
	KeyTasksMax          = "tasks.max"
	KeyMaxBatchSize      = "max.batch.size"
	KeyMaxQueueSize      = "max.queue.size"
	KeyConnectTimeout    = "connect.timeout.ms"
	KeyReconnectMax      = "reconnect.max.elapsed.ms"
	KeySignalCollection  = "signal.data.collection"
)

func validKeyColumns(v string) error {
	_, err := parseKeyColumns(v)
	return err
}

func parseKeyColumns(v string) (cdcconfig.KeyColumns, error) {
	return cdcconfig.ParseKeyColumns(v, "db")
}

func validTasksMax(v string) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 1 {
		return fmt.Errorf("must be a positive integer")
	}
	if n != 1 {
		return fmt.Errorf("the MySQL connector runs exactly one task (tasks.max must be 1, got %d)", n)
	}
	return nil
}

func validServerID(v string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	if err != nil || n == 0 {
		return fmt.Errorf("must be an integer between 1 and 4294967295, unique among the server's replicas")
	}
	return nil
}

// Keys implements connect.Options: every key, with its destination in o.
func (o *options) Keys() connect.ConfigDef {
	s := func(name, def, doc string, v func(string) error, into func(string) error, rec ...string) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true, Importance: connect.Medium, Doc: doc, Validate: v, Recommended: rec, Into: into}
	}
	one := func(name, def, doc string, dst *string, values ...string) connect.ConfigKey {
		return s(name, def, doc, connect.OneOf(values...), connect.IntoLower(dst), values...)
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
		{Name: KeyHostname, Type: connect.TypeString, Importance: connect.High, Doc: "MySQL or MariaDB server host.", Validate: cdcconfig.NonEmpty, Into: connect.IntoString(&o.host)},
		i(KeyPort, "3306", "Server port.", 1, connect.IntoInt(&o.port)),
		{Name: KeyUser, Type: connect.TypeString, Importance: connect.High, Doc: "User with SELECT, RELOAD, SHOW DATABASES, REPLICATION SLAVE and REPLICATION CLIENT.", Validate: cdcconfig.NonEmpty, Into: connect.IntoString(&o.user)},
		{Name: KeyPassword, Type: connect.TypePassword, HasDefault: true, Importance: connect.High, Doc: "Password.", Into: connect.IntoString(&o.password)},
		{Name: KeyServerID, Type: connect.TypeLong, Importance: connect.High, Doc: "Replica server id the connector registers with; unique among the server's replicas.", Validate: validServerID, Into: connect.Into(&o.serverID, parseServerID)},
		{Name: KeyTopicPrefix, Type: connect.TypeString, Importance: connect.High, Doc: "Logical server name: prefix of every topic and schema name.", Validate: cdcconfig.ValidPrefix, Into: connect.IntoString(&o.prefix)},
		filter(KeyDatabaseInclude, "Regular expressions of databases to capture.", &o.dbInclude),
		filter(KeyDatabaseExclude, "Regular expressions of databases not to capture.", &o.dbExclude),
		filter(KeyTableInclude, "Regular expressions (db.table) of tables to capture.", &o.tableInclude),
		filter(KeyTableExclude, "Regular expressions (db.table) of tables not to capture.", &o.tableExclude),
		filter(KeyColumnInclude, "Regular expressions (db.table.column) of columns to include.", &o.colInclude),
		filter(KeyColumnExclude, "Regular expressions (db.table.column) of columns to exclude.", &o.colExclude),
		one(KeySnapshotMode, "initial", "initial, initial_only, when_needed, no_data (never), always, schema_only_recovery (recovery).", &o.snapshotMode,
			"initial", "initial_only", "when_needed", "no_data", "never", "always", "schema_only", "recovery", "schema_only_recovery"),
		one(KeySnapshotLocking, "minimal", "minimal (global read lock only while the snapshot transactions start) or none.", &o.locking, "minimal", "none"),
		i(KeySnapshotThreads, "4", "Parallel snapshot connections.", 1, connect.IntoInt(&o.threads)),
		i(KeySnapshotChunkRows, "50000", "Target rows per snapshot chunk (single integer primary keys are split into ranges).", 1, connect.IntoInt64(&o.chunkRows)),
		s(KeyHistoryTopic, "", "Schema history topic (one partition, cleanup.policy=delete, infinite retention; created if missing): every table definition and DDL with its binlog position, replayed on restart up to the committed offset. Empty keeps the history in memory (rebuilt from the live database at each start).", nil, connect.IntoString(&o.historyTopic)),
		s(KeyHistoryBootstrap, "", "Bootstrap servers of the Kafka cluster holding "+KeyHistoryTopic+" (required with it).", nil, connect.IntoString(&o.historyServers)),
		b(KeySkipUnparseable, "false", "Log and skip DDL statements that cannot be parsed instead of failing.", &o.skipUnparseable),
		b(KeyIncludeSchema, "true", "Emit DDL statements to the schema change topic (<topic.prefix>).", &o.includeSchema),
		b(KeyIncludeQuery, "false", "Put the SQL statement (ANNOTATE_ROWS / ROWS_QUERY) in source.query.", &o.includeQry),
		filter(KeyGTIDInclude, "Regular expressions of GTID sources (MySQL server UUIDs, MariaDB domain ids) to keep in the offset.", &o.gtidInclude),
		filter(KeyGTIDExclude, "Regular expressions of GTID sources to drop from the offset.", &o.gtidExclude),
		i(KeyHeartbeatInterval, "0", "Heartbeat interval in ms (0 disables heartbeats).", 0, connect.IntoMillis(&o.heartbeat)),
		s(KeyHeartbeatPrefix, "__debezium-heartbeat", "Heartbeat topic prefix.", cdcconfig.NonEmpty, connect.IntoString(&o.heartbeatPrefix)),
		s(KeySignalCollection, "", "Signal table (database.table with columns id, type, data) for incremental snapshots (execute-snapshot, stop-snapshot).", nil, connect.Into(&o.signal, cdcconfig.Trimmed)),
		s(KeySkippedOps, "t", "Operations not emitted: c, u, d, t or none.", cdcconfig.ValidSkipped, connect.Into(&o.skip, cdcconfig.ParseSkipped)),
		b(KeyTombstones, "true", "Emit a tombstone after each delete.", &o.tombstones),
		one(KeyDecimalMode, "precise", "DECIMAL representation: precise, double or string.", &o.decimalMode, "precise", "double", "string"),
		one(KeyTimePrecision, "adaptive_time_microseconds", "Temporal representation: adaptive_time_microseconds, adaptive or connect.", &o.timeMode,
			"adaptive_time_microseconds", "adaptive", "connect"),
		one(KeyBigintUnsigned, "long", "BIGINT UNSIGNED representation: long (wraps above 2^63-1, as Debezium) or precise (Decimal).", &o.bigintMode, "long", "precise"),
		one(KeyBinaryMode, "bytes", "BINARY/VARBINARY/BLOB representation: bytes, base64, base64-url-safe or hex.", &o.binaryMode, "bytes", "base64", "base64-url-safe", "hex"),
		s(KeyMessageKeyColumns, "", "Custom message keys: <db.table regex>:<col>,<col>;...", validKeyColumns, connect.Into(&o.keyColumns, parseKeyColumns)),
		b(KeyTxMetadata, "false", "Emit transaction BEGIN/END events and the transaction block.", &o.txMetadata),
		s(KeyTransactionTopic, "transaction", "Suffix of the transaction metadata topic (<prefix>.<suffix>).", cdcconfig.NonEmpty, connect.IntoString(&o.txSuffix)),
		{Name: KeyTasksMax, Type: connect.TypeInt, Default: "1", HasDefault: true, Importance: connect.Low, Doc: "Must be 1.", Validate: validTasksMax},
		i(KeyMaxBatchSize, "2048", "Maximum records returned by one poll.", 1, connect.IntoInt(&o.maxBatch)),
		i(KeyMaxQueueSize, "8192", "Maximum records queued ahead of poll.", 1, connect.IntoInt(&o.maxQueue)),
		i(KeyConnectTimeout, "30000", "Connection timeout in ms.", 1, connect.IntoMillis(&o.connectTimeout)),
		i(KeyReconnectMax, "300000", "How long to keep reconnecting after the binlog connection is lost, in ms (0: forever).", 0, connect.IntoMillis(&o.reconnectMax)),
	}
}

// Check implements connect.Options: the rules across keys, and the values
// derived from several keys.
func (o *options) Check() error {
	if err := cdcconfig.Exclusive(&o.Given, [2]string{KeyDatabaseInclude, KeyDatabaseExclude}, [2]string{KeyTableInclude, KeyTableExclude},
		[2]string{KeyColumnInclude, KeyColumnExclude}, [2]string{KeyGTIDInclude, KeyGTIDExclude}); err != nil {
		return err
	}
	if o.historyTopic != "" && strings.TrimSpace(o.historyServers) == "" {
		return connect.Errorf(KeyHistoryBootstrap, "is required with %s", KeyHistoryTopic)
	}
	switch o.snapshotMode {
	case "never":
		o.snapshotMode = "no_data"
	case "schema_only":
		o.snapshotMode = "no_data"
	case "schema_only_recovery":
		o.snapshotMode = "recovery"
	}
	o.heartbeatTopic = o.heartbeatPrefix + "." + o.prefix
	o.txTopic = o.prefix + "." + o.txSuffix
	return nil
}

func parseServerID(v string) (uint32, error) {
	n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
	return uint32(n), err
}

// options is the parsed, typed configuration.
type options struct {
	connect.Given                     // include/exclude lists exclude each other when both are given
	flavor                     string // "mysql" or "mariadb" (from connector.class)
	host, user, password       string
	port                       int
	serverID                   uint32
	prefix                     string
	dbInclude, dbExclude       []*regexp.Regexp
	tableInclude, tableExclude []*regexp.Regexp
	colInclude, colExclude     []*regexp.Regexp
	gtidInclude, gtidExclude   []*regexp.Regexp
	snapshotMode               string
	locking                    string
	threads                    int
	chunkRows                  int64
	skipUnparseable            bool
	historyTopic               string
	historyServers             string
	includeSchema, includeQry  bool
	heartbeat                  time.Duration
	heartbeatPrefix            string
	heartbeatTopic             string // derived: <heartbeatPrefix>.<prefix>
	skip                       map[string]bool
	tombstones                 bool
	decimalMode, timeMode      string
	bigintMode, binaryMode     string
	keyColumns                 cdcconfig.KeyColumns
	txMetadata                 bool
	txSuffix                   string
	txTopic                    string // derived: <prefix>.<txSuffix>
	maxBatch, maxQueue         int
	connectTimeout             time.Duration
	reconnectMax               time.Duration
	signal                     string
}

// parseOptions binds cfg (connect.Bind) for the server flavor ("mysql"
// or "mariadb") and returns typed options; errors are
// *connect.ConfigError naming the key.
func parseOptions(cfg map[string]string, flavor string) (*options, error) {
	o := &options{flavor: flavor}
	if _, err := connect.Bind(cfg, o); err != nil {
		return nil, err
	}
	return o, nil
}

// dbCaptured reports whether a database passes the database filters.
func (o *options) dbCaptured(db string) bool {
	switch db {
	case "mysql", "information_schema", "performance_schema", "sys":
		return false
	}
	return cdcconfig.Pass(o.dbInclude, o.dbExclude, db)
}

// captured reports whether db.table passes the database and table filters.
func (o *options) captured(db, table string) bool {
	if !o.dbCaptured(db) {
		return false
	}
	return cdcconfig.Pass(o.tableInclude, o.tableExclude, db+"."+table)
}

// columnIncluded reports whether db.table.column passes the column filters.
func (o *options) columnIncluded(db, table, col string) bool {
	return cdcconfig.Pass(o.colInclude, o.colExclude, db+"."+table+"."+col)
}

// keyColumnsFor returns the message.key.columns override for a table.
func (o *options) keyColumnsFor(db, table string) []string {
	return o.keyColumns.For(db + "." + table)
}

// gtidSourceKept reports whether a GTID source (MySQL server UUID or
// MariaDB domain id) passes gtid.source.includes/excludes.
func (o *options) gtidSourceKept(src string) bool {
	return cdcconfig.Pass(o.gtidInclude, o.gtidExclude, src)
}
