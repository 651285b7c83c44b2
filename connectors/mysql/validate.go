package mysql

// ValidateConfig implements connect.ConfigValidator with the rules Start
// applies, so the worker refuses a config Start would reject.
func (c *Connector) ValidateConfig(cfg map[string]string) error {
	_, err := parseOptions(cfg, c.flavor)
	return err
}
