package postgres

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/connect/conformance"
	"github.com/sluicehq/sluice/runtime/transform"
)

// TestSourceConformance runs the source conformance suite against the
// PostgreSQL connector and a private PostgreSQL server: each subtest
// captures its own database (and slot), a RegexRouter sends its one
// table's change events to the suite's topic, and Add inserts rows.
func TestSourceConformance(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := testenv.StartPostgres(t)
	conformance.RunSource(t, conformance.Source{
		Plugins: []connect.Plugin{Plugin()},
		Class:   Class,
		Config: func(t *testing.T, topic string) map[string]string {
			e := newEnv(t, pg)
			e.exec(t, "CREATE TABLE t (id serial PRIMARY KEY, v text NOT NULL)")
			cfg := e.config(
				"connector.class", Class,
				KeyTableInclude, `public\.t`,
				"key.converter", "json", "key.converter.schemas.enable", "false",
				"value.converter", "json", "value.converter.schemas.enable", "false",
				"transforms", "route",
				"transforms.route.type", transform.RegexRouterClass,
				"transforms.route.replacement", topic,
			)
			cfg["transforms.route.regex"] = regexp.QuoteMeta(cfg[KeyTopicPrefix] + ".public.t")
			return cfg
		},
		Add: func(t *testing.T, cfg map[string]string, n int) {
			pg.Exec(t, cfg[KeyDBName], fmt.Sprintf("INSERT INTO t (v) SELECT 'row-' || g FROM generate_series(1, %d) g", n))
		},
		BadConfig: func(cfg map[string]string) string {
			// A rule across keys (Check), refused by validation as by Start.
			cfg[KeyTableExclude] = "public.other"
			return KeyTableExclude
		},
	})
}
