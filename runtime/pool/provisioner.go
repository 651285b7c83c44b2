package pool

import "context"

// WorkerSpec describes one worker of a pool.
type WorkerSpec struct {
	// Pool is the pool's name (the connector's name).
	Pool string
	// Index is the worker's stable ordinal (0, 1, ...). Scale-out adds
	// the lowest free index, scale-in removes the highest, so a restarted
	// worker keeps its identity.
	Index int
	// MCU is the worker's size: GOMAXPROCS = MCU, memory 4 GiB per MCU.
	MCU int
}

// Provisioner starts pool workers. The local provisioner runs child
// processes; a Kubernetes provisioner would scale a StatefulSet (see
// docs/pools.md).
type Provisioner interface {
	// Start starts one worker and returns once it runs (it may still be
	// joining the worker group).
	Start(ctx context.Context, spec WorkerSpec) (Worker, error)
}

// Worker is one running pool worker.
type Worker interface {
	// Spec returns what the worker was started with.
	Spec() WorkerSpec
	// ID is the worker id it reports in connector statuses.
	ID() string
	// URL is the worker's Kafka Connect REST URL.
	URL() string
	// PID is the worker's process id (0 when not a local process).
	PID() int
	// CPUSeconds is the CPU time (user + system) the worker used so far.
	CPUSeconds() (float64, error)
	// Drain stops the worker gracefully: it stops its tasks, which flush
	// and commit their offsets, then leaves the worker group, so the
	// remaining workers take its tasks over at once. It returns when the
	// worker exited (forcibly after ctx ends).
	Drain(ctx context.Context) error
	// Done is closed when the worker exited, for any reason.
	Done() <-chan struct{}
	// Err is why the worker exited (after Done).
	Err() error
}
