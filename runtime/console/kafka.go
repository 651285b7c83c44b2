package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Limits of the message browser.
const (
	DefaultMessages = 20
	MaxMessages     = 200
	// MaxShownBytes is how much of a key, value or header the browser
	// returns; longer ones are cut and flagged truncated.
	MaxShownBytes = 64 << 10
)

// ErrorBody is the JSON body of a console API error, in the REST API's
// shape.
type ErrorBody struct {
	ErrorCode int    `json:"error_code"`
	Message   string `json:"message"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, ErrorBody{ErrorCode: code, Message: msg})
}

func (c *Console) kafka(w http.ResponseWriter, r *http.Request) (*kadm.Client, context.Context, context.CancelFunc, bool) {
	adm, _, err := c.admin()
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, errNoKafka) {
			code = http.StatusServiceUnavailable
		}
		writeError(w, code, err.Error())
		return nil, nil, nil, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.o.timeout)
	return adm, ctx, cancel, true
}

func (c *Console) kafkaError(w http.ResponseWriter, what string, err error) {
	c.o.logger.Warn("console broker view", "request", what, "err", err)
	writeError(w, http.StatusBadGateway, fmt.Sprintf("%s: %v", what, err))
}

// Broker is one broker of GET /ui/api/cluster.
type Broker struct {
	NodeID int32   `json:"node_id"`
	Host   string  `json:"host"`
	Port   int32   `json:"port"`
	Rack   *string `json:"rack,omitempty"`
}

// Cluster is the body of GET /ui/api/cluster.
type Cluster struct {
	Bootstrap  []string `json:"bootstrap_servers"`
	ClusterID  string   `json:"cluster_id"`
	Controller int32    `json:"controller"`
	Brokers    []Broker `json:"brokers"`
}

func (c *Console) getCluster(w http.ResponseWriter, r *http.Request) {
	adm, ctx, cancel, ok := c.kafka(w, r)
	if !ok {
		return
	}
	defer cancel()
	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		c.kafkaError(w, "metadata", err)
		return
	}
	out := Cluster{Bootstrap: c.o.bootstrap, ClusterID: md.Cluster, Controller: md.Controller, Brokers: []Broker{}}
	for _, b := range md.Brokers {
		out.Brokers = append(out.Brokers, Broker{NodeID: b.NodeID, Host: b.Host, Port: b.Port, Rack: b.Rack})
	}
	writeJSON(w, http.StatusOK, out)
}

// Partition is one partition of a topic.
type Partition struct {
	Partition   int32   `json:"partition"`
	Leader      int32   `json:"leader"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	StartOffset int64   `json:"start_offset"`
	EndOffset   int64   `json:"end_offset"`
	// SizeBytes is the partition's size on the leader's disk, -1 when the
	// broker does not report log dirs.
	SizeBytes int64  `json:"size_bytes"`
	Error     string `json:"error,omitempty"`
}

// Topic is one topic of GET /ui/api/topics.
type Topic struct {
	Name       string      `json:"name"`
	Internal   bool        `json:"internal"`
	Protected  bool        `json:"protected,omitempty"`
	Partitions []Partition `json:"partitions"`
	Records    int64       `json:"records"`
	SizeBytes  int64       `json:"size_bytes"`
	Error      string      `json:"error,omitempty"`
}

// describeTopics lists topics (all when none are named) with offsets and
// sizes.
func (c *Console) describeTopics(ctx context.Context, adm *kadm.Client, names ...string) ([]Topic, error) {
	var (
		td  kadm.TopicDetails
		err error
	)
	if len(names) == 0 {
		td, err = adm.ListTopicsWithInternal(ctx)
	} else {
		td, err = adm.ListTopics(ctx, names...)
	}
	if err != nil {
		return nil, fmt.Errorf("listing topics: %w", err)
	}
	topics := td.Names()
	starts, err := adm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets: %w", err)
	}
	// Sizes are best effort: not every cluster allows DescribeLogDirs.
	var dirs kadm.DescribedAllLogDirs
	if len(topics) > 0 {
		set := kadm.TopicsSet{}
		for _, t := range topics {
			set.Add(t)
		}
		dirs, _ = adm.DescribeAllLogDirs(ctx, set)
	}
	out := make([]Topic, 0, len(topics))
	for _, name := range topics {
		d := td[name]
		t := Topic{Name: name, Internal: d.IsInternal, Protected: c.o.protected[name], Partitions: []Partition{}}
		if d.Err != nil {
			t.Error = d.Err.Error()
		}
		for _, p := range d.Partitions.Sorted() {
			pp := Partition{Partition: p.Partition, Leader: p.Leader, Replicas: nonNil(p.Replicas), ISR: nonNil(p.ISR), SizeBytes: -1}
			if p.Err != nil {
				pp.Error = p.Err.Error()
			}
			if so, ok := starts.Lookup(name, p.Partition); ok && so.Err == nil {
				pp.StartOffset = so.Offset
			}
			if eo, ok := ends.Lookup(name, p.Partition); ok {
				if eo.Err != nil {
					pp.Error = eo.Err.Error()
				} else {
					pp.EndOffset = eo.Offset
				}
			}
			if ld, ok := dirs[p.Leader]; ok {
				if dp, ok := ld.LookupPartition(name, p.Partition); ok {
					pp.SizeBytes = dp.Size
				}
			}
			if pp.EndOffset > pp.StartOffset {
				t.Records += pp.EndOffset - pp.StartOffset
			}
			if pp.SizeBytes > 0 {
				t.SizeBytes += pp.SizeBytes
			}
			t.Partitions = append(t.Partitions, pp)
		}
		out = append(out, t)
	}
	return out, nil
}

