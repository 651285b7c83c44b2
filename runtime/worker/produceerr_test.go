package worker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/connectors/postgres"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/api"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProduceErrorNamesRecord(t *testing.T) {
	key := `{"schema":{"type":"struct","name":"srv.public.big.Key"},"payload":{"id":7}}`
	err := produceError(&kgo.Record{Topic: "srv.public.big", Partition: 2, Key: []byte(key), Value: make([]byte, 3<<20)}, kerr.MessageTooLarge)
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("%v does not wrap MESSAGE_TOO_LARGE", err)
	}
	for _, want := range []string{"srv.public.big", `"payload":{"id":7}`, "3145728 value bytes", "MESSAGE_TOO_LARGE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
}

// TestPostgresRowTooLarge runs the Postgres source in a worker against the
// sluice broker: a 3 MB row fails producing (MESSAGE_TOO_LARGE, the
// producer's 1 MB default batch limit) and the failed task's trace names
// the table's topic and the row's key.
func TestPostgresRowTooLarge(t *testing.T) {
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE DATABASE toolarge")
	pg.Exec(t, "toolarge", `CREATE TABLE big (id int PRIMARY KEY, v text); INSERT INTO big VALUES (1, 'small');
		ALTER TABLE big ALTER COLUMN v SET STORAGE EXTERNAL`)
	bs := testenv.StartBroker(t)
	prefix := testPrefix(t)
	plugins := append(testPlugins(newCollector()), postgres.Plugin())
	w, err := New(testConfig(bs, prefix, 1), plugins, WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	cfg := map[string]string{
		"connector.class":   postgres.Class,
		"database.hostname": pg.Host, "database.port": strconv.Itoa(pg.Port),
		"database.user": pg.User, "database.password": pg.Password, "database.dbname": "toolarge",
		"topic.prefix": "srv", "slot.name": "toolarge", "slot.drop.on.stop": "true",
	}
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "pg", Config: cfg}); err != nil {
		t.Fatal(err)
	}
	waitRunning(t, w, "pg", 1)
	pg.Exec(t, "toolarge", `INSERT INTO big SELECT 42, string_agg(md5(g::text), '') FROM generate_series(1, 100000) g`) // 3.2 MB
	var trace string
	waitFor(t, 60*time.Second, "failed task", func() error {
		st, err := w.ConnectorStatus(ctx, "pg")
		if err != nil {
			return err
		}
		if len(st.Tasks) != 1 || st.Tasks[0].State != api.Failed {
			return fmt.Errorf("%+v", st)
		}
		trace = st.Tasks[0].Trace
		return nil
	})
	// The key as the key converter wrote it (here the worker default).
	for _, want := range []string{"MESSAGE_TOO_LARGE", "topic srv.public.big", "id=42"} {
		if !strings.Contains(trace, want) {
			t.Errorf("trace does not contain %q:\n%.2000s", want, trace)
		}
	}
}
