package worker

import "github.com/sluicehq/sluice/runtime/transform"

// newTransformChain builds the connector's transform chain from the
// registry's transformations and predicates.
func (w *Worker) newTransformChain(conn map[string]string) (recordTransformer, error) {
	c, err := transform.NewChainFrom(conn, w.reg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// validateTransforms returns per-key errors for the transforms settings,
// resolving classes in the registry as newTransformChain does.
func (w *Worker) validateTransforms(conn map[string]string) map[string][]string {
	return transform.ValidateFrom(conn, w.reg)
}
