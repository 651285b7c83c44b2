package worker

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sinkGroupID returns the consumer group of a sink connector.
func sinkGroupID(name string, conn map[string]string) string {
	if g := strings.TrimSpace(conn["consumer.override.group.id"]); g != "" {
		return g
	}
	return "connect-" + name
}

// sinkContext is the connect.SinkTaskContext of a running sink task.
type sinkContext struct {
	t *taskRunner

	mu       sync.Mutex
	assigned map[connect.TopicPartition]bool
	seeks    map[connect.TopicPartition]int64
	commit   bool
	// paused holds the assigned partitions the task paused; applied holds
	// the partitions currently paused in the consumer (task pauses, or every
	// assigned partition while the connector is paused).
	paused  map[connect.TopicPartition]bool
	applied map[connect.TopicPartition]bool
}

func newSinkContext(t *taskRunner) *sinkContext {
	return &sinkContext{t: t, assigned: map[connect.TopicPartition]bool{}, seeks: map[connect.TopicPartition]int64{},
		paused: map[connect.TopicPartition]bool{}, applied: map[connect.TopicPartition]bool{}}
}

func (c *sinkContext) Assignment() []connect.TopicPartition {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]connect.TopicPartition, 0, len(c.assigned))
	for tp := range c.assigned {
		out = append(out, tp)
	}
	return out
}

func (c *sinkContext) Seek(offsets map[connect.TopicPartition]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for tp, o := range offsets {
		c.seeks[tp] = o
	}
}

func (c *sinkContext) RequestCommit() {
	c.mu.Lock()
	c.commit = true
	c.mu.Unlock()
}

// Pause records the task's pause of assigned partitions; the sink loop
// applies it to the consumer before its next poll.
func (c *sinkContext) Pause(partitions ...connect.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range partitions {
		if c.assigned[tp] {
			c.paused[tp] = true
		}
	}
}

// Resume drops the task's pause of the partitions; the sink loop applies it
// before its next poll.
func (c *sinkContext) Resume(partitions ...connect.TopicPartition) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, tp := range partitions {
		delete(c.paused, tp)
	}
}

// applyPauses makes the consumer's paused partitions match the task's
// pauses, or every assigned partition when the connector is paused
// (connPaused). Partitions no longer assigned are resumed in the consumer,
// so a later reassignment starts unpaused.
func (c *sinkContext) applyPauses(cl *kgo.Client, connPaused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pause, resume := map[string][]int32{}, map[string][]int32{}
	for tp := range c.assigned {
		if (connPaused || c.paused[tp]) && !c.applied[tp] {
			pause[tp.Topic] = append(pause[tp.Topic], tp.Partition)
			c.applied[tp] = true
		}
	}
	for tp := range c.applied {
		if !c.assigned[tp] || (!connPaused && !c.paused[tp]) {
			resume[tp.Topic] = append(resume[tp.Topic], tp.Partition)
			delete(c.applied, tp)
		}
	}
	if len(pause) > 0 {
		cl.PauseFetchPartitions(pause)
	}
	if len(resume) > 0 {
		cl.ResumeFetchPartitions(resume)
	}
}

func (c *sinkContext) Logger() *slog.Logger  { return c.t.log }
func (c *sinkContext) ConnectorName() string { return c.t.key.conn }
func (c *sinkContext) TaskID() int           { return c.t.key.id }

