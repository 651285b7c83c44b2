package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"slices"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/broker/group"
)

// request is one decoded request frame.
type request struct {
	key      int16
	version  int16
	corr     int32
	clientID string
	msg      kmsg.Request // nil for an ApiVersions request of an unsupported version
}

// frameError is a reason to close a connection.
type frameError struct{ msg string }

func (e *frameError) Error() string { return e.msg }

func frameErrf(format string, args ...any) error {
	return &frameError{msg: fmt.Sprintf(format, args...)}
}

func (b *Broker) acceptLoop() {
	defer b.wg.Done()
	b.accept(b.ln)
}

// accept accepts connections on ln and serves each until ln closes or
// the broker stops; temporary accept errors back off and retry.
func (b *Broker) accept(ln net.Listener) {
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if b.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary errors (EMFILE, ...): back off and retry.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay < time.Second {
				delay *= 2
			}
			b.log.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
			case <-b.ctx.Done():
				return
			}
			continue
		}
		delay = 0
		b.connMu.Lock()
		if b.ctx.Err() != nil {
			b.connMu.Unlock()
			c.Close()
			return
		}
		b.conns[c] = struct{}{}
		b.wg.Add(1)
		b.connMu.Unlock()
		go b.serveConn(c)
	}
}

// serveConn runs one connection: a reader goroutine decodes frames and a
// handler processes them strictly in order, writing responses in order.
func (b *Broker) serveConn(c net.Conn) {
	defer b.wg.Done()
	remote := c.RemoteAddr().String()
	log := b.log.With("remote", remote)
	ctx, cancel := context.WithCancel(b.ctx)
	defer func() {
		cancel()
		c.Close()
		b.connMu.Lock()
		delete(b.conns, c)
		b.connMu.Unlock()
	}()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	sess, err := b.newSession(ctx, c)
	if err != nil {
		log.Info("closing connection", "reason", err.Error())
		return
	}

	reqs := make(chan *request, 16)
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		defer close(reqs)
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic decoding request; closing connection", "panic", r, "stack", string(debug.Stack()))
				cancel()
				c.Close()
			}
		}()
		br := bufio.NewReaderSize(c, 64<<10)
		for {
			if b.opts.idleTimeout > 0 {
				_ = c.SetReadDeadline(time.Now().Add(b.opts.idleTimeout))
			}
			frame, err := readFrame(br, b.opts.maxFrame)
			if err != nil {
				switch {
				case errors.Is(err, io.EOF) || ctx.Err() != nil || errors.Is(err, net.ErrClosed):
				case errors.Is(err, syscall.ECONNRESET):
					log.Debug("connection reset by client")
				default:
					log.Warn("closing connection", "reason", err.Error())
				}
				cancel()
				return
			}
			r, err := decodeRequest(frame)
			if err != nil {
				log.Warn("closing connection: bad request", "reason", err.Error())
				cancel()
				c.Close()
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()

	bw := bufio.NewWriterSize(c, 64<<10)
	var buf []byte
	ok := func() (ok bool) {
		defer func() {
			if r := recover(); r != nil {
				log.Error("panic handling request; closing connection", "panic", r, "stack", string(debug.Stack()))
				ok = false
			}
		}()
		for r := range reqs {
			resp := b.dispatch(ctx, sess, r, remote)
			if resp == nil {
				if sess.closing() {
					return false
				}
				continue // acks=0 produce: no response
			}
			buf = encodeResponse(buf[:0], r, resp)
			if _, err := bw.Write(buf); err != nil {
				return false
			}
			if len(reqs) == 0 {
				if err := bw.Flush(); err != nil {
					return false
				}
			}
			if sess.closing() {
				_ = bw.Flush()
				return false
			}
			if cap(buf) > 1<<20 {
				buf = nil
			}
		}
		return true
	}()
	if ok {
		_ = bw.Flush()
	}
	cancel()
	c.Close()
	<-readerDone
}

// readFrame reads one size-prefixed frame.
func readFrame(r io.Reader, max int32) ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return nil, err
	}
	n := int32(binary.BigEndian.Uint32(sz[:]))
	if n < 8 {
		return nil, frameErrf("frame size %d is below the 8-byte request header minimum", n)
	}
	if n > max {
		return nil, frameErrf("frame size %d exceeds the limit of %d bytes", n, max)
	}
	frame := make([]byte, n)
	if _, err := io.ReadFull(r, frame); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("read %d-byte frame: %w", n, err)
	}
	return frame, nil
}

