// Package mskapi serves the Amazon MSK Connect ("kafkaconnect") REST-JSON
// API, and the few Amazon MSK ("kafka") cluster operations that
// create-connector's --kafka-cluster needs, so the real AWS CLI and SDKs
// manage sluice connectors with --endpoint-url. Connectors run on worker
// pools through a Backend; the API keeps MSK's own metadata (ARNs,
// versions, plugins, worker configurations, tags) itself.
package mskapi

import (
	"context"
	"errors"

	"github.com/sluicehq/sluice/runtime/pool"
)

// Backend is what the API needs from the pool side: connectors that run
// with a capacity, and their operations.
type Backend interface {
	// CreateConnector starts a connector on a pool of its own. workerProps
	// are the worker configuration's properties (nil without one), applied
	// to every worker of the pool.
	CreateConnector(ctx context.Context, name string, config map[string]string, c pool.Capacity, workerProps map[string]string) error
	// Connector describes a running connector; ok is false when it does
	// not exist (any more).
	Connector(name string) (st ConnectorStatus, ok bool)
	// UpdateCapacity moves the connector's pool to a new capacity and
	// returns the operation id.
	UpdateCapacity(ctx context.Context, name string, c pool.Capacity) (string, error)
	// UpdateConfig replaces the connector's configuration and returns the
	// operation id.
	UpdateConfig(ctx context.Context, name string, config map[string]string) (string, error)
	// DeleteConnector deletes the connector and stops its pool.
	DeleteConnector(ctx context.Context, name string) error
	// Operations lists the connector's operations, oldest first.
	Operations(name string) []pool.Operation
}

// ConnectorStatus is the pool side of a connector.
type ConnectorStatus struct {
	State            pool.ConnectorState
	StateDescription pool.StateDescription
	Capacity         pool.Capacity
	WorkerCount      int
	Config           map[string]string
}

// ErrExists is returned by Backend.CreateConnector when a connector of
// that name already exists outside the MSK API.
var ErrExists = errors.New("connector already exists")

// Cluster is the bundled broker as `aws kafka` describes it.
type Cluster struct {
	Name      string
	Bootstrap string
	Brokers   int
}
