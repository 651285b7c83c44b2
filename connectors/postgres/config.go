package postgres

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

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

func validRegexList(v string) error {
	for _, p := range connect.SplitList(v) {
		if _, err := regexp.Compile(p); err != nil {
			return fmt.Errorf("invalid regular expression %q: %v", p, err)
		}
	}
	return nil
}

func validSkipped(v string) error {
	for _, p := range connect.SplitList(v) {
		switch strings.ToLower(p) {
		case "c", "u", "d", "t", "none":
		default:
			return fmt.Errorf("unknown operation %q (expected c, u, d, t or none)", p)
		}
	}
	return nil
}

func validKeyColumns(v string) error {
	_, err := parseKeyColumns(v)
	return err
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

// configDef declares the connector configuration.
func configDef() connect.ConfigDef {
	s := func(name, def, doc string, v func(string) error, rec ...string) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeString, Default: def, HasDefault: true, Importance: connect.Medium, Doc: doc, Validate: v, Recommended: rec}
	}
	i := func(name, def, doc string, min int64) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeInt, Default: def, HasDefault: true, Importance: connect.Low, Doc: doc, Validate: connect.AtLeast(min)}
	}
	b := func(name, def, doc string) connect.ConfigKey {
		return connect.ConfigKey{Name: name, Type: connect.TypeBoolean, Default: def, HasDefault: true, Importance: connect.Low, Doc: doc}
	}
	return connect.ConfigDef{
		{Name: KeyHostname, Type: connect.TypeString, Importance: connect.High, Doc: "PostgreSQL server host.", Validate: nonEmpty},
		i(KeyPort, "5432", "PostgreSQL server port.", 1),
		{Name: KeyUser, Type: connect.TypeString, Importance: connect.High, Doc: "User with REPLICATION privilege.", Validate: nonEmpty},
		{Name: KeyPassword, Type: connect.TypePassword, HasDefault: true, Importance: connect.High, Doc: "Password."},
		{Name: KeyDBName, Type: connect.TypeString, Importance: connect.High, Doc: "Database to capture.", Validate: nonEmpty},
		{Name: KeyTopicPrefix, Type: connect.TypeString, Importance: connect.High, Doc: "Logical server name: prefix of every topic and schema name.", Validate: validPrefix},
		s(KeySlotName, "debezium", "Logical replication slot name.", validSlotName),
		s(KeyPublicationName, "dbz_publication", "Publication streamed with pgoutput.", nonEmpty),
		s(KeyPublicationAuto, "all_tables", "Publication creation: all_tables, disabled or filtered.", connect.OneOf("all_tables", "disabled", "filtered"), "all_tables", "disabled", "filtered"),
		s(KeyPluginName, "pgoutput", "Logical decoding plugin; only pgoutput.", validPlugin, "pgoutput"),
		s(KeyTableInclude, "", "Regular expressions (schema.table) of tables to capture.", validRegexList),
		s(KeyTableExclude, "", "Regular expressions (schema.table) of tables not to capture.", validRegexList),
		s(KeyColumnInclude, "", "Regular expressions (schema.table.column) of columns to include.", validRegexList),
		s(KeyColumnExclude, "", "Regular expressions (schema.table.column) of columns to exclude.", validRegexList),
		s(KeySnapshotMode, "initial", "initial, always, initial_only, no_data (never) or when_needed.",
			connect.OneOf("initial", "always", "initial_only", "no_data", "never", "when_needed"), "initial", "always", "initial_only", "no_data", "when_needed"),
		i(KeyHeartbeatInterval, "0", "Heartbeat interval in ms (0 disables heartbeats).", 0),
		s(KeyHeartbeatQuery, "", "SQL run at every heartbeat.", nil),
		s(KeyHeartbeatPrefix, "__debezium-heartbeat", "Heartbeat topic prefix.", nonEmpty),
		s(KeySkippedOps, "t", "Operations not emitted: c, u, d, t or none.", validSkipped),
		b(KeyTombstones, "true", "Emit a tombstone after each delete."),
		s(KeyDecimalMode, "precise", "numeric representation: precise, double or string.", connect.OneOf("precise", "double", "string"), "precise", "double", "string"),
		s(KeyTimePrecision, "adaptive", "Temporal representation: adaptive, adaptive_time_microseconds or connect.",
			connect.OneOf("adaptive", "adaptive_time_microseconds", "connect"), "adaptive", "adaptive_time_microseconds", "connect"),
		s(KeyBinaryMode, "bytes", "bytea representation: bytes, base64, base64-url-safe or hex.",
			connect.OneOf("bytes", "base64", "base64-url-safe", "hex"), "bytes", "base64", "base64-url-safe", "hex"),
		s(KeyIntervalMode, "numeric", "interval representation: numeric or string.", connect.OneOf("numeric", "string"), "numeric", "string"),
		b(KeyTxMetadata, "false", "Emit transaction BEGIN/END events and the transaction block."),
		s(KeyMessageKeyColumns, "", "Custom message keys: <schema.table regex>:<col>,<col>;...", validKeyColumns),
		b(KeySlotDropOnStop, "false", "Drop the replication slot when the task stops."),
		i(KeySnapshotThreads, "1", "Parallel snapshot workers.", 1),
		i(KeySnapshotFetchSize, "10240", "Rows fetched per snapshot round trip.", 1),
		i(KeySnapshotChunkRows, "100000", "Target rows per snapshot chunk.", 1),
		s(KeySignalCollection, "", "Signal table (schema.table) for incremental snapshots.", nil),
		{Name: KeyTasksMax, Type: connect.TypeInt, Default: "1", HasDefault: true, Importance: connect.Low, Doc: "Must be 1.", Validate: validTasksMax},
		i(KeyStatusInterval, "10000", "Interval of standby status updates to the server in ms.", 100),
		i(KeyMaxBatchSize, "2048", "Maximum records returned by one poll.", 1),
		i(KeyMaxQueueSize, "8192", "Maximum records queued ahead of poll.", 1),
		s(KeyTransactionTopic, "transaction", "Suffix of the transaction metadata topic (<prefix>.<suffix>).", nonEmpty),
		s(KeyUnavailableValue, UnavailableValue, "Placeholder for unchanged TOASTed values.", nil),
		i(KeyReconnectMaxElapsed, "300000", "How long to keep reconnecting after the connection is lost, in ms.", 0),
		s(KeySSLMode, "prefer", "disable, allow, prefer, require, verify-ca or verify-full.",
			connect.OneOf("disable", "allow", "prefer", "require", "verify-ca", "verify-full"), "disable", "prefer", "require", "verify-ca", "verify-full"),
		s(KeySSLRootCert, "", "CA certificate file for verify-ca / verify-full.", nil),
		s(KeyFailureHandling, "fail", "A value that cannot be encoded: fail the task, warn (log and emit null or the NOT NULL fallback), or skip the event.",
			connect.OneOf("fail", "warn", "skip"), "fail", "warn", "skip"),
	}
}

