package worker

import "github.com/sluicehq/sluice/runtime/rest"

// The worker implements runtime/rest's Cluster and its optional extensions.
var (
	_ rest.Cluster       = (*Worker)(nil)
	_ rest.ConfigPatcher = (*Worker)(nil)
	_ rest.ClusterIDer   = (*Worker)(nil)
)
