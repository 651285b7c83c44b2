package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/sluicehq/sluice/broker/log"
)

// fetcher copies the partitions this broker follows from one leader:
// first OffsetForLeaderEpoch truncation of each partition to where its log
// agrees with the leader's, then Fetch with ReplicaId in a loop.
type fetcher struct {
	c      *cluster
	leader int32
	addr   string

	mu    sync.Mutex
	parts map[*partition]*followState
	kick  chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

// followState is a followed partition: the leader epoch it follows and
// whether its log was already truncated for that epoch.
type followState struct {
	epoch     int32
	truncated bool
}

func newFetcher(c *cluster, leader int32, addr string) *fetcher {
	f := &fetcher{c: c, leader: leader, addr: addr, parts: map[*partition]*followState{},
		kick: make(chan struct{}, 1), done: make(chan struct{})}
	f.ctx, f.cancel = context.WithCancel(c.b.ctx)
	go f.run()
	return f
}

func (f *fetcher) stop() {
	f.cancel()
	<-f.done
}

// set replaces the followed partitions (epochs read from each replica).
func (f *fetcher) set(ps []*partition) {
	f.mu.Lock()
	next := make(map[*partition]*followState, len(ps))
	for _, p := range ps {
		ep := p.leaderEpoch()
		if old, ok := f.parts[p]; ok && old.epoch == ep {
			next[p] = old
		} else {
			next[p] = &followState{epoch: ep}
		}
	}
	f.parts = next
	f.mu.Unlock()
	select {
	case f.kick <- struct{}{}:
	default:
	}
}

func (f *fetcher) snapshot() map[*partition]followState {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[*partition]followState, len(f.parts))
	for p, s := range f.parts {
		out[p] = *s
	}
	return out
}

func (f *fetcher) markTruncated(p *partition, epoch int32) {
	f.mu.Lock()
	if s, ok := f.parts[p]; ok && s.epoch == epoch {
		s.truncated = true
	}
	f.mu.Unlock()
}

func (f *fetcher) run() {
	defer close(f.done)
	lg := f.c.b.log.With("component", "replica-fetcher", "leader", f.leader)
	var conn *kconn
	defer func() {
		if conn != nil {
			conn.close()
		}
	}()
	backoff := 50 * time.Millisecond
	for f.ctx.Err() == nil {
		parts := f.snapshot()
		if len(parts) == 0 {
			select {
			case <-f.kick:
			case <-f.ctx.Done():
			}
			continue
		}
		if conn == nil {
			c, err := f.c.dialInterBroker(f.ctx, f.addr)
			if err != nil {
				lg.Debug("dial leader failed", "addr", f.addr, "err", err)
				if !f.pause(backoff) {
					return
				}
				if backoff < time.Second {
					backoff *= 2
				}
				continue
			}
			conn, backoff = c, 50*time.Millisecond
		}
		err := f.round(conn, parts, lg)
		if err != nil {
			if f.ctx.Err() == nil {
				lg.Debug("replica fetch failed", "err", err)
			}
			conn.close()
			conn = nil
			if !f.pause(backoff) {
				return
			}
		}
	}
}

// pause waits d (or a kick); false once the fetcher is stopped.
func (f *fetcher) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-f.kick:
	case <-f.ctx.Done():
		return false
	}
	return true
}

