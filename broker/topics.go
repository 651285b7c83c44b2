package broker

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"

	blog "github.com/sluicehq/sluice/broker/log"
)

// offsetsTopic is the internal compacted topic holding consumer-group state.
const offsetsTopic = "__consumer_offsets"

// metaFileName is the topic metadata file inside the data dir.
const metaFileName = "meta.json"

// pidBlock is how many producer ids are reserved per metadata write.
const pidBlock = 1000

// metaState is the persisted broker metadata.
type metaState struct {
	Version   int    `json:"version"`
	ClusterID string `json:"cluster_id"`
	// NextProducerID is the first producer id never handed out: ids below
	// it may have been used before a restart and are never reused.
	NextProducerID int64       `json:"next_producer_id"`
	Topics         []metaTopic `json:"topics"`
}

type metaTopic struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
}

// topic is one topic's in-memory state. Fields other than parts and
// configs are immutable; parts and configs are replaced (never mutated in
// place) under Broker.mu.
type topic struct {
	name     string
	id       [16]byte
	internal bool
	configs  map[string]string // explicitly set configs
	set      topicSettings
	parts    []*partition
}

// topicSettings are the parsed configs the request path needs.
type topicSettings struct {
	log             blog.Config
	maxMessageBytes int32
	logAppendTime   bool
	compression     int // compression.type codec, -1 = producer (keep)
}

// partition is one partition of a topic.
type partition struct {
	topic string
	index int32
	log   *blog.Log
	rep   *replica // replication role; nil outside cluster mode
}

func newTopicID() [16]byte {
	var id [16]byte
	for {
		if _, err := rand.Read(id[:]); err != nil {
			panic(err) // crypto/rand never fails on Linux
		}
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if id != ([16]byte{}) {
			return id
		}
	}
}

func uuidString(id [16]byte) string {
	var s [36]byte
	hex.Encode(s[0:8], id[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], id[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], id[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], id[8:10])
	s[23] = '-'
	hex.Encode(s[24:], id[10:])
	return string(s[:])
}

func parseUUID(s string) ([16]byte, error) {
	var id [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(h) != 32 {
		return id, fmt.Errorf("topic id %q: want 32 hex digits", s)
	}
	if _, err := hex.Decode(id[:], []byte(h)); err != nil {
		return id, fmt.Errorf("topic id %q: %w", s, err)
	}
	return id, nil
}

// partDir is the directory of one partition's log.
func (b *Broker) partDir(id [16]byte, p int32) string {
	return filepath.Join(b.opts.dataDir, "logs", fmt.Sprintf("%s-%d", uuidString(id), p))
}

// loadMeta reads meta.json (or initialises it) and opens every partition.
func (b *Broker) loadMeta() error {
	path := filepath.Join(b.opts.dataDir, metaFileName)
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		// A fresh data dir. If partition directories exist without the
		// metadata naming them, refuse to start rather than treat them as
		// strays and delete them.
		if ents, _ := os.ReadDir(filepath.Join(b.opts.dataDir, "logs")); len(ents) > 0 {
			return fmt.Errorf("broker: %s is missing but %s holds %d partition directories; refusing to start (restore %s or empty the directory)",
				path, filepath.Join(b.opts.dataDir, "logs"), len(ents), metaFileName)
		}
		b.meta = metaState{Version: 1, ClusterID: uuidString(newTopicID())}
	case err != nil:
		return fmt.Errorf("broker: read %s: %w", path, err)
	default:
		if err := json.Unmarshal(raw, &b.meta); err != nil {
			return fmt.Errorf("broker: parse %s: %w", path, err)
		}
	}
	// Producer ids handed out before a crash may be anywhere below the
	// persisted reservation: start above it.
	b.pidNext = b.meta.NextProducerID
	for _, mt := range b.meta.Topics {
		id, err := parseUUID(mt.ID)
		if err != nil {
			return fmt.Errorf("broker: %s: topic %q: %w", path, mt.Name, err)
		}
		set, err := b.settingsFor(mt.Configs)
		if err != nil {
			return fmt.Errorf("broker: %s: topic %q: %w", path, mt.Name, err)
		}
		t := &topic{name: mt.Name, id: id, internal: mt.Internal, configs: mt.Configs, set: set}
		for p := int32(0); p < mt.Partitions; p++ {
			l, err := b.openLog(mt.Name, id, p, set.log)
			if err != nil {
				for _, pp := range t.parts {
					pp.log.Close()
				}
				return fmt.Errorf("broker: open %s-%d: %w", mt.Name, p, err)
			}
			t.parts = append(t.parts, &partition{topic: mt.Name, index: p, log: l})
		}
		b.topics[t.name] = t
		b.byID[t.id] = t
	}
	b.removeStrayDirs()
	// Persist now so the cluster id and producer reservation exist on disk.
	return b.saveMetaLocked()
}

