package opensearch

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/opensearch-project/opensearch-go/v4"
	"github.com/opensearch-project/opensearch-go/v4/errmask"
	"github.com/opensearch-project/opensearch-go/v4/opensearchapi"

	"github.com/sluicehq/sluice/runtime/connect"
)

// op is one bulk operation for one record.
type op struct {
	tp     connect.TopicPartition
	offset int64
	action string // index, create, update, delete
	meta   []byte // the action line, without newline
	src    []byte // the source line, nil for delete
}

// ackEntry tracks the records of one partition in one dispatched batch.
type ackEntry struct {
	next int64 // offset after the batch's last record of the partition
	done bool
}

// Task is the OpenSearch sink task. Put converts records to bulk operations
// and queues them; a dispatcher hands full batches to max.in.flight.requests
// senders. Backpressure: when max.buffered.records records are unresolved
// (queued or in flight), the task pauses its assigned partitions through
// the SinkTaskContext and Put returns, so the runtime keeps polling (and
// keeps the group membership) without fetching more; the partitions resume
// once the unresolved count falls to half the limit. Put blocks only as a
// last resort, when it is called while twice the limit is unresolved (a
// runtime that ignores pauses), or at the limit without a task context.
// Flush returns, per partition, only offsets whose records OpenSearch
// acknowledged (or that the behaviour settings resolved).
type Task struct {
	s      *settings
	client *opensearchapi.Client
	log    *slog.Logger
	conv   converter
	sleep  func(ctx context.Context, d time.Duration) error

	ensured map[string]bool // indices known to exist
	tctx    connect.SinkTaskContext

	pauseMu sync.Mutex // orders pause decisions and their SinkTaskContext calls
	pausing bool       // the task paused its partitions
	paused  map[connect.TopicPartition]bool
	kick    chan struct{} // wakes the dispatcher

	sendMu  sync.Mutex // orders take-pending + hand-off
	batches chan []*op
	wg      sync.WaitGroup
	ctx     context.Context // ends at Close
	cancel  context.CancelFunc

	mu       sync.Mutex
	pending  []*op
	inFlight int // records handed to senders, not yet resolved
	// unresolved counts records Put and not yet resolved (pending, held by
	// the dispatcher, or in flight); open counts them per partition.
	unresolved int
	open       map[connect.TopicPartition]int
	acks       map[connect.TopicPartition][]*ackEntry
	acked      map[connect.TopicPartition]int64
	err        error         // first fatal sender error
	changed    chan struct{} // closed when inFlight or err changes
	linger     *time.Timer
	conflicts  int64
	dropped    int64
}

// NewTask returns an unopened task.
func NewTask() *Task { return &Task{} }

// Stats are counters of resolved non-success outcomes, for tests and logs.
type Stats struct {
	// Conflicts counts 409 version conflicts resolved by
	// behavior.on.version.conflict (ignore or warn).
	Conflicts int64
	// Dropped counts records skipped by behavior.on.malformed.documents or
	// drop.invalid.message.
	Dropped int64
}

// Stats returns the task's counters.
func (t *Task) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Stats{Conflicts: t.conflicts, Dropped: t.dropped}
}

