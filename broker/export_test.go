package broker

import blog "github.com/sluicehq/sluice/broker/log"

// WithLogOptions adds partition-log options (tests inject I/O faults).
func WithLogOptions(opts ...blog.Option) Option {
	return func(o *options) { o.logOpts = append(o.logOpts, opts...) }
}