// removeStrayDirs deletes partition directories no topic refers to (left
// by a crash in the middle of DeleteTopics).
func (b *Broker) removeStrayDirs() {
	ents, err := os.ReadDir(filepath.Join(b.opts.dataDir, "logs"))
	if err != nil {
		return
	}
	keep := make(map[string]bool)
	for _, t := range b.topics {
		for p := range t.parts {
			keep[filepath.Base(b.partDir(t.id, int32(p)))] = true
		}
	}
	for _, e := range ents {
		if !keep[e.Name()] {
			b.log.Warn("removing partition directory of a deleted topic", "dir", e.Name())
			_ = os.RemoveAll(filepath.Join(b.opts.dataDir, "logs", e.Name()))
		}
	}
}

// saveMetaLocked writes meta.json atomically (temp file, fsync, rename,
// fsync dir). b.mu must be held for writing (or the broker not started).
func (b *Broker) saveMetaLocked() error {
	m := b.meta
	m.Topics = m.Topics[:0:0]
	for _, t := range b.topics {
		m.Topics = append(m.Topics, metaTopic{
			Name: t.name, ID: uuidString(t.id), Partitions: int32(len(t.parts)),
			Configs: t.configs, Internal: t.internal,
		})
	}
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return blog.WriteFileAtomic(filepath.Join(b.opts.dataDir, metaFileName), raw)
}

// validTopicName reports why name is not a legal Kafka topic name.
func validTopicName(name string) error {
	if name == "" {
		return errors.New("topic name is empty")
	}
	if name == "." || name == ".." {
		return fmt.Errorf("topic name %q is not allowed", name)
	}
	if len(name) > 249 {
		return fmt.Errorf("topic name is %d characters long, the limit is 249", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic name %q has illegal character %q at byte %d (legal: ASCII letters, digits, '.', '_', '-')", name, c, i)
		}
	}
	return nil
}

// topicError is a Kafka error code with a message for one topic.
type topicError struct {
	code int16
	msg  string
}

func (e *topicError) Error() string { return e.msg }

func kafkaErr(e *kerr.Error, format string, args ...any) *topicError {
	return &topicError{code: e.Code, msg: fmt.Sprintf(format, args...)}
}

