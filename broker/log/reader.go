package log

import (
	"errors"
	"fmt"
	"io"
)

// windowReader serves byte ranges of a file through a read-ahead window so
// sequential walks over batches cost one ReadAt per window, not per batch.
type windowReader struct {
	r      io.ReaderAt
	window int
	limit  int64 // bytes past limit are never read
	buf    []byte
	start  int64 // file position of buf[0]
	n      int   // valid bytes in buf
}

const readWindow = 64 << 10

func newWindowReader(r io.ReaderAt, limit int64) *windowReader {
	return &windowReader{r: r, limit: limit, window: readWindow}
}

// newSmallWindowReader is for short walks (a few batch headers after an
// index entry), where a 64 KiB read-ahead would mostly be wasted.
func newSmallWindowReader(r io.ReaderAt, limit int64, window int64) *windowReader {
	window = min(max(window, 4<<10), readWindow)
	return &windowReader{r: r, limit: limit, window: int(window)}
}

// peek returns the n bytes at pos. The slice is only valid until the next
// call. It returns io.ErrUnexpectedEOF if the range passes the limit.
func (w *windowReader) peek(pos int64, n int) ([]byte, error) {
	if n < 0 || pos < 0 || pos+int64(n) > w.limit {
		return nil, io.ErrUnexpectedEOF
	}
	if pos >= w.start && pos+int64(n) <= w.start+int64(w.n) {
		off := int(pos - w.start)
		return w.buf[off : off+n], nil
	}
	want := n
	if want < w.window {
		want = w.window
	}
	if rem := w.limit - pos; int64(want) > rem {
		want = int(rem)
	}
	if cap(w.buf) < want {
		w.buf = make([]byte, want)
	}
	w.buf = w.buf[:want]
	got, err := w.r.ReadAt(w.buf, pos)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		w.n = 0
		return nil, err
	}
	w.start, w.n = pos, got
	return w.buf[:n], nil
}

// batchAt parses the header of the batch at pos and checks that the whole
// batch lies within the limit. The returned error wraps ErrCorruptBatch for
// malformed or truncated data and is an I/O error otherwise.
func (w *windowReader) batchAt(pos int64) (BatchHeader, error) {
	hb, err := w.peek(pos, BatchHeaderSize)
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return BatchHeader{}, corruptf("batch at position %d: header truncated (%d bytes left)", pos, w.limit-pos)
		}
		return BatchHeader{}, fmt.Errorf("log: read position %d: %w", pos, err)
	}
	h, err := ParseBatchHeader(hb)
	if err != nil {
		return h, fmt.Errorf("batch at position %d: %w", pos, err)
	}
	if pos+int64(h.Size()) > w.limit {
		return h, corruptf("batch at position %d: length %d passes the end of the data (%d bytes left)", pos, h.Size(), w.limit-pos)
	}
	return h, nil
}

// body returns the complete bytes of the batch at pos with header h.
func (w *windowReader) body(pos int64, h BatchHeader) ([]byte, error) {
	b, err := w.peek(pos, h.Size())
	if err != nil {
		return nil, fmt.Errorf("log: read batch at position %d: %w", pos, err)
	}
	return b, nil
}
