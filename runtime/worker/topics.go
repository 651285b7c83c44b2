package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topic tracking (KIP-558): the first time a connector's task produces to
// or consumes from a topic, the worker writes a record to the status topic
// under the key "topic-<topic>-connector-<connector>" with the value
// {"topic":{"name","connector","task","discoverTimestamp"}}, as Kafka
// Connect does; a reset writes tombstones for those keys.

const (
	topicStatusPrefix    = "topic-"
	topicStatusSeparator = "-connector-"
)

// topicStatus is one active topic of a connector.
type topicStatus struct {
	Name              string `json:"name"`
	Connector         string `json:"connector"`
	Task              int    `json:"task"`
	DiscoverTimestamp int64  `json:"discoverTimestamp"`
}

type topicStatusValue struct {
	Topic topicStatus `json:"topic"`
}

func topicStatusKey(connector, topic string) string {
	return topicStatusPrefix + topic + topicStatusSeparator + connector
}

// applyTopic applies a topic status record. The connector and topic come
// from the value (names may contain the separator); a tombstone removes
// what its key recorded.
func (s *statusStore) applyTopic(key string, value []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if value == nil {
		if ct, ok := s.topicKeys[key]; ok {
			delete(s.topicKeys, key)
			if m := s.topics[ct[0]]; m != nil {
				delete(m, ct[1])
			}
		}
		return nil
	}
	var v topicStatusValue
	if err := json.Unmarshal(value, &v); err != nil {
		return err
	}
	if v.Topic.Name == "" || v.Topic.Connector == "" {
		return errBadKey
	}
	if s.topics[v.Topic.Connector] == nil {
		s.topics[v.Topic.Connector] = map[string]topicStatus{}
	}
	s.topics[v.Topic.Connector][v.Topic.Name] = v.Topic
	s.topicKeys[key] = [2]string{v.Topic.Connector, v.Topic.Name}
	return nil
}

func (s *statusStore) hasTopic(connector, topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.topics[connector][topic]
	return ok
}

func (s *statusStore) connectorTopics(connector string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.topics[connector]))
	for t := range s.topics[connector] {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// noteTopic records that a task used topic, once per connector and topic
// (again after a reset), when topic.tracking.enable is on.
func (w *Worker) noteTopic(k taskKey, topic string) {
	if !w.cfg.TopicTracking || topic == "" || w.statuses.hasTopic(k.conn, topic) {
		return
	}
	b, _ := json.Marshal(topicStatusValue{Topic: topicStatus{Name: topic, Connector: k.conn, Task: k.id, DiscoverTimestamp: time.Now().UnixMilli()}})
	key := topicStatusKey(k.conn, topic)
	_ = w.statuses.apply(key, b)
	w.prod.Produce(context.Background(), &kgo.Record{Topic: w.cfg.StatusTopic, Key: []byte(key), Value: b}, func(_ *kgo.Record, err error) {
		if err != nil {
			w.log.Warn("writing topic status", "key", key, "err", err)
		}
	})
}

// ConnectorTopics returns the topics a connector used since it was created
// or its topics were last reset (GET /connectors/{name}/topics).
func (w *Worker) ConnectorTopics(ctx context.Context, name string) ([]string, error) {
	if !w.cfg.TopicTracking {
		return nil, fmt.Errorf("Topic tracking is disabled.: %w", api.ErrForbidden)
	}
	if err := w.ready(ctx); err != nil {
		return nil, err
	}
	if _, ok := w.cfgs.snapshot().connectors[name]; !ok {
		return nil, notFound(name)
	}
	return w.statuses.connectorTopics(name), nil
}

// ResetConnectorTopics forgets the topics a connector used
// (PUT /connectors/{name}/topics/reset): it writes tombstones for them.
func (w *Worker) ResetConnectorTopics(ctx context.Context, name string) error {
	if !w.cfg.TopicTracking {
		return fmt.Errorf("Topic tracking is disabled.: %w", api.ErrForbidden)
	}
	if !w.cfg.TopicTrackingReset {
		return fmt.Errorf("Topic tracking reset is disabled.: %w", api.ErrForbidden)
	}
	if err := w.ready(ctx); err != nil {
		return err
	}
	if _, ok := w.cfgs.snapshot().connectors[name]; !ok {
		return notFound(name)
	}
	var recs []*kgo.Record
	for _, t := range w.statuses.connectorTopics(name) {
		recs = append(recs, &kgo.Record{Topic: w.cfg.StatusTopic, Key: []byte(topicStatusKey(name, t))})
	}
	if len(recs) == 0 {
		return nil
	}
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("writing topic status tombstones: %w", err)
	}
	for _, r := range recs {
		_ = w.statuses.apply(string(r.Key), nil)
	}
	return nil
}