// round truncates partitions new to their epoch, then fetches once.
func (f *fetcher) round(conn *kconn, parts map[*partition]followState, lg interface {
	Info(string, ...any)
	Warn(string, ...any)
}) error {
	// Truncation first (OffsetForLeaderEpoch), for partitions that need it.
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.Version = 4 // v1+ answers the epoch, v2+ checks CurrentLeaderEpoch, v3+ carries ReplicaID
	req.ReplicaID = f.c.id
	byTopic := map[string]int{}
	var pending []*partition
	for p, s := range parts {
		if s.truncated {
			continue
		}
		latest := p.log.LatestEpoch()
		if latest < 0 {
			if p.log.EndOffset() == p.log.StartOffset() { // empty: nothing to cut
				f.markTruncated(p, s.epoch)
				continue
			}
			latest = 0
		}
		i, ok := byTopic[p.topic]
		if !ok {
			t := kmsg.NewOffsetForLeaderEpochRequestTopic()
			t.Topic = p.topic
			req.Topics = append(req.Topics, t)
			i = len(req.Topics) - 1
			byTopic[p.topic] = i
		}
		rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
		rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = p.index, s.epoch, latest
		req.Topics[i].Partitions = append(req.Topics[i].Partitions, rp)
		pending = append(pending, p)
	}
	if len(pending) > 0 {
		raw, err := conn.request(f.ctx, req, 10*time.Second)
		if err != nil {
			return err
		}
		resp := raw.(*kmsg.OffsetForLeaderEpochResponse)
		find := func(topic string, part int32) *partition {
			for _, p := range pending {
				if p.topic == topic && p.index == part {
					return p
				}
			}
			return nil
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				p := find(rt.Topic, rp.Partition)
				if p == nil {
					continue
				}
				if rp.ErrorCode != 0 {
					// Not leader yet, or a different epoch: retried after
					// the next state change.
					continue
				}
				target := rp.EndOffset
				if rp.LeaderEpoch < 0 || rp.EndOffset < 0 {
					// The leader knows no epoch at or before ours: keep only
					// what is known committed.
					target = p.log.HighWatermark()
					lg.Warn("leader knows no epoch at or before ours; truncating to the high watermark",
						"topic", p.topic, "partition", p.index, "our_epoch", p.log.LatestEpoch(), "hw", target)
				} else if _, mine := p.log.EpochEndOffset(rp.LeaderEpoch); mine >= 0 && mine < target {
					target = mine
				}
				if target < p.log.EndOffset() {
					lg.Info("truncating divergent log tail", "topic", p.topic, "partition", p.index,
						"from", p.log.EndOffset(), "to", target, "leader_epoch", rp.LeaderEpoch)
					if err := p.log.Truncate(target); err != nil {
						lg.Warn("truncation failed", "topic", p.topic, "partition", p.index, "err", err)
						continue
					}
				}
				f.markTruncated(p, parts[p].epoch)
			}
		}
		parts = f.snapshot()
	}

	// Fetch.
	freq := kmsg.NewPtrFetchRequest()
	freq.Version = 12
	freq.ReplicaID = f.c.id
	freq.MaxWaitMillis = 500
	freq.MinBytes = 1
	freq.MaxBytes = 16 << 20
	freq.IsolationLevel = 0
	idx := map[string]int{}
	type key struct {
		topic string
		part  int32
	}
	sent := map[key]*partition{}
	for p, s := range parts {
		if !s.truncated {
			continue
		}
		i, ok := idx[p.topic]
		if !ok {
			t := kmsg.NewFetchRequestTopic()
			t.Topic = p.topic
			freq.Topics = append(freq.Topics, t)
			i = len(freq.Topics) - 1
			idx[p.topic] = i
		}
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition = p.index
		rp.CurrentLeaderEpoch = s.epoch
		rp.FetchOffset = p.log.EndOffset()
		rp.LastFetchedEpoch = p.log.LatestEpoch()
		rp.LogStartOffset = p.log.StartOffset()
		rp.PartitionMaxBytes = 4 << 20
		freq.Topics[i].Partitions = append(freq.Topics[i].Partitions, rp)
		sent[key{p.topic, p.index}] = p
	}
	if len(sent) == 0 {
		// Everything waits for truncation the leader cannot answer yet.
		f.pause(200 * time.Millisecond)
		return nil
	}
	raw, err := conn.request(f.ctx, freq, 10*time.Second)
	if err != nil {
		return err
	}
	resp := raw.(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		return fmt.Errorf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	backoff := false
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			p := sent[key{rt.Topic, rp.Partition}]
			if p == nil {
				continue
			}
			switch rp.ErrorCode {
			case 0:
			case kerr.OffsetOutOfRange.Code:
				if end := p.log.EndOffset(); rp.LogStartOffset > end {
					// The leader deleted past our end (DeleteRecords or
					// retention while we were away): nothing we hold is
					// wanted; start over at the leader's log start.
					lg.Info("follower behind the leader's log start: truncating fully", "topic", p.topic, "partition", p.index, "end", end, "leader_log_start", rp.LogStartOffset)
					if err := p.log.TruncateFullyAndStartAt(rp.LogStartOffset); err != nil {
						lg.Warn("truncating fully failed", "topic", p.topic, "partition", p.index, "err", err)
						backoff = true
					}
					continue
				}
				// Our end is past the leader's: truncate again.
				f.mu.Lock()
				if s, ok := f.parts[p]; ok {
					s.truncated = false
				}
				f.mu.Unlock()
				continue
			default:
				backoff = true
				continue
			}
			if err := f.appendFetched(p, rp.RecordBatches); err != nil {
				lg.Warn("appending replicated records failed", "topic", p.topic, "partition", p.index, "err", err)
				backoff = true
				continue
			}
			hw := rp.HighWatermark
			p.rep.mu.Lock()
			p.rep.leaderHW = hw
			p.rep.mu.Unlock()
			if end := p.log.EndOffset(); hw > end {
				hw = end
			}
			if hw >= 0 {
				p.log.SetHighWatermarkCap(hw)
			}
			// DeleteRecords on the leader: follow its log start offset,
			// up to what this replica knows is committed.
			if ls := min(rp.LogStartOffset, p.log.HighWatermark()); ls > p.log.StartOffset() {
				if err := p.log.DeleteRecords(ls); err != nil {
					lg.Warn("following the leader's log start offset failed", "topic", p.topic, "partition", p.index, "log_start", ls, "err", err)
				}
			}
		}
	}
	if backoff {
		f.pause(100 * time.Millisecond)
	}
	return nil
}

