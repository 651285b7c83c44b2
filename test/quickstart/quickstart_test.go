// Package quickstart runs the CDC-into-a-data-lake quick start
// (examples/cdc-to-datalake) end to end, the way a user does: the built
// sluice binary (`sluice up`, `sluice create-connector`,
// `sluice describe-connector`) against a private PostgreSQL 15, with the
// example's connector JSON files and SQL, then reads the Parquet files the
// sink wrote and checks them against the tables.
package quickstart

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/sluicehq/sluice/internal/testenv"
)

const (
	sourceName = "shop-cdc"
	sinkName   = "shop-lake"
	s3SinkName = "shop-lake-s3"
)

// tables are the captured tables: name, the query giving each live row's
// canonical text keyed by primary key, and how a Parquet row renders in the
// same canonical text.
var tables = []struct {
	name  string
	query string
	row   func(m map[string]any) string
}{
	{
		name:  "customers",
		query: "SELECT id::text, id || '|' || email || '|' || name FROM customers",
		row: func(m map[string]any) string {
			return fmt.Sprintf("%v|%v|%v", m["id"], m["email"], m["name"])
		},
	},
	{
		name:  "orders",
		query: "SELECT id::text, id || '|' || customer_id || '|' || amount::text || '|' || status FROM orders",
		row: func(m map[string]any) string {
			return fmt.Sprintf("%v|%v|%s|%v", m["id"], m["customer_id"], decimal2(m["amount"]), m["status"])
		},
	},
}

// moreChanges is applied after `sluice up` restarted on the same data dir.
const moreChanges = `
INSERT INTO customers (email, name) VALUES ('after-restart@example.com', 'After Restart');
UPDATE orders SET status = 'refunded' WHERE id = 20;
DELETE FROM orders WHERE id = 21;
`