func (c *sinkContext) takeSeeks() map[string]map[int32]kgo.EpochOffset {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.seeks) == 0 {
		return nil
	}
	out := map[string]map[int32]kgo.EpochOffset{}
	for tp, o := range c.seeks {
		if !c.assigned[tp] {
			continue
		}
		if out[tp.Topic] == nil {
			out[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		out[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
	}
	c.seeks = map[connect.TopicPartition]int64{}
	return out
}

func (c *sinkContext) takeCommit() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.commit
	c.commit = false
	return r
}

// sinkState is what the sink loop and the rebalance callbacks share; mu
// serializes every call into the task.
type sinkState struct {
	mu        sync.Mutex
	task      connect.SinkTask
	current   map[connect.TopicPartition]int64 // next offset after records Put
	committed map[connect.TopicPartition]int64
	hwm       map[connect.TopicPartition]int64
	// logStart is the log start offset per partition: the position a
	// partition without any committed offset is consumed from (Kafka
	// Connect's auto.offset.reset=earliest), so its lag counts every
	// record in the log.
	logStart map[connect.TopicPartition]int64
	failErr  error
	// lag is high watermark - committed offset per partition, for metrics.
	lag atomic.Pointer[map[connect.TopicPartition]int64]
}

// updateLag recomputes the lag gauges; ss.mu is held. Partitions without a
// commit in this session use the group's committed offsets from the join,
// and partitions the group never committed count from the log start.
func (ss *sinkState) updateLag(cl *kgo.Client) {
	var group map[string]map[int32]kgo.EpochOffset
	lag := make(map[connect.TopicPartition]int64, len(ss.hwm))
	for tp, h := range ss.hwm {
		c, ok := ss.committed[tp]
		if !ok {
			if group == nil {
				group = cl.CommittedOffsets()
			}
			if eo, found := group[tp.Topic][tp.Partition]; found && eo.Offset >= 0 {
				c = eo.Offset
			} else {
				c = ss.logStart[tp]
			}
		}
		if h > c {
			lag[tp] = h - c
		} else {
			lag[tp] = 0
		}
	}
	ss.lag.Store(&lag)
}

func tpsOf(m map[string][]int32) []connect.TopicPartition {
	var out []connect.TopicPartition
	for t, ps := range m {
		for _, p := range ps {
			out = append(out, connect.TopicPartition{Topic: t, Partition: p})
		}
	}
	return out
}

func (t *taskRunner) runSink(ctx context.Context, st connect.SinkTask, tcfg, conn map[string]string, p *pipeline) {
	w := t.w
	topics := connect.SplitList(conn["topics"])
	regex := strings.TrimSpace(conn["topics.regex"])
	if len(topics) == 0 && regex == "" {
		t.fail(connect.Errorf("topics", "a sink connector needs topics or topics.regex"))
		return
	}
	if regex != "" {
		if _, err := regexp.Compile(regex); err != nil {
			t.fail(connect.Errorf("topics.regex", "invalid regular expression: %v", err))
			return
		}
		topics = []string{regex}
	}
	sctx := newSinkContext(t)
	ss := &sinkState{task: st, current: map[connect.TopicPartition]int64{}, committed: map[connect.TopicPartition]int64{}, hwm: map[connect.TopicPartition]int64{}, logStart: map[connect.TopicPartition]int64{}}
	w.metrics.registerSink(t.key, ss)
	defer w.metrics.unregisterSink(t.key)

	if err := t.openWithRetry(ctx, conn, func() error { return st.Open(ctx, tcfg, sctx) }); err != nil {
		t.fail(fmt.Errorf("opening sink task: %w", err))
		_ = st.Close()
		return
	}

	pausedNow := func() bool { pp, _ := t.isPaused(); return pp }
	onAssigned := func(cctx context.Context, cl *kgo.Client, m map[string][]int32) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		tps := tpsOf(m)
		sctx.mu.Lock()
		for _, tp := range tps {
			sctx.assigned[tp] = true
		}
		sctx.mu.Unlock()
		if err := st.Assign(cctx, tps); err != nil && ss.failErr == nil {
			ss.failErr = fmt.Errorf("assigning partitions: %w", err)
		}
		if seeks := sctx.takeSeeks(); seeks != nil {
			cl.SetOffsets(seeks)
		}
		sctx.applyPauses(cl, pausedNow())
	}
	drop := func(cctx context.Context, cl *kgo.Client, m map[string][]int32, commit bool) {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		var tps []connect.TopicPartition
		only := map[connect.TopicPartition]bool{}
		sctx.mu.Lock()
		for _, tp := range tpsOf(m) {
			if sctx.assigned[tp] {
				tps = append(tps, tp)
				only[tp] = true
			}
		}
		sctx.mu.Unlock()
		if len(tps) == 0 {
			return
		}
		if commit {
			if err := t.flushCommit(cctx, cl, ss, p, only); err != nil {
				t.log.Warn("flush and commit before revocation failed; records will be consumed again", "err", err)
			}
		}
		if err := st.Revoke(cctx, tps); err != nil {
			t.log.Warn("revoking partitions", "err", err)
		}
		sctx.mu.Lock()
		for _, tp := range tps {
			delete(sctx.assigned, tp)
			delete(ss.current, tp)
			delete(ss.committed, tp)
			delete(ss.hwm, tp)
			delete(ss.logStart, tp)
			delete(sctx.paused, tp) // a revoked partition's pause is dropped
		}
		sctx.mu.Unlock()
		sctx.applyPauses(cl, pausedNow())
	}
	override, maxPoll, err := consumerOpts(w.clientProps("consumer", conn))
	if err != nil {
		t.fail(err)
		_ = st.Close()
		return
	}
	// Sink consumers default to the worker's session timeout (Kafka's
	// consumer default is 45 s) so a killed worker's partitions move as fast
	// as its tasks; consumer.session.timeout.ms or the connector's
	// consumer.override.session.timeout.ms change it.
	opts := []kgo.Opt{
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(defaultFetchWait),
		kgo.SessionTimeout(w.cfg.SessionTimeout),
		kgo.HeartbeatInterval(w.cfg.HeartbeatInterval),
	}
	opts = append(opts, override...)
	opts = append(opts,
		kgo.ConsumerGroup(sinkGroupID(t.key.conn, conn)),
		kgo.ConsumeTopics(topics...),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(onAssigned),
		kgo.OnPartitionsRevoked(func(c context.Context, cl *kgo.Client, m map[string][]int32) { drop(c, cl, m, true) }),
		kgo.OnPartitionsLost(func(c context.Context, cl *kgo.Client, m map[string][]int32) { drop(c, cl, m, false) }),
	)
	if regex != "" {
		opts = append(opts, kgo.ConsumeRegex())
	}
	if recyclable(p) {
		opts = append(opts, kgo.WithPools(&decompressPool{}))
	}
	cl, err := kgo.NewClient(w.clientOpts(opts...)...)
	if err != nil {
		t.fail(err)
		_ = st.Close()
		return
	}
	// A sink instance is fenced by its consumer group: once its successor
	// joined, its generation is stale and its offset commits fail; closing
	// the client (in the background, as a blocked Put may hold the
	// revocation callback) makes it leave sooner.
	closeCl := sync.OnceFunc(cl.Close)
	t.setFence(func() { go closeCl() })
	t.moveTo(phaseRunning)
	if pausedNow() {
		t.setState(statePaused, "")
	} else {
		t.setState(stateRunning, "")
	}
	lastFlush := time.Now()
	var failErr error
	for ctx.Err() == nil {
		// Apply connector and task pauses before polling. Polling goes on
		// while partitions are paused (keeping the group membership and
		// running rebalances), and the client drops buffered records of
		// paused partitions from what it returns, re-fetching them after
		// resume, so Put never gets records fetched for a paused partition.
		sctx.applyPauses(cl, pausedNow())
		pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
		fs := cl.PollRecords(pctx, maxPoll)
		cancel()
		if fs.IsClientClosed() {
			break
		}
		fs.EachError(func(tp string, part int32, err error) {
			if ctx.Err() == nil && pctx.Err() == nil {
				t.log.Warn("consuming", "topic", tp, "partition", part, "err", err)
			}
		})
		ss.mu.Lock()
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			if fp.Err != nil || fp.Topic == "" || fp.Partition < 0 {
				return // a client-level error, not a partition's position
			}
			tp := connect.TopicPartition{Topic: fp.Topic, Partition: fp.Partition}
			ss.hwm[tp] = fp.HighWatermark
			if fp.LogStartOffset >= 0 {
				ss.logStart[tp] = fp.LogStartOffset
			}
		})
		if ss.failErr != nil {
			failErr = ss.failErr
		} else if recs := fs.Records(); len(recs) > 0 {
			failErr = t.putBatch(ctx, st, ss, p, recs)
		}
		if failErr == nil && (time.Since(lastFlush) >= w.cfg.OffsetFlushInterval || sctx.takeCommit()) {
			fctx, fcancel := context.WithTimeout(context.Background(), w.cfg.OffsetFlushTimeout)
			if err := t.flushCommit(fctx, cl, ss, p, nil); err != nil {
				t.log.Warn("periodic flush and commit failed", "err", err)
			}
			fcancel()
			lastFlush = time.Now()
		}
		ss.updateLag(cl)
		ss.mu.Unlock()
		if seeks := sctx.takeSeeks(); seeks != nil {
			cl.SetOffsets(seeks)
		}
		cl.AllowRebalance()
		if failErr != nil {
			break
		}
	}
	// Stop: flush, commit, revoke everything, leave the group.
	fctx, cancel := context.WithTimeout(context.Background(), w.cfg.TaskShutdownTimeout)
	all := map[string][]int32{}
	sctx.mu.Lock()
	for tp := range sctx.assigned {
		all[tp.Topic] = append(all[tp.Topic], tp.Partition)
	}
	sctx.mu.Unlock()
	drop(fctx, cl, all, failErr == nil) // invariant 6: flush and commit before revoke
	cancel()
	closeCl()
	if err := st.Close(); err != nil {
		t.log.Warn("closing sink task", "err", err)
	}
	if failErr != nil {
		t.fail(failErr)
	}
}

