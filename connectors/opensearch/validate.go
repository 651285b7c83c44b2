package opensearch

import "github.com/sluicehq/sluice/runtime/connect"

var _ connect.Options = (*settings)(nil)

// ValidateConfig implements connect.ConfigValidator: it binds cfg exactly
// as Start and the task's Start do (parseSettings, connect.Bind over
// settings), so the worker refuses a config Start would reject (such as
// max.buffered.records below batch.size).
func (c *Connector) ValidateConfig(cfg map[string]string) error {
	_, err := parseSettings(cfg)
	return err
}
