package worker

import "github.com/sluicehq/sluice/runtime/transform"

// newTransformChain builds the connector's transform chain.
func newTransformChain(conn map[string]string) (recordTransformer, error) {
	c, err := transform.NewChain(conn)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// validateTransforms returns per-key errors for the transforms settings.
func validateTransforms(conn map[string]string) map[string][]string {
	return transform.Validate(conn)
}
