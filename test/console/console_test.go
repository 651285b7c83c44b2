// Package console runs the web console's browser test: the built sluice
// binary (`sluice up`), and console.js driving Debian's Chromium through
// playwright-core (both installed by scripts/setup) to create a connector
// through the form, see a validation error, watch it run, pause and resume
// it, and read a record in the message browser. The screenshots it takes
// are the ones in docs/console.md: set SLUICE_CONSOLE_SCREENSHOTS=docs/console
// (relative to the repository root) to refresh them.
package console

import (
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testenv"
)

// chromium is Debian's Chromium, which scripts/setup installs.
const chromium = "/usr/bin/chromium"

// screenshots are the pages console.js saves.
var screenshots = []string{"create-validation", "connector", "connectors", "task-trace", "cdc-snapshot", "topics", "messages", "groups", "workers"}

func TestConsoleInBrowser(t *testing.T) {
	root := testenv.RepoRoot(t)
	dir := filepath.Join(root, "test", "console")
	// Not skipped when missing: CI runs scripts/setup, which installs both.
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (run scripts/setup): %v", chromium, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		t.Fatalf("playwright-core is missing in test/console (run scripts/setup): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is missing (run scripts/setup): %v", err)
	}

	bin := testenv.BuildSluice(t)

	work := t.TempDir()
	input := filepath.Join(work, "orders.txt")
	sink := filepath.Join(work, "orders-archive.txt")
	if err := os.WriteFile(input, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A CDC source to show snapshot progress; its password (ignored by the
	// server's trust auth) must never reach the browser.
	pg := testenv.StartPostgres(t)
	pg.Exec(t, "postgres", "CREATE DATABASE shop")
	pg.Exec(t, "shop", `
CREATE TABLE customers (id serial PRIMARY KEY, email text NOT NULL, name text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL, amount numeric(10,2) NOT NULL);
INSERT INTO customers (email, name) SELECT 'c' || g || '@example.com', 'Customer ' || g FROM generate_series(1, 2000) g;
INSERT INTO orders (customer_id, amount) SELECT 1 + g % 2000, (g % 500) + 0.99 FROM generate_series(1, 8000) g;`)
	const secret = "console-test-s3cret-password"

	url := startUp(t, bin, filepath.Join(work, "data"))

	// Keep appending lines, so the source's record counts rise while the
	// browser watches.
	ctx, cancel := context.WithCancel(context.Background())
	appended := make(chan struct{})
	go func() {
		defer close(appended)
		f, err := os.OpenFile(input, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 1; ; i++ {
			fmt.Fprintf(f, "order %d sku=SKU-%03d qty=%d\n", i, i%250, i%7+1)
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { cancel(); <-appended }()

	shots := t.TempDir()
	if d := os.Getenv("SLUICE_CONSOLE_SCREENSHOTS"); d != "" {
		shots = d
		if !filepath.IsAbs(d) {
			shots = filepath.Join(root, d)
		}
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	jsCtx, jsCancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer jsCancel()
	cmd := exec.CommandContext(jsCtx, node, "console.js")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"SLUICE_URL="+url, "INPUT_FILE="+input, "SINK_FILE="+sink,
		"SCREENSHOT_DIR="+shots, "CHROMIUM="+chromium,
		"PG_HOST="+pg.Host, "PG_PORT="+strconv.Itoa(pg.Port), "PG_USER="+pg.User, "PG_DB=shop", "PG_SECRET="+secret)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	t.Logf("console.js:\n%s", out)
	if err != nil {
		t.Fatalf("console.js: %v", err)
	}
	for _, name := range screenshots {
		p := filepath.Join(shots, name+".png")
		f, err := os.Open(p)
		if err != nil {
			t.Errorf("screenshot %s: %v", name, err)
			continue
		}
		img, err := png.Decode(f)
		f.Close()
		if err != nil {
			t.Errorf("screenshot %s is not a PNG: %v", name, err)
			continue
		}
		if b := img.Bounds(); b.Dx() != 1440 || b.Dy() != 900 {
			t.Errorf("screenshot %s is %dx%d, want 1440x900", name, b.Dx(), b.Dy())
		}
	}
}

// startUp runs `sluice up` on free ports until the test ends and returns
// its REST URL.
func startUp(t *testing.T, bin, dataDir string) string {
	t.Helper()
	c := testenv.StartChild(t, "sluice up", exec.Command(bin, "up", "--data-dir", dataDir, "--kafka-listen", "127.0.0.1:0",
		"--rest-listen", "127.0.0.1:0", "--offset-flush-interval", "1s"))
	t.Cleanup(func() {
		if !c.Exited() {
			c.Stop(t, syscall.SIGTERM, 30*time.Second)
		}
	})
	c.WaitStdout(t, "Press Ctrl-C", 2*time.Minute)
	for _, line := range strings.Split(c.Stdout.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && strings.HasPrefix(line, "  Web console") {
			return strings.TrimSuffix(f[len(f)-1], "/ui/")
		}
	}
	t.Fatalf("sluice up printed no web console URL:\n%s", c.Stdout.String())
	return ""
}
