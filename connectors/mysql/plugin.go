package mysql

import (
	"context"
	"maps"
	"net"

	"github.com/sluicehq/sluice/runtime/connect"
)

// Connector classes this package answers to.
const (
	ClassMySQL   = "io.debezium.connector.mysql.MySqlConnector"
	ClassMariaDB = "io.debezium.connector.mariadb.MariaDbConnector"
)

// Plugins returns the Debezium-compatible MySQL and MariaDB CDC source
// plugins.
func Plugins() []connect.Plugin {
	return []connect.Plugin{
		{Class: ClassMySQL, Aliases: []string{"mysql", "MySqlConnector"}, Type: "source", Version: DebeziumVersion,
			New: func() connect.Connector { return &Connector{flavor: flavorMySQL} }},
		{Class: ClassMariaDB, Aliases: []string{"mariadb", "MariaDbConnector"}, Type: "source", Version: DebeziumVersion,
			New: func() connect.Connector { return &Connector{flavor: flavorMariaDB} }},
	}
}

// Connector is the MySQL/MariaDB source connector: it validates the
// configuration and hands it to its single task.
type Connector struct {
	flavor string
	cfg    map[string]string
}

// ConfigDef declares the connector's configuration keys.
func (c *Connector) ConfigDef() connect.ConfigDef { return (&options{}).Keys() }

// Start validates cfg.
func (c *Connector) Start(_ context.Context, cfg map[string]string) error {
	if _, err := parseOptions(cfg, c.flavor); err != nil {
		return err
	}
	c.cfg = maps.Clone(cfg)
	if c.cfg["connector.class"] == "" {
		c.cfg["connector.class"] = map[string]string{flavorMySQL: ClassMySQL, flavorMariaDB: ClassMariaDB}[c.flavor]
	}
	return nil
}

// TaskConfigs returns one task configuration: one binlog stream cannot be
// split.
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

type netDialer struct{ d net.Dialer }

func (n *netDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return n.d.DialContext(ctx, network, addr)
}
