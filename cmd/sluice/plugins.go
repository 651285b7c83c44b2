package main

import "github.com/sluicehq/sluice/runtime/connect"

// plugins returns the connector plugins built into this binary. The list is
// explicit: there is no registration by import side effect.
func plugins() []connect.Plugin {
	return nil
}