// decodeRequest parses a request header and body. It never panics on bad
// input; unknown keys and versions outside the advertised range are
// errors (the connection is closed), except ApiVersions, which Kafka
// answers with UNSUPPORTED_VERSION.
func decodeRequest(frame []byte) (*request, error) {
	if len(frame) < 8 {
		return nil, frameErrf("request header needs 8 bytes, frame has %d", len(frame))
	}
	r := &request{
		key:     int16(binary.BigEndian.Uint16(frame[0:])),
		version: int16(binary.BigEndian.Uint16(frame[2:])),
		corr:    int32(binary.BigEndian.Uint32(frame[4:])),
	}
	rest := frame[8:]
	if len(rest) < 2 {
		return nil, frameErrf("api key %d: client id length missing at byte 8", r.key)
	}
	idLen := int16(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if idLen > 0 {
		if int(idLen) > len(rest) {
			return nil, frameErrf("api key %d: client id length %d at byte 8 exceeds the frame", r.key, idLen)
		}
		r.clientID = string(rest[:idLen])
		rest = rest[idLen:]
	} else if idLen < -1 {
		return nil, frameErrf("api key %d: client id length %d at byte 8 is invalid", r.key, idLen)
	}
	min, max, ok := supportedVersions(r.key)
	if !ok {
		return nil, frameErrf("unsupported api key %d (client %q)", r.key, r.clientID)
	}
	if r.version < min || r.version > max {
		if r.key == apiKeyApiVersions {
			return r, nil // answered with UNSUPPORTED_VERSION
		}
		return nil, frameErrf("unsupported version %d of %s (supported %d-%d, client %q)", r.version, kmsg.NameForKey(r.key), min, max, r.clientID)
	}
	msg := kmsg.RequestForKey(r.key)
	msg.SetVersion(r.version)
	if msg.IsFlexible() {
		var err error
		rest, err = skipTags(rest)
		if err != nil {
			return nil, frameErrf("%s v%d: request header tagged fields: %v", kmsg.NameForKey(r.key), r.version, err)
		}
	}
	if err := msg.ReadFrom(rest); err != nil {
		return nil, frameErrf("%s v%d: malformed body (%d bytes): %v", kmsg.NameForKey(r.key), r.version, len(rest), err)
	}
	r.msg = msg
	return r, nil
}

// skipTags skips a tagged-field section.
func skipTags(b []byte) ([]byte, error) {
	n, used := binary.Uvarint(b)
	if used <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[used:]
	for i := uint64(0); i < n; i++ {
		_, used = binary.Uvarint(b)
		if used <= 0 {
			return nil, fmt.Errorf("bad tag %d key", i)
		}
		b = b[used:]
		sz, used := binary.Uvarint(b)
		if used <= 0 || sz > uint64(len(b)-used) {
			return nil, fmt.Errorf("bad tag %d size", i)
		}
		b = b[used+int(sz):]
	}
	return b, nil
}

// encodeResponse appends the size-prefixed response frame.
func encodeResponse(dst []byte, r *request, resp kmsg.Response) []byte {
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		// Size the buffer once instead of growing it by doubling.
		n := 64
		for i := range fr.Topics {
			n += 64 + len(fr.Topics[i].Topic)
			for j := range fr.Topics[i].Partitions {
				n += 64 + len(fr.Topics[i].Partitions[j].RecordBatches)
			}
		}
		dst = slices.Grow(dst, n)
	}
	dst = append(dst, 0, 0, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(r.corr))
	// ApiVersions responses always use header v0.
	if resp.IsFlexible() && r.key != apiKeyApiVersions {
		dst = append(dst, 0)
	}
	dst = resp.AppendTo(dst)
	binary.BigEndian.PutUint32(dst, uint32(len(dst)-4))
	return dst
}

