package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/convert"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Error-handling stages, as in Kafka Connect's __connect.errors.stage.
const (
	stageTransformation  = "TRANSFORMATION"
	stageKeyConverter    = "KEY_CONVERTER"
	stageValueConverter  = "VALUE_CONVERTER"
	stageHeaderConverter = "HEADER_CONVERTER"
	stageProduce         = "KAFKA_PRODUCE"
	stageTaskPut         = "TASK_PUT"
	stageTaskPoll        = "TASK_POLL"
)

// pipeline is what a task needs to move records: converters, the
// transform chain and the error handler.
type pipeline struct {
	keyConv, valConv convert.Converter
	keyClass         string
	valClass         string
	hdrConv          convert.HeaderConverter
	hdrClass         string
	chain            recordTransformer
	eh               *errHandler
	// bufs holds the buffers of acknowledged source records for reuse.
	bufs bufPool
}

// bufPool is a bounded free list of record buffers. Unlike a sync.Pool it
// survives garbage collections, which at the source's allocation rate
// would empty a sync.Pool every few thousand records.
type bufPool struct {
	mu   sync.Mutex
	free []*encBufs
}

const (
	maxFreeBufs   = 4096     // about one producer batch's records
	maxPooledSize = 64 << 10 // larger buffers are left to the GC
)

// get returns a free buffer pair, or a new empty one.
func (b *bufPool) get() *encBufs {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(b.free); n > 0 {
		eb := b.free[n-1]
		b.free[n-1] = nil
		b.free = b.free[:n-1]
		return eb
	}
	return &encBufs{}
}

// put returns eb (whose bytes nothing uses any more) to the list.
func (b *bufPool) put(eb *encBufs) {
	if cap(eb.key)+cap(eb.val) > maxPooledSize {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.free) < maxFreeBufs {
		b.free = append(b.free, eb)
	}
}

// recordTransformer applies a transform chain; a nil result drops the record.
type recordTransformer interface {
	Apply(r *connect.Record) (*connect.Record, error)
}

// converterFor returns the converter class and settings for a connector:
// the connector's own key.converter/value.converter override the worker's.
func (w *Worker) converterFor(conn map[string]string, isKey bool) (string, map[string]string) {
	prefix := "value.converter"
	class, cfg := w.cfg.ValueConverter, w.cfg.ValueConverterConfig
	if isKey {
		prefix = "key.converter"
		class, cfg = w.cfg.KeyConverter, w.cfg.KeyConverterConfig
	}
	if c, ok := conn[prefix]; ok && strings.TrimSpace(c) != "" {
		return strings.TrimSpace(c), prefixed(conn, prefix+".")
	}
	return class, cfg
}

func (w *Worker) newPipeline(k taskKey, conn map[string]string) (*pipeline, error) {
	p := &pipeline{}
	var err error
	var kc, vc map[string]string
	p.keyClass, kc = w.converterFor(conn, true)
	if p.keyConv, err = w.reg.NewConverter(p.keyClass, kc, true); err != nil {
		return nil, fmt.Errorf("key.converter: %w", err)
	}
	p.valClass, vc = w.converterFor(conn, false)
	if p.valConv, err = w.reg.NewConverter(p.valClass, vc, false); err != nil {
		return nil, fmt.Errorf("value.converter: %w", err)
	}
	p.hdrClass = w.cfg.HeaderConverter
	hc := prefixed(w.cfg.Props, "header.converter.")
	if c := strings.TrimSpace(conn["header.converter"]); c != "" {
		p.hdrClass, hc = c, prefixed(conn, "header.converter.")
	}
	if p.hdrConv, err = w.reg.NewHeaderConverter(p.hdrClass, hc); err != nil {
		return nil, fmt.Errorf("header.converter: %w", err)
	}
	if p.hdrClass == "" {
		p.hdrClass = convert.SimpleHeaderClass
	}
	if strings.TrimSpace(conn["transforms"]) != "" {
		if p.chain, err = w.newTransformChain(conn); err != nil {
			return nil, err
		}
	}
	if p.eh, err = w.newErrHandler(k, conn); err != nil {
		return nil, err
	}
	return p, nil
}

// transform applies the chain (with retries and tolerance); nil = dropped.
func (p *pipeline) transform(ctx context.Context, r *connect.Record, orig *kgo.Record) (*connect.Record, error) {
	if p.chain == nil {
		return r, nil
	}
	var out *connect.Record
	err := p.eh.retry(ctx, func() error {
		var err error
		out, err = p.chain.Apply(r)
		return err
	})
	if err != nil {
		return nil, p.eh.handle(ctx, stageTransformation, "transforms", err, orig)
	}
	return out, nil
}

// errHandler implements errors.tolerance, errors.log.*, errors.retry.* and
// the dead letter queue.
type errHandler struct {
	w           *Worker
	key         taskKey
	log         *slog.Logger
	tolerateAll bool
	logEnable   bool
	logInclude  bool
	retryTO     time.Duration // <0: forever
	maxDelay    time.Duration
	dlq         string
	dlqHeaders  bool
	dlqRF       int16
	dlqReady    bool
}