func TestQuickstartCDCToDataLake(t *testing.T) {
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
	upArgs := []string{"up", "--data-dir", dataDir, "--kafka-listen", kafka, "--rest-listen", restAddr, "--offset-flush-interval", "2s"}

	up := testenv.StartUp(t, bin, upArgs)
	t.Run("up refuses bad flags and a data dir in use", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
			msg  string
		}{
			{[]string{"--workers", "0"}, 2, "--workers 0"},
			{[]string{"--set", "bootstrap.servers=elsewhere:9092"}, 2, "--set bootstrap.servers"},
			{[]string{"--log-level", "loud"}, 2, "--log-level"},
			{[]string{"--offset-flush-interval", "0s"}, 2, "--offset-flush-interval"},
			{[]string{"surplus"}, 2, "unexpected arguments"},
			{[]string{"--data-dir", dataDir, "--kafka-listen", "127.0.0.1:0", "--rest-listen", "127.0.0.1:0"}, 1, "in use by another sluice process"},
		} {
			var stderr bytes.Buffer
			cmd := exec.Command(bin, append([]string{"up"}, tc.args...)...)
			cmd.Stderr = &stderr
			cmd.Dir = t.TempDir()
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tc.code || !strings.Contains(stderr.String(), tc.msg) {
				t.Errorf("sluice up %v: %v, want exit %d with %q; stderr: %s", tc.args, err, tc.code, tc.msg, stderr.String())
			}
		}
	})
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "postgres-source.json"),
		"--connector-configuration", fmt.Sprintf("database.hostname=%s,database.port=%d", pg.Host, pg.Port))
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "s3-sink-local.json"),
		"--connector-configuration", "local.dir="+lake+",rotate.schedule.interval.ms=2000")
	// The S3 variant of the sink, into a real S3-compatible gateway.
	s3srv := testenv.StartS3(t)
	s3srv.CreateBucket(t, "lake")
	testenv.CLI(t, bin, "create-connector", "--endpoint", endpoint,
		"--file", filepath.Join(example, "s3-sink-s3.json"),
		"--connector-configuration", fmt.Sprintf("store.url=%s,s3.region=%s,aws.access.key.id=%s,aws.secret.access.key=%s,rotate.schedule.interval.ms=2000",
			s3srv.Endpoint, s3srv.Region, s3srv.AccessKey, s3srv.SecretKey))

	// The snapshot: every seeded row arrives with __op=r.
	waitLakeMatches(t, pg, lake, up, "snapshot")
	pg.Exec(t, "shop", readFile(t, filepath.Join(example, "changes.sql")))
	waitLakeMatches(t, pg, lake, up, "changes.sql")
	checkDescribe(t, bin, endpoint, up)

	// Stop with Ctrl-C, start again on the same data dir: the connectors
	// come back by themselves and resume from their offsets.
	up.Stop(t, syscall.SIGINT, 60*time.Second)
	if !strings.Contains(up.Stdout.String(), "sluice up: stopped") {
		t.Fatalf("sluice up did not report a clean stop; stdout:\n%s\nstderr tail:\n%s", up.Stdout.String(), testenv.Tail(up.Stderr.String(), 40))
	}
	// The second run uses a pool of two in-process workers: the tasks are
	// balanced over them and each worker serves its own REST API.
	up = testenv.StartUp(t, bin, append(upArgs, "--workers", "2"))
	if n := strings.Count(up.Stdout.String(), "  worker "); n != 2 {
		t.Fatalf("sluice up --workers 2 lists %d workers:\n%s", n, up.Stdout.String())
	}
	pg.Exec(t, "shop", moreChanges)
	lakeRows := waitLakeMatches(t, pg, lake, up, "changes after restart")
	checkDescribe(t, bin, endpoint, up)

	// The S3 sink wrote the same rows to the bucket.
	var bucketRows map[string][]map[string]any
	deadline := time.Now().Add(60 * time.Second)
	for {
		bucketCopy := t.TempDir()
		downloadBucket(t, s3srv, "lake", bucketCopy)
		rows, err := readLake(bucketCopy)
		diff := ""
		if err != nil {
			diff = err.Error()
		} else {
			diff = compare(t, pg, rows)
		}
		if diff == "" {
			bucketRows = rows
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("S3 sink: bucket lake does not match the tables after 60s: %s", diff)
		}
		time.Sleep(time.Second)
	}

	// Exact event counts: the restart neither re-snapshotted nor replayed
	// already delivered changes into the lake.
	want := map[string]map[string]int{
		// 100 snapshot rows; changes.sql: 1 insert, 1 update; after restart: 1 insert.
		"customers": {"r": 100, "c": 2, "u": 1},
		// 1000 snapshot rows; changes.sql: 1 insert, 10+5 updates, 10
		// deletes; after restart: 1 update, 1 delete.
		"orders": {"r": 1000, "c": 1, "u": 16, "d": 11},
	}
	for where, rows := range map[string]map[string][]map[string]any{"local lake": lakeRows, "S3 bucket": bucketRows} {
		for table, w := range want {
			got := map[string]int{}
			for _, r := range rows[table] {
				got[fmt.Sprint(r["__op"])]++
			}
			if fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("%s, %s: rows by __op = %v, want %v (duplicates or a re-snapshot after restart?)", where, table, got, w)
			}
		}
	}
	up.Stop(t, syscall.SIGTERM, 60*time.Second)
	if !strings.Contains(up.Stdout.String(), "sluice up: stopped") {
		t.Errorf("sluice up did not report a clean stop after SIGTERM; stdout:\n%s", up.Stdout.String())
	}
}

