package pool

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/twmb/franz-go/pkg/kadm"
)

// Signal is a backlog measure that can ask for more workers: the pool
// wants ceil(Value / Threshold) workers while it is above Threshold.
type Signal struct {
	// Name labels the signal in reasons and metrics, e.g. "sink_lag".
	Name string
	// Threshold is the backlog one worker is expected to handle (records
	// of consumer lag, bytes of replication slot lag).
	Threshold float64
	// Value measures the current backlog.
	Value func(ctx context.Context) (float64, error)
}

// SinkLag returns a signal on a sink connector's consumer group lag (the
// sum over partitions of high watermark minus committed offset; partitions
// without a commit count from the log start), for the group
// connect-<connector>.
func SinkLag(adm *kadm.Client, connector string, threshold float64) Signal {
	group := "connect-" + connector
	return Signal{Name: "sink_lag", Threshold: threshold, Value: func(ctx context.Context) (float64, error) {
		lags, err := adm.Lag(ctx, group)
		if err != nil {
			return 0, err
		}
		l, ok := lags[group]
		if !ok {
			return 0, nil
		}
		if l.FetchErr != nil {
			return 0, fmt.Errorf("sink lag of %s: %w", group, l.FetchErr)
		}
		if l.DescribeErr != nil {
			return 0, fmt.Errorf("sink lag of %s: %w", group, l.DescribeErr)
		}
		var total int64
		for _, ps := range l.Lag {
			for _, p := range ps {
				if p.Err == nil && p.Lag > 0 {
					total += p.Lag
				}
			}
		}
		return float64(total), nil
	}}
}

// PostgresSlotLag returns a signal on a Postgres CDC source's backlog: the
// bytes of WAL between the server's current position and the replication
// slot's confirmed_flush_lsn.
func PostgresSlotLag(dsn, slot string, thresholdBytes float64) Signal {
	return Signal{Name: "source_backlog_bytes", Threshold: thresholdBytes, Value: func(ctx context.Context) (float64, error) {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			return 0, fmt.Errorf("source backlog: %w", err)
		}
		defer conn.Close(context.WithoutCancel(ctx))
		var lag *float64
		err = conn.QueryRow(ctx, `SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::float8
			FROM pg_replication_slots WHERE slot_name = $1`, slot).Scan(&lag)
		if err != nil {
			return 0, fmt.Errorf("source backlog of slot %s: %w", slot, err)
		}
		if lag == nil {
			return 0, nil
		}
		return *lag, nil
	}}
}
