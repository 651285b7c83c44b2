package connect

// Metric is one gauge sample a task reports about itself.
//
// Name is the full Prometheus metric name; the worker adds no prefix and
// only exports names that start with "sluice_" and match
// [a-zA-Z_:][a-zA-Z0-9_:]*. Help is the metric's HELP text; samples of the
// same Name should carry the same Help (the first one wins). Labels are
// extra label pairs; names must match [a-zA-Z_][a-zA-Z0-9_]* and must not
// be "connector" or "task", which the worker adds itself. Values are
// escaped by the worker.
type Metric struct {
	Name   string
	Help   string
	Labels map[string]string
	Value  float64
}

// MetricsReporter is implemented by source or sink tasks that expose their
// own gauges (for example snapshot progress). The worker calls Metrics
// from its metrics endpoint while the task runs, concurrently with the
// task's other methods, so Metrics must be safe for concurrent use and
// cheap.
type MetricsReporter interface {
	Metrics() []Metric
}