// Open connects the client and starts the senders.
func (t *Task) Open(ctx context.Context, cfg map[string]string, tctx connect.SinkTaskContext) error {
	s, err := parseSettings(cfg)
	if err != nil {
		return err
	}
	t.s = s
	t.log = slog.Default()
	if tctx != nil {
		t.log = tctx.Logger()
	}
	t.tctx = tctx
	t.conv = converter{compactMap: s.compactMap}
	if t.sleep == nil {
		t.sleep = sleepCtx
	}
	dialer := &net.Dialer{Timeout: s.connTimeout, KeepAlive: 30 * time.Second}
	mask := errmask.New(errmask.All) // item failures are inspected here, whatever OPENSEARCH_GO_ERROR_MASK says
	t.client, err = opensearchapi.NewClient(opensearchapi.Config{
		Client: opensearch.Config{
			Addresses: s.urls, Username: s.username, Password: s.password,
			Transport: &http.Transport{DialContext: dialer.DialContext, ResponseHeaderTimeout: s.readTimout,
				MaxIdleConnsPerHost: s.maxInFlight + 2, IdleConnTimeout: 90 * time.Second},
			DisableRetry:          true, // the task retries with backoff and per item
			HealthCheckMaxRetries: -1,
		},
		Errors: mask,
	})
	if err != nil {
		return fmt.Errorf("opensearch client: %w", err)
	}
	t.ensured = map[string]bool{}
	t.acks = map[connect.TopicPartition][]*ackEntry{}
	t.acked = map[connect.TopicPartition]int64{}
	t.changed = make(chan struct{})
	t.open = map[connect.TopicPartition]int{}
	t.paused = map[connect.TopicPartition]bool{}
	t.kick = make(chan struct{}, 1)
	t.batches = make(chan []*op)
	n := s.maxInFlight
	if !t.reorderSafe() {
		n = 1 // without external versions, batches must apply in order
	}
	sctx, cancel := context.WithCancel(context.Background())
	t.ctx, t.cancel = sctx, cancel
	for range n {
		t.wg.Add(1)
		go t.sender(sctx)
	}
	t.wg.Add(1)
	go t.dispatcher(sctx)
	return nil
}

// dispatcher sends what is pending whenever kicked.
func (t *Task) dispatcher(ctx context.Context) {
	defer t.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.kick:
			_ = t.dispatch(ctx) // a fatal error is in t.err; ctx ends only at Close
		}
	}
}

// kickDispatch wakes the dispatcher without blocking.
func (t *Task) kickDispatch() {
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

// adjustPause pauses the assigned partitions when max.buffered.records are
// unresolved and resumes them once half the limit is left.
func (t *Task) adjustPause() {
	if t.tctx == nil {
		return
	}
	t.pauseMu.Lock()
	defer t.pauseMu.Unlock()
	t.mu.Lock()
	n := t.unresolved
	t.mu.Unlock()
	switch {
	case !t.pausing && n >= t.s.maxBuffered:
		t.pausing = true
		tps := t.tctx.Assignment()
		for _, tp := range tps {
			t.paused[tp] = true
		}
		t.tctx.Pause(tps...)
		t.log.Debug("opensearch: buffer full; pausing partitions", "unresolved", n, KeyMaxBuffered, t.s.maxBuffered)
	case t.pausing && n <= t.s.maxBuffered/2:
		t.pausing = false
		tps := make([]connect.TopicPartition, 0, len(t.paused))
		for tp := range t.paused {
			tps = append(tps, tp)
		}
		clear(t.paused)
		t.tctx.Resume(tps...)
		t.log.Debug("opensearch: buffer drained; resuming partitions", "unresolved", n)
	}
}

// reorderSafe reports whether concurrent batches may complete in any order:
// every keyed write carries an external version, so an older write that
// arrives late is refused with 409.
func (t *Task) reorderSafe() bool {
	return t.s.versionSource == "kafka.offset" && !t.s.upsert && !t.s.dataStream && !t.s.keyIgnore && len(t.s.topicKeyIgnore) == 0
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-tm.C:
		return nil
	}
}

// Assign pauses the new partitions too while the buffer is full; offsets
// come from the consumer group.
func (t *Task) Assign(_ context.Context, partitions []connect.TopicPartition) error {
	if t.tctx == nil {
		return nil
	}
	t.pauseMu.Lock()
	defer t.pauseMu.Unlock()
	if t.pausing {
		for _, tp := range partitions {
			t.paused[tp] = true
		}
		t.tctx.Pause(partitions...)
	}
	return nil
}