// decompressPool lets the sink's consumer decompress fetched batches into
// buffers of earlier batches whose records were all recycled (see
// recyclable), instead of allocating each batch's decompressed bytes. It is
// a small bounded free list, which unlike a sync.Pool survives garbage
// collections.
type decompressPool struct {
	mu   sync.Mutex
	free [][]byte
}

const (
	maxFreeDecompress  = 16
	maxDecompressBytes = 8 << 20 // larger buffers are left to the GC
	maxDecompressRatio = 32
)

// GetDecompressBytes implements kgo.PoolDecompressBytes: the smallest
// free buffer larger than the compressed batch and at most
// maxDecompressRatio times as large (the client zeroes a buffer's whole
// capacity when it comes back, so a small batch must not take a big
// buffer), or nil (the codec allocates).
func (d *decompressPool) GetDecompressBytes(compressed []byte, _ kgo.CompressionCodecType) []byte {
	lo, hi := len(compressed), maxDecompressRatio*max(len(compressed), 1024)
	d.mu.Lock()
	defer d.mu.Unlock()
	best := -1
	for i, b := range d.free {
		if c := cap(b); c > lo && c <= hi && (best < 0 || c < cap(d.free[best])) {
			best = i
		}
	}
	if best < 0 {
		return nil
	}
	b := d.free[best]
	last := len(d.free) - 1
	d.free[best], d.free[last] = d.free[last], nil
	d.free = d.free[:last]
	return b
}

