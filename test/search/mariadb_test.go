package search

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/internal/testenv"
)

// mariaTables maps each MariaDB table to its index and the query giving
// each row's canonical text keyed by primary key (the same text tables'
// doc functions render from a document).
var mariaTables = []struct {
	index, query string
	doc          func(d map[string]any) string
}{
	{"customers", "SELECT id, CONCAT(email, '|', name) FROM shop.customers", tables[0].doc},
	{"orders", "SELECT id, CONCAT(customer_id, '|', amount, '|', status) FROM shop.orders", tables[1].doc},
}

// TestMariaDBCDCToOpenSearch runs the MariaDB variant of the quick start
// (examples/cdc-to-search/mariadb-source.json and
// opensearch-sink-mariadb.json, with examples/cdc-mariadb's SQL): after the
// snapshot and after inserts, updates and deletes from the binlog, the
// indices hold exactly the tables' rows.
func TestMariaDBCDCToOpenSearch(t *testing.T) {
	root := testenv.RepoRoot(t)
	example := filepath.Join(root, "examples", "cdc-to-search")
	sqlDir := filepath.Join(root, "examples", "cdc-mariadb")
	bin := testenv.BuildSluice(t)
	my := testenv.StartMariaDB(t)
	my.Query(t, "CREATE DATABASE shop")
	my.Query(t, "USE shop; "+readFile(t, filepath.Join(sqlDir, "seed.sql")))
	srv := opensearchtest.Start()
	defer srv.Close()

	dataDir := t.TempDir()
	kafka := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	restAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	endpoint := "http://" + restAddr
	up := testenv.StartUp(t, bin, []string{"up", "--data-dir", dataDir, "--kafka-listen", kafka, "--rest-listen", restAddr, "--offset-flush-interval", "1s"})
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "mariadb-source.json"),
		"--connector-configuration", fmt.Sprintf("database.hostname=%s,database.port=%d,database.user=%s,database.password=%s", my.Host, my.Port, my.User, my.Password))
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "opensearch-sink-mariadb.json"),
		"--connector-configuration", "connection.url="+srv.URL)

	waitMariaIndexMatches(t, my, srv, up, "snapshot")
	my.Query(t, "USE shop; "+readFile(t, filepath.Join(sqlDir, "changes.sql")))
	waitMariaIndexMatches(t, my, srv, up, "changes.sql (inserts, updates, deletes)")
	if n := len(srv.Docs("orders")); n != 1000-10+1 {
		t.Errorf("orders index holds %d documents, want %d", n, 1000-10+1)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("%d writes replaced a newer version with an older one, e.g. %v", len(v), v[:min(5, len(v))])
	}
	up.Stop(t, syscall.SIGINT, 60*time.Second)
}

func waitMariaIndexMatches(t *testing.T, my *testenv.MariaDB, srv *opensearchtest.Server, up *testenv.Child, phase string) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for {
		if up.Exited() {
			t.Fatalf("%s: sluice up exited (%v); stderr tail:\n%s", phase, up.Err(), testenv.Tail(up.Stderr.String(), 40))
		}
		diff := compareMaria(t, my, srv)
		if diff == "" {
			t.Logf("%s: indices match the tables", phase)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: indices do not match the tables after 120s: %s\nstderr tail:\n%s", phase, diff, testenv.Tail(up.Stderr.String(), 40))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func compareMaria(t *testing.T, my *testenv.MariaDB, srv *opensearchtest.Server) string {
	for _, tb := range mariaTables {
		want := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(my.Query(t, tb.query)), "\n") {
			if id, text, ok := strings.Cut(line, "\t"); ok {
				want[id] = text
			}
		}
		docs := srv.Docs(tb.index)
		var bad []string
		for id, text := range want {
			if d, ok := docs[id]; !ok {
				bad = append(bad, "missing "+id)
			} else if got := tb.doc(d); got != text {
				bad = append(bad, fmt.Sprintf("%s: %q want %q", id, got, text))
			}
		}
		for id := range docs {
			if _, ok := want[id]; !ok {
				bad = append(bad, "extra "+id)
			}
		}
		if len(bad) > 0 {
			sort.Strings(bad)
			return fmt.Sprintf("%s: %d differences, e.g. %v", tb.index, len(bad), bad[:min(5, len(bad))])
		}
	}
	return ""
}
