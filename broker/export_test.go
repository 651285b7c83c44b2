package broker

import (
	"github.com/sluicehq/sluice/broker/controller"
	blog "github.com/sluicehq/sluice/broker/log"
)

// WithLogOptions adds partition-log options (tests inject I/O faults).
func WithLogOptions(opts ...blog.Option) Option {
	return func(o *options) { o.logOpts = append(o.logOpts, opts...) }
}

// ControllerState returns the broker's current metadata state (cluster
// mode), as an opaque value for ReconcileWith.
func ControllerState(b *Broker) any { return b.cl.node.State() }

// ReconcileWith reconciles the broker's local partitions against st, a
// state ControllerState returned earlier (a late reconcile with a stale
// state, as a racing caller makes).
func ReconcileWith(b *Broker, st any) {
	b.cl.reconcile(st.(*controller.State))
}