// PutDecompressBytes implements kgo.PoolDecompressBytes.
func (d *decompressPool) PutDecompressBytes(b []byte) {
	if cap(b) > maxDecompressBytes {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.free) < maxFreeDecompress {
		d.free = append(d.free, b)
	}
}

// recyclable reports whether consumed records can be recycled once
// converted: the key and value converters are JsonConverters, which copy
// everything they return out of the record's bytes. Records with headers
// are never recycled (a header converter may return the header's bytes),
// so their batches' buffers are left to the GC.
func recyclable(p *pipeline) bool {
	_, k := p.keyConv.(*convert.JSON)
	_, v := p.valConv.(*convert.JSON)
	return k && v
}

// putBatch converts, transforms and hands a batch to the task. ss.mu is
// held.
func (t *taskRunner) putBatch(ctx context.Context, st connect.SinkTask, ss *sinkState, p *pipeline, recs []*kgo.Record) error {
	batch := make([]*connect.Record, 0, len(recs))
	m := t.w.metrics
	m.add(m.in, t.key, uint64(len(recs)))
	lastTopic := ""
	for _, kr := range recs {
		if kr.Topic != lastTopic { // a batch is mostly one topic's records
			t.w.noteTopic(t.key, kr.Topic)
			lastTopic = kr.Topic
		}
		r, err := t.sinkRecord(ctx, p, kr)
		if err != nil {
			return err
		}
		if r != nil {
			batch = append(batch, r)
		}
	}
	if len(batch) > 0 {
		delay := 100 * time.Millisecond
		for {
			err := st.Put(ctx, batch)
			if err == nil {
				break
			}
			if !connect.IsRetriable(err) || ctx.Err() != nil {
				return fmt.Errorf("sink task put of %s: %w", batchRanges(batch), err)
			}
			t.log.Warn("retriable put error; retrying the batch", "err", err, "records", batchRanges(batch))
			select {
			case <-ctx.Done():
				return fmt.Errorf("sink task put of %s: %w", batchRanges(batch), err)
			case <-time.After(delay):
			}
			if delay < 5*time.Second {
				delay *= 2
			}
		}
		t.w.metrics.recordsOut(t.key, len(batch))
	}
	recycle := recyclable(p)
	for _, kr := range recs {
		ss.current[connect.TopicPartition{Topic: kr.Topic, Partition: kr.Partition}] = kr.Offset + 1
		if recycle && len(kr.Headers) == 0 {
			// Converted, Put, and nothing refers to its bytes: its batch's
			// decompressed buffer goes back to the pool once every record
			// of the batch was recycled.
			kr.Recycle()
		}
	}
	return nil
}

