package postgres

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/jackc/pglogrepl"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
)

// tuple encodes a pgoutput TupleData; each column is kind followed by its
// data ("tabc" is text "abc", "n" null, "u" unchanged TOAST).
func tuple(cols ...string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(len(cols)))
	for _, c := range cols {
		b = append(b, c[0])
		if c[0] == 't' || c[0] == 'b' {
			b = binary.BigEndian.AppendUint32(b, uint32(len(c)-1))
			b = append(b, c[1:]...)
		}
	}
	return b
}

func rowMessage(op byte, parts ...any) []byte {
	b := []byte{op}
	b = binary.BigEndian.AppendUint32(b, 16385)
	for _, p := range parts {
		switch p := p.(type) {
		case byte:
			b = append(b, p)
		case []byte:
			b = append(b, p...)
		}
	}
	return b
}

// TestRowMsgDecode checks the in-place row decoder against pglogrepl's.
func TestRowMsgDecode(t *testing.T) {
	tup := tuple("t42", "n", "u", "t", "bxyz", "thello world")
	old := tuple("t41", "n")
	var m rowMsg
	for _, tc := range []struct {
		name string
		msg  []byte
	}{
		{"insert", rowMessage('I', byte('N'), tup)},
		{"update", rowMessage('U', byte('N'), tup)},
		{"update key", rowMessage('U', byte('K'), old, byte('N'), tup)},
		{"update old", rowMessage('U', byte('O'), tup, byte('N'), tup)},
		{"delete key", rowMessage('D', byte('K'), old)},
		{"delete old", rowMessage('D', byte('O'), tup)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := m.decode(tc.msg); err != nil {
				t.Fatal(err)
			}
			want, err := pglogrepl.Parse(tc.msg)
			if err != nil {
				t.Fatal(err)
			}
			var rel uint32
			var oldT, newT *pglogrepl.TupleData
			switch w := want.(type) {
			case *pglogrepl.InsertMessage:
				rel, newT = w.RelationID, w.Tuple
			case *pglogrepl.UpdateMessage:
				rel, oldT, newT = w.RelationID, w.OldTuple, w.NewTuple
			case *pglogrepl.DeleteMessage:
				rel, oldT = w.RelationID, w.OldTuple
			}
			if m.rel != rel || m.op != tc.msg[0] || m.hasOld != (oldT != nil) {
				t.Fatalf("op %q rel %d hasOld %v; want %q %d %v", m.op, m.rel, m.hasOld, tc.msg[0], rel, oldT != nil)
			}
			sameTuple(t, "old", m.old, oldT)
			sameTuple(t, "new", m.new, newT)
		})
	}
}

func sameTuple(t *testing.T, what string, got []tupleCol, want *pglogrepl.TupleData) {
	t.Helper()
	if want == nil {
		if len(got) != 0 {
			t.Fatalf("%s: %d columns, want none", what, len(got))
		}
		return
	}
	if len(got) != len(want.Columns) {
		t.Fatalf("%s: %d columns, want %d", what, len(got), len(want.Columns))
	}
	for i, c := range want.Columns {
		if got[i].kind != c.DataType || string(got[i].data) != string(c.Data) {
			t.Fatalf("%s column %d: %q %q, want %q %q", what, i, got[i].kind, got[i].data, c.DataType, c.Data)
		}
	}
}

