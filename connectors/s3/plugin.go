// Package s3 is sluice's S3 sink connector, configuration-compatible with
// Confluent's io.confluent.connect.s3.S3SinkConnector: it writes Kafka
// records to S3 (or a local directory) as Parquet or newline-delimited
// JSON files named <topics.dir>/<topic>/<partition path>/<topic>+<kafka
// partition>+<start offset>.<ext>, and commits consumer offsets only for
// records in files already uploaded. See docs/connectors/s3.md.
package s3

import (
	"context"
	"maps"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Class is the connector class name.
const Class = "io.confluent.connect.s3.S3SinkConnector"

// Version is reported by /connector-plugins.
const Version = "0.1.0"

// Plugin returns the S3 sink plugin (class io.confluent.connect.s3.S3SinkConnector, alias "s3").
func Plugin() connect.Plugin {
	return connect.Plugin{
		Class:   Class,
		Aliases: []string{"s3", "S3SinkConnector"},
		Type:    "sink",
		Version: Version,
		New:     func() connect.Connector { return &Connector{} },
	}
}

// Connector is the S3 sink connector: it validates the configuration and
// hands every task the same configuration (Kafka assigns partitions).
type Connector struct {
	cfg map[string]string
}

// ConfigDef declares the configuration keys.
func (c *Connector) ConfigDef() connect.ConfigDef { return (&settings{}).Keys() }

// Start validates cfg.
func (c *Connector) Start(_ context.Context, cfg map[string]string) error {
	if _, err := parseSettings(cfg); err != nil {
		return err
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs returns maxTasks copies of the configuration.
func (c *Connector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, max(maxTasks, 1))
	for i := range out {
		out[i] = maps.Clone(c.cfg)
	}
	return out, nil
}

// Stop does nothing; tasks hold the resources.
func (c *Connector) Stop() error { return nil }

// NewTask returns a new S3 sink task.
func (c *Connector) NewTask() connect.SinkTask { return NewTask() }
