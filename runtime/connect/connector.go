package connect

import (
	"context"
	"log/slog"
)

// Connector is the part of a plugin that validates configuration and splits
// the work into task configurations. It runs on one worker.
type Connector interface {
	// ConfigDef declares the connector's configuration keys.
	ConfigDef() ConfigDef
	// Start begins with a validated configuration.
	Start(ctx context.Context, cfg map[string]string) error
	// TaskConfigs returns at most maxTasks task configurations.
	TaskConfigs(maxTasks int) ([]map[string]string, error)
	// Stop releases the connector's resources.
	Stop() error
}

// SourceConnector is a connector whose tasks read from an external system
// and produce records to Kafka.
type SourceConnector interface {
	Connector
	// NewTask returns a new, unopened task.
	NewTask() SourceTask
}

// SinkConnector is a connector whose tasks consume records from Kafka and
// write them to an external system.
type SinkConnector interface {
	Connector
	// NewTask returns a new, unopened task.
	NewTask() SinkTask
}

// SourceOffset pairs a source partition with the position reached in it.
type SourceOffset struct {
	Partition map[string]any
	Offset    map[string]any
}

// OffsetReader reads committed source offsets from the offsets topic.
type OffsetReader interface {
	// Offset returns the committed offset for a source partition, or nil if
	// none was committed.
	Offset(ctx context.Context, partition map[string]any) (map[string]any, error)
}

// SourceTaskContext is what the runtime offers a running source task.
type SourceTaskContext interface {
	// Offsets reads committed source offsets.
	Offsets() OffsetReader
	// Logger returns a logger tagged with the connector and task.
	Logger() *slog.Logger
	// ConnectorName returns the connector's name.
	ConnectorName() string
	// TaskID returns the task's index.
	TaskID() int
}

// SourceTask reads from an external system. The runtime calls Open once,
// then Poll repeatedly from one goroutine, Commit from another goroutine
// whenever offsets became durable, and Close last.
type SourceTask interface {
	// Open starts the task from the position recorded in the committed
	// offsets (tctx.Offsets), or from the beginning when there is none.
	Open(ctx context.Context, cfg map[string]string, tctx SourceTaskContext) error
	// Poll returns the next records, blocking until some are available or
	// ctx ends. Returning no records and no error is allowed.
	Poll(ctx context.Context) ([]*Record, error)
	// Commit is called after the records carrying these offsets were
	// acknowledged by Kafka and the offsets were written to the offsets
	// topic, with the latest such offset per source partition. The task may
	// now acknowledge upstream (advance a replication slot, delete a file).
	Commit(ctx context.Context, offsets []SourceOffset) error
	// Close releases the task's resources. Poll is not running.
	Close() error
}

// SinkTaskContext is what the runtime offers a running sink task.
type SinkTaskContext interface {
	// Assignment returns the partitions currently assigned to the task.
	Assignment() []TopicPartition
	// Seek asks the runtime to consume the given partitions from the given
	// offsets next (for example after the task recovered its position from
	// the downstream system).
	Seek(offsets map[TopicPartition]int64)
	// RequestCommit asks for a flush and offset commit soon.
	RequestCommit()
	// Pause asks the runtime to stop fetching the given partitions, like
	// Kafka Connect's SinkTaskContext.pause: the consumer keeps polling (so
	// the task keeps its group membership and takes part in rebalances) and
	// Flush is still called, but no new records of those partitions are
	// fetched until Resume. Records already handed to Put stay delivered.
	// Pauses take effect before the runtime's next poll and are dropped when
	// a partition is revoked; partitions not assigned to the task are
	// ignored. Safe to call from any goroutine.
	Pause(partitions ...TopicPartition)
	// Resume undoes Pause for the given partitions (partitions that are not
	// paused are ignored), taking effect before the runtime's next poll.
	// While the connector itself is paused, no partition is fetched either
	// way. Safe to call from any goroutine.
	Resume(partitions ...TopicPartition)
	// Logger returns a logger tagged with the connector and task.
	Logger() *slog.Logger
	// ConnectorName returns the connector's name.
	ConnectorName() string
	// TaskID returns the task's index.
	TaskID() int
}

// SinkTask writes records to an external system. The runtime calls Open,
// then Assign, Put, Flush and Revoke from one goroutine, and Close last.
//
// Offsets in this interface are the next offset to consume, like Kafka
// consumer-group commits.
type SinkTask interface {
	// Open starts the task.
	Open(ctx context.Context, cfg map[string]string, tctx SinkTaskContext) error
	// Assign tells the task it now owns these partitions (after a
	// rebalance). The task may call tctx.Seek to choose where to resume.
	Assign(ctx context.Context, partitions []TopicPartition) error
	// Put hands records to the task, which may buffer them.
	Put(ctx context.Context, records []*Record) error
	// Flush makes data durable downstream. current holds, per partition,
	// the offset after the last record handed to Put. It returns the
	// offsets that are safe to commit: all of current for a task that
	// writes synchronously, or less for a task that still buffers records.
	// Only returned offsets are committed to the consumer group.
	Flush(ctx context.Context, current map[TopicPartition]int64) (map[TopicPartition]int64, error)
	// Revoke tells the task it loses these partitions. The runtime calls
	// Flush and commits before Revoke; the task drops buffered data for
	// them, which will be consumed again by the next owner.
	Revoke(ctx context.Context, partitions []TopicPartition) error
	// Close releases the task's resources.
	Close() error
}

// Plugin describes a connector implementation the runtime can instantiate.
// The set of plugins is passed explicitly to the runtime; there is no
// global registry.
type Plugin struct {
	// Class is the connector.class name, e.g.
	// io.debezium.connector.postgresql.PostgresConnector.
	Class string
	// Aliases are short names also accepted in connector.class.
	Aliases []string
	// Type is "source" or "sink".
	Type string
	// Version is reported by /connector-plugins.
	Version string
	// New returns a fresh connector instance (SourceConnector or
	// SinkConnector according to Type).
	New func() Connector
}

// Matches reports whether class names this plugin by class or alias.
func (p Plugin) Matches(class string) bool {
	if class == p.Class {
		return true
	}
	for _, a := range p.Aliases {
		if a == class {
			return true
		}
	}
	return false
}

// ConfigValidator is implemented by connectors whose Start applies rules
// beyond their ConfigDef (rules across keys, such as "a requires b").
// The runtime calls ValidateConfig in config validation
// (PUT /connector-plugins/{class}/config/validate) and before it stores a
// created or updated config, with a config that passed the ConfigDef, so a
// config Start would reject is refused at create time. Errors should be
// *ConfigError values naming the key; ValidateConfig must not reach
// external systems.
type ConfigValidator interface {
	ValidateConfig(cfg map[string]string) error
}
