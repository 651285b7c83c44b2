package pool

import (
	"context"
	"testing"

	"github.com/sluicehq/sluice/internal/testenv"
)

// TestPostgresSlotLag checks the source backlog signal against a real
// PostgreSQL: a slot nobody consumes falls behind as WAL is written, and
// catches up to zero once it is advanced.
func TestPostgresSlotLag(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "SELECT pg_create_logical_replication_slot('lagging', 'pgoutput')")
	sig := PostgresSlotLag(pg.DSN("postgres"), "lagging", 1<<20)
	ctx := context.Background()
	before, err := sig.Value(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pg.Exec(t, "postgres", "CREATE TABLE filler AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 20000) g")
	after, err := sig.Value(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after < before+1_000_000 {
		t.Errorf("slot lag %v bytes after writing ~4 MB of WAL (was %v)", after, before)
	}
	pg.Exec(t, "postgres", "SELECT pg_replication_slot_advance('lagging', pg_current_wal_lsn())")
	if v, err := sig.Value(ctx); err != nil || v > 64*1024 {
		t.Errorf("slot lag after advancing = %v, %v; want about 0", v, err)
	}
	if _, err := PostgresSlotLag(pg.DSN("postgres"), "missing", 1).Value(ctx); err == nil {
		t.Error("a missing slot gave no error")
	}
}