// handle dispatches one request; nil means no response (acks=0).
func (b *Broker) handle(ctx context.Context, r *request, remote string) kmsg.Response {
	if r.msg == nil {
		return b.handleApiVersions(r, nil)
	}
	var resp kmsg.Response
	gctx := func() context.Context {
		host, _, err := net.SplitHostPort(remote)
		if err != nil {
			host = remote
		}
		return group.WithClientInfo(ctx, r.clientID, "/"+host)
	}
	switch req := r.msg.(type) {
	case *kmsg.ApiVersionsRequest:
		resp = b.handleApiVersions(r, req)
	case *kmsg.MetadataRequest:
		resp = b.handleMetadata(req)
	case *kmsg.ProduceRequest:
		resp = b.handleProduce(ctx, req)
		if req.Acks == 0 {
			return nil
		}
	case *kmsg.FetchRequest:
		resp = b.handleFetch(ctx, req)
	case *kmsg.ListOffsetsRequest:
		resp = b.handleListOffsets(req)
	case *kmsg.CreateTopicsRequest:
		resp = b.handleCreateTopics(req)
	case *kmsg.DeleteTopicsRequest:
		resp = b.handleDeleteTopics(req)
	case *kmsg.CreatePartitionsRequest:
		resp = b.handleCreatePartitions(req)
	case *kmsg.DescribeConfigsRequest:
		resp = b.handleDescribeConfigs(req)
	case *kmsg.AlterConfigsRequest:
		resp = b.handleAlterConfigs(req)
	case *kmsg.IncrementalAlterConfigsRequest:
		resp = b.handleIncrementalAlterConfigs(req)
	case *kmsg.DescribeClusterRequest:
		resp = b.handleDescribeCluster(req)
	case *kmsg.FindCoordinatorRequest:
		resp = b.handleFindCoordinator(req)
	case *kmsg.InitProducerIDRequest:
		resp = b.handleInitProducerID(req)
	case *kmsg.OffsetForLeaderEpochRequest:
		resp = b.handleOffsetForLeaderEpoch(req)
	case *kmsg.ElectLeadersRequest:
		resp = b.handleElectLeaders(ctx, req)
	case *kmsg.AlterPartitionAssignmentsRequest:
		resp = b.handleAlterPartitionAssignments(ctx, req)
	case *kmsg.ListPartitionReassignmentsRequest:
		resp = b.handleListPartitionReassignments(req)
	case *kmsg.DeleteRecordsRequest:
		resp = b.handleDeleteRecords(req)
	case *kmsg.DescribeLogDirsRequest:
		resp = b.handleDescribeLogDirs(req)
	case *kmsg.JoinGroupRequest:
		resp = b.coord.JoinGroup(gctx(), req)
	case *kmsg.SyncGroupRequest:
		resp = b.coord.SyncGroup(gctx(), req)
	case *kmsg.HeartbeatRequest:
		resp = b.coord.Heartbeat(gctx(), req)
	case *kmsg.LeaveGroupRequest:
		resp = b.coord.LeaveGroup(gctx(), req)
	case *kmsg.OffsetCommitRequest:
		resp = b.coord.OffsetCommit(gctx(), req)
	case *kmsg.OffsetFetchRequest:
		resp = b.coord.OffsetFetch(gctx(), req)
	case *kmsg.OffsetDeleteRequest:
		resp = b.coord.OffsetDelete(gctx(), req)
	case *kmsg.ListGroupsRequest:
		resp = b.coord.ListGroups(gctx(), req)
	case *kmsg.DescribeGroupsRequest:
		resp = b.coord.DescribeGroups(gctx(), req)
	case *kmsg.DeleteGroupsRequest:
		resp = b.coord.DeleteGroups(gctx(), req)
	default:
		// Unreachable: decodeRequest only accepts keys in the table.
		resp = r.msg.ResponseKind()
	}
	resp.SetVersion(r.version)
	return resp
}
