package testenv

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/go-mysql-org/go-mysql/client"
	"github.com/jackc/pgx/v5"
)

// TestServers starts each real server, uses it the way CDC and the S3
// sink will, and checks that cleanup leaves no process behind.
func TestServers(t *testing.T) {
	var (
		mu   sync.Mutex
		pids []int
	)
	record := func(pid int) {
		mu.Lock()
		pids = append(pids, pid)
		mu.Unlock()
	}
	t.Run("group", func(t *testing.T) {
		t.Run("postgres", func(t *testing.T) {
			t.Parallel()
			pg := StartPostgres(t)
			record(pg.Pid())
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			conn, err := pgx.Connect(ctx, pg.DSN("postgres"))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			var wal string
			if err := conn.QueryRow(ctx, "SHOW wal_level").Scan(&wal); err != nil || wal != "logical" {
				t.Fatalf("wal_level = %q, %v", wal, err)
			}
			var slot, lsn string
			if err := conn.QueryRow(ctx, "SELECT slot_name::text, lsn::text FROM pg_create_logical_replication_slot('selftest', 'pgoutput')").Scan(&slot, &lsn); err != nil {
				t.Fatalf("create slot: %v", err)
			}
			if slot != "selftest" || lsn == "" {
				t.Fatalf("slot %q at %q", slot, lsn)
			}
			// A replication connection works too.
			rc, err := pgx.Connect(ctx, pg.ReplicationDSN("postgres"))
			if err != nil {
				t.Fatalf("replication connection: %v", err)
			}
			_ = rc.Close(ctx)
			pg.Restart(t)
			pg.Exec(t, "postgres", "CREATE TABLE after_restart (id int primary key)")
		})
		t.Run("mariadb", func(t *testing.T) {
			t.Parallel()
			m := StartMariaDB(t)
			record(m.Pid())
			conn, err := client.Connect(m.Addr(), m.User, m.Password, "")
			if err != nil {
				t.Fatalf("connect over TCP as %s: %v", m.User, err)
			}
			defer conn.Close()
			r, err := conn.Execute("SHOW MASTER STATUS")
			if err != nil {
				t.Fatal(err)
			}
			file, _ := r.GetString(0, 0)
			pos, _ := r.GetInt(0, 1)
			if file == "" || pos <= 0 {
				t.Fatalf("SHOW MASTER STATUS: file %q position %d", file, pos)
			}
			for name, want := range map[string]string{"binlog_format": "ROW", "binlog_row_metadata": "FULL", "log_bin": "ON"} {
				r, err := conn.Execute("SELECT @@" + name)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := r.GetString(0, 0)
				if name == "log_bin" && got == "1" {
					got = "ON"
				}
				if !strings.EqualFold(got, want) {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
		t.Run("s3", func(t *testing.T) {
			t.Parallel()
			s := StartS3(t)
			record(s.Pid())
			s.CreateBucket(t, "selftest")
			c := s.Client(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			body := []byte("hello from sluice")
			if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("selftest"), Key: aws.String("a/b.txt"), Body: bytes.NewReader(body)}); err != nil {
				t.Fatal(err)
			}
			out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("selftest"), Key: aws.String("a/b.txt")})
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(out.Body)
			out.Body.Close()
			if !bytes.Equal(got, body) {
				t.Fatalf("read back %q", got)
			}
			list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("selftest"), Prefix: aws.String("a/")})
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Contents) != 1 || aws.ToString(list.Contents[0].Key) != "a/b.txt" {
				t.Fatalf("list: %+v", list.Contents)
			}
		})
	})
	// The parallel subtests and their cleanups have finished here.
	if len(pids) != 3 && !t.Failed() && os.Getenv(SkipEnv) != "1" {
		t.Fatalf("started %d servers, want 3", len(pids))
	}
	for _, pid := range pids {
		if ProcessAlive(pid) {
			t.Errorf("server process %d still running after cleanup", pid)
		}
	}
}

func TestMissingSkipsOnlyWhenAsked(t *testing.T) {
	ft := &fakeTB{TB: t}
	t.Setenv(SkipEnv, "")
	func() {
		defer func() { _ = recover() }()
		missing(ft, "thing")
	}()
	if !ft.fataled || ft.skipped || !strings.Contains(ft.msg, "scripts/setup") {
		t.Fatalf("without %s: fatal=%v skip=%v msg=%q", SkipEnv, ft.fataled, ft.skipped, ft.msg)
	}
	ft = &fakeTB{TB: t}
	t.Setenv(SkipEnv, "1")
	func() {
		defer func() { _ = recover() }()
		missing(ft, "thing")
	}()
	if !ft.skipped || ft.fataled {
		t.Fatalf("with %s=1: fatal=%v skip=%v", SkipEnv, ft.fataled, ft.skipped)
	}
}

type fakeTB struct {
	testing.TB
	fataled, skipped bool
	msg              string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatal(args ...any) {
	f.fataled = true
	f.msg = strings.TrimSpace(strings.Repeat(" ", 0) + toString(args))
	panic("fatal")
}
func (f *fakeTB) Skip(args ...any) {
	f.skipped = true
	f.msg = toString(args)
	panic("skip")
}

func toString(args []any) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a.(string))
	}
	return b.String()
}
