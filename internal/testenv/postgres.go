package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinDir is where Debian installs the PostgreSQL 15 server.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// Postgres is a private PostgreSQL 15 server with wal_level=logical.
type Postgres struct {
	Host     string
	Port     int
	User     string
	Password string
	DataDir  string

	t    testing.TB
	cfg  postgresConfig
	proc *process
	cred *syscall.Credential
}

type postgresConfig struct {
	settings map[string]string
}

// PostgresOption customizes StartPostgres.
type PostgresOption func(*postgresConfig)

// WithPostgresSetting sets a server configuration parameter (postgres -c).
func WithPostgresSetting(name, value string) PostgresOption {
	return func(c *postgresConfig) { c.settings[name] = value }
}

// StartPostgres initializes and starts a PostgreSQL 15 server on a free
// 127.0.0.1 port with wal_level=logical and 64 replication slots and WAL
// senders. The superuser is "postgres", trusted on 127.0.0.1 for normal and
// replication connections. The server is stopped on cleanup.
func StartPostgres(t testing.TB, opts ...PostgresOption) *Postgres {
	t.Helper()
	initdb := filepath.Join(PostgresBinDir, "initdb")
	if _, err := os.Stat(initdb); err != nil {
		missing(t, "PostgreSQL 15 ("+initdb+")")
	}
	cfg := postgresConfig{settings: map[string]string{
		"wal_level":             "logical",
		"max_replication_slots": "64",
		"max_wal_senders":       "64",
		"fsync":                 "off",
		"full_page_writes":      "off",
		"listen_addresses":      "127.0.0.1",
		"max_connections":       "200",
		"shared_buffers":        "64MB",
		"log_min_messages":      "warning",
	}}
	for _, o := range opts {
		o(&cfg)
	}
	p := &Postgres{Host: "127.0.0.1", User: "postgres", Password: "postgres", t: t, cfg: cfg}
	base := tempDir(t, "pg")
	p.DataDir = filepath.Join(base, "data")
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			missing(t, "the postgres OS user (PostgreSQL server package)")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(base, uid, gid); err != nil {
			t.Fatalf("testenv: chown %s: %v", base, err)
		}
	}
	cmd := exec.Command(initdb, "-D", p.DataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	hba := "local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\nlocal replication all trust\n"
	if err := os.WriteFile(filepath.Join(p.DataDir, "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if p.cred != nil {
		_ = os.Chown(filepath.Join(p.DataDir, "pg_hba.conf"), int(p.cred.Uid), int(p.cred.Gid))
	}
	p.Port = FreePort(t)
	p.start(t)
	t.Cleanup(p.stop)
	return p
}

func (p *Postgres) start(t testing.TB) {
	t.Helper()
	args := []string{"-D", p.DataDir, "-p", strconv.Itoa(p.Port), "-c", "unix_socket_directories=" + p.DataDir}
	for k, v := range p.cfg.settings {
		args = append(args, "-c", k+"="+v)
	}
	cmd := exec.Command(filepath.Join(PostgresBinDir, "postgres"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	proc, err := startProcess("postgres", cmd)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p.proc = proc
	err = proc.waitReady(60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, p.DSN("postgres"))
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		var one int
		return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
	})
	if err != nil {
		proc.stop(syscall.SIGKILL, time.Second)
		t.Fatalf("testenv: %v", err)
	}
}

func (p *Postgres) stop() {
	if p.proc != nil {
		// SIGINT is PostgreSQL's fast shutdown.
		p.proc.stop(syscall.SIGINT, 20*time.Second)
	}
}

// Pid returns the postmaster's process id.
func (p *Postgres) Pid() int { return p.proc.Pid() }

// DSN returns a connection URL for database db.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", p.User, p.Password, p.Host, p.Port, db)
}

// ReplicationDSN returns a logical replication connection URL for db.
func (p *Postgres) ReplicationDSN(db string) string {
	return p.DSN(db) + "&replication=database"
}

// Restart stops the server with a fast shutdown and starts it again on the
// same port and data directory.
func (p *Postgres) Restart(t testing.TB) {
	t.Helper()
	p.stop()
	p.start(t)
}

// Kill stops the server with SIGKILL (crash), leaving recovery to the next
// Start.
func (p *Postgres) Kill(t testing.TB) {
	t.Helper()
	p.proc.stop(syscall.SIGKILL, 5*time.Second)
	// Shared memory and the pid file survive a crash; the postmaster
	// cleans them up on the next start.
}

// Start starts a server stopped by Kill.
func (p *Postgres) Start(t testing.TB) {
	t.Helper()
	p.start(t)
}

// Exec runs SQL statements in database db and fails the test on error.
func (p *Postgres) Exec(t testing.TB, db, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, p.DSN(db))
	if err != nil {
		t.Fatalf("testenv: connect %s: %v", db, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("testenv: exec %q: %v", sql, err)
	}
}
