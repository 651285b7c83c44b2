package mysql

import (
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// DebeziumVersion is the Debezium release whose event format this
// connector reproduces; it is reported in source.version.
const DebeziumVersion = "2.7.3.Final"

// Snapshot markers of source.snapshot.
const (
	snapTrue        = "true"
	snapFirst       = "first"
	snapLastInColl  = "last_in_data_collection"
	snapLast        = "last"
	snapFalse       = "false"
	snapIncremental = "incremental"
)

var snapshotEnumSchema = connect.NewSchema(connect.String).Name(nameEnum).Version(1).
	Param("allowed", "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental").
	Default("false").Optional().Build()

// newSourceSchema returns the source block schema of a flavor
// (io.debezium.connector.mysql.Source or ...mariadb.Source).
func newSourceSchema(flavor string) *connect.Schema {
	return connect.NewStruct().Name("io.debezium.connector."+flavor+".Source").Version(1).
		Field("version", connect.StringSchema).
		Field("connector", connect.StringSchema).
		Field("name", connect.StringSchema).
		Field("ts_ms", connect.Int64Schema).
		Field("snapshot", snapshotEnumSchema).
		Field("db", connect.StringSchema).
		Field("sequence", connect.OptionalStringSchema).
		Field("ts_us", connect.OptionalInt64Schema).
		Field("ts_ns", connect.OptionalInt64Schema).
		Field("table", connect.OptionalStringSchema).
		Field("server_id", connect.Int64Schema).
		Field("gtid", connect.OptionalStringSchema).
		Field("file", connect.StringSchema).
		Field("pos", connect.Int64Schema).
		Field("row", connect.Int32Schema).
		Field("thread", connect.OptionalInt64Schema).
		Field("query", connect.OptionalStringSchema).
		Build()
}

var (
	mysqlSourceSchema   = newSourceSchema("mysql")
	mariadbSourceSchema = newSourceSchema("mariadb")

	txBlockSchema = connect.NewStruct().Name("event.block").Version(1).Optional().
			Field("id", connect.StringSchema).
			Field("total_order", connect.Int64Schema).
			Field("data_collection_order", connect.Int64Schema).
			Build()
	heartbeatKeySchema = connect.NewStruct().Name("io.debezium.connector.common.ServerNameKey").Version(1).
				Field("serverName", connect.StringSchema).Build()
	heartbeatValueSchema = connect.NewStruct().Name("io.debezium.connector.common.Heartbeat").Version(1).
				Field("ts_ms", connect.Int64Schema).Build()
	txKeySchema = connect.NewStruct().Name("io.debezium.connector.common.TransactionMetadataKey").Version(1).
			Field("id", connect.StringSchema).Build()
	txCollSchema = connect.NewStruct().Name("event.collection").Version(1).Optional().
			Field("data_collection", connect.StringSchema).
			Field("event_count", connect.Int64Schema).Build()
	txValueSchema = connect.NewStruct().Name("io.debezium.connector.common.TransactionMetadataValue").Version(1).
			Field("status", connect.StringSchema).
			Field("id", connect.StringSchema).
			Field("event_count", connect.OptionalInt64Schema).
			Field("data_collections", connect.NewArray(txCollSchema).Optional().Build()).
			Field("ts_ms", connect.Int64Schema).Build()
)

func (o *options) sourceSchema() *connect.Schema {
	if o.flavor == flavorMariaDB {
		return mariadbSourceSchema
	}
	return mysqlSourceSchema
}

// envelopeSchema returns the Debezium envelope schema for a table.
func envelopeSchema(o *options, topic string, value *connect.Schema) *connect.Schema {
	return connect.NewStruct().Name(topic+".Envelope").Version(2).
		Field("before", value).
		Field("after", value).
		Field("source", o.sourceSchema()).
		Field("transaction", txBlockSchema).
		Field("op", connect.StringSchema).
		Field("ts_ms", connect.OptionalInt64Schema).
		Field("ts_us", connect.OptionalInt64Schema).
		Field("ts_ns", connect.OptionalInt64Schema).
		Build()
}

// srcInfo is what goes into the source block of one event.
type srcInfo struct {
	ts       time.Time
	snapshot string
	db       string
	table    string
	serverID uint32
	gtid     string
	file     string
	pos      uint32 // start of the current binlog event
	row      int32  // row index inside the event
	thread   int64  // -1 when unknown
	query    string
}

// srcBoxes are a source block's fields as interface values (nil for
// null), boxed once for all rows of a binlog event.
type srcBoxes struct {
	ms, us, ns, snapshot, db, table, serverID, gtid, file, pos, thread, query any
}

// sourceFromBoxes builds the source block of row row of an event.
func (t *Task) sourceFromBoxes(b *srcBoxes, row int32) *connect.Struct {
	s := connect.NewStructValue(t.o.sourceSchema())
	s.SetAt(0, t.srcConst[0])
	s.SetAt(1, t.srcConst[1])
	s.SetAt(2, t.srcConst[2])
	s.SetAt(3, b.ms)
	s.SetAt(4, b.snapshot)
	s.SetAt(5, b.db)
	s.SetAt(7, b.us)
	s.SetAt(8, b.ns)
	s.SetAt(9, b.table)
	s.SetAt(10, b.serverID)
	s.SetAt(11, b.gtid)
	s.SetAt(12, b.file)
	s.SetAt(13, b.pos)
	s.SetAt(14, row)
	s.SetAt(15, b.thread)
	s.SetAt(16, b.query)
	return s
}

func (t *Task) sourceStruct(si *srcInfo) *connect.Struct {
	s := connect.NewStructValue(t.o.sourceSchema())
	s.SetAt(0, t.srcConst[0])
	s.SetAt(1, t.srcConst[1])
	s.SetAt(2, t.srcConst[2])
	us := si.ts.UnixMicro()
	s.SetAt(3, us/1000)
	s.SetAt(4, si.snapshot)
	s.SetAt(5, si.db)
	s.SetAt(7, us)
	s.SetAt(8, us*1000)
	if si.table != "" {
		s.SetAt(9, si.table)
	}
	s.SetAt(10, int64(si.serverID))
	if si.gtid != "" {
		s.SetAt(11, si.gtid)
	}
	s.SetAt(12, si.file)
	s.SetAt(13, int64(si.pos))
	s.SetAt(14, si.row)
	if si.thread >= 0 {
		s.SetAt(15, si.thread)
	}
	if si.query != "" {
		s.SetAt(16, si.query)
	}
	return s
}

// txBlock is the envelope's transaction block.
type txBlock struct {
	id         string
	total      int64
	collection int64
}

// changeRecord builds one change event.
func (t *Task) changeRecord(tb *table, op string, key, before, after *connect.Struct, si *srcInfo, tx *txBlock, offset map[string]any) *connect.Record {
	now := t.now()
	return t.changeRecordWith(nil, tb, op, key, before, after, t.sourceStruct(si), tx, offset, &[3]any{now.UnixMilli(), now.UnixMicro(), now.UnixNano()})
}

// changeRecordWith builds one change event from its source block and the
// processing time (ts_ms, ts_us, ts_ns) as interface values.
// dst, when not nil, is where the record is built.
func (t *Task) changeRecordWith(dst *connect.Record, tb *table, op string, key, before, after, src *connect.Struct, tx *txBlock, offset map[string]any, now *[3]any) *connect.Record {
	env := connect.NewStructValue(tb.envelope)
	if before != nil {
		env.SetAt(0, before)
	}
	if after != nil {
		env.SetAt(1, after)
	}
	env.SetAt(2, src)
	if tx != nil {
		b := connect.NewStructValue(txBlockSchema)
		b.SetAt(0, tx.id)
		b.SetAt(1, tx.total)
		b.SetAt(2, tx.collection)
		env.SetAt(3, b)
	}
	env.SetAt(4, boxOp(op))
	env.SetAt(5, now[0])
	env.SetAt(6, now[1])
	env.SetAt(7, now[2])
	r := dst
	if r == nil {
		r = new(connect.Record)
	}
	*r = connect.Record{
		Topic: tb.topic, Partition: -1,
		ValueSchema: tb.envelope, Value: env,
		SourcePartition: t.partition, SourceOffset: offset,
	}
	if tb.keySchema != nil {
		r.KeySchema, r.Key = tb.keySchema, key
	}
	return r
}

// The envelope's op values, boxed once.
var (
	opRead, opCreate, opUpdate, opDelete, opTruncate any = "r", "c", "u", "d", "t"
)

// boxOp returns op as an interface value without allocating for the
// envelope's op codes.
func boxOp(op string) any {
	switch op {
	case "r":
		return opRead
	case "c":
		return opCreate
	case "u":
		return opUpdate
	case "d":
		return opDelete
	case "t":
		return opTruncate
	}
	return op
}

// tombstone returns the null-valued record following delete r.
func tombstone(r *connect.Record) connect.Record {
	return connect.Record{
		Topic: r.Topic, Partition: -1, KeySchema: r.KeySchema, Key: r.Key,
		SourcePartition: r.SourcePartition, SourceOffset: r.SourceOffset,
	}
}

func (t *Task) heartbeatRecord(offset map[string]any) *connect.Record {
	k := connect.NewStructValue(heartbeatKeySchema)
	k.SetAt(0, t.o.prefix)
	v := connect.NewStructValue(heartbeatValueSchema)
	v.SetAt(0, t.now().UnixMilli())
	return &connect.Record{
		Topic: t.o.heartbeatTopic, Partition: -1,
		KeySchema: heartbeatKeySchema, Key: k, ValueSchema: heartbeatValueSchema, Value: v,
		SourcePartition: t.partition, SourceOffset: offset,
	}
}

func (t *Task) txRecord(status, id string, ts time.Time, count int64, perColl map[string]int64, order []string, offset map[string]any) *connect.Record {
	k := connect.NewStructValue(txKeySchema)
	k.SetAt(0, id)
	v := connect.NewStructValue(txValueSchema)
	v.SetAt(0, status)
	v.SetAt(1, id)
	if status == "END" {
		v.SetAt(2, count)
		colls := make([]any, 0, len(order))
		for _, c := range order {
			cs := connect.NewStructValue(txCollSchema)
			cs.SetAt(0, c)
			cs.SetAt(1, perColl[c])
			colls = append(colls, cs)
		}
		v.SetAt(3, colls)
	}
	v.SetAt(4, ts.UnixMilli())
	return &connect.Record{
		Topic: t.o.txTopic, Partition: -1,
		KeySchema: txKeySchema, Key: k, ValueSchema: txValueSchema, Value: v,
		SourcePartition: t.partition, SourceOffset: offset,
	}
}

// Schema change event key schemas: io.debezium.connector.<connector
// name>.SchemaChangeKey, the name being mysql or mariadb as in Debezium's
// SchemaFactory.
var (
	mysqlSchemaChangeKeySchema   = newSchemaChangeKeySchema(flavorMySQL)
	mariadbSchemaChangeKeySchema = newSchemaChangeKeySchema(flavorMariaDB)
)

func newSchemaChangeKeySchema(flavor string) *connect.Schema {
	return connect.NewStruct().Name("io.debezium.connector."+flavor+".SchemaChangeKey").Version(1).
		Field("databaseName", connect.StringSchema).Build()
}

func (o *options) schemaChangeKeySchema() *connect.Schema {
	if o.flavor == flavorMariaDB {
		return mariadbSchemaChangeKeySchema
	}
	return mysqlSchemaChangeKeySchema
}

// The tableChanges schemas, field for field as Debezium's SchemaFactory
// builds them (schemaHistoryColumnSchema/TableSchema/ChangeSchema).
var (
	changeColumnSchema = connect.NewStruct().Name("io.debezium.connector.schema.Column").Version(1).
				Field("name", connect.StringSchema).
				Field("jdbcType", connect.Int32Schema).
				Field("nativeType", connect.OptionalInt32Schema).
				Field("typeName", connect.StringSchema).
				Field("typeExpression", connect.OptionalStringSchema).
				Field("charsetName", connect.OptionalStringSchema).
				Field("length", connect.OptionalInt32Schema).
				Field("scale", connect.OptionalInt32Schema).
				Field("position", connect.Int32Schema).
				Field("optional", connect.OptionalBooleanSchema).
				Field("autoIncremented", connect.OptionalBooleanSchema).
				Field("generated", connect.OptionalBooleanSchema).
				Field("comment", connect.OptionalStringSchema).
				Field("defaultValueExpression", connect.OptionalStringSchema).
				Field("enumValues", connect.NewArray(connect.StringSchema).Optional().Build()).
				Build()
	changeTableSchema = connect.NewStruct().Name("io.debezium.connector.schema.Table").Version(1).
				Field("defaultCharsetName", connect.OptionalStringSchema).
				Field("primaryKeyColumnNames", connect.NewArray(connect.StringSchema).Optional().Build()).
				Field("columns", connect.NewArray(changeColumnSchema).Build()).
				Field("comment", connect.OptionalStringSchema).
				Optional().
				Build()
	changeSchema = connect.NewStruct().Name("io.debezium.connector.schema.Change").Version(1).
			Field("type", connect.StringSchema).
			Field("id", connect.StringSchema).
			Field("table", changeTableSchema).
			Build()
)

func (o *options) schemaChangeValueSchema() *connect.Schema {
	name := flavorMySQL
	if o.flavor == flavorMariaDB {
		name = flavorMariaDB
	}
	return connect.NewStruct().Name("io.debezium.connector."+name+".SchemaChangeValue").Version(1).
		Field("source", o.sourceSchema()).
		Field("ts_ms", connect.Int64Schema).
		Field("databaseName", connect.OptionalStringSchema).
		Field("schemaName", connect.OptionalStringSchema).
		Field("ddl", connect.OptionalStringSchema).
		Field("tableChanges", connect.NewArray(changeSchema).Build()).
		Build()
}

func optInt32(p *int) any {
	if p == nil {
		return nil
	}
	return int32(*p)
}

func optString(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

// tableChangeStructs converts table changes to the schema change event's
// tableChanges array: a DROP has a null table, enumValues is set only for
// ENUM/SET columns (Debezium's ConnectTableChangeSerializer).
func tableChangeStructs(changes []histChange) []any {
	out := make([]any, 0, len(changes))
	for _, c := range changes {
		cs := connect.NewStructValue(changeSchema)
		cs.SetAt(0, c.Type)
		cs.SetAt(1, c.ID)
		if t := c.Table; t != nil {
			ts := connect.NewStructValue(changeTableSchema)
			ts.SetAt(0, optString(t.DefaultCharsetName))
			pk := make([]any, len(t.PrimaryKeyColumnNames))
			for i, n := range t.PrimaryKeyColumnNames {
				pk[i] = n
			}
			ts.SetAt(1, pk)
			cols := make([]any, len(t.Columns))
			for i, col := range t.Columns {
				v := connect.NewStructValue(changeColumnSchema)
				v.SetAt(0, col.Name)
				v.SetAt(1, int32(col.JDBCType))
				v.SetAt(3, col.TypeName)
				v.SetAt(4, col.TypeExpression)
				v.SetAt(5, optString(col.CharsetName))
				v.SetAt(6, optInt32(col.Length))
				v.SetAt(7, optInt32(col.Scale))
				v.SetAt(8, int32(col.Position))
				v.SetAt(9, col.Optional)
				v.SetAt(10, col.AutoIncremented)
				v.SetAt(11, col.Generated)
				v.SetAt(12, optString(col.Comment))
				v.SetAt(13, optString(col.DefaultValueExpression))
				if len(col.EnumValues) > 0 {
					ev := make([]any, len(col.EnumValues))
					for j, e := range col.EnumValues {
						ev[j] = e
					}
					v.SetAt(14, ev)
				}
				cols[i] = v
			}
			ts.SetAt(2, cols)
			ts.SetAt(3, optString(t.Comment))
			cs.SetAt(2, ts)
		}
		out = append(out, cs)
	}
	return out
}

// changedTables is a schema change event's source.table: the names of the
// tables the statement changed, comma-separated (null, "", when none), as
// Debezium's BinlogSourceInfo.table() gives them.
func changedTables(changes []histChange) string {
	var names []string
	seen := map[string]bool{}
	for _, c := range changes {
		if k, ok := parseDebeziumID(c.ID); ok && !seen[k.name] {
			seen[k.name] = true
			names = append(names, k.name)
		}
	}
	return strings.Join(names, ",")
}

func (t *Task) schemaChangeRecord(db, ddl string, changes []histChange, si *srcInfo, offset map[string]any) *connect.Record {
	ks := t.o.schemaChangeKeySchema()
	k := connect.NewStructValue(ks)
	k.SetAt(0, db)
	vs := t.schemaChangeSchema
	v := connect.NewStructValue(vs)
	v.SetAt(0, t.sourceStruct(si))
	v.SetAt(1, t.now().UnixMilli())
	v.SetAt(2, db)
	v.SetAt(4, ddl)
	v.SetAt(5, tableChangeStructs(changes))
	return &connect.Record{
		Topic: t.o.prefix, Partition: 0,
		KeySchema: ks, Key: k, ValueSchema: vs, Value: v,
		SourcePartition: t.partition, SourceOffset: offset,
	}
}

// Offset keys, as in Debezium's MySQL/MariaDB offsets.
const (
	offTsSec     = "ts_sec"
	offFile      = "file"
	offPos       = "pos"
	offGTIDs     = "gtids"
	offRow       = "row"
	offEvent     = "event"
	offServerID  = "server_id"
	offSnapshot  = "snapshot"
	offSnapDone  = "snapshot_completed"
	offTxID      = "transaction_id"
	offIncrement = "incremental_snapshot_signal_offset"
)

// snapshotInitial is the "snapshot" offset value during an initial
// snapshot: Debezium 3.x writes the SnapshotType name (and still reads the
// boolean true of older versions as INITIAL).
const snapshotInitial = "INITIAL"

// position is a restart point in the binlog as recorded in offsets: the
// binlog coordinates of the current transaction's start (or of the end of
// the last complete event outside transactions), the GTID set completed
// before it, and how many events and rows of the transaction were already
// emitted.
type position struct {
	file   string
	pos    uint32
	gtids  string
	event  int64
	row    int64
	tsSec  int64
	server uint32
}

func (p position) offset() map[string]any {
	m := map[string]any{offTsSec: p.tsSec, offFile: p.file, offPos: int64(p.pos)}
	if p.gtids != "" {
		m[offGTIDs] = p.gtids
	}
	if p.event != 0 {
		m[offEvent] = p.event
	}
	if p.row != 0 {
		m[offRow] = p.row
	}
	if p.server != 0 {
		m[offServerID] = int64(p.server)
	}
	return m
}

// parsePosition reads a position from a committed offset.
func parsePosition(off map[string]any) (pos position, snapshotting bool, ok bool) {
	if off == nil {
		return pos, false, false
	}
	if b, _ := off[offSnapshot].(bool); b || strings.EqualFold(asString(off[offSnapshot]), "true") || strings.EqualFold(asString(off[offSnapshot]), "INITIAL") {
		done, _ := off[offSnapDone].(bool)
		if !done {
			snapshotting = true
		}
	}
	pos.file = asString(off[offFile])
	p, _ := toInt64(off[offPos])
	pos.pos = uint32(p)
	pos.gtids = asString(off[offGTIDs])
	pos.event, _ = toInt64(off[offEvent])
	pos.row, _ = toInt64(off[offRow])
	pos.tsSec, _ = toInt64(off[offTsSec])
	s, _ := toInt64(off[offServerID])
	pos.server = uint32(s)
	return pos, snapshotting, pos.file != ""
}

func asString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	case float64:
		return int64(x), true
	case string:
		n, err := strconv.ParseInt(x, 10, 64)
		return n, err == nil
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		return n, err == nil
	}
	return 0, false
}
