package connect

import (
	"maps"
	"slices"
	"time"
)

// Header is one record header with an optional schema.
type Header struct {
	Key    string
	Schema *Schema
	Value  any
}

// TimestampType says where a sink record's timestamp comes from.
type TimestampType int8

// Timestamp types, as in Kafka.
const (
	NoTimestampType TimestampType = iota
	CreateTime
	LogAppendTime
)

// TopicPartition names one partition of a Kafka topic.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Record is one piece of data moving through the runtime. Source tasks fill
// SourcePartition/SourceOffset; the runtime fills Partition, Offset and
// TimestampType for records handed to sink tasks. Transforms see both
// kinds.
type Record struct {
	Topic string
	// Partition is the Kafka partition. Source tasks set it to -1 to let
	// the producer's partitioner choose by key.
	Partition int32

	KeySchema   *Schema
	Key         any
	ValueSchema *Schema
	Value       any
	// Timestamp is the record time; the zero time means unset.
	Timestamp time.Time
	Headers   []Header

	// SourcePartition identifies the source stream this record came from
	// (for example {"server": "db1"}); SourceOffset is its position in that
	// stream. Both are stored in the offsets topic and must be JSON-encodable.
	SourcePartition map[string]any
	SourceOffset    map[string]any

	// Offset is the Kafka offset of a record delivered to a sink task.
	Offset        int64
	TimestampType TimestampType
	// OriginalTopic, OriginalPartition and OriginalOffset keep the Kafka
	// coordinates of a sink record after transforms changed its topic or
	// partition, so offsets are committed for the partition actually
	// consumed.
	OriginalTopic     string
	OriginalPartition int32
	OriginalOffset    int64
}

// Clone returns a shallow copy of r with its own header slice and source
// maps, so a transform can change them without affecting r.
func (r *Record) Clone() *Record {
	c := *r
	c.Headers = slices.Clone(r.Headers)
	c.SourcePartition = maps.Clone(r.SourcePartition)
	c.SourceOffset = maps.Clone(r.SourceOffset)
	return &c
}

// Header returns the last header with the given key, or nil.
func (r *Record) Header(key string) *Header {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return &r.Headers[i]
		}
	}
	return nil
}

// KafkaCoordinates returns the topic, partition and offset the record was
// consumed from, before any transform renamed it.
func (r *Record) KafkaCoordinates() (TopicPartition, int64) {
	if r.OriginalTopic != "" {
		return TopicPartition{r.OriginalTopic, r.OriginalPartition}, r.OriginalOffset
	}
	return TopicPartition{r.Topic, r.Partition}, r.Offset
}
