package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/runtime/mskapi"
	"github.com/sluicehq/sluice/runtime/plugin"
	"github.com/sluicehq/sluice/runtime/pool"
)

// mskFlags are `sluice up`'s MSK Connect API flags.
type mskFlags struct {
	region, account, credsFile *string
}

func addMSKFlags(fs *flag.FlagSet) mskFlags {
	return mskFlags{
		region:  fs.String("msk-region", "us-east-1", "region in the MSK Connect API's ARNs (served under /v1/ on the REST port)"),
		account: fs.String("msk-account", "000000000000", "account id in the MSK Connect API's ARNs"),
		credsFile: fs.String("msk-credentials-file", "", "AWS shared-credentials file (aws_access_key_id / aws_secret_access_key); "+
			"when set, the MSK Connect API verifies SigV4 signatures, otherwise it accepts any request"),
	}
}

// newUpMSK builds the MSK Connect API of `sluice up` over its pools; base
// is up's own REST handler (to reject names its in-process connectors use).
func newUpMSK(f mskFlags, dataDir, bootstrap string, pools *upPools, base http.Handler, log *slog.Logger) (*mskapi.Server, error) {
	opts := []mskapi.Option{
		mskapi.WithRegion(*f.region), mskapi.WithAccount(*f.account),
		mskapi.WithCluster(mskapi.Cluster{Name: "sluice", Bootstrap: bootstrap, Brokers: 1}),
		mskapi.WithStateFile(filepath.Join(dataDir, "mskapi.json")),
		mskapi.WithLogger(log.With("component", "mskapi")),
	}
	if *f.credsFile != "" {
		creds, err := readAWSCredentials(*f.credsFile)
		if err != nil {
			return nil, fmt.Errorf("--msk-credentials-file: %w", err)
		}
		opts = append(opts, mskapi.WithCredentials(creds))
	}
	return mskapi.New(&mskBackend{pools: pools, base: base}, opts...)
}

// mountMSK serves the MSK Connect (/v1/...) and MSK (/api/v2/clusters,
// /v1/clusters/...) paths with msk; Kafka Connect's paths never start so.
func mountMSK(msk http.Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") || strings.HasPrefix(r.URL.Path, "/api/v2/") {
			msk.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// readAWSCredentials reads every access key pair of a shared-credentials
// (INI) file.
func readAWSCredentials(path string) (map[string]string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	out := map[string]string{}
	var id, secret string
	flush := func() {
		if id != "" && secret != "" {
			out[id] = secret
		}
		id, secret = "", ""
	}
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "[") {
			flush()
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "aws_access_key_id":
			id = strings.TrimSpace(v)
		case "aws_secret_access_key":
			secret = strings.TrimSpace(v)
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no aws_access_key_id / aws_secret_access_key pair", path)
	}
	return out, nil
}

// mskBackend adapts up's worker pools to mskapi.Backend.
type mskBackend struct {
	pools *upPools
	base  http.Handler
}

func (b *mskBackend) CreateConnector(ctx context.Context, name string, config map[string]string, c pool.Capacity, workerProps map[string]string) error {
	class := config["connector.class"]
	reg, err := registry()
	if err != nil {
		return err
	}
	if _, known := reg.Lookup(plugin.Source, class); !known {
		return fmt.Errorf("connectorConfiguration: connector.class %q is not a sluice connector (see `sluice list-plugins`)", class)
	}
	if b.pools.get(name) != nil || exists(ctx, b.base, name) {
		return mskapi.ErrExists
	}
	cfg := maps.Clone(config)
	delete(cfg, capacityConfig)
	cfg["name"] = name
	return b.pools.start(upPoolFile{Name: name, Config: cfg, Capacity: c, WorkerProps: workerProps})
}

func (b *mskBackend) Connector(name string) (mskapi.ConnectorStatus, bool) {
	m := b.pools.get(name)
	if m == nil {
		return mskapi.ConnectorStatus{}, false
	}
	st := m.Status()
	return mskapi.ConnectorStatus{State: st.State, StateDescription: st.StateDescription, Capacity: st.Capacity,
		WorkerCount: len(st.Workers), Config: m.Config()}, true
}

