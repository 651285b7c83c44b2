package postgres

import (
	"context"
	"encoding/binary"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// benchStreamer returns a streamer holding the relation of scripts/bench-pg's
// table (id bigint PRIMARY KEY, a int NOT NULL, b text, c timestamptz,
// d numeric(12,2), e boolean) as relation 16384, without a database: the
// column types are built-in, so no catalog lookup is needed.
func benchStreamer(tb testing.TB) *streamer {
	tb.Helper()
	o, err := parseOptions(map[string]string{KeyHostname: "localhost", KeyUser: "u", KeyDBName: "bench", KeyTopicPrefix: "srv", KeySlotName: "s"})
	if err != nil {
		tb.Fatal(err)
	}
	t := &Task{o: o, log: testLogger(), partition: map[string]any{"server": o.prefix}, now: time.Now,
		cat: &catalog{types: map[uint32]*typeInfo{}}, ctx: context.Background()}
	t.out = make(chan []*connect.Record, 1)
	t.nudge = make(chan struct{}, 1)
	cols := []catColumn{
		{name: "id", typeOID: oidInt8, typmod: -1, notNull: true, pk: true},
		{name: "a", typeOID: oidInt4, typmod: -1, notNull: true},
		{name: "b", typeOID: oidText, typmod: -1},
		{name: "c", typeOID: oidTimestamptz, typmod: -1},
		{name: "d", typeOID: oidNumeric, typmod: (12<<16 | 2) + 4},
		{name: "e", typeOID: oidBool, typmod: -1},
	}
	meta := &tableMeta{oid: 16384, schema: "public", name: "bench", replident: 'd', cols: cols}
	tbl, err := t.buildTable(meta, cols)
	if err != nil {
		tb.Fatal(err)
	}
	tbl.captured = true
	s := &streamer{t: t, relations: map[uint32]*table{}}
	s.setRelation(16384, tbl, cols)
	return s
}

// xlog wraps a pgoutput message in an XLogData ('w') message at lsn.
func xlog(lsn uint64, msg []byte) []byte {
	b := []byte{'w'}
	b = binary.BigEndian.AppendUint64(b, lsn)
	b = binary.BigEndian.AppendUint64(b, lsn)
	b = binary.BigEndian.AppendUint64(b, 0)
	return append(b, msg...)
}

// pgoutputInsert encodes a pgoutput Insert of text columns (nil is NULL).
func pgoutputInsert(rel uint32, cols ...[]byte) []byte {
	b := []byte{'I'}
	b = binary.BigEndian.AppendUint32(b, rel)
	b = append(b, 'N')
	b = binary.BigEndian.AppendUint16(b, uint16(len(cols)))
	for _, c := range cols {
		if c == nil {
			b = append(b, 'n')
			continue
		}
		b = append(b, 't')
		b = binary.BigEndian.AppendUint32(b, uint32(len(c)))
		b = append(b, c...)
	}
	return b
}

func pgoutputBegin(finalLSN uint64, xid uint32) []byte {
	b := []byte{'B'}
	b = binary.BigEndian.AppendUint64(b, finalLSN)
	b = binary.BigEndian.AppendUint64(b, 800000000000000) // microseconds since 2000-01-01
	return binary.BigEndian.AppendUint32(b, xid)
}

func pgoutputCommit(commitLSN, endLSN uint64) []byte {
	b := []byte{'C', 0}
	b = binary.BigEndian.AppendUint64(b, commitLSN)
	b = binary.BigEndian.AppendUint64(b, endLSN)
	return binary.BigEndian.AppendUint64(b, 800000000000000)
}

// benchRow is row g of scripts/bench-pg's INSERT, as pgoutput sends it.
func benchRow(g int) [][]byte {
	return [][]byte{
		[]byte(strconv.Itoa(g)), []byte(strconv.Itoa(g % 1000)),
		[]byte("c4ca4238a0b923820dcc509a6f75849b"), []byte("2026-12-02 03:25:03.123456+00"),
		[]byte(strconv.FormatFloat(float64(g)/7.0, 'f', 2, 64)), []byte("t"),
	}
}

// BenchmarkStreamInsert measures the streaming decode path per row: an
// XLogData message holding a pgoutput Insert of a bench-pg row decoded to
// a change record (transactions of 1000 rows, as scripts/bench-pg writes).
// The message bytes are copied per row as the stream's reader does.
func BenchmarkStreamInsert(b *testing.B) {
	s := benchStreamer(b)
	const perTx, step = 1000, 200
	msgs := make([][]byte, perTx)
	for i := range msgs {
		msgs[i] = xlog(0, pgoutputInsert(16384, benchRow(i+1)...))
	}
	var cp msgCopier
	b.ReportAllocs()
	b.ResetTimer()
	n, tx := 0, uint64(0)
	for i := 0; i < b.N; i++ {
		// Each transaction has its own LSNs: the stream skips transactions
		// it has emitted before.
		base := (tx + 1) << 32
		if n == 0 {
			if err := s.handle(xlog(base, pgoutputBegin(base+perTx*step, uint32(1000+tx)))); err != nil {
				b.Fatal(err)
			}
		}
		m := cp.copy(msgs[n])
		binary.BigEndian.PutUint64(m[1:], base+uint64(n)*step)
		binary.BigEndian.PutUint64(m[9:], base+uint64(n)*step)
		if err := s.handle(m); err != nil {
			b.Fatal(err)
		}
		n++
		if n == perTx {
			end := base + perTx*step
			if err := s.handle(xlog(end, pgoutputCommit(end, end+8))); err != nil {
				b.Fatal(err)
			}
			if got := len(s.takeBatch()); got != perTx {
				b.Fatalf("got %d records from a transaction of %d rows", got, perTx)
			}
			n = 0
			tx++
		}
	}
}
