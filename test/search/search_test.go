// Package search runs the CDC-into-OpenSearch quick start
// (examples/cdc-to-search) end to end the way a user does: the built
// sluice binary (`sluice up`, `sluice create-connector`) against a private
// PostgreSQL 15, with the example's connector JSON files and SQL, writing
// into internal/opensearchtest (an OpenSearch 2.x-faithful test server; no
// real OpenSearch can run on the test machines). It checks that the
// indices hold exactly the tables' rows after inserts, updates and
// deletes, and again after `sluice up` was killed with SIGKILL in the
// middle of a stream of updates while the server rejected requests and
// items with 429, and that no older version ever overwrote a newer one.
package search

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/internal/testenv"
)

// tables maps each captured table to its index, the query giving each live
// row's canonical text keyed by primary key, and how a document renders in
// the same text.
var tables = []struct {
	table, index, query string
	doc                 func(d map[string]any) string
}{
	{"customers", "customers", "SELECT id::text, email || '|' || name FROM customers",
		func(d map[string]any) string { return fmt.Sprintf("%v|%v", d["email"], d["name"]) }},
	{"orders", "orders", "SELECT id::text, customer_id || '|' || amount::text || '|' || status FROM orders",
		func(d map[string]any) string {
			a, _ := d["amount"].(float64)
			return fmt.Sprintf("%v|%.2f|%v", d["customer_id"], a, d["status"])
		}},
}

func TestCDCToOpenSearch(t *testing.T) {
	root := testenv.RepoRoot(t)
	example := filepath.Join(root, "examples", "cdc-to-search")
	bin := testenv.BuildSluice(t)
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE DATABASE shop")
	pg.Exec(t, "shop", readFile(t, filepath.Join(example, "seed.sql")))
	srv := opensearchtest.Start()
	defer srv.Close()

	dataDir := t.TempDir()
	kafka := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	restAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	endpoint := "http://" + restAddr
	upArgs := []string{"up", "--data-dir", dataDir, "--kafka-listen", kafka, "--rest-listen", restAddr, "--offset-flush-interval", "1s"}
	up := testenv.StartUp(t, bin, upArgs)
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "postgres-source.json"),
		"--connector-configuration", fmt.Sprintf("database.hostname=%s,database.port=%d", pg.Host, pg.Port))
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "opensearch-sink.json"),
		"--connector-configuration", "connection.url="+srv.URL)

	waitIndexMatches(t, pg, srv, up, "snapshot")
	if m := srv.Mapping("orders"); fmt.Sprint(m["properties"].(map[string]any)["amount"]) != "map[type:double]" ||
		fmt.Sprint(m["properties"].(map[string]any)["ordered_at"].(map[string]any)["type"]) != "date" {
		t.Errorf("orders mapping not derived from the schema: %v", m)
	}
	pg.Exec(t, "shop", readFile(t, filepath.Join(example, "changes.sql")))
	waitIndexMatches(t, pg, srv, up, "changes.sql (inserts, updates, deletes)")

	// kill -9 in the middle of a stream of updates under a 429 storm.
	srv.SetFaults(opensearchtest.Faults{ItemReject429: 0.3, Request429: 0.1, Reset: 0.02, ResetAfterApply: true})
	conn, err := pgx.Connect(context.Background(), pg.DSN("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var applied atomic.Int64
	errc := make(chan error, 1)
	go func() {
		for i := 1; i <= 300; i++ {
			if _, err := conn.Exec(context.Background(), "UPDATE orders SET status = $1 WHERE id = $2", fmt.Sprintf("v%d", i), 1+i%50); err != nil {
				errc <- err
				return
			}
			applied.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
		errc <- nil
	}()
	for applied.Load() < 100 {
		time.Sleep(20 * time.Millisecond)
	}
	if err := syscall.Kill(-up.Cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 sluice up: %v", err)
	}
	<-up.Done()
	t.Logf("killed sluice up after %d of 300 updates", applied.Load())
	if err := <-errc; err != nil {
		t.Fatalf("updates: %v", err)
	}
	before := srv.Stats()
	up = testenv.StartUp(t, bin, upArgs)
	pg.Exec(t, "shop", "DELETE FROM orders WHERE id BETWEEN 40 AND 45; UPDATE customers SET name = 'After Restart' WHERE id = 3;")
	waitIndexMatches(t, pg, srv, up, "recovery after kill -9 under a 429 storm")
	after := srv.Stats()
	if after.Rejected429 == before.Rejected429 && after.RequestRejected == before.RequestRejected {
		t.Errorf("the storm did not reject anything after the restart: before %+v after %+v", before, after)
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("%d writes replaced a newer version with an older one, e.g. %v", len(v), v[:min(5, len(v))])
	}
	t.Logf("server stats: %+v", after)
	up.Stop(t, syscall.SIGINT, 60*time.Second)
}

// waitIndexMatches waits until every index holds exactly its table's rows.
func waitIndexMatches(t *testing.T, pg *testenv.Postgres, srv *opensearchtest.Server, up *testenv.Child, phase string) {
	t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	var diff string
	for {
		if up.Exited() {
			t.Fatalf("%s: sluice up exited (%v); stderr tail:\n%s", phase, up.Err(), testenv.Tail(up.Stderr.String(), 40))
		}
		if diff = compare(t, pg, srv); diff == "" {
			t.Logf("%s: indices match the tables", phase)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: indices do not match the tables after 120s: %s\nstderr tail:\n%s", phase, diff, testenv.Tail(up.Stderr.String(), 40))
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func compare(t *testing.T, pg *testenv.Postgres, srv *opensearchtest.Server) string {
	conn, err := pgx.Connect(context.Background(), pg.DSN("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for _, tb := range tables {
		rows, err := conn.Query(context.Background(), tb.query)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		for rows.Next() {
			var id, text string
			if err := rows.Scan(&id, &text); err != nil {
				t.Fatal(err)
			}
			want[id] = text
		}
		rows.Close()
		docs := srv.Docs(tb.index)
		var bad []string
		for id, text := range want {
			d, ok := docs[id]
			if !ok {
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

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