// TestRowMsgDecodeErrors checks that malformed row messages are rejected
// with an error naming the byte.
func TestRowMsgDecodeErrors(t *testing.T) {
	good := rowMessage('I', byte('N'), tuple("t42", "thello"))
	var m rowMsg
	for _, tc := range []struct {
		name, want string
		msg        []byte
	}{
		{"short", "too short", []byte{'I', 0, 0}},
		{"no N", "expected 'N' at byte 5", rowMessage('I', byte('X'), tuple("t1"))},
		{"truncated data", "overruns the message", good[:len(good)-2]},
		{"truncated count", "truncated at byte 6", rowMessage('I', byte('N'), byte(0))},
		{"missing column", "truncated at byte", good[:len(good)-10]},
		{"bad kind", "unknown column kind 'x' at byte 8", rowMessage('I', byte('N'), tuple("x"))},
		{"trailing", "1 trailing bytes", append(append([]byte(nil), good...), 0)},
		{"delete no key", "expected 'K' or 'O' at byte 5", rowMessage('D', byte('N'), tuple("t1"))},
		{"update no new", "before the new tuple", rowMessage('U', byte('K'), tuple("t1"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := m.decode(tc.msg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestStreamRecordMatchesGeneric checks that streamed events, built from
// shared blocks with per-transaction boxed values, equal (as converted
// JSON, and offsets) the events the generic builders make from the same
// tuple, for inserts, updates and deletes over two transactions.
func TestStreamRecordMatchesGeneric(t *testing.T) {
	s := benchStreamer(t)
	tk := s.t
	tb := s.relations[16384]
	jc, err := convert.NewJSON(map[string]string{convert.SchemasEnableConfig: "true"}, false)
	if err != nil {
		t.Fatal(err)
	}
	row := benchRow(7)
	row[2] = nil // a null column
	ins := pgoutputInsert(16384, row...)
	upd := append([]byte{'U'}, ins[1:5]...)
	upd = append(upd, 'O')
	upd = append(upd, ins[6:]...)
	upd = append(upd, ins[5:]...)
	del := append([]byte{'D'}, ins[1:5]...)
	del = append(del, 'K')
	del = append(del, ins[6:]...)
	for tx := uint64(1); tx <= 2; tx++ {
		base := tx << 32
		if err := s.handle(xlog(base, pgoutputBegin(base+1000, uint32(500+tx)))); err != nil {
			t.Fatal(err)
		}
		for i, msg := range [][]byte{ins, upd, del} {
			lsn := base + uint64(i+1)*100
			if err := s.handle(xlog(lsn, msg)); err != nil {
				t.Fatal(err)
			}
			if len(s.pending) == 0 { // a delete is followed by its tombstone
				t.Fatal("no pending record")
			}
			got := s.pending[0]
			var m rowMsg
			if err := m.decode(msg); err != nil {
				t.Fatal(err)
			}
			var before, after *connect.Struct
			if m.hasOld {
				before, _ = tk.makeValue(tb, len(m.old), tupleSource(m.old), nil)
			}
			if m.op != 'D' {
				after, _ = tk.makeValue(tb, len(m.new), tupleSource(m.new), before)
			}
			op, typ, key := "c", "INSERT", tb.keyOf(after)
			switch m.op {
			case 'U':
				op, typ = "u", "UPDATE"
			case 'D':
				op, typ, key = "d", "DELETE", tb.keyOf(before)
			}
			want := tk.changeRecord(tb, op, key, before, after, s.src(tb, lsn), s.block(tb), s.offset(lsn, typ))
			// Processing times differ; take them from the streamed event.
			for f := 5; f <= 7; f++ {
				want.Value.(*connect.Struct).SetAt(f, got.Value.(*connect.Struct).At(f))
			}
			gj, err := jc.FromConnect(got.Topic, got.ValueSchema, got.Value)
			if err != nil {
				t.Fatal(err)
			}
			wj, err := jc.FromConnect(want.Topic, want.ValueSchema, want.Value)
			if err != nil {
				t.Fatal(err)
			}
			if string(gj) != string(wj) {
				t.Fatalf("tx %d %s value:\n got %s\nwant %s", tx, typ, gj, wj)
			}
			if got.Key.(*connect.Struct).String() != want.Key.(*connect.Struct).String() {
				t.Fatalf("tx %d %s key %v, want %v", tx, typ, got.Key, want.Key)
			}
			if !reflect.DeepEqual(got.SourceOffset, want.SourceOffset) {
				t.Fatalf("tx %d %s offset %v, want %v", tx, typ, got.SourceOffset, want.SourceOffset)
			}
		}
		if err := s.handle(xlog(base+1000, pgoutputCommit(base+1000, base+1008))); err != nil {
			t.Fatal(err)
		}
		if n := len(s.takeBatch()); n != 4 {
			t.Fatalf("tx %d: %d records, want 4 (insert, update, delete, tombstone)", tx, n)
		}
	}
}

// TestMsgCopier checks that copies keep their bytes when the source buffer
// is reused and when later copies are appended to, across slabs and for
// messages too large for a slab.
func TestMsgCopier(t *testing.T) {
	var c msgCopier
	buf := make([]byte, copyInSlab+1)
	var copies [][]byte
	var want []string
	for i, n := range []int{1, 100, copyInSlab, copyInSlab + 1, 0, 7, copySlab / 3, 5} {
		n = min(n, copyInSlab+1)
		for j := range buf[:n] {
			buf[j] = byte(i + j)
		}
		cp := c.copy(buf[:n])
		want = append(want, string(buf[:n]))
		copies = append(copies, cp)
		for j := range buf {
			buf[j] = 0xee // the connection reuses its buffer
		}
		if i > 0 {
			_ = append(copies[i-1], 'x', 'y') // must not reach this copy
		}
	}
	for i, cp := range copies {
		if string(cp) != want[i] {
			t.Fatalf("copy %d changed: %d bytes, want %d", i, len(cp), len(want[i]))
		}
	}
}