// appendFetched appends the batches a fetch returned, skipping any the
// log already has.
func (f *fetcher) appendFetched(p *partition, data []byte) error {
	if len(data) == 0 {
		return nil
	}
	batches, err := blog.SplitBatches(data)
	if err != nil {
		return err
	}
	for _, raw := range batches {
		v, err := blog.CheckBatch(raw)
		if err != nil {
			return err
		}
		h := v.Header()
		if h.LastOffset() < p.log.EndOffset() {
			continue
		}
		if _, err := p.log.AppendReplica(v); err != nil {
			return err
		}
	}
	return nil
}

// kconn is a minimal Kafka client connection for broker-to-broker requests.
type kconn struct {
	c    net.Conn
	r    *bufio.Reader
	corr int32
	id   string
}

func dialKafka(ctx context.Context, addr string, nodeID int32) (*kconn, error) {
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &kconn{c: c, r: bufio.NewReaderSize(c, 256<<10), id: fmt.Sprintf("sluice-replica-%d", nodeID)}, nil
}

func (k *kconn) close() { k.c.Close() }

// request sends req and reads its response.
func (k *kconn) request(ctx context.Context, req kmsg.Request, timeout time.Duration) (kmsg.Response, error) {
	k.corr++
	buf := make([]byte, 4, 256)
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.Key()))
	buf = binary.BigEndian.AppendUint16(buf, uint16(req.GetVersion()))
	buf = binary.BigEndian.AppendUint32(buf, uint32(k.corr))
	buf = binary.BigEndian.AppendUint16(buf, uint16(len(k.id)))
	buf = append(buf, k.id...)
	if req.IsFlexible() {
		buf = append(buf, 0) // no header tags
	}
	buf = req.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	k.c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { k.c.SetDeadline(time.Now()) })
	defer stop()
	if _, err := k.c.Write(buf); err != nil {
		return nil, err
	}
	var hdr [8]byte
	if _, err := io.ReadFull(k.r, hdr[:]); err != nil {
		return nil, err
	}
	size := int32(binary.BigEndian.Uint32(hdr[:]))
	if size < 4 || size > 256<<20 {
		return nil, fmt.Errorf("response size %d", size)
	}
	if corr := int32(binary.BigEndian.Uint32(hdr[4:])); corr != k.corr {
		return nil, fmt.Errorf("response correlation id %d, want %d", corr, k.corr)
	}
	body := make([]byte, size-4)
	if _, err := io.ReadFull(k.r, body); err != nil {
		return nil, err
	}
	if req.IsFlexible() {
		// Response header tags: a count we expect to be zero.
		if len(body) == 0 || body[0] != 0 {
			return nil, errors.New("unexpected response header tags")
		}
		body = body[1:]
	}
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %T: %w", resp, err)
	}
	return resp, nil
}

func (b *Broker) handleOffsetForLeaderEpoch(req *kmsg.OffsetForLeaderEpochRequest) *kmsg.OffsetForLeaderEpochResponse {
	resp := req.ResponseKind().(*kmsg.OffsetForLeaderEpochResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewOffsetForLeaderEpochResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetForLeaderEpochResponseTopicPartition()
			sp.Partition = rp.Partition
			_, p, code := b.lookup(rt.Topic, rp.Partition)
			if code == 0 && b.cl != nil {
				if terr := b.cl.leaderCheck(p, rp.CurrentLeaderEpoch); terr != nil {
					code = terr.code
				}
			}
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if b.cl == nil {
				// One node, epoch 0 forever.
				if rp.LeaderEpoch >= 0 {
					sp.LeaderEpoch, sp.EndOffset = 0, p.log.EndOffset()
				}
			} else {
				sp.LeaderEpoch, sp.EndOffset = p.log.EpochEndOffset(rp.LeaderEpoch)
				if req.ReplicaID < 0 && sp.EndOffset > p.log.HighWatermark() {
					// Consumers only learn about committed offsets.
					sp.EndOffset = p.log.HighWatermark()
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
