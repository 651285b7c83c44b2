package schemaregistry_test

import (
	"bytes"
	"context"
	"io"
	"io/fs"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/connectors/postgres"
	"github.com/sluicehq/sluice/connectors/s3"
	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/worker"
)

// orderRow is a Parquet row the S3 sink writes for public.orders after
// ExtractNewRecordState.
type orderRow struct {
	ID       int32   `parquet:"id"`
	Customer string  `parquet:"customer"`
	Note     *string `parquet:"note,optional"`
	Amount   []byte  `parquet:"amount"` // DECIMAL(10,2) as BYTE_ARRAY
	Day      *int32  `parquet:"day,optional,date"`
	Op       string  `parquet:"__op"`
}

// TestPostgresToParquetWithAvro runs the CDC-to-data-lake pipeline with
// the AvroConverter on both connectors: the Postgres source writes Avro
// (schemas registered in sluice's registry), the S3 sink reads it back and
// writes Parquet. Neither connector knows about Avro.
func TestPostgresToParquetWithAvro(t *testing.T) {
	pg := testenv.StartPostgres(t)
	brokers := testenv.StartBroker(t)
	url := startRegistry(t, brokers)
	pg.Exec(t, "postgres", "CREATE DATABASE shop")
	pg.Exec(t, "shop", `CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, note text, amount numeric(10,2) NOT NULL, day date);
		INSERT INTO orders VALUES (1, 'ada', 'first', 12.50, '2024-02-29'), (2, 'grace', NULL, -0.01, NULL);`)

	lake := t.TempDir()
	w, err := worker.New(func() worker.Config {
		cfg, err := worker.FromProperties(map[string]string{
			"bootstrap.servers": brokers, "group.id": "avro-e2e", "offset.flush.interval.ms": "500",
			"key.converter": "io.confluent.connect.avro.AvroConverter", "key.converter.schema.registry.url": url,
			"value.converter": "io.confluent.connect.avro.AvroConverter", "value.converter.schema.registry.url": url,
		})
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}(), []connect.Plugin{postgres.Plugin(), s3.Plugin()}, worker.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := w.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	create := func(name string, cfg map[string]string) {
		t.Helper()
		for {
			_, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: name, Config: cfg})
			if err == nil {
				return
			}
			if ctx.Err() != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			time.Sleep(200 * time.Millisecond) // the worker may still be joining its group
		}
	}
	create("shop-cdc", map[string]string{
		"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "tasks.max": "1",
		"database.hostname": pg.Host, "database.port": itoa(pg.Port), "database.user": pg.User, "database.password": pg.Password,
		"database.dbname": "shop", "topic.prefix": "shop", "plugin.name": "pgoutput", "slot.name": "avro_e2e",
		"publication.name": "avro_e2e", "publication.autocreate.mode": "filtered", "table.include.list": "public.orders",
		"snapshot.mode": "initial", "tombstones.on.delete": "false",
	})
	create("shop-lake", map[string]string{
		"connector.class": "io.confluent.connect.s3.S3SinkConnector", "tasks.max": "1", "topics": "shop.public.orders",
		"sluice.storage": "local", "local.dir": lake, "topics.dir": "topics",
		"format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat", "flush.size": "3",
		"partitioner.class":       "io.confluent.connect.storage.partitioner.DefaultPartitioner",
		"behavior.on.null.values": "ignore",
		"transforms":              "unwrap", "transforms.unwrap.type": "io.debezium.transforms.ExtractNewRecordState",
		"transforms.unwrap.add.fields": "op",
	})
	// Wait for the snapshot to be flowing, then change a row: 3 records.
	deadline := time.Now().Add(2 * time.Minute)
	for !subjectExists(url, "shop.public.orders-value") {
		if time.Now().After(deadline) {
			t.Fatal("value schema never registered")
		}
		time.Sleep(100 * time.Millisecond)
	}
	pg.Exec(t, "shop", "UPDATE orders SET note = 'changed', amount = 99.99 WHERE id = 2")

	var rows []orderRow
	for {
		rows = readLake(t, lake)
		if len(rows) >= 3 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(rows) != 3 {
		t.Fatalf("parquet rows %+v, want 3", rows)
	}
	sort.SliceStable(rows, func(i, j int) bool { // r 1, r 2, u 2
		if rows[i].Op != rows[j].Op {
			return rows[i].Op < rows[j].Op
		}
		return rows[i].ID < rows[j].ID
	})
	dec := func(b []byte) string { return connect.DecimalFromBytes(b, 2).String() }
	if r := rows[0]; r.ID != 1 || r.Customer != "ada" || r.Note == nil || *r.Note != "first" || dec(r.Amount) != "12.50" ||
		r.Day == nil || *r.Day != int32(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC).Unix()/86400) || r.Op != "r" {
		t.Errorf("row 1: %+v", r)
	}
	if r := rows[1]; r.ID != 2 || r.Note != nil || dec(r.Amount) != "-0.01" || r.Day != nil || r.Op != "r" {
		t.Errorf("row 2: %+v", r)
	}
	if r := rows[2]; r.ID != 2 || r.Note == nil || *r.Note != "changed" || dec(r.Amount) != "99.99" || r.Op != "u" {
		t.Errorf("row 3: %+v", r)
	}
}

func itoa(n int) string { return big.NewInt(int64(n)).String() }

func subjectExists(url, subject string) bool {
	resp, err := httpGet(url + "/subjects/" + subject + "/versions/latest")
	return err == nil && resp == 200
}

func readLake(t *testing.T, dir string) []orderRow {
	t.Helper()
	var out []orderRow
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".parquet") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil
		}
		f, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		r := parquet.NewGenericReader[orderRow](f)
		rows := make([]orderRow, f.NumRows())
		n, err := r.Read(rows)
		if err != nil && err != io.EOF {
			t.Fatalf("%s: %v", p, err)
		}
		r.Close()
		out = append(out, rows[:n]...)
		return nil
	})
	return out
}