// waitLakeMatches waits until, for every table, the last lake row of each
// primary key equals the table's row (or marks the key deleted when the
// table no longer has it) and returns the lake rows by table.
func waitLakeMatches(t *testing.T, pg *testenv.Postgres, lake string, up *testenv.Child, phase string) map[string][]map[string]any {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	var diff string
	for {
		if up.Exited() {
			t.Fatalf("%s: sluice up exited (%v); stderr tail:\n%s", phase, up.Err(), testenv.Tail(up.Stderr.String(), 40))
		}
		rows, err := readLake(lake)
		if err == nil {
			if diff = compare(t, pg, rows); diff == "" {
				return rows
			}
		} else {
			diff = err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the lake under %s does not match the tables after 90s: %s", phase, lake, diff)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// compare returns "" when the lake's latest row per key equals the table
// state, else a description of the first differences.
func compare(t *testing.T, pg *testenv.Postgres, lake map[string][]map[string]any) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.DSN("shop"))
	if err != nil {
		t.Fatalf("connect shop: %v", err)
	}
	defer conn.Close(ctx)
	var problems []string
	for _, tb := range tables {
		want := map[string]string{}
		rs, err := conn.Query(ctx, tb.query)
		if err != nil {
			t.Fatalf("%s: %v", tb.query, err)
		}
		for rs.Next() {
			var id, row string
			if err := rs.Scan(&id, &row); err != nil {
				t.Fatalf("scan %s: %v", tb.name, err)
			}
			want[id] = row
		}
		if err := rs.Err(); err != nil {
			t.Fatalf("%s: %v", tb.query, err)
		}
		last := map[string]map[string]any{}
		for _, r := range lake[tb.name] {
			last[fmt.Sprint(r["id"])] = r
		}
		var diffs []string
		for id, w := range want {
			r, ok := last[id]
			switch {
			case !ok:
				diffs = append(diffs, "id "+id+" missing")
			case r["__deleted"] != "false":
				diffs = append(diffs, fmt.Sprintf("id %s: last row has __deleted=%v", id, r["__deleted"]))
			case tb.row(r) != w:
				diffs = append(diffs, fmt.Sprintf("id %s: lake %q, table %q", id, tb.row(r), w))
			}
		}
		for id, r := range last {
			if _, live := want[id]; !live && (r["__deleted"] != "true" || r["__op"] != "d") {
				diffs = append(diffs, fmt.Sprintf("id %s deleted in the table but its last lake row is __op=%v __deleted=%v", id, r["__op"], r["__deleted"]))
			}
		}
		if len(diffs) > 0 {
			sort.Strings(diffs)
			if len(diffs) > 5 {
				diffs = append(diffs[:5], fmt.Sprintf("... %d more", len(diffs)-5))
			}
			problems = append(problems, fmt.Sprintf("%s (%d lake rows, %d table rows): %s", tb.name, len(lake[tb.name]), len(want), strings.Join(diffs, "; ")))
		}
	}
	return strings.Join(problems, " | ")
}

// downloadBucket copies every object of bucket into dir (same keys).
func downloadBucket(t *testing.T, srv *testenv.S3, bucket, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := srv.Client(t)
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list bucket %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			key := aws.ToString(o.Key)
			obj, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: o.Key})
			if err != nil {
				t.Fatalf("get %s: %v", key, err)
			}
			b, err := io.ReadAll(obj.Body)
			obj.Body.Close()
			if err != nil {
				t.Fatalf("read %s: %v", key, err)
			}
			dst := filepath.Join(dir, filepath.FromSlash(key))
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// readLake reads every committed Parquet file of each table's topic in
// offset order (file names carry the zero-padded start offset; the topics
// have one partition).
func readLake(lake string) (map[string][]map[string]any, error) {
	out := map[string][]map[string]any{}
	for _, tb := range tables {
		files, err := filepath.Glob(filepath.Join(lake, "topics", "shop.public."+tb.name, "partition=0", "*.parquet"))
		if err != nil {
			return nil, err
		}
		sort.Strings(files)
		for _, f := range files {
			rows, err := readParquet(f)
			if err != nil {
				return nil, err
			}
			out[tb.name] = append(out[tb.name], rows...)
		}
	}
	return out, nil
}

