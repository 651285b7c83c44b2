package mysql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ErrHistoryMissing is returned when a connector with a committed offset
// finds its schema history topic empty.
var ErrHistoryMissing = errors.New("mysql: the schema history topic or its content is fully or partially missing")

// historyRecord is one record of the schema history topic, in Debezium's
// HistoryRecord format: the offset partition and position at the DDL, the
// statement and the table definitions after it. schemaName is left out
// when null (always, for MySQL), as Debezium does.
type historyRecord struct {
	Source       map[string]any `json:"source"`
	Position     map[string]any `json:"position"`
	TsMs         int64          `json:"ts_ms"`
	DatabaseName string         `json:"databaseName"`
	SchemaName   *string        `json:"schemaName,omitempty"`
	DDL          string         `json:"ddl"`
	TableChanges []histChange   `json:"tableChanges"`
}

// historyStore keeps the schema history.
type historyStore interface {
	// records returns every stored record, oldest first.
	records(ctx context.Context) ([]historyRecord, error)
	// append stores a record durably before it returns.
	append(ctx context.Context, r historyRecord) error
	// durable reports whether the history survives the task.
	durable() bool
	close()
}

// memHistory is the history of a task without a schema history topic: it
// lives as long as the task.
type memHistory struct {
	mu   sync.Mutex
	recs []historyRecord
}

func (m *memHistory) records(context.Context) ([]historyRecord, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]historyRecord(nil), m.recs...), nil
}

func (m *memHistory) append(_ context.Context, r historyRecord) error {
	m.mu.Lock()
	m.recs = append(m.recs, r)
	m.mu.Unlock()
	return nil
}

func (m *memHistory) durable() bool { return false }
func (m *memHistory) close()        {}

// kafkaHistory is the schema history topic: one partition, records with a
// null key and a JSON string value, written synchronously.
type kafkaHistory struct {
	topic string
	seeds []string
	cl    *kgo.Client
	log   *slog.Logger
}

func newKafkaHistory(ctx context.Context, bootstrap, topic string, log *slog.Logger) (*kafkaHistory, error) {
	seeds := connect.SplitList(bootstrap)
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0))
	if err != nil {
		return nil, connect.Errorf(KeyHistoryBootstrap, "%v", err)
	}
	h := &kafkaHistory{topic: topic, seeds: seeds, cl: cl, log: log}
	if err := h.ensureTopic(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return h, nil
}

// ensureTopic creates the topic with one partition, delete cleanup and
// infinite retention, or checks an existing one.
func (h *kafkaHistory) ensureTopic(ctx context.Context) error {
	adm := kadm.NewClient(h.cl)
	cfg := map[string]*string{"cleanup.policy": strp("delete"), "retention.ms": strp("-1"), "retention.bytes": strp("-1")}
	r, err := adm.CreateTopic(ctx, 1, -1, cfg, h.topic)
	if err == nil {
		err = r.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return connect.Retriable(fmt.Errorf("mysql: create schema history topic %s: %w", h.topic, err))
	}
	td, err := adm.ListTopics(ctx, h.topic)
	if err != nil {
		return connect.Retriable(fmt.Errorf("mysql: describe schema history topic %s: %w", h.topic, err))
	}
	d, ok := td[h.topic]
	if !ok || d.Err != nil {
		return connect.Retriable(fmt.Errorf("mysql: describe schema history topic %s: %v", h.topic, d.Err))
	}
	if n := len(d.Partitions); n != 1 {
		return connect.Errorf(KeyHistoryTopic, "the schema history topic %s has %d partitions; it must have exactly one (order matters)", h.topic, n)
	}
	if rc, err := adm.DescribeTopicConfigs(ctx, h.topic); err == nil {
		for _, c := range rc {
			for _, kv := range c.Configs {
				want, ok := cfg[kv.Key]
				if ok && kv.Value != nil && *kv.Value != *want && !(kv.Key == "retention.ms" && *kv.Value == strconv.FormatInt(1<<63-1, 10)) {
					h.log.Warn("schema history topic setting differs from what the history needs", "topic", h.topic, "key", kv.Key, "value", *kv.Value, "want", *want)
				}
			}
		}
	}
	return nil
}

