// Package opensearch is sluice's OpenSearch sink connector,
// configuration-compatible with Aiven's
// io.aiven.kafka.connect.opensearch.OpensearchSinkConnector: it writes
// Kafka records to OpenSearch indices (or data streams) with the _bulk API,
// one document per record key, deletes on tombstones, external versions so
// a replay never overwrites a newer document with an older one, per-item
// retries of rejected items, and consumer offsets committed only for
// records OpenSearch acknowledged. See docs/connectors/opensearch.md.
package opensearch

import (
	"context"
	"maps"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Class is the connector class name (Aiven's).
const Class = "io.aiven.kafka.connect.opensearch.OpensearchSinkConnector"

// Version is reported by /connector-plugins.
const Version = "0.1.0"

// Plugin returns the OpenSearch sink plugin.
func Plugin() connect.Plugin {
	return connect.Plugin{
		Class:   Class,
		Aliases: []string{"opensearch", "OpensearchSinkConnector"},
		Type:    "sink",
		Version: Version,
		New:     func() connect.Connector { return &Connector{} },
	}
}

// Connector validates the configuration and gives every task a copy.
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

// NewTask returns a new OpenSearch sink task.
func (c *Connector) NewTask() connect.SinkTask { return NewTask() }
