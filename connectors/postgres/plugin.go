package postgres

import (
	"context"
	"maps"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Class is the connector.class this plugin answers to.
const Class = "io.debezium.connector.postgresql.PostgresConnector"

// Plugin returns the Debezium-compatible PostgreSQL CDC source plugin.
func Plugin() connect.Plugin {
	return connect.Plugin{
		Class:   Class,
		Aliases: []string{"postgres", "PostgresConnector"},
		Type:    "source",
		Version: DebeziumVersion,
		New:     func() connect.Connector { return &Connector{} },
	}
}

// Connector is the PostgreSQL source connector: it validates the
// configuration and hands it to its single task.
type Connector struct {
	cfg map[string]string
}

// ConfigDef declares the connector's configuration keys.
func (c *Connector) ConfigDef() connect.ConfigDef { return (&options{}).Keys() }

// Start validates cfg.
func (c *Connector) Start(_ context.Context, cfg map[string]string) error {
	if _, err := parseOptions(cfg); err != nil {
		return err
	}
	c.cfg = maps.Clone(cfg)
	return nil
}

// TaskConfigs returns one task configuration: logical decoding of one slot
// cannot be split.
func (c *Connector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	if maxTasks < 1 {
		return nil, nil
	}
	return []map[string]string{maps.Clone(c.cfg)}, nil
}

// Stop releases nothing: the connector holds no resources.
func (c *Connector) Stop() error { return nil }

// NewTask returns a new, unopened task.
func (c *Connector) NewTask() connect.SourceTask { return NewTask() }
