package mysql

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect/conformance"
	"github.com/sluicehq/sluice/runtime/transform"
)

// TestSourceConformance runs the source conformance suite against the
// MariaDB connector and the package's shared MariaDB server: each subtest
// captures its own database (and replica server id), a RegexRouter sends
// its table's change events to the suite's topic, and Add inserts rows.
func TestSourceConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	m := sharedServer(t)
	conformance.RunSource(t, conformance.Source{
		Plugins: Plugins(),
		Class:   ClassMariaDB,
		Config: func(t *testing.T, topic string) map[string]string {
			e := newEnv(t, m)
			e.exec(t, "CREATE TABLE t (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40) NOT NULL)")
			cfg := e.config(
				KeyTableInclude, e.db+`\.t`,
				"key.converter", "json", "key.converter.schemas.enable", "false",
				"value.converter", "json", "value.converter.schemas.enable", "false",
				"transforms", "route",
				"transforms.route.type", transform.RegexRouterClass,
				"transforms.route.replacement", topic,
			)
			// Only the table's topic: schema change events (topic
			// <prefix>) stay where they are.
			cfg["transforms.route.regex"] = regexp.QuoteMeta(cfg[KeyTopicPrefix] + "." + e.db + ".t")
			return cfg
		},
		Add: func(t *testing.T, cfg map[string]string, n int) {
			rows := make([]string, n)
			for i := range rows {
				rows[i] = "('row')"
			}
			m.Query(t, fmt.Sprintf("INSERT INTO %s.t (v) VALUES %s", cfg[KeyDatabaseInclude], strings.Join(rows, ",")))
		},
		BadConfig: func(cfg map[string]string) string {
			// A rule across keys (Check), refused by validation as by Start.
			cfg[KeyHistoryTopic] = "history"
			return KeyHistoryBootstrap
		},
	})
}
