//go:build !sluicetest

package main

import "github.com/sluicehq/sluice/runtime/connect"

// testPlugins is empty in product builds (see plugins_test_tag.go).
func testPlugins() []connect.Plugin { return nil }
