package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicehq/sluice/runtime/pool"
)

// poolSettingPrefix marks connector config keys that configure the
// connector's pool rather than the connector; they are taken out of the
// config the workers see.
const poolSettingPrefix = "sluice.pool."

// splitPoolSettings moves the sluice.pool.* keys out of cfg.
func splitPoolSettings(cfg map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range cfg {
		if s, ok := strings.CutPrefix(k, poolSettingPrefix); ok {
			out[s] = v
			delete(cfg, k)
		}
	}
	return out
}

// poolOptions turns pool settings (sluice.pool.* without the prefix) into
// manager options: scale.interval.ms, scale.out.window.ms,
// scale.in.window.ms, scale.out.cooldown.ms, scale.in.cooldown.ms,
// settle.timeout.ms, lag.threshold, backlog.postgres.dsn,
// backlog.postgres.slot, backlog.threshold.bytes.
func poolOptions(name string, settings, cfg map[string]string, bootstrap string) ([]pool.Option, func(), error) {
	pol := pool.DefaultPolicy()
	durs := []struct {
		key string
		dst *time.Duration
	}{
		{"scale.interval.ms", &pol.Interval}, {"scale.out.window.ms", &pol.ScaleOutWindow}, {"scale.in.window.ms", &pol.ScaleInWindow},
		{"scale.out.cooldown.ms", &pol.ScaleOutCooldown}, {"scale.in.cooldown.ms", &pol.ScaleInCooldown}, {"settle.timeout.ms", &pol.SettleTimeout},
	}
	known := map[string]bool{"lag.threshold": true, "backlog.postgres.dsn": true, "backlog.postgres.slot": true, "backlog.threshold.bytes": true}
	for _, d := range durs {
		known[d.key] = true
		v, ok := settings[d.key]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("%s%s=%q: expected a non-negative number of milliseconds", poolSettingPrefix, d.key, v)
		}
		*d.dst = time.Duration(n) * time.Millisecond
	}
	for k := range settings {
		if !known[k] {
			return nil, nil, fmt.Errorf("%s%s: unknown pool setting", poolSettingPrefix, k)
		}
	}
	num := func(key string) (float64, error) {
		v, ok := settings[key]
		if !ok {
			return 0, nil
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%s%s=%q: expected a non-negative number", poolSettingPrefix, key, v)
		}
		return n, nil
	}
	opts := []pool.Option{pool.WithPolicy(pol)}
	cleanup := func() {}
	lag, err := num("lag.threshold")
	if err != nil {
		return nil, nil, err
	}
	if lag > 0 {
		cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(bootstrap, ",")...))
		if err != nil {
			return nil, nil, err
		}
		cleanup = cl.Close
		opts = append(opts, pool.WithSignals(pool.SinkLag(kadm.NewClient(cl), name, lag)))
	}
	bytes, err := num("backlog.threshold.bytes")
	if err != nil {
		cleanup()
		return nil, nil, err
	}
	if bytes > 0 {
		dsn := settings["backlog.postgres.dsn"]
		if dsn == "" {
			cleanup()
			return nil, nil, fmt.Errorf("%sbacklog.threshold.bytes needs %sbacklog.postgres.dsn", poolSettingPrefix, poolSettingPrefix)
		}
		slot := settings["backlog.postgres.slot"]
		if slot == "" {
			slot = cfg["slot.name"]
		}
		if slot == "" {
			slot = "debezium"
		}
		opts = append(opts, pool.WithSignals(pool.PostgresSlotLag(dsn, slot, bytes)))
	}
	return opts, cleanup, nil
}