// Put converts records and queues them for the dispatcher, then pauses the
// partitions when max.buffered.records are unresolved. It blocks, before
// taking the records, only while the hard cap is reached (see
// waitBelowCap), so the buffer holds at most the cap plus one batch.
func (t *Task) Put(ctx context.Context, records []*connect.Record) error {
	if err := t.waitBelowCap(ctx); err != nil {
		return err
	}
	for _, r := range records {
		o, err := t.toOp(ctx, r)
		if err != nil {
			return err
		}
		if o == nil {
			continue
		}
		t.mu.Lock()
		t.pending = append(t.pending, o)
		t.unresolved++
		t.open[o.tp]++
		full := len(t.pending) >= t.s.batchSize
		t.mu.Unlock()
		if full {
			t.kickDispatch()
		}
	}
	t.mu.Lock()
	if len(t.pending) > 0 && t.linger == nil {
		t.linger = time.AfterFunc(max(t.s.linger, time.Millisecond), t.kickDispatch)
	}
	t.mu.Unlock()
	t.adjustPause()
	return nil
}

// waitBelowCap blocks until fewer than the hard cap of records are
// unresolved: twice max.buffered.records when the runtime can pause
// partitions (so only a runtime that keeps delivering paused partitions
// is held here), max.buffered.records without a task context.
func (t *Task) waitBelowCap(ctx context.Context) error {
	limit := t.s.maxBuffered
	if t.tctx != nil {
		limit *= 2
	}
	for {
		t.mu.Lock()
		err, n, ch := t.err, t.unresolved, t.changed
		t.mu.Unlock()
		if err != nil || n < limit {
			return err
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// dispatch hands the pending operations to a sender, waiting for capacity.
func (t *Task) dispatch(ctx context.Context) error {
	t.sendMu.Lock()
	defer t.sendMu.Unlock()
	t.mu.Lock()
	if t.linger != nil {
		t.linger.Stop()
		t.linger = nil
	}
	batch := t.pending
	t.pending = nil
	t.mu.Unlock()
	for len(batch) > 0 {
		n := min(len(batch), t.s.batchSize)
		b := batch[:n]
		batch = batch[n:]
		// Wait until the buffer has room.
		for {
			t.mu.Lock()
			err, room, ch := t.err, t.inFlight+len(b) <= t.s.maxBuffered, t.changed
			if err == nil && room {
				t.inFlight += len(b)
				t.track(b)
			}
			t.mu.Unlock()
			if err != nil {
				return err
			}
			if room {
				break
			}
			select {
			case <-ch:
			case <-ctx.Done():
				t.requeue(b, batch)
				return ctx.Err()
			}
		}
		select {
		case t.batches <- b:
		case <-ctx.Done():
			t.mu.Lock()
			t.inFlight -= len(b)
			t.untrack(b)
			t.mu.Unlock()
			t.requeue(b, batch)
			return ctx.Err()
		}
	}
	return nil
}

// requeue puts undispatched operations back in front of pending.
func (t *Task) requeue(parts ...[]*op) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var all []*op
	for _, p := range parts {
		all = append(all, p...)
	}
	t.pending = append(all, t.pending...)
}

// track records one ack entry per partition of a batch, in dispatch order.
// t.mu is held.
func (t *Task) track(b []*op) {
	last := map[connect.TopicPartition]int64{}
	for _, o := range b {
		last[o.tp] = max(last[o.tp], o.offset+1)
	}
	for tp, next := range last {
		t.acks[tp] = append(t.acks[tp], &ackEntry{next: next})
	}
}

// untrack removes the newest entries added by track(b). t.mu is held.
func (t *Task) untrack(b []*op) {
	seen := map[connect.TopicPartition]bool{}
	for _, o := range b {
		if !seen[o.tp] {
			seen[o.tp] = true
			q := t.acks[o.tp]
			t.acks[o.tp] = q[:len(q)-1]
		}
	}
}

// complete resolves batch b: on success it marks b's entries done and
// advances each partition's acknowledged prefix; an error becomes the
// task's fatal error.
func (t *Task) complete(b []*op, err error) {
	t.resolve(b, err)
	t.adjustPause()
}

func (t *Task) resolve(b []*op, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inFlight -= len(b)
	t.unresolved -= len(b)
	for _, o := range b {
		if t.open[o.tp]--; t.open[o.tp] <= 0 {
			delete(t.open, o.tp)
		}
	}
	if err != nil {
		if t.err == nil {
			t.err = err
		}
	} else {
		last := map[connect.TopicPartition]int64{}
		for _, o := range b {
			last[o.tp] = max(last[o.tp], o.offset+1)
		}
		for tp, next := range last {
			q := t.acks[tp]
			for _, e := range q {
				if !e.done && e.next == next {
					e.done = true
					break
				}
			}
			for len(q) > 0 && q[0].done {
				t.acked[tp] = q[0].next
				q = q[1:]
			}
			t.acks[tp] = q
		}
	}
	close(t.changed)
	t.changed = make(chan struct{})
}

func (t *Task) sender(ctx context.Context) {
	defer t.wg.Done()
	for {
		select {
		case <-ctx.Done():
			return
		case b := <-t.batches:
			t.complete(b, t.send(ctx, b))
		}
	}
}

// Flush has the dispatcher send what is pending, waits up to
// flush.timeout.ms (or the runtime's deadline) for acknowledgements and
// returns the acknowledged offsets.
func (t *Task) Flush(ctx context.Context, current map[connect.TopicPartition]int64) (map[connect.TopicPartition]int64, error) {
	fctx, cancel := context.WithTimeout(ctx, t.s.flushTimeout)
	defer cancel()
	t.kickDispatch()
	for {
		t.mu.Lock()
		err, idle, ch := t.err, t.unresolved == 0, t.changed
		t.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if idle {
			break
		}
		select {
		case <-ch:
			continue
		case <-fctx.Done():
		}
		break
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[connect.TopicPartition]int64, len(current))
	for tp, cur := range current {
		if t.open[tp] == 0 {
			out[tp] = cur // every record handed to Put is resolved
		} else if a, ok := t.acked[tp]; ok {
			out[tp] = a
		}
	}
	if len(out) < len(current) {
		t.log.Warn("opensearch: flush timed out with records unacknowledged; committing acknowledged offsets only",
			"in_flight", t.inFlight, "flush.timeout.ms", t.s.flushTimeout.Milliseconds())
	}
	return out, nil
}

// Revoke drops pending operations of the revoked partitions; in-flight
// ones complete (their offsets are not committed by this task).
func (t *Task) Revoke(_ context.Context, partitions []connect.TopicPartition) error {
	gone := map[connect.TopicPartition]bool{}
	for _, tp := range partitions {
		gone[tp] = true
	}
	t.mu.Lock()
	kept := t.pending[:0]
	for _, o := range t.pending {
		if !gone[o.tp] {
			kept = append(kept, o)
			continue
		}
		t.unresolved--
		if t.open[o.tp]--; t.open[o.tp] <= 0 {
			delete(t.open, o.tp)
		}
	}
	t.pending = kept
	for tp := range gone {
		delete(t.acked, tp)
	}
	close(t.changed)
	t.changed = make(chan struct{})
	t.mu.Unlock()
	t.pauseMu.Lock()
	for tp := range gone {
		delete(t.paused, tp) // the runtime dropped their pauses
	}
	t.pauseMu.Unlock()
	t.adjustPause()
	return nil
}

// Close stops the senders.
func (t *Task) Close() error {
	if t.cancel != nil {
		t.cancel()
		t.wg.Wait()
	}
	return nil
}

// toOp converts one record; nil means nothing to write.
func (t *Task) toOp(ctx context.Context, r *connect.Record) (*op, error) {
	tp, off := r.KafkaCoordinates()
	where := fmt.Sprintf("record %s-%d@%d", tp.Topic, tp.Partition, off)
	ignoreKey := t.s.keyIgnore || t.s.topicKeyIgnore[r.Topic]
	strategy := "record.key"
	if ignoreKey {
		strategy = t.s.keyIgnoreStrategy
	}
	index := t.s.indexName(r.Topic)
	var id string
	switch strategy {
	case "record.key":
		var err error
		if id, err = docID(r.Key); err != nil {
			if r.Value == nil {
				t.log.Debug("opensearch: tombstone without a usable key ignored", "record", where)
				return nil, nil
			}
			return t.invalid(where, fmt.Errorf("document id: %w", err))
		}
		if len(id) > 512 {
			return t.invalid(where, fmt.Errorf("document id is %d bytes; OpenSearch allows 512", len(id)))
		}
	case "topic.partition.offset":
		id = fmt.Sprintf("%s+%d+%d", tp.Topic, tp.Partition, off)
	}
	meta := map[string]any{"_index": index}
	if id != "" {
		meta["_id"] = id
	}
	external := strategy == "record.key" && t.s.versionSource == "kafka.offset" && !t.s.upsert && !t.s.dataStream
	if external {
		meta["version"] = off
		meta["version_type"] = "external"
	}
	o := &op{tp: tp, offset: off}
	if r.Value == nil {
		switch t.s.nullValues {
		case "ignore":
			return nil, nil
		case "fail":
			return nil, fmt.Errorf("opensearch: %s has a null value and %s=fail", where, KeyNullValues)
		}
		if id == "" || strategy != "record.key" {
			t.log.Debug("opensearch: tombstone without a key-derived id ignored", "record", where)
			return nil, nil
		}
		if t.s.routingType == "key" {
			meta["routing"] = id
		}
		o.action = "delete"
		o.meta, _ = json.Marshal(map[string]any{"delete": meta})
		return o, nil
	}
	doc, err := t.conv.value(r.ValueSchema, r.Value)
	if err != nil {
		return t.invalid(where, err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return t.invalid(where, fmt.Errorf("the value is a %T, not a struct or JSON object", doc))
	}
	switch t.s.routingType {
	case "key":
		if id != "" {
			meta["routing"] = id
		}
	case "value":
		v, ok := jsonPointer(obj, t.s.routingPath)
		if !ok {
			return t.invalid(where, fmt.Errorf("%s: no value at /%s", KeyRoutingValuePath, strings.Join(t.s.routingPath, "/")))
		}
		meta["routing"] = fmt.Sprint(v)
	}
	if t.s.dataStream {
		if _, ok := obj[t.s.dataStreamTSField]; !ok {
			ts := r.Timestamp
			if ts.IsZero() {
				ts = time.Now()
			}
			obj[t.s.dataStreamTSField] = isoMillis(ts)
		}
	}
	if err := t.ensureIndex(ctx, index, r); err != nil {
		return nil, err
	}
	switch {
	case t.s.dataStream:
		o.action = "create"
		o.src, err = json.Marshal(obj)
	case t.s.upsert && id != "":
		o.action = "update"
		meta["retry_on_conflict"] = min(t.s.maxInFlight, 3)
		o.src, err = json.Marshal(map[string]any{"doc": obj, "doc_as_upsert": true})
	default:
		o.action = "index"
		o.src, err = json.Marshal(obj)
	}
	if err != nil {
		return t.invalid(where, err)
	}
	o.meta, _ = json.Marshal(map[string]any{o.action: meta})
	return o, nil
}

// invalid handles a record that cannot become a document.
func (t *Task) invalid(where string, err error) (*op, error) {
	if t.s.dropInvalid {
		t.log.Warn("opensearch: dropping invalid record ("+KeyDropInvalid+"=true)", "record", where, "err", err)
		t.mu.Lock()
		t.dropped++
		t.mu.Unlock()
		return nil, nil
	}
	return nil, fmt.Errorf("opensearch: %s: %w", where, err)
}

// ensureIndex creates the index (with a mapping derived from the record's
// value schema unless schema.ignore) or the data stream when it does not
// exist yet.
func (t *Task) ensureIndex(ctx context.Context, index string, r *connect.Record) error {
	if t.ensured[index] {
		return nil
	}
	resp, err := t.client.Indices.Exists(ctx, opensearchapi.IndicesExistsReq{Indices: []string{index}})
	if resp != nil && resp.StatusCode == 200 {
		t.ensured[index] = true
		return nil
	}
	if resp == nil || resp.StatusCode != 404 {
		return connect.Retriable(fmt.Errorf("opensearch: checking index %s: %v", index, err))
	}
	var path string
	var body map[string]any
	if t.s.dataStream {
		tmpl := map[string]any{"index_patterns": []string{index}, "data_stream": map[string]any{"timestamp_field": map[string]any{"name": t.s.dataStreamTSField}}}
		if err := t.putJSON(ctx, "/_index_template/"+index, tmpl); err != nil {
			return err
		}
		path = "/_data_stream/" + index
	} else {
		path = "/" + index
		body = map[string]any{}
		if t.s.gcDeletes != "" {
			body["settings"] = map[string]any{"index": map[string]any{"gc_deletes": t.s.gcDeletes}}
		}
		if !t.s.schemaIgnore && !t.s.topicSchemaIgnore[r.Topic] && r.ValueSchema != nil && r.ValueSchema.Type == connect.StructT {
			body["mappings"] = mapping(r.ValueSchema)
		}
	}
	if err := t.putJSON(ctx, path, body); err != nil {
		return err
	}
	t.log.Info("opensearch: created "+map[bool]string{true: "data stream", false: "index"}[t.s.dataStream], "name", index)
	t.ensured[index] = true
	return nil
}

func (t *Task) putJSON(ctx context.Context, path string, body map[string]any) error {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	//lint:ignore SA1019 opensearch-go is pinned at v4, where Perform is the raw request path; revisit with v5
	resp, err := t.client.Client.Perform(req)
	if err != nil {
		return connect.Retriable(fmt.Errorf("opensearch: PUT %s: %w", path, err))
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 200 {
		return nil
	}
	if resp.StatusCode == 400 && bytes.Contains(b, []byte("resource_already_exists_exception")) {
		return nil
	}
	if resp.StatusCode == 429 || resp.StatusCode >= 500 {
		return connect.Retriable(fmt.Errorf("opensearch: PUT %s: HTTP %d: %s", path, resp.StatusCode, b))
	}
	return fmt.Errorf("opensearch: PUT %s: HTTP %d: %s", path, resp.StatusCode, b)
}

// malformedTypes are the item error types treated as malformed documents.
var malformedTypes = map[string]bool{
	"mapper_parsing_exception": true, "strict_dynamic_mapping_exception": true, "illegal_argument_exception": true,
	"action_request_validation_exception": true, "document_parsing_exception": true,
}

// backoff is exponential with full jitter: uniform in [0, base*2^attempt],
// at least 1ms, capped at one minute.
func (t *Task) backoff(attempt int) time.Duration {
	ceil := t.s.retryBackoff << min(attempt, 20)
	if ceil <= 0 || ceil > time.Minute {
		ceil = time.Minute
	}
	return time.Millisecond + rand.N(ceil)
}

// send writes one batch, retrying whole-request failures (I/O errors, 429,
// 5xx) and retryable items (429, 5xx) with backoff; other item failures
// follow the behaviour settings. It returns a non-nil error only when the
// batch cannot be completed, which fails the task.
func (t *Task) send(ctx context.Context, ops []*op) error {
	var body bytes.Buffer
	for attempt := 0; len(ops) > 0; attempt++ {
		if attempt > 0 {
			if err := t.sleep(ctx, t.backoff(attempt-1)); err != nil {
				return err
			}
		}
		body.Reset()
		for _, o := range ops {
			body.Write(o.meta)
			body.WriteByte('\n')
			if o.src != nil {
				body.Write(o.src)
				body.WriteByte('\n')
			}
		}
		resp, err := t.client.Bulk(ctx, opensearchapi.BulkReq{Body: bytes.NewReader(body.Bytes())})
		status := 0
		if resp != nil && resp.Inspect().Response != nil {
			status = resp.Inspect().Response.StatusCode
		}
		var lastErr error
		switch {
		case status == 200 && resp != nil && len(resp.Items) == len(ops):
			retry, ferr := t.items(ops, resp.Items)
			if ferr != nil {
				return ferr
			}
			if len(retry) > 0 {
				lastErr = fmt.Errorf("%d of %d items rejected with a retryable status", len(retry), len(ops))
			}
			ops = retry
		case status == 200:
			return fmt.Errorf("opensearch: _bulk answered %d items for %d operations", len(resp.Items), len(ops))
		case status == 0 || status == 429 || status >= 500:
			if ctx.Err() != nil {
				return ctx.Err()
			}
			lastErr = fmt.Errorf("_bulk: HTTP %d: %v", status, err)
		default:
			return fmt.Errorf("opensearch: _bulk failed with HTTP %d: %v", status, err)
		}
		if len(ops) == 0 {
			return nil
		}
		if attempt >= t.s.maxRetries {
			return fmt.Errorf("opensearch: giving up after %d retries (%s=%d): %v", attempt, KeyMaxRetries, t.s.maxRetries, lastErr)
		}
		t.log.Debug("opensearch: retrying", "attempt", attempt+1, "ops", len(ops), "err", lastErr)
	}
	return nil
}

// items resolves per-item results and returns the operations to retry.
func (t *Task) items(ops []*op, items []map[string]opensearchapi.BulkRespItem) ([]*op, error) {
	var retry []*op
	for i, it := range items {
		o := ops[i]
		var res opensearchapi.BulkRespItem
		for _, v := range it {
			res = v
		}
		where := fmt.Sprintf("record %s-%d@%d (id %q)", o.tp.Topic, o.tp.Partition, o.offset, res.ID)
		typ, reason := "", ""
		if res.Error != nil {
			typ, reason = res.Error.Type, res.Error.Reason
		}
		switch {
		case res.Status >= 200 && res.Status < 300:
		case o.action == "delete" && res.Status == 404:
			// Deleting a missing document (or index) is done.
		case res.Status == 429 || res.Status >= 500:
			retry = append(retry, o)
		case res.Status == 409 || typ == "version_conflict_engine_exception":
			switch t.s.versionConflict {
			case "fail":
				return nil, fmt.Errorf("opensearch: %s: version conflict (%s=fail): %s", where, KeyVersionConflict, reason)
			case "warn":
				t.log.Warn("opensearch: version conflict; a newer version is stored", "record", where, "reason", reason)
			}
			t.mu.Lock()
			t.conflicts++
			t.mu.Unlock()
		case malformedTypes[typ] || res.Status == 400:
			switch t.s.malformed {
			case "fail":
				return nil, fmt.Errorf("opensearch: %s: malformed document (%s=fail): %s: %s", where, KeyMalformed, typ, reason)
			case "warn":
				t.log.Warn("opensearch: skipping malformed document", "record", where, "type", typ, "reason", reason)
			}
			t.mu.Lock()
			t.dropped++
			t.mu.Unlock()
		default:
			return nil, fmt.Errorf("opensearch: %s: item failed with status %s: %s: %s", where, strconv.Itoa(res.Status), typ, reason)
		}
	}
	return retry, nil
}