func nonNil(s []int32) []int32 {
	if s == nil {
		return []int32{}
	}
	return s
}

func (c *Console) getTopics(w http.ResponseWriter, r *http.Request) {
	adm, ctx, cancel, ok := c.kafka(w, r)
	if !ok {
		return
	}
	defer cancel()
	ts, err := c.describeTopics(ctx, adm)
	if err != nil {
		c.kafkaError(w, "topics", err)
		return
	}
	writeJSON(w, http.StatusOK, ts)
}

func (c *Console) getTopic(w http.ResponseWriter, r *http.Request) {
	adm, ctx, cancel, ok := c.kafka(w, r)
	if !ok {
		return
	}
	defer cancel()
	name := r.PathValue("topic")
	ts, err := c.describeTopics(ctx, adm, name)
	if err != nil {
		c.kafkaError(w, "topic "+name, err)
		return
	}
	if len(ts) != 1 || ts[0].Error != "" {
		msg := "Topic " + name + " not found"
		if len(ts) == 1 {
			msg += ": " + ts[0].Error
		}
		writeError(w, http.StatusNotFound, msg)
		return
	}
	writeJSON(w, http.StatusOK, ts[0])
}

// Data is a key, value or header value decoded for display: Encoding is
// "json" (Value holds the JSON), "text" (a UTF-8 string), "base64"
// (binary) or "null".
type Data struct {
	Encoding  string `json:"encoding"`
	Value     any    `json:"value"`
	Size      int    `json:"size"`
	Truncated bool   `json:"truncated,omitempty"`
}

// decode classifies b as JSON, text or binary.
func decode(b []byte, isNull bool) Data {
	if isNull {
		return Data{Encoding: "null"}
	}
	d := Data{Size: len(b)}
	if len(b) <= MaxShownBytes && json.Valid(b) {
		d.Encoding, d.Value = "json", json.RawMessage(b)
		return d
	}
	if len(b) > MaxShownBytes {
		b, d.Truncated = b[:MaxShownBytes], true
	}
	if utf8.Valid(b) || (d.Truncated && utf8.Valid(b[:max(0, len(b)-3)])) {
		d.Encoding, d.Value = "text", string(b)
		return d
	}
	d.Encoding, d.Value = "base64", base64.StdEncoding.EncodeToString(b)
	return d
}

// Header is one record header.
type Header struct {
	Key   string `json:"key"`
	Value Data   `json:"value"`
}

// Message is one record of the message browser.
type Message struct {
	Partition int32    `json:"partition"`
	Offset    int64    `json:"offset"`
	Timestamp int64    `json:"timestamp"` // Unix milliseconds
	Key       Data     `json:"key"`
	Value     Data     `json:"value"`
	Headers   []Header `json:"headers"`
}

// Messages is the body of GET /ui/api/topics/{topic}/messages.
type Messages struct {
	Topic       string    `json:"topic"`
	Partition   int32     `json:"partition"`
	StartOffset int64     `json:"start_offset"`
	EndOffset   int64     `json:"end_offset"`
	Messages    []Message `json:"messages"`
}

