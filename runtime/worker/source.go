package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/twmb/franz-go/pkg/kgo"
)

// sourceContext is the connect.SourceTaskContext of a running source task.
type sourceContext struct {
	t      *taskRunner
	reader *offsetReader
}

func (c *sourceContext) Offsets() connect.OffsetReader { return c.reader }
func (c *sourceContext) Logger() *slog.Logger          { return c.t.log }
func (c *sourceContext) ConnectorName() string         { return c.t.key.conn }
func (c *sourceContext) TaskID() int                   { return c.t.key.id }

// offsetTracker keeps, per source partition, the records in flight in
// submission order. An offset becomes committable once its record and all
// earlier records of the same source partition were acknowledged.
type offsetTracker struct {
	mu       sync.Mutex
	parts    map[string]*partTrack
	err      error // first produce failure
	inFlight int
	// last is the source partition of the previous add (a copy) and its
	// track: sources usually give every record the same partition, whose
	// canonical JSON key is then not encoded again.
	last   map[string]any
	lastPT *partTrack
}

type partTrack struct {
	partition  map[string]any
	queue      []*pending
	acked      map[string]any // latest committable offset
	ackedSeq   uint64
	writtenSeq uint64
}

type pending struct {
	seq    uint64
	offset map[string]any
	done   bool
}

func newOffsetTracker() *offsetTracker { return &offsetTracker{parts: map[string]*partTrack{}} }

