// Package testconn holds connectors for tests and benchmarks only. They
// are compiled into the sluice binary only with the build tag sluicetest
// (go build -tags sluicetest ./cmd/sluice); product binaries do not have
// them.
package testconn

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

// BurnSinkClass is the burn sink's connector.class.
const BurnSinkClass = "io.sluice.test.BurnSinkConnector"

// Config keys of the burn sink.
const (
	// DirConfig is the directory each task appends its records to, one
	// file per process and task (<pid>-task<id>.txt), one line per record
	// value.
	DirConfig = "dir"
	// BurnConfig is how many SHA-256 rounds each record costs (CPU load).
	BurnConfig = "burn.rounds"
	// DelayConfig is a sleep per record in microseconds (slow I/O, low CPU).
	DelayConfig = "delay.us"
	// OpensFile (in the output directory) gets a line "<pid> task<id>"
	// each time a task starts.
	OpensFile = "opens.log"
)

// BurnSinkPlugin returns the burn sink: a CPU-heavy (or slow) sink that
// writes every record value as a line and fsyncs on flush, so tests can
// count delivery.
func BurnSinkPlugin() connect.Plugin {
	return connect.Plugin{
		Class:   BurnSinkClass,
		Aliases: []string{"burn-sink"},
		Type:    "sink",
		Version: "test",
		New:     func() connect.Connector { return &burnConnector{} },
	}
}

func configDef() connect.ConfigDef {
	return connect.ConfigDef{
		{Name: DirConfig, Type: connect.TypeString, Importance: connect.High, Doc: "Output directory."},
		{Name: BurnConfig, Type: connect.TypeInt, Default: "0", HasDefault: true, Importance: connect.Low, Doc: "SHA-256 rounds per record."},
		{Name: DelayConfig, Type: connect.TypeInt, Default: "0", HasDefault: true, Importance: connect.Low, Doc: "Sleep per record, microseconds."},
	}
}

type burnConnector struct{ cfg map[string]string }

func (c *burnConnector) ConfigDef() connect.ConfigDef { return configDef() }
func (c *burnConnector) Start(ctx context.Context, cfg map[string]string) error {
	if _, err := configDef().Parse(cfg); err != nil {
		return err
	}
	c.cfg = cfg
	return nil
}
func (c *burnConnector) TaskConfigs(maxTasks int) ([]map[string]string, error) {
	out := make([]map[string]string, max(maxTasks, 1))
	for i := range out {
		out[i] = maps.Clone(c.cfg)
	}
	return out, nil
}
func (c *burnConnector) Stop() error               { return nil }
func (c *burnConnector) NewTask() connect.SinkTask { return &burnTask{} }

type burnTask struct {
	f      *os.File
	rounds int
	delay  time.Duration
	buf    []byte
}

func (t *burnTask) Open(ctx context.Context, cfg map[string]string, tctx connect.SinkTaskContext) error {
	p, err := configDef().Parse(cfg)
	if err != nil {
		return err
	}
	t.rounds = p.Int(BurnConfig)
	t.delay = time.Duration(p.Int(DelayConfig)) * time.Microsecond
	dir := p.String(DirConfig)
	name := filepath.Join(dir, fmt.Sprintf("%d-task%d.txt", os.Getpid(), tctx.TaskID()))
	if t.f, err = os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err != nil {
		return err
	}
	// Every task start is logged to OpensFile, so tests can tell which
	// tasks a rebalance restarted.
	opens, err := os.OpenFile(filepath.Join(dir, OpensFile), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer opens.Close()
	_, err = fmt.Fprintf(opens, "%d task%d\n", os.Getpid(), tctx.TaskID())
	return err
}

func (t *burnTask) Assign(ctx context.Context, _ []connect.TopicPartition) error { return nil }

func (t *burnTask) Put(ctx context.Context, records []*connect.Record) error {
	for _, r := range records {
		v := fmt.Sprint(r.Value)
		if b, ok := r.Value.([]byte); ok {
			v = string(b)
		}
		sum := sha256.Sum256([]byte(v))
		for range t.rounds {
			sum = sha256.Sum256(sum[:])
		}
		if t.delay > 0 {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(t.delay):
			}
		}
		t.buf = append(t.buf, v...)
		t.buf = append(t.buf, '\n')
	}
	return nil
}

func (t *burnTask) Flush(ctx context.Context, current map[connect.TopicPartition]int64) (map[connect.TopicPartition]int64, error) {
	if len(t.buf) > 0 {
		if _, err := t.f.Write(t.buf); err != nil {
			return nil, err
		}
		t.buf = t.buf[:0]
	}
	if err := t.f.Sync(); err != nil {
		return nil, err
	}
	return current, nil
}

func (t *burnTask) Revoke(ctx context.Context, _ []connect.TopicPartition) error {
	t.buf = t.buf[:0]
	return nil
}

func (t *burnTask) Close() error {
	if t.f != nil {
		return t.f.Close()
	}
	return nil
}
