package log

import (
	"log/slog"
	"math"
	"os"
	"time"
)

// Config holds one partition log's topic-level settings.
type Config struct {
	SegmentBytes       int64         // segment.bytes (default 1 GiB)
	SegmentMs          time.Duration // segment.ms: roll a non-empty active segment this old (default 7 days)
	RetentionMs        time.Duration // retention.ms; <0 = unlimited (default 7 days)
	RetentionBytes     int64         // retention.bytes; <0 = unlimited (default -1)
	Compact            bool          // cleanup.policy contains "compact"
	Delete             bool          // cleanup.policy contains "delete" (default true)
	DeleteRetentionMs  time.Duration // delete.retention.ms for tombstones in compacted logs (default 1 day)
	IndexIntervalBytes int           // sparse index granularity (default 4096)
}

// DefaultConfig returns Kafka's defaults.
func DefaultConfig() Config {
	return Config{
		SegmentBytes:       1 << 30,
		SegmentMs:          7 * 24 * time.Hour,
		RetentionMs:        7 * 24 * time.Hour,
		RetentionBytes:     -1,
		Delete:             true,
		DeleteRetentionMs:  24 * time.Hour,
		IndexIntervalBytes: 4096,
	}
}

// normalized replaces unusable values with defaults/limits.
func (c Config) normalized() Config {
	d := DefaultConfig()
	if c.SegmentBytes <= 0 {
		c.SegmentBytes = d.SegmentBytes
	}
	// Positions in the index are uint32 and must stay below 2 GiB.
	if c.SegmentBytes > math.MaxInt32 {
		c.SegmentBytes = math.MaxInt32
	}
	if c.SegmentMs <= 0 {
		c.SegmentMs = d.SegmentMs
	}
	if c.IndexIntervalBytes <= 0 {
		c.IndexIntervalBytes = d.IndexIntervalBytes
	}
	if c.DeleteRetentionMs < 0 {
		c.DeleteRetentionMs = 0
	}
	return c
}

// FlushPolicy says when appended data is fsynced besides WaitDurable/Sync:
// Always makes every Append wait until it is durable; Interval > 0 starts a
// background flusher that Syncs every Interval.
type FlushPolicy struct {
	Interval time.Duration
	Always   bool
}

// Option configures Open.
type Option func(*options)

type options struct {
	logger *slog.Logger
	clock  func() time.Time
	flush  FlushPolicy
	sync   func(*os.File) error
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock used for segment.ms, LogAppendTime and retention (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithFlushPolicy sets the flush policy (default: none, callers use WaitDurable).
func WithFlushPolicy(p FlushPolicy) Option { return func(o *options) { o.flush = p } }

// WithSyncFunc replaces the function used to fsync files (default (*os.File).Sync);
// tests use it to count fsyncs.
func WithSyncFunc(f func(*os.File) error) Option { return func(o *options) { o.sync = f } }
