package controller

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

const (
	kindRaft  = 1
	kindHB    = 2
	kindHBAck = 3

	maxFrame   = 64 << 20
	queueDepth = 512
)

// frame is one transport frame: a kind and its body.
type frame struct {
	kind byte
	body []byte
}

// transport carries frames between quorum members over TCP (see doc.go).
type transport struct {
	self    int32
	lg      *slog.Logger
	ln      net.Listener
	deliver func(from net.Conn, f frame) // called from reader goroutines
	lost    func(peer int32)             // a frame to peer was dropped

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	out   map[int32]chan frame
	conns map[net.Conn]struct{}
}

func newTransport(self int32, ln net.Listener, peers map[int32]string, lg *slog.Logger, deliver func(net.Conn, frame), lost func(int32)) *transport {
	t := &transport{self: self, lg: lg, ln: ln, deliver: deliver, lost: lost,
		out: map[int32]chan frame{}, conns: map[net.Conn]struct{}{}}
	t.ctx, t.cancel = context.WithCancel(context.Background())
	for id, addr := range peers {
		if id == self {
			continue
		}
		ch := make(chan frame, queueDepth)
		t.out[id] = ch
		t.wg.Add(1)
		go t.sender(id, addr, ch)
	}
	t.wg.Add(1)
	go t.accept()
	return t
}

// send queues f for peer, dropping it when the queue is full.
func (t *transport) send(peer int32, f frame) {
	ch, ok := t.out[peer]
	if !ok {
		return
	}
	select {
	case ch <- f:
	default:
		t.lost(peer)
	}
}

func (t *transport) sender(peer int32, addr string, ch chan frame) {
	defer t.wg.Done()
	var c net.Conn
	var w *bufio.Writer
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	backoff := 50 * time.Millisecond
	for {
		var f frame
		select {
		case <-t.ctx.Done():
			return
		case f = <-ch:
		}
		if c == nil {
			d := net.Dialer{Timeout: time.Second}
			conn, err := d.DialContext(t.ctx, "tcp", addr)
			if err != nil {
				t.lost(peer)
				// Drop what queued up meanwhile: Raft resends.
				select {
				case <-time.After(backoff):
				case <-t.ctx.Done():
					return
				}
				if backoff < time.Second {
					backoff *= 2
				}
				continue
			}
			backoff = 50 * time.Millisecond
			c, w = conn, bufio.NewWriterSize(conn, 64<<10)
			// Peers answer heartbeats on the connection they came in on.
			t.wg.Add(1)
			go t.read(conn)
		}
		err := writeFrame(w, f)
		// Batch whatever else is queued into the same flush.
		for err == nil && len(ch) > 0 {
			err = writeFrame(w, <-ch)
		}
		if err == nil {
			c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			err = w.Flush()
		}
		if err != nil {
			t.lost(peer)
			c.Close()
			c, w = nil, nil
		}
	}
}

func writeFrame(w *bufio.Writer, f frame) error {
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(1+len(f.body)))
	hdr[4] = f.kind
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(f.body)
	return err
}

func (t *transport) accept() {
	defer t.wg.Done()
	for {
		c, err := t.ln.Accept()
		if err != nil {
			if t.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			select {
			case <-time.After(50 * time.Millisecond):
			case <-t.ctx.Done():
				return
			}
			continue
		}
		t.wg.Add(1)
		go t.read(c)
	}
}

// read delivers every frame arriving on c until it breaks.
func (t *transport) read(c net.Conn) {
	defer t.wg.Done()
	t.mu.Lock()
	if t.ctx.Err() != nil {
		t.mu.Unlock()
		c.Close()
		return
	}
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	defer func() {
		t.mu.Lock()
		delete(t.conns, c)
		t.mu.Unlock()
		c.Close()
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	for {
		var hdr [5]byte
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n < 1 || n > maxFrame {
			t.lg.Warn("controller transport: bad frame length, closing connection", "remote", c.RemoteAddr().String(), "length", n)
			return
		}
		body := make([]byte, n-1)
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		t.deliver(c, frame{kind: hdr[4], body: body})
	}
}

// reply writes f straight to c (heartbeat answers).
func (t *transport) reply(c net.Conn, f frame) {
	var hdr [5]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(1+len(f.body)))
	hdr[4] = f.kind
	c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := c.Write(append(hdr[:], f.body...)); err != nil {
		c.Close()
	}
}

func (t *transport) close() {
	t.cancel()
	t.ln.Close()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
}

func encodeHB(from int32, epoch int64) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint32(b, uint32(from))
	binary.BigEndian.PutUint64(b[4:], uint64(epoch))
	return b
}

func decodeHB(b []byte) (int32, int64, error) {
	if len(b) != 12 {
		return 0, 0, fmt.Errorf("heartbeat body is %d bytes, want 12", len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), int64(binary.BigEndian.Uint64(b[4:])), nil
}