// getMessages returns the latest records of one partition, newest first:
// ?partition=P (default 0) &limit=N (default 20, at most 200).
func (c *Console) getMessages(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	q := r.URL.Query()
	part, limit := int64(0), int64(DefaultMessages)
	if v := q.Get("partition"); v != "" {
		p, err := strconv.ParseInt(v, 10, 32)
		if err != nil || p < 0 {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("partition %q: expected a non-negative integer", v))
			return
		}
		part = p
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil || n < 1 || n > MaxMessages {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("limit %q: expected an integer from 1 to %d", v, MaxMessages))
			return
		}
		limit = n
	}
	if c.o.protected[topic] {
		writeError(w, http.StatusForbidden, fmt.Sprintf("Topic %s holds connector configurations with unmasked secrets; the console does not show its records", topic))
		return
	}
	adm, ctx, cancel, ok := c.kafka(w, r)
	if !ok {
		return
	}
	defer cancel()
	p := int32(part)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		c.kafkaError(w, "start offsets", err)
		return
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		c.kafkaError(w, "end offsets", err)
		return
	}
	so, ok1 := starts.Lookup(topic, p)
	eo, ok2 := ends.Lookup(topic, p)
	if !ok1 || !ok2 {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Partition %d of topic %s not found", p, topic))
		return
	}
	if err := errors.Join(so.Err, eo.Err); err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Partition %d of topic %s: %v", p, topic, err))
		return
	}
	out := Messages{Topic: topic, Partition: p, StartOffset: so.Offset, EndOffset: eo.Offset, Messages: []Message{}}
	from := max(so.Offset, eo.Offset-limit)
	if from < eo.Offset {
		recs, err := c.readRange(ctx, topic, p, from, eo.Offset)
		if err != nil {
			c.kafkaError(w, "reading records", err)
			return
		}
		for i := len(recs) - 1; i >= 0; i-- {
			out.Messages = append(out.Messages, toMessage(recs[i]))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// readRange reads the records of topic/partition in [from, end) with a
// short-lived client; offsets missing in compacted logs are skipped.
func (c *Console) readRange(ctx context.Context, topic string, p int32, from, end int64) ([]*kgo.Record, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(c.o.bootstrap...),
		kgo.ClientID("sluice-console-browser"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {p: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, c.o.kgoOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	var recs []*kgo.Record
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			if len(recs) > 0 {
				return recs, nil // what arrived before the deadline
			}
			return nil, fmt.Errorf("no records before the deadline: %w", err)
		}
		for _, fe := range fs.Errors() {
			return nil, fmt.Errorf("fetching %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
		}
		done := false
		fs.EachRecord(func(rec *kgo.Record) {
			if rec.Offset >= end {
				done = true
				return
			}
			recs = append(recs, rec)
			if rec.Offset >= end-1 {
				done = true
			}
		})
		if done {
			return recs, nil
		}
	}
}

func toMessage(rec *kgo.Record) Message {
	m := Message{
		Partition: rec.Partition,
		Offset:    rec.Offset,
		Timestamp: rec.Timestamp.UnixMilli(),
		Key:       decode(rec.Key, rec.Key == nil),
		Value:     decode(rec.Value, rec.Value == nil),
		Headers:   []Header{},
	}
	for _, h := range rec.Headers {
		m.Headers = append(m.Headers, Header{Key: h.Key, Value: decode(h.Value, h.Value == nil)})
	}
	return m
}

// GroupMember is one member of a consumer group.
type GroupMember struct {
	MemberID   string   `json:"member_id"`
	InstanceID *string  `json:"instance_id,omitempty"`
	ClientID   string   `json:"client_id"`
	ClientHost string   `json:"client_host"`
	Assigned   []string `json:"assigned"` // topic/partition
}

// PartitionLag is one partition's committed offset and lag.
type PartitionLag struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	End       int64  `json:"end"`
	Lag       int64  `json:"lag"`
	MemberID  string `json:"member_id,omitempty"`
}

// Group is one consumer group of GET /ui/api/groups.
type Group struct {
	Group        string         `json:"group"`
	State        string         `json:"state"`
	ProtocolType string         `json:"protocol_type"`
	Protocol     string         `json:"protocol"`
	Coordinator  int32          `json:"coordinator"`
	Members      []GroupMember  `json:"members"`
	Lag          int64          `json:"lag"`
	Partitions   []PartitionLag `json:"partitions"`
	Error        string         `json:"error,omitempty"`
}

func (c *Console) getGroups(w http.ResponseWriter, r *http.Request) {
	adm, ctx, cancel, ok := c.kafka(w, r)
	if !ok {
		return
	}
	defer cancel()
	lags, err := adm.Lag(ctx)
	if err != nil {
		c.kafkaError(w, "groups", err)
		return
	}
	out := []Group{}
	for _, l := range lags.Sorted() {
		g := Group{
			Group: l.Group, State: l.State, ProtocolType: l.ProtocolType, Protocol: l.Protocol,
			Coordinator: l.Coordinator.NodeID, Members: []GroupMember{}, Partitions: []PartitionLag{},
		}
		if err := l.Error(); err != nil {
			g.Error = err.Error()
		}
		for _, m := range l.Members {
			gm := GroupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost, Assigned: []string{}}
			if ca, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range ca.Topics {
					for _, p := range t.Partitions {
						gm.Assigned = append(gm.Assigned, fmt.Sprintf("%s/%d", t.Topic, p))
					}
				}
				sort.Strings(gm.Assigned)
			}
			g.Members = append(g.Members, gm)
		}
		for _, pl := range l.Lag.Sorted() {
			p := PartitionLag{Topic: pl.Topic, Partition: pl.Partition, Committed: pl.Commit.At, End: pl.End.Offset, Lag: pl.Lag}
			if pl.Member != nil {
				p.MemberID = pl.Member.MemberID
			}
			g.Partitions = append(g.Partitions, p)
		}
		g.Lag = l.Lag.Total()
		out = append(out, g)
	}
	writeJSON(w, http.StatusOK, out)
}
