package log

import (
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
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
	// FlushMessages is flush.messages: fsync once this many messages are
	// unflushed, before Append returns (0 = no limit).
	FlushMessages int64
	// FlushMs is flush.ms: FlushIfDue fsyncs when data has been unflushed
	// this long (0 = no limit).
	FlushMs time.Duration
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

// FlushMode says when a log's appended data is fsynced on its own (besides
// WaitDurable, Sync and the topic's flush.messages / flush.ms).
type FlushMode int

const (
	// FlushDurable fsyncs in the background right after every append
	// (group-committed) and exposes only fsynced data: HighWatermark is the
	// durable offset, so readers never see what a power loss could take back.
	FlushDurable FlushMode = iota
	// FlushInterval fsyncs every Interval; readers see appended data at once.
	FlushInterval
	// FlushNone leaves fsyncs to WaitDurable/Sync callers, the topic flush
	// settings and the OS; readers see appended data at once.
	FlushNone
)

// FlushPolicy is when appended data is fsynced. It is the one flush-policy
// type of the broker: the broker's --flush flag parses into it and every
// partition log applies it.
type FlushPolicy struct {
	Mode     FlushMode
	Interval time.Duration // for FlushInterval
}

// String renders the policy in the form ParseFlushPolicy accepts.
func (p FlushPolicy) String() string {
	switch p.Mode {
	case FlushInterval:
		return "interval:" + p.Interval.String()
	case FlushNone:
		return "none"
	default:
		return "durable"
	}
}

// ParseFlushPolicy parses "durable" (or ""), "none" or "interval:<duration>".
func ParseFlushPolicy(s string) (FlushPolicy, error) {
	switch {
	case s == "durable" || s == "":
		return FlushPolicy{Mode: FlushDurable}, nil
	case s == "none":
		return FlushPolicy{Mode: FlushNone}, nil
	case strings.HasPrefix(s, "interval:"):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "interval:"))
		if err != nil || d <= 0 {
			return FlushPolicy{}, fmt.Errorf("flush policy %q: interval must be a positive duration such as interval:100ms", s)
		}
		return FlushPolicy{Mode: FlushInterval, Interval: d}, nil
	}
	return FlushPolicy{}, fmt.Errorf("flush policy %q: want durable, none or interval:<duration>", s)
}

// Option configures Open.
type Option func(*options)

type options struct {
	logger *slog.Logger
	clock  func() time.Time
	flush  FlushPolicy
	sync   func(*os.File) error
	fs     FS
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithClock sets the clock used for segment.ms, LogAppendTime and retention (default time.Now).
func WithClock(now func() time.Time) Option { return func(o *options) { o.clock = now } }

// WithFlushPolicy sets the flush policy (default FlushNone: callers use
// WaitDurable/Sync).
func WithFlushPolicy(p FlushPolicy) Option { return func(o *options) { o.flush = p } }

// WithSyncFunc replaces the function used to fsync files (default (*os.File).Sync);
// tests use it to count fsyncs.
func WithSyncFunc(f func(*os.File) error) Option { return func(o *options) { o.sync = f } }

// WithFS replaces how segment data files are opened (default: real files,
// fsynced through WithSyncFunc); tests use it to inject I/O faults.
func WithFS(fs FS) Option { return func(o *options) { o.fs = fs } }
