package mysql

import "github.com/sluicehq/sluice/runtime/connect"

var _ connect.Options = (*options)(nil)

// ValidateConfig implements connect.ConfigValidator: it binds cfg exactly
// as Start and the task's Open do (connect.Bind over options), so the
// worker refuses a config Start would reject.
func (c *Connector) ValidateConfig(cfg map[string]string) error {
	_, err := connect.Bind(cfg, &options{flavor: c.flavor})
	return err
}
