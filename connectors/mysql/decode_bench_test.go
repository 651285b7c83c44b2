package mysql

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"
)

// BenchmarkBinlogRowToRecord measures the per-row work of the streaming
// path after go-mysql's decoding: converting a decoded row image (values
// as go-mysql v1.13 hands them over, ParseTime on) to the key and value
// structs and building the change record with its source block and offset,
// for the scripts/bench-mysql table (BIGINT key, INT, VARCHAR(64) latin1,
// DATETIME(6), DECIMAL(12,2), TINYINT), 100 rows per rows event.
func BenchmarkBinlogRowToRecord(b *testing.B) {
	o, err := parseOptions(map[string]string{KeyHostname: "h", KeyUser: "u", KeyServerID: "1", KeyTopicPrefix: "srv"}, flavorMariaDB)
	if err != nil {
		b.Fatal(err)
	}
	t := NewTask()
	t.o, t.partition, t.srcConst = o, map[string]any{"server": "srv"}, [3]any{DebeziumVersion, o.flavor, o.prefix}
	cols := []column{{name: "id", kind: kBig}, {name: "a", kind: kInt}, {name: "b", kind: kText, latin1: true, nullable: true},
		{name: "c", kind: kDatetime, fsp: 6, nullable: true}, {name: "d", kind: kDecimal, prec: 12, scale: 2, nullable: true}, {name: "e", kind: kTiny, nullable: true}}
	tb, err := newTable(o, "db", "bench", cols, []int{0})
	if err != nil {
		b.Fatal(err)
	}
	s, err := newStreamer(t, position{file: "binlog.000001", pos: 4})
	if err != nil {
		b.Fatal(err)
	}
	s.inTx, s.txFile, s.txPos, s.txPrev, s.txGTID, s.serverID = true, "binlog.000001", 1000, "0-1-10", "0-1-11", 1
	const perEvent = 100
	rows := make([][]any, perEvent)
	ts := time.Date(2026, 12, 1, 10, 11, 12, 123456000, time.UTC)
	for i := range rows {
		rows[i] = []any{int64(100000 + i), int32(i % 1000), fmt.Sprintf("%032x", i*7919), ts, fmt.Sprintf("%d.%02d", 1000+i, i%100), int8(i % 2)}
	}
	h := &replication.EventHeader{Timestamp: uint32(ts.Unix()), LogPos: 9000, EventSize: 8000}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		eb := s.eventBoxes(tb, h, 1000)
		eb.rows = perEvent
		for r, raw := range rows {
			key, after, err := tb.binlogRow(o, raw)
			if err != nil {
				b.Fatal(err)
			}
			s.emitRow(tb, "c", key, nil, after, eb, int64(r))
		}
		s.build(s.fills)
		s.batch, s.fills = s.batch[:0], s.fills[:0]
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perEvent), "ns/row")
}
