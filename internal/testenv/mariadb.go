package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// MariaDB is a private MariaDB server with a row-based binlog carrying full
// row metadata, as CDC needs. MariaDB always assigns GTIDs
// (domain-server-sequence); the server id is 1 and gtid_domain_id 0.
type MariaDB struct {
	Host     string
	Port     int
	User     string
	Password string
	DataDir  string

	base     string
	socket   string
	client   string
	server   string
	settings []string
	proc     *process
}

// MariaDBOption configures StartMariaDB.
type MariaDBOption func(*MariaDB)

// WithMariaDBSetting passes --name=value to mariadbd (for example
// binlog_row_image=MINIMAL to test the connector's refusal).
func WithMariaDBSetting(name, value string) MariaDBOption {
	return func(m *MariaDB) { m.settings = append(m.settings, "--"+name+"="+value) }
}

// StartMariaDB initializes and starts a MariaDB server on a free 127.0.0.1
// port with log-bin, binlog_format=ROW, binlog_row_image=FULL and
// binlog_row_metadata=FULL. User "sluice" (password "sluice") has all
// privileges, including replication.
func StartMariaDB(t testing.TB, opts ...MariaDBOption) *MariaDB {
	t.Helper()
	server, ok := lookPath("mariadbd", "/usr/sbin")
	if !ok {
		missing(t, "MariaDB server (mariadbd)")
	}
	install, ok := lookPath("mariadb-install-db", "/usr/bin")
	if !ok {
		missing(t, "mariadb-install-db")
	}
	client, ok := lookPath("mariadb", "/usr/bin")
	if !ok {
		missing(t, "MariaDB client (mariadb)")
	}
	base := tempDir(t, "mariadb")
	m := &MariaDB{Host: "127.0.0.1", User: "sluice", Password: "sluice", DataDir: filepath.Join(base, "data"),
		base: base, socket: filepath.Join(base, "mysqld.sock"), client: client, server: server}
	for _, o := range opts {
		o(m)
	}
	cmd := exec.Command(install, "--no-defaults", "--datadir="+m.DataDir, "--user="+currentUser(),
		"--auth-root-authentication-method=normal", "--skip-test-db")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: mariadb-install-db: %v\n%s", err, out)
	}
	m.Port = FreePort(t)
	m.start(t)
	t.Cleanup(m.stop)
	setup := fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'; GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION; FLUSH PRIVILEGES;",
		m.User, m.Password, m.User)
	if out, err := m.rootSQL(setup); err != nil {
		t.Fatalf("testenv: create mariadb user: %v\n%s", err, out)
	}
	return m
}

func (m *MariaDB) start(t testing.TB) {
	t.Helper()
	args := []string{"--no-defaults",
		"--datadir=" + m.DataDir,
		"--user=" + currentUser(),
		"--port=" + strconv.Itoa(m.Port),
		"--bind-address=127.0.0.1",
		"--socket=" + m.socket,
		"--pid-file=" + filepath.Join(m.base, "mysqld.pid"),
		"--log-bin=" + filepath.Join(m.DataDir, "binlog"),
		"--binlog-format=ROW",
		"--binlog-row-metadata=FULL",
		"--binlog-row-image=FULL",
		"--server-id=1",
		"--skip-name-resolve",
		"--innodb-buffer-pool-size=64M",
		"--innodb-log-file-size=48M",
		"--innodb-flush-log-at-trx-commit=2",
		"--log-error=" + filepath.Join(m.base, "error.log"),
	}
	args = append(args, m.settings...)
	proc, err := startProcess("mariadbd", exec.Command(m.server, args...))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	m.proc = proc
	err = proc.waitReady(60*time.Second, func() error {
		_, err := m.rootSQL("SELECT 1")
		return err
	})
	if err != nil {
		logTail, _ := os.ReadFile(filepath.Join(m.base, "error.log"))
		t.Fatalf("testenv: %v\nerror.log:\n%s", err, lastLines(string(logTail), 30))
	}
}

func (m *MariaDB) stop() {
	if m.proc != nil {
		m.proc.stop(syscall.SIGTERM, 30*time.Second)
	}
}

// Restart stops the server cleanly and starts it again on the same port
// and data directory.
func (m *MariaDB) Restart(t testing.TB) {
	t.Helper()
	m.stop()
	m.start(t)
}

// Kill stops the server with SIGKILL and starts it again (crash recovery).
func (m *MariaDB) Kill(t testing.TB) {
	t.Helper()
	m.proc.stop(syscall.SIGKILL, 10*time.Second)
	m.start(t)
}

// PurgeBinlogs rotates to a new binlog file and purges every older one, so
// positions in earlier files can no longer be streamed. MariaDB keeps files
// still needed by a dump thread or by crash recovery, so it retries until
// only the newest file is left.
func (m *MariaDB) PurgeBinlogs(t testing.TB) {
	t.Helper()
	m.Query(t, "FLUSH BINARY LOGS")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := m.Query(t, "SHOW MASTER STATUS")
		f := strings.Fields(out)
		if len(f) == 0 {
			t.Fatalf("testenv: SHOW MASTER STATUS returned nothing")
		}
		m.Query(t, "PURGE BINARY LOGS TO '"+f[0]+"'")
		if logs := strings.Fields(m.Query(t, "SHOW BINARY LOGS")); len(logs) <= 2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: binlogs not purged: %s", m.Query(t, "SHOW BINARY LOGS"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rootSQL runs SQL as root over the server's Unix socket with the mariadb
// client and returns its tab-separated output.
func (m *MariaDB) rootSQL(sql string) (string, error) {
	out, err := exec.Command(m.client, "--no-defaults", "--protocol=socket", "--socket="+m.socket,
		"-uroot", "--batch", "--skip-column-names", "-e", sql).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%v: %s", err, out)
	}
	return string(out), nil
}

// Query runs SQL as root and returns the client's tab-separated output,
// failing the test on error.
func (m *MariaDB) Query(t testing.TB, sql string) string {
	t.Helper()
	out, err := m.rootSQL(sql)
	if err != nil {
		t.Fatalf("testenv: mariadb %q: %v", sql, err)
	}
	return out
}

// Addr returns host:port.
func (m *MariaDB) Addr() string { return fmt.Sprintf("%s:%d", m.Host, m.Port) }

// DSN returns a go-sql-driver style DSN for database db.
func (m *MariaDB) DSN(db string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s", m.User, m.Password, m.Addr(), db)
}

// Pid returns the server's process id.
func (m *MariaDB) Pid() int { return m.proc.Pid() }

func currentUser() string {
	if os.Geteuid() == 0 {
		return "root"
	}
	if u := os.Getenv("USER"); u != "" {
		return u
	}
	return strconv.Itoa(os.Geteuid())
}

func lastLines(s string, n int) string {
	b := &tailBuffer{}
	_, _ = b.Write([]byte(s))
	return b.Tail(n)
}
