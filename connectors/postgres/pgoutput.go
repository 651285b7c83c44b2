package postgres

import (
	"encoding/binary"
	"fmt"
)

// tupleCol is one column of a pgoutput TupleData: kind is 'n' (null), 'u'
// (unchanged TOAST), 't' (text) or 'b' (binary); data aliases the message.
type tupleCol struct {
	kind byte
	data []byte
}

// rowMsg is a decoded pgoutput Insert, Update or Delete (protocol version
// 1). Its column slices are reused from message to message and alias the
// message bytes, so a rowMsg is valid only while its message is.
type rowMsg struct {
	op     byte // 'I', 'U' or 'D'
	rel    uint32
	hasOld bool // old holds a 'K' (key) or 'O' (old row) tuple
	old    []tupleCol
	new    []tupleCol
}

// decode decodes a pgoutput Insert, Update or Delete message b into m
// without allocating once m's column slices have grown to the table's width.
// Errors name the byte offset of the problem.
func (m *rowMsg) decode(b []byte) error {
	if len(b) < 6 {
		return fmt.Errorf("pgoutput %q message: %d bytes, too short", b[0], len(b))
	}
	m.op = b[0]
	m.rel = binary.BigEndian.Uint32(b[1:5])
	m.hasOld = false
	m.old, m.new = m.old[:0], m.new[:0]
	off := 5
	var err error
	switch m.op {
	case 'I':
		if b[off] != 'N' {
			return fmt.Errorf("pgoutput insert: expected 'N' at byte %d, got %q", off, b[off])
		}
		m.new, off, err = decodeTuple(b, off+1, m.new)
	case 'U':
		if b[off] == 'K' || b[off] == 'O' {
			m.hasOld = true
			if m.old, off, err = decodeTuple(b, off+1, m.old); err != nil {
				return err
			}
			if off >= len(b) {
				return fmt.Errorf("pgoutput update: truncated at byte %d before the new tuple", off)
			}
		}
		if b[off] != 'N' {
			return fmt.Errorf("pgoutput update: expected 'N' at byte %d, got %q", off, b[off])
		}
		m.new, off, err = decodeTuple(b, off+1, m.new)
	case 'D':
		if b[off] != 'K' && b[off] != 'O' {
			return fmt.Errorf("pgoutput delete: expected 'K' or 'O' at byte %d, got %q", off, b[off])
		}
		m.hasOld = true
		m.old, off, err = decodeTuple(b, off+1, m.old)
	default:
		return fmt.Errorf("pgoutput: %q is not a row message", m.op)
	}
	if err != nil {
		return err
	}
	if off != len(b) {
		return fmt.Errorf("pgoutput %q message: %d trailing bytes at byte %d", m.op, len(b)-off, off)
	}
	return nil
}

// decodeTuple decodes the TupleData at b[off:] into cols (reused) and
// returns the columns and the offset after the tuple.
func decodeTuple(b []byte, off int, cols []tupleCol) ([]tupleCol, int, error) {
	if off+2 > len(b) {
		return cols, off, fmt.Errorf("pgoutput tuple: truncated at byte %d (column count)", off)
	}
	n := int(binary.BigEndian.Uint16(b[off:]))
	off += 2
	for i := 0; i < n; i++ {
		if off >= len(b) {
			return cols, off, fmt.Errorf("pgoutput tuple: truncated at byte %d (column %d of %d)", off, i, n)
		}
		c := tupleCol{kind: b[off]}
		off++
		switch c.kind {
		case 'n', 'u':
		case 't', 'b':
			if off+4 > len(b) {
				return cols, off, fmt.Errorf("pgoutput tuple: truncated at byte %d (length of column %d)", off, i)
			}
			l := int(binary.BigEndian.Uint32(b[off:]))
			off += 4
			if l < 0 || l > len(b)-off {
				return cols, off, fmt.Errorf("pgoutput tuple: column %d of %d bytes at byte %d overruns the message (%d bytes)", i, l, off, len(b))
			}
			c.data = b[off : off+l : off+l]
			off += l
		default:
			return cols, off, fmt.Errorf("pgoutput tuple: unknown column kind %q at byte %d", c.kind, off-1)
		}
		cols = append(cols, c)
	}
	return cols, off, nil
}

// tupleSource returns a rowSource over cols.
func tupleSource(cols []tupleCol) rowSource {
	return func(pos int) (byte, []byte) { return cols[pos].kind, cols[pos].data }
}
