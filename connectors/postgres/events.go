package postgres

import (
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
)

// DebeziumVersion is the Debezium release whose event format this
// connector reproduces; it is reported in source.version.
const DebeziumVersion = "2.7.3.Final"

// Snapshot markers of source.snapshot.
const (
	snapTrue        = "true"
	snapFirst       = "first"
	snapFirstInColl = "first_in_data_collection"
	snapLastInColl  = "last_in_data_collection"
	snapLast        = "last"
	snapFalse       = "false"
	snapIncremental = "incremental"
)

var (
	snapshotEnumSchema = connect.NewSchema(connect.String).Name(nameEnum).Version(1).
				Param("allowed", "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental").
				Default("false").Optional().Build()
	sourceSchema = connect.NewStruct().Name("io.debezium.connector.postgresql.Source").Version(1).
			Field("version", connect.StringSchema).
			Field("connector", connect.StringSchema).
			Field("name", connect.StringSchema).
			Field("ts_ms", connect.Int64Schema).
			Field("snapshot", snapshotEnumSchema).
			Field("db", connect.StringSchema).
			Field("sequence", connect.OptionalStringSchema).
			Field("ts_us", connect.OptionalInt64Schema).
			Field("ts_ns", connect.OptionalInt64Schema).
			Field("schema", connect.StringSchema).
			Field("table", connect.StringSchema).
			Field("txId", connect.OptionalInt64Schema).
			Field("lsn", connect.OptionalInt64Schema).
			Field("xmin", connect.OptionalInt64Schema).
			Build()
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

// envelopeSchema returns the Debezium envelope schema for a table.
func (t *Task) envelopeSchema(topic string, value *connect.Schema) *connect.Schema {
	return connect.NewStruct().Name(topic+".Envelope").Version(2).
		Field("before", value).
		Field("after", value).
		Field("source", sourceSchema).
		Field("transaction", txBlockSchema).
		Field("op", connect.StringSchema).
		Field("ts_ms", connect.OptionalInt64Schema).
		Field("ts_us", connect.OptionalInt64Schema).
		Field("ts_ns", connect.OptionalInt64Schema).
		Build()
}

// srcInfo is what goes into the source block of one event.
type srcInfo struct {
	ts        time.Time // commit (or snapshot read) time
	snapshot  string
	schema    string
	table     string
	txID      int64
	hasTxID   bool
	lsn       uint64
	lastCommt uint64 // lsn of the previous commit, for source.sequence
}

func (t *Task) sourceStruct(si *srcInfo) *connect.Struct {
	s := connect.NewStructValue(sourceSchema)
	s.SetAt(0, DebeziumVersion)
	s.SetAt(1, "postgresql")
	s.SetAt(2, t.o.prefix)
	us := si.ts.UnixMicro()
	s.SetAt(3, us/1000)
	s.SetAt(4, si.snapshot)
	s.SetAt(5, t.o.dbname)
	if si.lsn != 0 {
		last := "null"
		if si.lastCommt != 0 {
			last = `"` + strconv.FormatUint(si.lastCommt, 10) + `"`
		}
		s.SetAt(6, "["+last+`,"`+strconv.FormatUint(si.lsn, 10)+`"]`)
	}
	s.SetAt(7, us)
	s.SetAt(8, us*1000)
	s.SetAt(9, si.schema)
	s.SetAt(10, si.table)
	if si.hasTxID {
		s.SetAt(11, si.txID)
	}
	if si.lsn != 0 {
		s.SetAt(12, int64(si.lsn))
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
	r := &connect.Record{}
	st := newStamp(t.now())
	var src *connect.Struct
	if si != nil {
		src = t.sourceStruct(si)
	}
	t.fillRecord(nil, r, tb, op, key, before, after, src, tx, offset, &st)
	return r
}

// stamp is a processing time boxed once for the envelope's ts_ms, ts_us
// and ts_ns, so that records built in one batch share it.
type stamp struct{ ms, us, ns any }

func newStamp(now time.Time) stamp {
	return stamp{now.UnixMilli(), now.UnixMicro(), now.UnixNano()}
}

// Boxed op values: storing a constant interface value does not allocate.
var (
	opRead     any = "r"
	opCreate   any = "c"
	opUpdate   any = "u"
	opDelete   any = "d"
	opTruncate any = "t"
)

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

// fillRecord builds one change event into r (a zero Record), with source block src (nil
// when the caller sets it later), allocating structs from a (nil: the heap).
func (t *Task) fillRecord(a *connect.StructArena, r *connect.Record, tb *table, op string, key, before, after, src *connect.Struct, tx *txBlock, offset map[string]any, st *stamp) {
	env := newStruct(a, tb.envelope)
	if before != nil {
		env.SetAt(0, before)
	}
	if after != nil {
		env.SetAt(1, after)
	}
	if src != nil {
		env.SetAt(2, src)
	}
	if tx != nil {
		b := newStruct(a, txBlockSchema)
		b.SetAt(0, tx.id)
		b.SetAt(1, tx.total)
		b.SetAt(2, tx.collection)
		env.SetAt(3, b)
	}
	env.SetAt(4, boxOp(op))
	env.SetAt(5, st.ms)
	env.SetAt(6, st.us)
	env.SetAt(7, st.ns)
	// Set field by field: r is zero, and copying a whole Record costs more.
	r.Topic, r.Partition = tb.topic, -1
	r.ValueSchema, r.Value = tb.envelope, env
	r.SourcePartition, r.SourceOffset = t.partition, offset
	if tb.key != nil {
		r.KeySchema, r.Key = tb.key, key
	}
}

// Headers Debezium puts on the delete/create pair of a primary-key update.
const (
	HeaderNewKey = "__debezium.newkey"
	HeaderOldKey = "__debezium.oldkey"
)

// keyJSON renders keys as schemaless JSON for key headers.
var keyJSON, _ = convert.NewJSON(map[string]string{convert.SchemasEnableConfig: "false"}, true)

// keyHeader is a primary-key update header: the other record's key, as
// the key's JSON payload (what Debezium's header holds once serialized).
func (t *Task) keyHeader(name string, tb *table, key *connect.Struct) connect.Header {
	b, err := keyJSON.FromConnect(tb.topic, tb.key, key)
	if err != nil {
		return connect.Header{Key: name, Schema: connect.OptionalStringSchema, Value: keyText(key)}
	}
	return connect.Header{Key: name, Schema: connect.OptionalStringSchema, Value: string(b)}
}

// tombstone returns the null-valued record following a delete.
func tombstone(r *connect.Record) *connect.Record {
	return &connect.Record{
		Topic: r.Topic, Partition: -1, KeySchema: r.KeySchema, Key: r.Key,
		ValueSchema: nil, Value: nil, SourcePartition: r.SourcePartition, SourceOffset: r.SourceOffset,
	}
}

// truncateRecord builds an op "t" event (no key, no before/after).
func (t *Task) truncateRecord(tb *table, si *srcInfo, tx *txBlock, offset map[string]any) *connect.Record {
	r := t.changeRecord(tb, "t", nil, nil, nil, si, tx, offset)
	r.KeySchema, r.Key = nil, nil
	return r
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

// Offset keys, as in Debezium's PostgreSQL offsets, plus tx_seq (ordinal of
// the event within its transaction) used to skip events already emitted
// when a transaction is streamed again.
const (
	offLSN         = "lsn"
	offLSNProc     = "lsn_proc"
	offLSNCommit   = "lsn_commit"
	offTxID        = "txId"
	offTsUsec      = "ts_usec"
	offSnapshot    = "snapshot"
	offLastSnap    = "last_snapshot_record"
	offMessageType = "messageType"
	offTxSeq       = "tx_seq"
	offTxDone      = "tx_done"
)

// position is where the stream is, as recorded in offsets.
type position struct {
	commitEnd uint64 // end LSN of the last transaction fully emitted
	xid       uint32 // transaction partially emitted (when seq > 0)
	seq       int64  // events of xid already emitted
}

// parsePosition reads a streaming position from a committed offset.
func parsePosition(off map[string]any) (pos position, snapshotting bool, ok bool) {
	if off == nil {
		return pos, false, false
	}
	if b, _ := off[offSnapshot].(bool); b || strings.EqualFold(asString(off[offSnapshot]), "true") {
		last, _ := off[offLastSnap].(bool)
		if !last && !strings.EqualFold(asString(off[offLastSnap]), "true") {
			return pos, true, true
		}
	}
	if v, ok := toUint64(off[offLSNCommit]); ok {
		pos.commitEnd = v
	} else if v, ok := toUint64(off[offLSN]); ok {
		pos.commitEnd = v
	}
	if v, ok := toUint64(off[offTxID]); ok {
		pos.xid = uint32(v)
	}
	if v, ok := toUint64(off[offTxSeq]); ok {
		pos.seq = int64(v)
	}
	return pos, false, true
}

func asString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}

func toUint64(v any) (uint64, bool) {
	switch x := v.(type) {
	case int64:
		return uint64(x), true
	case int:
		return uint64(x), true
	case int32:
		return uint64(x), true
	case uint64:
		return x, true
	case uint32:
		return uint64(x), true
	case float64:
		return uint64(x), true
	case string:
		n, err := strconv.ParseUint(x, 10, 64)
		return n, err == nil
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		return uint64(n), err == nil
	}
	return 0, false
}