func readParquet(path string) ([]map[string]any, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, col := range []string{"id", "__op", "__deleted", "__lsn", "__table", "__source_ts_ms"} {
		if _, ok := pf.Schema().Lookup(col); !ok {
			return nil, fmt.Errorf("%s: no column %q (schema %s)", path, col, pf.Schema())
		}
	}
	r := parquet.NewReader(pf)
	defer r.Close()
	var rows []map[string]any
	for {
		m := map[string]any{}
		if err := r.Read(&m); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, fmt.Errorf("%s: row %d: %w", path, len(rows), err)
		}
		rows = append(rows, m)
	}
	if int64(len(rows)) != pf.NumRows() {
		return nil, fmt.Errorf("%s: read %d rows, footer says %d", path, len(rows), pf.NumRows())
	}
	return rows, nil
}

// decimal2 renders a DECIMAL(10,2) Parquet value (a *big.Float, or
// big-endian two's complement unscaled bytes) like PostgreSQL's numeric text.
func decimal2(v any) string {
	if f, ok := v.(*big.Float); ok { // parquet-go's map reader decodes DECIMAL
		return f.Text('f', 2)
	}
	b, ok := v.([]byte)
	if !ok {
		return fmt.Sprintf("<%T %v>", v, v)
	}
	n := new(big.Int).SetBytes(b)
	if len(b) > 0 && b[0]&0x80 != 0 {
		n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(len(b)*8)))
	}
	neg := n.Sign() < 0
	s := new(big.Int).Abs(n).String()
	for len(s) < 3 {
		s = "0" + s
	}
	s = s[:len(s)-2] + "." + s[len(s)-2:]
	if neg {
		s = "-" + s
	}
	return s
}

// checkDescribe checks `sluice describe-connector` for both connectors:
// connector and tasks RUNNING, and the sink's lag reported and drained.
func checkDescribe(t *testing.T, bin, endpoint string, up *testenv.Child) {
	t.Helper()
	type desc struct {
		Connector struct {
			State string `json:"state"`
		} `json:"connector"`
		Tasks []struct {
			ID    int      `json:"id"`
			State string   `json:"state"`
			Lag   *float64 `json:"lag"`
		} `json:"tasks"`
		Lag *float64 `json:"lag"`
	}
	for _, name := range []string{sourceName, sinkName, s3SinkName} {
		deadline := time.Now().Add(30 * time.Second)
		for {
			out := testenv.CLI(t, bin, "describe-connector", name, "--endpoint", endpoint, "--output", "json")
			var d desc
			if err := json.Unmarshal([]byte(out), &d); err != nil {
				t.Fatalf("describe-connector %s --output json: %v\n%s", name, err, out)
			}
			problem := ""
			if d.Connector.State != "RUNNING" {
				problem = "connector state " + d.Connector.State
			}
			if len(d.Tasks) != 1 {
				problem += fmt.Sprintf(" %d tasks", len(d.Tasks))
			}
			for _, tk := range d.Tasks {
				if tk.State != "RUNNING" {
					problem += fmt.Sprintf(" task %d %s", tk.ID, tk.State)
				}
			}
			if name != sourceName {
				switch {
				case d.Lag == nil:
					problem += " no lag reported"
				case *d.Lag != 0:
					problem += " lag " + strconv.FormatFloat(*d.Lag, 'f', -1, 64)
				}
			}
			if problem == "" {
				break
			}
			if up.Exited() || time.Now().After(deadline) {
				t.Fatalf("describe-connector %s:%s\n%s", name, problem, out)
			}
			time.Sleep(time.Second)
		}
	}
	// The table form a user reads shows the lag column.
	out := testenv.CLI(t, bin, "describe-connector", sinkName, "--endpoint", endpoint)
	t.Logf("sluice describe-connector %s:\n%s", sinkName, out)
	t.Logf("sluice list-connectors:\n%s", testenv.CLI(t, bin, "list-connectors", "--endpoint", endpoint))
	if !strings.Contains(out, "Lag:") || !strings.Contains(out, "RUNNING") {
		t.Errorf("describe-connector %s table output lacks Lag/RUNNING:\n%s", sinkName, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