// createTopic creates a topic with partitions and configs. b.mu must NOT
// be held.
func (b *Broker) createTopic(name string, partitions int32, configs map[string]string, internal, validateOnly bool) (*topic, *topicError) {
	if b.cl != nil {
		return b.cl.createTopic(b.ctx, name, partitions, -1, nil, configs, internal, validateOnly)
	}
	if err := validTopicName(name); err != nil {
		return nil, kafkaErr(kerr.InvalidTopicException, "%v", err)
	}
	if !internal && name == offsetsTopic {
		return nil, kafkaErr(kerr.TopicAlreadyExists, "topic %q is internal", name)
	}
	if partitions == -1 {
		partitions = b.opts.defaultPartitions
	}
	if partitions < 1 || partitions > 100000 {
		return nil, kafkaErr(kerr.InvalidPartitions, "partition count %d must be between 1 and 100000", partitions)
	}
	if err := validateTopicConfigs(configs); err != nil {
		return nil, err
	}
	set, err := b.settingsFor(configs)
	if err != nil {
		return nil, kafkaErr(kerr.InvalidConfig, "%v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ctx.Err() != nil {
		return nil, kafkaErr(kerr.BrokerNotAvailable, "broker is shutting down")
	}
	if old, ok := b.topics[name]; ok {
		return old, kafkaErr(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	// Kafka refuses names that collide once '.' and '_' are considered equal.
	norm := strings.ReplaceAll(name, ".", "_")
	for other := range b.topics {
		if other != name && strings.ReplaceAll(other, ".", "_") == norm {
			return nil, kafkaErr(kerr.InvalidTopicException, "topic %q collides with existing topic %q ('.' and '_' collide)", name, other)
		}
	}
	if validateOnly {
		return &topic{name: name, configs: configs, set: set, parts: make([]*partition, partitions)}, nil
	}
	t := &topic{name: name, id: newTopicID(), internal: internal, configs: configs, set: set}
	for p := int32(0); p < partitions; p++ {
		l, err := b.openLog(name, t.id, p, set.log)
		if err != nil {
			for _, pp := range t.parts {
				pp.log.Remove()
			}
			return nil, kafkaErr(kerr.KafkaStorageError, "open partition %d: %v", p, err)
		}
		t.parts = append(t.parts, &partition{topic: name, index: p, log: l})
	}
	b.topics[name] = t
	b.byID[t.id] = t
	if err := b.saveMetaLocked(); err != nil {
		delete(b.topics, name)
		delete(b.byID, t.id)
		for _, pp := range t.parts {
			pp.log.Remove()
		}
		return nil, kafkaErr(kerr.KafkaStorageError, "persist topic metadata: %v", err)
	}
	b.log.Info("topic created", "topic", name, "id", uuidString(t.id), "partitions", partitions, "configs", configs)
	return t, nil
}

// deleteTopic removes a topic and its data.
func (b *Broker) deleteTopic(t *topic) *topicError {
	if t.internal {
		return kafkaErr(kerr.InvalidTopicException, "topic %q is internal and cannot be deleted", t.name)
	}
	if b.cl != nil {
		return b.cl.deleteTopic(t)
	}
	b.mu.Lock()
	if cur, ok := b.topics[t.name]; !ok || cur != t {
		b.mu.Unlock()
		return kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", t.name)
	}
	delete(b.topics, t.name)
	delete(b.byID, t.id)
	err := b.saveMetaLocked()
	if err != nil {
		b.topics[t.name] = t
		b.byID[t.id] = t
		b.mu.Unlock()
		return kafkaErr(kerr.KafkaStorageError, "persist topic metadata: %v", err)
	}
	b.mu.Unlock()
	for _, p := range t.parts {
		if err := p.log.Remove(); err != nil {
			b.log.Warn("remove partition data", "topic", t.name, "partition", p.index, "err", err)
		}
	}
	b.log.Info("topic deleted", "topic", t.name, "id", uuidString(t.id))
	return nil
}

// addPartitions grows a topic to count partitions.
func (b *Broker) addPartitions(name string, count int32, validateOnly bool) *topicError {
	if b.cl != nil {
		return b.cl.addPartitions(name, count, nil, validateOnly)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	t, ok := b.topics[name]
	if !ok {
		return kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	if t.internal {
		return kafkaErr(kerr.InvalidTopicException, "topic %q is internal", name)
	}
	have := int32(len(t.parts))
	if count <= have {
		return kafkaErr(kerr.InvalidPartitions, "topic %q has %d partitions; the new count %d must be larger", name, have, count)
	}
	if count > 100000 {
		return kafkaErr(kerr.InvalidPartitions, "partition count %d exceeds 100000", count)
	}
	if validateOnly {
		return nil
	}
	parts := append([]*partition(nil), t.parts...)
	for p := have; p < count; p++ {
		l, err := b.openLog(name, t.id, p, t.set.log)
		if err != nil {
			for _, pp := range parts[have:] {
				pp.log.Remove()
			}
			return kafkaErr(kerr.KafkaStorageError, "open partition %d: %v", p, err)
		}
		parts = append(parts, &partition{topic: name, index: p, log: l})
	}
	old := t.parts
	t.parts = parts
	if err := b.saveMetaLocked(); err != nil {
		t.parts = old
		for _, pp := range parts[have:] {
			pp.log.Remove()
		}
		return kafkaErr(kerr.KafkaStorageError, "persist topic metadata: %v", err)
	}
	b.log.Info("partitions added", "topic", name, "from", have, "to", count)
	return nil
}

// lookup returns a partition by topic name and index.
func (b *Broker) lookup(name string, p int32) (*topic, *partition, int16) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[name]
	if !ok {
		return nil, nil, kerr.UnknownTopicOrPartition.Code
	}
	if p < 0 || int(p) >= len(t.parts) {
		return t, nil, kerr.UnknownTopicOrPartition.Code
	}
	return t, t.parts[p], 0
}

// topicByName returns a topic and a snapshot of its partitions and
// settings.
func (b *Broker) topicByName(name string) (*topic, []*partition, topicSettings, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.topics[name]
	if !ok {
		return nil, nil, topicSettings{}, false
	}
	return t, t.parts, t.set, true
}

// topicByID is topicByName for topic ids.
func (b *Broker) topicByID(id [16]byte) (*topic, []*partition, topicSettings, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	t, ok := b.byID[id]
	if !ok {
		return nil, nil, topicSettings{}, false
	}
	return t, t.parts, t.set, true
}

// ensureTopic returns the named topic, auto-creating it when allowed.
func (b *Broker) ensureTopic(name string, create bool) (*topic, *topicError) {
	b.mu.RLock()
	t, ok := b.topics[name]
	b.mu.RUnlock()
	if ok {
		return t, nil
	}
	if !create {
		return nil, kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
	}
	t, terr := b.createTopic(name, -1, nil, false, false)
	if terr != nil && terr.code == kerr.TopicAlreadyExists.Code && t != nil {
		return t, nil
	}
	return t, terr
}