// add registers a record in flight; it returns nil when the record has no
// source partition (nothing to track).
func (o *offsetTracker) add(partition, offset map[string]any, seq uint64) (*pending, *partTrack, error) {
	if partition == nil || offset == nil {
		return nil, nil, nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	pt := o.lastPT
	if pt == nil || !sameFlat(o.last, partition) {
		k, err := canonical(partition)
		if err != nil {
			return nil, nil, fmt.Errorf("source partition %v: %w", partition, err)
		}
		pt = o.parts[k]
		if pt == nil {
			pt = &partTrack{partition: partition}
			o.parts[k] = pt
		}
		o.last, o.lastPT = maps.Clone(partition), pt
	}
	p := &pending{seq: seq, offset: offset}
	pt.queue = append(pt.queue, p)
	o.inFlight++
	return p, pt, nil
}

// sameFlat reports whether a and b hold the same keys with equal scalar
// values of the same types (so their canonical JSON is the same). Any other
// value (a map, a slice, a float NaN) counts as different.
func sameFlat(a, b map[string]any) bool {
	if len(a) != len(b) || a == nil || b == nil {
		return false
	}
	for k, v := range a {
		w, ok := b[k]
		if !ok {
			return false
		}
		switch x := v.(type) {
		case string:
			if y, ok := w.(string); !ok || x != y {
				return false
			}
		case int64:
			if y, ok := w.(int64); !ok || x != y {
				return false
			}
		case int:
			if y, ok := w.(int); !ok || x != y {
				return false
			}
		case int32:
			if y, ok := w.(int32); !ok || x != y {
				return false
			}
		case bool:
			if y, ok := w.(bool); !ok || x != y {
				return false
			}
		case float64:
			if y, ok := w.(float64); !ok || x != x || math.Float64bits(x) != math.Float64bits(y) { // -0 is written "-0"
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ack marks a record as acknowledged (err == nil) or failed. A failure of
// a record without a source partition (p == nil) fails the task too.
//
// Delivery invariant 1 (DESIGN.md): an offset becomes committable only when
// its record and all earlier records of its source partition were acked.
func (o *offsetTracker) ack(p *pending, pt *partTrack, err error) {
	if p == nil {
		if err != nil {
			o.mu.Lock()
			if o.err == nil {
				o.err = err
			}
			o.mu.Unlock()
		}
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	o.inFlight--
	if err != nil {
		if o.err == nil {
			o.err = err
		}
		return // never marked done: offsets stop before it
	}
	p.done = true
	i := 0
	for i < len(pt.queue) && pt.queue[i].done {
		pt.acked = pt.queue[i].offset
		pt.ackedSeq = pt.queue[i].seq
		i++
	}
	if i > 0 {
		// Drop the acknowledged prefix in place: copying the rest of the
		// queue on every ack made a long in-flight queue quadratic.
		clear(pt.queue[:i])
		pt.queue = pt.queue[i:]
	}
}

func (o *offsetTracker) failure() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.err
}

type committable struct {
	pt  *partTrack
	seq uint64
	off connect.SourceOffset
}

// committable returns the acknowledged offsets not written yet.
func (o *offsetTracker) committable() []committable {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []committable
	for _, pt := range o.parts {
		if pt.acked != nil && pt.ackedSeq != pt.writtenSeq {
			out = append(out, committable{pt, pt.ackedSeq, connect.SourceOffset{Partition: pt.partition, Offset: pt.acked}})
		}
	}
	return out
}

func (o *offsetTracker) markWritten(cs []committable) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range cs {
		if c.seq > c.pt.writtenSeq {
			c.pt.writtenSeq = c.seq
		}
	}
}

// sourcePartitioner honours an explicit record partition and hashes keys
// like Kafka's default partitioner otherwise.
type sourcePartitioner struct{ inner kgo.Partitioner }

func (p sourcePartitioner) ForTopic(t string) kgo.TopicPartitioner {
	return &sourceTopicPartitioner{inner: p.inner.ForTopic(t)}
}

type sourceTopicPartitioner struct{ inner kgo.TopicPartitioner }

func (p *sourceTopicPartitioner) OnNewBatch() {
	if nb, ok := p.inner.(kgo.TopicPartitionerOnNewBatch); ok {
		nb.OnNewBatch()
	}
}

func (p *sourceTopicPartitioner) RequiresConsistency(r *kgo.Record) bool {
	return r.Partition >= 0 || p.inner.RequiresConsistency(r)
}

func (p *sourceTopicPartitioner) Partition(r *kgo.Record, n int) int {
	if r.Partition >= 0 {
		return int(r.Partition) % n
	}
	if n == 1 { // every partitioner's answer; skips hashing the key
		return 0
	}
	return p.inner.Partition(r, n)
}

// produceError names the record a produce failure is about (its topic,
// which for CDC sources names the table, and its key), so an error such as
// MESSAGE_TOO_LARGE can be traced to the row.
func produceError(r *kgo.Record, err error) error {
	key := string(r.Key)
	if len(key) > 512 {
		key = key[:512] + "..."
	}
	if r.Key == nil {
		key = "null"
	}
	return fmt.Errorf("record for topic %s (partition %d, key %s, %d value bytes): %w", r.Topic, r.Partition, key, len(r.Value), err)
}

// producedWithError handles a record Kafka did not take: the error names
// the record; with errors.tolerance=all it is logged and skipped (its
// offset may be committed, as Kafka Connect does since KIP-779), else it
// fails the task. Failures caused by stopping the task (its context ended,
// the producer was closed) are never tolerated: those records are not
// written, so their offsets must not be committed.
//
// Delivery invariants 3 and 4 (DESIGN.md).
func (t *taskRunner) producedWithError(ctx context.Context, p *pipeline, r *kgo.Record, err error) error {
	err = produceError(r, err)
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, kgo.ErrClientClosed) {
		return err
	}
	return p.eh.handle(context.Background(), stageProduce, "producer", err, nil)
}

func (t *taskRunner) runSource(ctx context.Context, st connect.SourceTask, tcfg, conn map[string]string, p *pipeline) {
	w := t.w
	override, err := producerOpts(w.clientProps("producer", conn))
	if err != nil {
		t.fail(err)
		return
	}
	popts := append([]kgo.Opt{
		kgo.AllowAutoTopicCreation(),
		kgo.RecordPartitioner(sourcePartitioner{kgo.StickyKeyPartitioner(nil)}),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(5 * time.Millisecond),
		// snappy unless producer.compression.type says otherwise: Kafka's
		// producer default is none, but JsonConverter records with
		// embedded schemas are ~5x smaller compressed, and the broker
		// writes (and fsyncs) every byte: uncompressed halved end-to-end
		// throughput (BENCHMARKS.md, "End-to-end ... compression").
		kgo.ProducerBatchCompression(kgo.SnappyCompression()),
		// At most as many records in flight as the buffer free list
		// (pipeline.bufs) keeps: every acknowledged record's buffers are
		// then reused, instead of the client's default of 50,000 records
		// (about 180 MB of JsonConverter output with embedded schemas)
		// each with buffers of its own, which is GC work and RSS that buys
		// no throughput: a few thousand records are many produce batches.
		kgo.MaxBufferedRecords(maxFreeBufs),
	}, override...)
	prod, err := kgo.NewClient(w.clientOpts(popts...)...)
	if err != nil {
		t.fail(err)
		return
	}
	closeProd := sync.OnceFunc(prod.Close)
	defer closeProd()
	// Fencing closes the producer: a record blocked in Produce or buffered
	// fails, nothing more reaches Kafka from this instance.
	t.setFence(closeProd)
	tr := newOffsetTracker()
	tctx := &sourceContext{t: t, reader: &offsetReader{store: w.offsets, connector: t.key.conn}}
	if err := w.offLog.readToEnd(ctx); err != nil {
		t.fail(fmt.Errorf("reading the offsets topic: %w", err))
		return
	}
	if err := t.openWithRetry(ctx, conn, func() error { return st.Open(ctx, tcfg, tctx) }); err != nil {
		t.fail(fmt.Errorf("opening source task: %w", err))
		_ = st.Close()
		return
	}
	t.moveTo(phaseRunning)
	if paused, _ := t.isPaused(); paused {
		t.setState(statePaused, "")
	} else {
		t.setState(stateRunning, "")
	}

	var commitMu sync.Mutex
	commit := func(cctx context.Context) error {
		commitMu.Lock()
		defer commitMu.Unlock()
		return t.commitSource(cctx, st, tr)
	}
	flushStop := make(chan struct{})
	flushDone := make(chan struct{})
	go func() {
		defer close(flushDone)
		tk := time.NewTicker(w.cfg.OffsetFlushInterval)
		defer tk.Stop()
		for {
			select {
			case <-flushStop:
				return
			case <-tk.C:
				cctx, cancel := context.WithTimeout(context.Background(), w.cfg.OffsetFlushTimeout)
				if err := commit(cctx); err != nil {
					t.log.Warn("committing source offsets", "err", err)
				}
				cancel()
			}
		}
	}()

	var seq uint64
	var failErr error
	delay := 100 * time.Millisecond
loop:
	for ctx.Err() == nil {
		if !t.waitUnpaused(ctx) {
			break
		}
		recs, err := st.Poll(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if connect.IsRetriable(err) {
				t.log.Warn("retriable poll error", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(delay):
				}
				if delay < 5*time.Second {
					delay *= 2
				}
				continue
			}
			failErr = fmt.Errorf("polling source task: %w", err)
			break
		}
		delay = 100 * time.Millisecond
		if len(recs) > 0 {
			w.metrics.pollBatch(t.key, len(recs))
			n := 0
			for _, r := range recs {
				if r != nil {
					n++
				}
			}
			w.metrics.add(w.metrics.in, t.key, uint64(n))
		}
		for _, r := range recs {
			if r == nil {
				continue
			}
			seq++
			eb := p.bufs.get()
			kr, err := t.sourceRecordInto(ctx, p, r, eb)
			if err != nil {
				failErr = err
				break loop
			}
			pd, pt, err := tr.add(r.SourcePartition, r.SourceOffset, seq)
			if err != nil {
				failErr = err
				break loop
			}
			if kr == nil { // dropped or tolerated: its offset is done
				p.bufs.put(eb)
				tr.ack(pd, pt, nil)
				continue
			}
			// Produce with the task's context: stopping the task unblocks a
			// Produce waiting for buffer space (the record fails, its offset
			// is not committed).
			prod.Produce(ctx, kr, func(r *kgo.Record, err error) {
				if err == nil {
					w.metrics.recordOut(t.key)
					w.noteTopic(t.key, r.Topic)
					// Acknowledged: the client is done with the record's
					// bytes. A failed record's buffers are left to the GC,
					// as the client might still be writing them.
					p.bufs.put(eb)
				} else {
					err = t.producedWithError(ctx, p, r, err)
				}
				tr.ack(pd, pt, err)
			})
		}
		if err := tr.failure(); err != nil {
			failErr = fmt.Errorf("producing source records: %w", err)
			break
		}
	}
	close(flushStop)
	<-flushDone
	fctx, cancel := context.WithTimeout(context.Background(), w.cfg.TaskShutdownTimeout)
	if err := prod.Flush(fctx); err != nil {
		t.log.Warn("flushing producer on stop", "err", err)
	}
	if err := commit(fctx); err != nil {
		t.log.Warn("committing source offsets on stop", "err", err)
	}
	cancel()
	if err := st.Close(); err != nil {
		t.log.Warn("closing source task", "err", err)
	}
	if failErr == nil {
		failErr = tr.failure()
	}
	if failErr != nil {
		t.fail(failErr)
	}
}

// sourceRecord transforms and converts one polled record; nil means the
// record was dropped by a transform or tolerated as an error.
func (t *taskRunner) sourceRecord(ctx context.Context, p *pipeline, r *connect.Record) (*kgo.Record, error) {
	return t.sourceRecordInto(ctx, p, r, nil)
}

// sourceRecordInto is sourceRecord serializing into eb's buffers when the
// converters can (eb may be nil); eb then holds the buffers the record
// uses and must not be reused until the record is acknowledged.
func (t *taskRunner) sourceRecordInto(ctx context.Context, p *pipeline, r *connect.Record, eb *encBufs) (*kgo.Record, error) {
	kr, err := t.convertSource(ctx, p, r, eb)
	if err != nil {
		return nil, sourceRecordError(r, err)
	}
	return kr, nil
}

// sourceRecordError names the polled record an error is about: its topic
// (for CDC sources the table), key and source partition/offset.
func sourceRecordError(r *connect.Record, err error) error {
	key := fmt.Sprint(r.Key)
	if r.Key == nil {
		key = "null"
	}
	if len(key) > 512 {
		key = key[:512] + "..."
	}
	return fmt.Errorf("source record for topic %s (key %s, source partition %v, offset %v): %w", r.Topic, key, r.SourcePartition, r.SourceOffset, err)
}

// appendConverter is a converter that can serialize into a caller's
// buffer (convert.JSON).
type appendConverter interface {
	AppendFromConnect(dst []byte, topic string, s *connect.Schema, v any) ([]byte, error)
}

// encBufs are the key and value buffers of one record in flight, reused
// (through pipeline.bufs) once Kafka acknowledged the record.
type encBufs struct{ key, val []byte }

// fromConnect serializes with c, into *buf's storage when c can and buf is
// not nil; *buf then becomes the storage the output uses.
func fromConnect(c convert.Converter, buf *[]byte, topic string, s *connect.Schema, v any) ([]byte, error) {
	ac, ok := c.(appendConverter)
	if !ok || buf == nil {
		return c.FromConnect(topic, s, v)
	}
	b, err := ac.AppendFromConnect((*buf)[:0], topic, s, v)
	if cap(b) > 0 {
		*buf = b[:0]
	}
	return b, err
}

func (t *taskRunner) convertSource(ctx context.Context, p *pipeline, r *connect.Record, eb *encBufs) (*kgo.Record, error) {
	out, err := p.transform(ctx, r, nil)
	if err != nil || out == nil {
		return nil, err
	}
	var kbuf, vbuf *[]byte
	if eb != nil {
		kbuf, vbuf = &eb.key, &eb.val
	}
	var kb, vb []byte
	if err := p.eh.retry(ctx, func() error {
		var err error
		kb, err = fromConnect(p.keyConv, kbuf, out.Topic, out.KeySchema, out.Key)
		return err
	}); err != nil {
		return nil, p.eh.handle(ctx, stageKeyConverter, p.keyClass, err, nil)
	}
	if err := p.eh.retry(ctx, func() error {
		var err error
		vb, err = fromConnect(p.valConv, vbuf, out.Topic, out.ValueSchema, out.Value)
		return err
	}); err != nil {
		return nil, p.eh.handle(ctx, stageValueConverter, p.valClass, err, nil)
	}
	if out.Topic == "" {
		return nil, p.eh.handle(ctx, stageProduce, "producer", fmt.Errorf("record has no topic"), nil)
	}
	kr := &kgo.Record{Topic: out.Topic, Partition: out.Partition, Key: kb, Value: vb, Timestamp: out.Timestamp}
	for _, h := range out.Headers {
		var b []byte
		if err := p.eh.retry(ctx, func() error {
			var err error
			b, err = p.hdrConv.FromConnectHeader(out.Topic, h.Key, h.Schema, h.Value)
			return err
		}); err != nil {
			return nil, p.eh.handle(ctx, stageHeaderConverter, p.hdrClass, fmt.Errorf("header %s: %w", h.Key, err), nil)
		}
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: b})
	}
	return kr, nil
}

// commitSource writes acknowledged offsets to the offsets topic and, once
// that write is acknowledged, tells the task.
//
// Delivery invariant 2 (DESIGN.md).
func (t *taskRunner) commitSource(ctx context.Context, st connect.SourceTask, tr *offsetTracker) error {
	cs := tr.committable()
	if len(cs) == 0 {
		return nil
	}
	w := t.w
	recs := make([]*kgo.Record, 0, len(cs))
	offs := make([]connect.SourceOffset, 0, len(cs))
	for _, c := range cs {
		k, err := offsetKey(t.key.conn, c.off.Partition)
		if err != nil {
			return err
		}
		v, err := json.Marshal(c.off.Offset)
		if err != nil {
			return fmt.Errorf("source offset %v is not JSON-encodable: %w", c.off.Offset, err)
		}
		recs = append(recs, &kgo.Record{Topic: w.cfg.OffsetTopic, Key: k, Value: v})
		offs = append(offs, c.off)
	}
	// A fenced instance must not write offsets beside its successor.
	if err := t.guardWrite(func() error {
		if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("writing offsets: %w", err)
		}
		for _, r := range recs {
			_ = w.offsets.apply(r.Key, r.Value)
		}
		return nil
	}); err != nil {
		return err
	}
	tr.markWritten(cs)
	if err := st.Commit(ctx, offs); err != nil {
		return fmt.Errorf("task commit: %w", err)
	}
	return nil
}
