//go:build sluicetest

package main

import (
	"github.com/sluicehq/sluice/internal/testconn"
	"github.com/sluicehq/sluice/runtime/connect"
)

// testPlugins adds the test-only connectors (build tag sluicetest).
func testPlugins() []connect.Plugin { return []connect.Plugin{testconn.BurnSinkPlugin()} }
