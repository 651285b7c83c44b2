package quickstart

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestQuickstartCrashRecovery kills `sluice up` with SIGKILL while changes
// stream, starts it again on the same data dir and checks that nothing was
// lost: every table row ends up as the last lake row of its key (rows
// written again after the crash are allowed: delivery is at least once).
func TestQuickstartCrashRecovery(t *testing.T) {
	root := testenv.RepoRoot(t)
	example := filepath.Join(root, "examples", "cdc-to-datalake")
	bin := testenv.BuildSluice(t)
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE DATABASE shop")
	pg.Exec(t, "shop", readFile(t, filepath.Join(example, "seed.sql")))

	dataDir, lake := t.TempDir(), t.TempDir()
	kafka := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	restAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	endpoint := "http://" + restAddr
	upArgs := []string{"up", "--data-dir", dataDir, "--kafka-listen", kafka, "--rest-listen", restAddr, "--offset-flush-interval", "1s"}
	up := testenv.StartUp(t, bin, upArgs)
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "postgres-source.json"),
		"--connector-configuration", fmt.Sprintf("database.hostname=%s,database.port=%d", pg.Host, pg.Port))
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "s3-sink-local.json"),
		"--connector-configuration", "local.dir="+lake+",rotate.schedule.interval.ms=1000,flush.size=50")
	waitLakeMatches(t, pg, lake, up, "snapshot")

	// Stream updates in many small transactions and kill -9 in the middle.
	conn, err := pgx.Connect(context.Background(), pg.DSN("shop"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var applied atomic.Int64
	errc := make(chan error, 1)
	go func() {
		for i := 1; i <= 300; i++ {
			if _, err := conn.Exec(context.Background(), "UPDATE orders SET status = $1 WHERE id = $2", fmt.Sprintf("v%d", i), 1+i%1000); err != nil {
				errc <- err
				return
			}
			applied.Add(1)
			time.Sleep(10 * time.Millisecond)
		}
		errc <- nil
	}()
	time.Sleep(1500 * time.Millisecond)
	if err := syscall.Kill(-up.Cmd.Process.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 sluice up: %v", err)
	}
	<-up.Done()
	t.Logf("killed sluice up after %d of 300 updates", applied.Load())
	if err := <-errc; err != nil {
		t.Fatalf("updates: %v", err)
	}

	up = testenv.StartUp(t, bin, upArgs)
	pg.Exec(t, "shop", readFile(t, filepath.Join(example, "changes.sql")))
	rows := waitLakeMatches(t, pg, lake, up, "recovery after kill -9")
	for table, rs := range rows {
		t.Logf("%s: %d lake rows after the crash", table, len(rs))
	}
	// Every update is in the lake at least once, not only the final state.
	// Duplicates (changes written again after the crash) are counted.
	seen := map[string]int{}
	for _, r := range rows["orders"] {
		if r["__op"] == "u" {
			seen[fmt.Sprintf("%v/%v", r["id"], r["status"])]++
		}
	}
	missing, dups := 0, 0
	for i := 1; i <= 300; i++ {
		n := seen[fmt.Sprintf("%d/v%d", 1+i%1000, i)]
		if n > 1 {
			dups += n - 1
		}
		if n == 0 {
			if missing < 5 {
				t.Errorf("update %d (order %d status v%d) is not in the lake", i, 1+i%1000, i)
			}
			missing++
		}
	}
	if missing > 0 {
		t.Errorf("%d of 300 updates missing from the lake after kill -9", missing)
	}
	t.Logf("kill -9 recovery: 300 updates, %d missing, %d duplicate rows", missing, dups)
	up.Stop(t, syscall.SIGINT, 60*time.Second)
}