// batchRanges describes the records of a Put batch by their topic,
// partition and offset range, e.g. "3 records (orders[0] offsets 7..9)".
func batchRanges(batch []*connect.Record) string {
	type rng struct{ lo, hi int64 }
	ranges := map[connect.TopicPartition]*rng{}
	var order []connect.TopicPartition
	for _, r := range batch {
		tp := connect.TopicPartition{Topic: r.OriginalTopic, Partition: r.OriginalPartition}
		if x := ranges[tp]; x != nil {
			x.lo, x.hi = min(x.lo, r.OriginalOffset), max(x.hi, r.OriginalOffset)
			continue
		}
		ranges[tp] = &rng{r.OriginalOffset, r.OriginalOffset}
		order = append(order, tp)
	}
	parts := make([]string, 0, len(order))
	for _, tp := range order {
		x := ranges[tp]
		if x.lo == x.hi {
			parts = append(parts, fmt.Sprintf("%s[%d] offset %d", tp.Topic, tp.Partition, x.lo))
		} else {
			parts = append(parts, fmt.Sprintf("%s[%d] offsets %d..%d", tp.Topic, tp.Partition, x.lo, x.hi))
		}
	}
	return fmt.Sprintf("%d records (%s)", len(batch), strings.Join(parts, ", "))
}

// sinkRecord converts and transforms one consumed record; nil means
// dropped or tolerated.
func (t *taskRunner) sinkRecord(ctx context.Context, p *pipeline, kr *kgo.Record) (*connect.Record, error) {
	r := &connect.Record{
		Topic: kr.Topic, Partition: kr.Partition, Offset: kr.Offset, Timestamp: kr.Timestamp,
		TimestampType: connect.CreateTime,
		OriginalTopic: kr.Topic, OriginalPartition: kr.Partition, OriginalOffset: kr.Offset,
	}
	if kr.Attrs.TimestampType() == 1 {
		r.TimestampType = connect.LogAppendTime
	}
	if err := p.eh.retry(ctx, func() error {
		var err error
		r.KeySchema, r.Key, err = p.keyConv.ToConnect(kr.Topic, kr.Key)
		return err
	}); err != nil {
		return nil, p.eh.handle(ctx, stageKeyConverter, p.keyClass, err, kr)
	}
	if err := p.eh.retry(ctx, func() error {
		var err error
		r.ValueSchema, r.Value, err = p.valConv.ToConnect(kr.Topic, kr.Value)
		return err
	}); err != nil {
		return nil, p.eh.handle(ctx, stageValueConverter, p.valClass, err, kr)
	}
	for _, h := range kr.Headers {
		var hs *connect.Schema
		var v any
		if err := p.eh.retry(ctx, func() error {
			var err error
			hs, v, err = p.hdrConv.ToConnectHeader(kr.Topic, h.Key, h.Value)
			return err
		}); err != nil {
			return nil, p.eh.handle(ctx, stageHeaderConverter, p.hdrClass, fmt.Errorf("header %s: %w", h.Key, err), kr)
		}
		r.Headers = append(r.Headers, connect.Header{Key: h.Key, Schema: hs, Value: v})
	}
	return p.transform(ctx, r, kr)
}

// flushCommit flushes the task and commits the offsets it returned (for the
// partitions in only, or all when nil). ss.mu is held.
//
// Delivery invariant 5 (DESIGN.md): only offsets Flush returns are committed.
func (t *taskRunner) flushCommit(ctx context.Context, cl *kgo.Client, ss *sinkState, p *pipeline, only map[connect.TopicPartition]bool) error {
	cur := maps.Clone(ss.current)
	if len(cur) == 0 {
		return nil
	}
	var ret map[connect.TopicPartition]int64
	if err := p.eh.retry(ctx, func() error {
		var err error
		ret, err = ss.task.Flush(ctx, maps.Clone(cur))
		return err
	}); err != nil {
		return fmt.Errorf("flushing sink task: %w", err)
	}
	commit := map[string]map[int32]kgo.EpochOffset{}
	n := 0
	for tp, o := range ret {
		if only != nil && !only[tp] {
			continue
		}
		if c, ok := cur[tp]; !ok || o > c {
			continue // never consumed here, or beyond what was Put
		}
		if c, ok := ss.committed[tp]; ok && o <= c {
			continue
		}
		if commit[tp.Topic] == nil {
			commit[tp.Topic] = map[int32]kgo.EpochOffset{}
		}
		commit[tp.Topic][tp.Partition] = kgo.EpochOffset{Epoch: -1, Offset: o}
		n++
	}
	if n == 0 {
		return nil
	}
	var cerr error
	cl.CommitOffsetsSync(ctx, commit, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil {
					if cerr == nil {
						cerr = fmt.Errorf("committing %s[%d]: %w", rt.Topic, rp.Partition, e)
					}
					continue
				}
				if o, ok := commit[rt.Topic][rp.Partition]; ok {
					ss.committed[connect.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}] = o.Offset
				}
			}
		}
	})
	return cerr
}