func nonEmpty(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

func validPrefix(v string) error {
	if strings.TrimSpace(v) == "" {
		return fmt.Errorf("must not be empty")
	}
	if !regexp.MustCompile(`^[A-Za-z0-9._-]+$`).MatchString(v) {
		return fmt.Errorf("may contain only letters, digits, '.', '_' and '-'")
	}
	return nil
}

// options is the parsed, typed configuration.
type options struct {
	host, user, password, dbname string
	port                         int
	prefix                       string
	slot, publication, pubMode   string
	tableInclude, tableExclude   []*regexp.Regexp
	colInclude, colExclude       []*regexp.Regexp
	snapshotMode                 string
	heartbeat                    time.Duration
	heartbeatQuery               string
	heartbeatTopic               string
	skip                         map[string]bool
	tombstones                   bool
	decimalMode                  string
	timeMode                     string
	binaryMode                   string
	intervalMode                 string
	txMetadata                   bool
	txTopic                      string
	keyColumns                   []keyColumnsRule
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

type keyColumnsRule struct {
	table *regexp.Regexp
	cols  []string
}

func parseKeyColumns(v string) ([]keyColumnsRule, error) {
	var out []keyColumnsRule
	for _, part := range strings.Split(v, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		i := strings.LastIndex(part, ":")
		if i <= 0 || i == len(part)-1 {
			return nil, fmt.Errorf("entry %q must look like <schema>.<table>:<column>[,<column>...]", part)
		}
		re, err := regexp.Compile("^(?:" + part[:i] + ")$")
		if err != nil {
			return nil, fmt.Errorf("entry %q: invalid table expression: %v", part, err)
		}
		cols := connect.SplitList(part[i+1:])
		if len(cols) == 0 {
			return nil, fmt.Errorf("entry %q names no columns", part)
		}
		out = append(out, keyColumnsRule{table: re, cols: cols})
	}
	return out, nil
}

func compileList(v string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for _, p := range connect.SplitList(v) {
		out = append(out, regexp.MustCompile("^(?:"+p+")$"))
	}
	return out
}

// parseOptions validates cfg and returns typed options; errors are
// *connect.ConfigError naming the key.
func parseOptions(cfg map[string]string) (*options, error) {
	c, err := configDef().Parse(cfg)
	if err != nil {
		return nil, err
	}
	if c.String(KeyTableInclude) != "" && c.String(KeyTableExclude) != "" {
		return nil, connect.Errorf(KeyTableExclude, "cannot be used together with %s", KeyTableInclude)
	}
	if c.String(KeyColumnInclude) != "" && c.String(KeyColumnExclude) != "" {
		return nil, connect.Errorf(KeyColumnExclude, "cannot be used together with %s", KeyColumnInclude)
	}
	o := &options{
		host: c.String(KeyHostname), port: c.Int(KeyPort), user: c.String(KeyUser), password: c.String(KeyPassword),
		dbname: c.String(KeyDBName), prefix: c.String(KeyTopicPrefix), slot: c.String(KeySlotName),
		publication: c.String(KeyPublicationName), pubMode: strings.ToLower(c.String(KeyPublicationAuto)),
		tableInclude: compileList(c.String(KeyTableInclude)), tableExclude: compileList(c.String(KeyTableExclude)),
		colInclude: compileList(c.String(KeyColumnInclude)), colExclude: compileList(c.String(KeyColumnExclude)),
		snapshotMode:   strings.ToLower(c.String(KeySnapshotMode)),
		heartbeat:      time.Duration(c.Int64(KeyHeartbeatInterval)) * time.Millisecond,
		heartbeatQuery: c.String(KeyHeartbeatQuery),
		heartbeatTopic: c.String(KeyHeartbeatPrefix) + "." + c.String(KeyTopicPrefix),
		skip:           map[string]bool{},
		tombstones:     c.Bool(KeyTombstones),
		decimalMode:    strings.ToLower(c.String(KeyDecimalMode)),
		timeMode:       strings.ToLower(c.String(KeyTimePrecision)),
		binaryMode:     strings.ToLower(c.String(KeyBinaryMode)),
		intervalMode:   strings.ToLower(c.String(KeyIntervalMode)),
		txMetadata:     c.Bool(KeyTxMetadata),
		txTopic:        c.String(KeyTopicPrefix) + "." + c.String(KeyTransactionTopic),
		dropSlot:       c.Bool(KeySlotDropOnStop),
		threads:        c.Int(KeySnapshotThreads),
		fetchSize:      c.Int(KeySnapshotFetchSize),
		chunkRows:      c.Int64(KeySnapshotChunkRows),
		statusInterval: time.Duration(c.Int64(KeyStatusInterval)) * time.Millisecond,
		maxBatch:       c.Int(KeyMaxBatchSize),
		maxQueue:       c.Int(KeyMaxQueueSize),
		placeholder:    c.String(KeyUnavailableValue),
		reconnectMax:   time.Duration(c.Int64(KeyReconnectMaxElapsed)) * time.Millisecond,
		sslMode:        strings.ToLower(c.String(KeySSLMode)),
		sslRootCert:    c.String(KeySSLRootCert),
		failureMode:    strings.ToLower(c.String(KeyFailureHandling)),
	}
	if o.snapshotMode == "never" {
		o.snapshotMode = "no_data"
	}
	for _, p := range c.List(KeySkippedOps) {
		if p = strings.ToLower(p); p != "none" {
			o.skip[p] = true
		}
	}
	o.keyColumns, _ = parseKeyColumns(c.String(KeyMessageKeyColumns))
	if sc := strings.TrimSpace(c.String(KeySignalCollection)); sc != "" {
		if strings.Count(sc, ".") != 1 {
			return nil, connect.Errorf(KeySignalCollection, "must name a table as <schema>.<table>")
		}
		o.signal = sc
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
	id := schema + "." + table
	if len(o.tableInclude) > 0 {
		for _, re := range o.tableInclude {
			if re.MatchString(id) {
				return true
			}
		}
		return false
	}
	for _, re := range o.tableExclude {
		if re.MatchString(id) {
			return false
		}
	}
	return true
}

// columnIncluded reports whether schema.table.column passes the column filters.
func (o *options) columnIncluded(schema, table, col string) bool {
	id := schema + "." + table + "." + col
	if len(o.colInclude) > 0 {
		for _, re := range o.colInclude {
			if re.MatchString(id) {
				return true
			}
		}
		return false
	}
	for _, re := range o.colExclude {
		if re.MatchString(id) {
			return false
		}
	}
	return true
}

// keyColumnsFor returns the message.key.columns override for a table.
func (o *options) keyColumnsFor(schema, table string) []string {
	id := schema + "." + table
	for _, r := range o.keyColumns {
		if r.table.MatchString(id) {
			return r.cols
		}
	}
	return nil
}