func (w *Worker) newErrHandler(k taskKey, conn map[string]string) (*errHandler, error) {
	h := &errHandler{w: w, key: k, log: w.log.With("connector", k.conn, "task", k.id), maxDelay: time.Minute, dlqRF: -1}
	switch strings.ToLower(strings.TrimSpace(conn["errors.tolerance"])) {
	case "", "none":
	case "all":
		h.tolerateAll = true
	default:
		return nil, fmt.Errorf("errors.tolerance %q: must be none or all", conn["errors.tolerance"])
	}
	h.logEnable = isTrue(conn["errors.log.enable"])
	h.logInclude = isTrue(conn["errors.log.include.messages"])
	ms := func(key string, def int64) (time.Duration, error) {
		v, ok := conn[key]
		if !ok || strings.TrimSpace(v) == "" {
			return time.Duration(def) * time.Millisecond, nil
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < -1 {
			return 0, fmt.Errorf("%s %q: expected milliseconds", key, v)
		}
		return time.Duration(n) * time.Millisecond, nil
	}
	var err error
	if h.retryTO, err = ms("errors.retry.timeout", 0); err != nil {
		return nil, err
	}
	if h.maxDelay, err = ms("errors.retry.delay.max.ms", 60000); err != nil {
		return nil, err
	}
	h.dlq = strings.TrimSpace(conn["errors.deadletterqueue.topic.name"])
	h.dlqHeaders = isTrue(conn["errors.deadletterqueue.context.headers.enable"])
	if v := strings.TrimSpace(conn["errors.deadletterqueue.topic.replication.factor"]); v != "" {
		n, err := strconv.ParseInt(v, 10, 16)
		if err != nil || n == 0 || n < -1 {
			return nil, fmt.Errorf("errors.deadletterqueue.topic.replication.factor %q: expected a positive number or -1", v)
		}
		h.dlqRF = int16(n)
	}
	return h, nil
}

// retry runs op and retries retriable errors with exponential backoff
// (300 ms doubling up to errors.retry.delay.max.ms) until
// errors.retry.timeout has passed.
func (h *errHandler) retry(ctx context.Context, op func() error) error {
	err := op()
	if err == nil || !connect.IsRetriable(err) || h.retryTO == 0 {
		return err // the common case, without reading the clock
	}
	return h.retryAfter(ctx, op, err)
}

// retryAfter is retry after op's first attempt failed with the retriable
// err (the timeout counts from there).
func (h *errHandler) retryAfter(ctx context.Context, op func() error, err error) error {
	start := time.Now()
	delay := 300 * time.Millisecond
	if h.maxDelay > 0 && delay > h.maxDelay {
		delay = h.maxDelay
	}
	for {
		if h.retryTO > 0 && time.Since(start)+delay > h.retryTO {
			return err
		}
		h.log.Debug("retrying after retriable error", "err", err, "delay", delay)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
		delay *= 2
		if h.maxDelay > 0 && delay > h.maxDelay {
			delay = h.maxDelay
		}
		if err = op(); err == nil || !connect.IsRetriable(err) {
			return err
		}
	}
}

// handle decides about a failed record operation: nil when tolerated (the
// record is skipped, logged and sent to the DLQ), else the error that fails
// the task. orig is the consumed record for sink tasks (nil for sources).
func (h *errHandler) handle(ctx context.Context, stage, class string, err error, orig *kgo.Record) error {
	h.w.metrics.taskError(h.key)
	if !h.tolerateAll {
		if orig != nil {
			return fmt.Errorf("tolerance exceeded in error handler (stage %s, %s) for the record at topic %s, partition %d, offset %d: %w",
				stage, class, orig.Topic, orig.Partition, orig.Offset, err)
		}
		return fmt.Errorf("tolerance exceeded in error handler (stage %s, %s): %w", stage, class, err)
	}
	if h.logEnable {
		attrs := []any{"stage", stage, "class", class, "err", err}
		if orig != nil {
			attrs = append(attrs, "topic", orig.Topic, "partition", orig.Partition, "offset", orig.Offset)
			if h.logInclude {
				attrs = append(attrs, "key", string(orig.Key), "value", string(orig.Value))
			}
		}
		h.log.Error("error tolerated", attrs...)
	}
	if h.dlq != "" && orig != nil {
		if derr := h.sendDLQ(ctx, stage, class, err, orig); derr != nil {
			return fmt.Errorf("writing to dead letter queue %s: %w", h.dlq, derr)
		}
	}
	return nil
}

func (h *errHandler) sendDLQ(ctx context.Context, stage, class string, err error, orig *kgo.Record) error {
	if !h.dlqReady {
		if cerr := h.w.createTopic(ctx, h.dlq, 1, h.dlqRF, nil); cerr != nil {
			return cerr
		}
		h.dlqReady = true
	}
	r := &kgo.Record{Topic: h.dlq, Key: orig.Key, Value: orig.Value, Timestamp: orig.Timestamp}
	r.Headers = append(r.Headers, orig.Headers...)
	if h.dlqHeaders {
		exClass := fmt.Sprintf("%T", err)
		var inner error = err
		for {
			u := errors.Unwrap(inner)
			if u == nil {
				break
			}
			inner = u
		}
		add := func(k, v string) {
			r.Headers = append(r.Headers, kgo.RecordHeader{Key: "__connect.errors." + k, Value: []byte(v)})
		}
		add("topic", orig.Topic)
		add("partition", strconv.Itoa(int(orig.Partition)))
		add("offset", strconv.FormatInt(orig.Offset, 10))
		add("connector.name", h.key.conn)
		add("task.id", strconv.Itoa(h.key.id))
		add("stage", stage)
		add("class.name", class)
		add("exception.class.name", exClass)
		add("exception.message", err.Error())
		add("exception.stacktrace", errorChain(err)+"\ncaused by "+fmt.Sprintf("%T", inner))
	}
	return h.w.prod.ProduceSync(ctx, r).FirstErr()
}

// errorChain renders an error and its wrapped causes, one per line.
func errorChain(err error) string {
	var b strings.Builder
	for e := err; e != nil; e = errors.Unwrap(e) {
		if b.Len() > 0 {
			b.WriteString("\n\tat ")
		}
		fmt.Fprintf(&b, "%T: %v", e, e)
	}
	return b.String()
}