func (b *mskBackend) UpdateCapacity(ctx context.Context, name string, c pool.Capacity) (string, error) {
	m := b.pools.get(name)
	if m == nil {
		return "", fmt.Errorf("connector %s is not running", name)
	}
	id, err := m.UpdateCapacity(ctx, c)
	if err == nil {
		err = b.pools.saveCurrent(name, m)
	}
	return id, err
}

func (b *mskBackend) UpdateConfig(ctx context.Context, name string, config map[string]string) (string, error) {
	m := b.pools.get(name)
	if m == nil {
		return "", fmt.Errorf("connector %s is not running", name)
	}
	id, err := m.UpdateConfig(ctx, config)
	if err == nil {
		err = b.pools.saveCurrent(name, m)
	}
	return id, err
}

func (b *mskBackend) DeleteConnector(ctx context.Context, name string) error {
	m := b.pools.get(name)
	if m == nil {
		return fmt.Errorf("connector %s is not running", name)
	}
	return m.Delete(ctx)
}

func (b *mskBackend) Operations(name string) []pool.Operation {
	m := b.pools.get(name)
	if m == nil {
		return nil
	}
	return m.Operations().List()
}

// shorthandJSON converts the AWS CLI's shorthand syntax for structures,
// e.g. provisionedCapacity={mcuCount=1,workerCount=1}, to JSON: nested
// {...} are objects, [...] lists, and all-digit values numbers.
func shorthandJSON(s string) (string, error) {
	p := &shorthand{s: strings.TrimSpace(s)}
	v, err := p.object(false)
	if err != nil {
		return "", err
	}
	if p.i != len(p.s) {
		return "", fmt.Errorf("shorthand: unexpected %q at byte %d", p.s[p.i:], p.i)
	}
	b, err := json.Marshal(v)
	return string(b), err
}

type shorthand struct {
	s string
	i int
}

func (p *shorthand) object(braced bool) (map[string]any, error) {
	out := map[string]any{}
	for p.i < len(p.s) {
		if braced && p.s[p.i] == '}' {
			p.i++
			return out, nil
		}
		eq := strings.IndexByte(p.s[p.i:], '=')
		if eq < 1 {
			return nil, fmt.Errorf("shorthand: expected key=value at byte %d", p.i)
		}
		key := strings.TrimSpace(p.s[p.i : p.i+eq])
		p.i += eq + 1
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("shorthand: key %s given twice", key)
		}
		out[key] = v
		if p.i < len(p.s) && p.s[p.i] == ',' {
			p.i++
		}
	}
	if braced {
		return nil, fmt.Errorf("shorthand: missing '}'")
	}
	return out, nil
}

func (p *shorthand) value() (any, error) {
	if p.i < len(p.s) && p.s[p.i] == '{' {
		p.i++
		return p.object(true)
	}
	if p.i < len(p.s) && p.s[p.i] == '[' {
		p.i++
		var list []any
		for p.i < len(p.s) && p.s[p.i] != ']' {
			v, err := p.value()
			if err != nil {
				return nil, err
			}
			list = append(list, v)
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			}
		}
		if p.i >= len(p.s) {
			return nil, fmt.Errorf("shorthand: missing ']'")
		}
		p.i++
		return list, nil
	}
	j := p.i
	for j < len(p.s) && !strings.ContainsRune(",}]", rune(p.s[j])) {
		j++
	}
	v := strings.TrimSpace(p.s[p.i:j])
	p.i = j
	if n, err := strconv.Atoi(v); err == nil {
		return n, nil
	}
	return v, nil
}

// mskShape fills describe-connector's MSK Connect fields: connectorName,
// connectorConfiguration (secrets masked, without sluice.capacity) and
// connectorState (the pool's MSK state; else Kafka Connect's connector
// state, which is MSK's RUNNING/FAILED except PAUSED, STOPPED and
// UNASSIGNED, kept as they are).
func mskShape(d *connectorDescription) {
	d.ConnectorName = d.Name
	d.ConnectorConfiguration = maps.Clone(d.Config)
	delete(d.ConnectorConfiguration, capacityConfig)
	delete(d.ConnectorConfiguration, "name")
	d.ConnectorState = string(d.Connector.State)
	if d.Pool != nil {
		d.ConnectorState = string(d.Pool.State)
	}
}