func (h *kafkaHistory) durable() bool { return true }
func (h *kafkaHistory) close()        { h.cl.Close() }

func (h *kafkaHistory) append(ctx context.Context, r historyRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	res := h.cl.ProduceSync(ctx, &kgo.Record{Topic: h.topic, Partition: 0, Value: b})
	if err := res.FirstErr(); err != nil {
		return connect.Retriable(fmt.Errorf("mysql: write schema history topic %s: %w", h.topic, err))
	}
	return nil
}

// records reads partition 0 from its start to its end offset.
func (h *kafkaHistory) records(ctx context.Context) ([]historyRecord, error) {
	adm := kadm.NewClient(h.cl)
	ends, err := adm.ListEndOffsets(ctx, h.topic)
	if err != nil {
		return nil, connect.Retriable(fmt.Errorf("mysql: read schema history topic %s end: %w", h.topic, err))
	}
	end, ok := ends.Lookup(h.topic, 0)
	if !ok || end.Err != nil {
		return nil, connect.Retriable(fmt.Errorf("mysql: read schema history topic %s end: %v", h.topic, end.Err))
	}
	if end.Offset <= 0 {
		return nil, nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.seeds...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{h.topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var out []historyRecord
	next := int64(-1)
	for next < end.Offset-1 {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		fs := cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = err })
		if ferr != nil {
			return nil, connect.Retriable(fmt.Errorf("mysql: read schema history topic %s: %w", h.topic, ferr))
		}
		if fs.NumRecords() == 0 && pctx.Err() != nil {
			return nil, connect.Retriable(fmt.Errorf("mysql: read schema history topic %s: no records before offset %d after 30s", h.topic, end.Offset))
		}
		for _, r := range fs.Records() {
			next = r.Offset
			var hr historyRecord
			if err := json.Unmarshal(r.Value, &hr); err != nil {
				return nil, fmt.Errorf("mysql: schema history topic %s offset %d is not a history record: %w", h.topic, r.Offset, err)
			}
			out = append(out, hr)
		}
	}
	return out, nil
}

// atOrBefore reports whether history position a is at or before the
// offset position b: by GTID set when both have one, else by binlog file
// and position.
func atOrBefore(flavor string, a map[string]any, b position) bool {
	pa, _, _ := parsePosition(a)
	if pa.gtids != "" && b.gtids != "" {
		if ok, err := gtidContained(flavor, pa.gtids, b.gtids); err == nil {
			return ok
		}
	}
	if c := compareBinlogFiles(pa.file, b.file); c != 0 {
		return c < 0
	}
	return pa.pos <= b.pos
}

// compareBinlogFiles orders binlog file names by their numeric extension.
func compareBinlogFiles(a, b string) int {
	na, nb := binlogSeq(a), binlogSeq(b)
	switch {
	case na < nb:
		return -1
	case na > nb:
		return 1
	}
	return strings.Compare(a, b)
}

func binlogSeq(f string) int64 {
	i := strings.LastIndexByte(f, '.')
	n, _ := strconv.ParseInt(f[i+1:], 10, 64)
	return n
}

// gtidContained reports whether every transaction of set a is in set b.
func gtidContained(flavor, a, b string) (bool, error) {
	if flavor == flavorMariaDB {
		pa, err := parseMariaDBGTIDs(a)
		if err != nil {
			return false, err
		}
		pb, err := parseMariaDBGTIDs(b)
		if err != nil {
			return false, err
		}
		return pa.containedIn(pb), nil
	}
	sa, err := newGTIDSet(flavor, a)
	if err != nil {
		return false, err
	}
	sb, err := newGTIDSet(flavor, b)
	if err != nil {
		return false, err
	}
	return sb.(*mysqlGTIDs).set.Contain(sa.(*mysqlGTIDs).set), nil
}

// containedIn reports whether every domain's latest transaction in m is at
// or before the same domain's in o.
func (m *mariaDBGTIDs) containedIn(o *mariaDBGTIDs) bool {
	for d, g := range m.byDomain {
		og, ok := o.byDomain[d]
		if !ok || og.SequenceNumber < g.SequenceNumber {
			return false
		}
	}
	return true
}
