// Package group is the classic consumer-group coordinator of sluice's
// single-node Kafka broker.
//
// It implements the classic group protocol (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup) for any protocol type (consumer, connect, ...), static
// membership (KIP-345), and the offset APIs (OffsetCommit, OffsetFetch,
// OffsetDelete) plus ListGroups, DescribeGroups and DeleteGroups. Every
// offset commit and every group state change is written through a Store as
// Kafka's __consumer_offsets records before the request is answered, and
// Load replays those records at startup.
//
// Each method answers in the version of its request. Supported versions:
// JoinGroup 0-9 (v4+ with the KIP-394 member-id-required round trip for
// dynamic members, v9 KIP-814 skip-assignment), SyncGroup 0-5, Heartbeat
// 0-4, LeaveGroup 0-5, OffsetCommit 0-10 and OffsetFetch 0-10 (v10 needs
// WithTopicIDs), OffsetDelete 0, ListGroups 0-5, DescribeGroups 0-6,
// DeleteGroups 0-3.
//
// Broker integration:
//   - At startup call Load for every record of __consumer_offsets, in log
//     order, before serving; then serve.
//   - Store.Append must return only when the records are durable; records
//     of one Append belong to one group and must be written in order.
//   - Pass each request's context through WithClientInfo so members carry
//     client id and host (DescribeGroups, generated member ids).
//   - JoinGroup and SyncGroup block; cancel their context when the
//     connection closes. Close wakes them all.
package group

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// Record is one __consumer_offsets record: Key and Value are encoded with
// kmsg.OffsetCommitKey/Value or kmsg.GroupMetadataKey/Value. A nil Value is
// a tombstone.
type Record struct{ Key, Value []byte }

// Store persists coordinator records. Append returns only once recs are
// durable; the coordinator answers a request only after Append returned nil.
// When Append fails the request fails: with the error's Kafka code if it
// wraps a *kerr.Error, else with COORDINATOR_NOT_AVAILABLE (retriable).
type Store interface {
	Append(ctx context.Context, recs []Record) error
}

// Timer is a pending callback created by Clock.AfterFunc.
type Timer interface {
	// Stop prevents the callback from running; it reports whether it did.
	Stop() bool
}

// Clock is the coordinator's time source. The default uses package time;
// tests inject a manual clock to drive timeouts deterministically.
type Clock interface {
	Now() time.Time
	AfterFunc(d time.Duration, f func()) Timer
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }
func (realClock) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

type options struct {
	logger           *slog.Logger
	clock            Clock
	topicExists      func(topic string, partition int32) bool
	topicName        func(id [16]byte) (string, bool)
	topicID          func(topic string) ([16]byte, bool)
	initialDelay     time.Duration
	retention        time.Duration
	retentionCheck   time.Duration
	minSession       time.Duration
	maxSession       time.Duration
	maxMetadataBytes int
	maxGroupSize     int
}

// Option configures a Coordinator.
type Option func(*options)

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClock sets the time source used for all timeouts (default: real time).
func WithClock(c Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithTopicExists sets the check used by OffsetCommit and OffsetDelete to
// answer UNKNOWN_TOPIC_OR_PARTITION (default: every partition exists).
func WithTopicExists(f func(topic string, partition int32) bool) Option {
	return func(o *options) { o.topicExists = f }
}

// WithTopicIDs sets the topic id <-> name mapping used by OffsetCommit v10+
// and OffsetFetch v10+, which address topics by id. Without it those
// versions answer UNKNOWN_TOPIC_ID.
func WithTopicIDs(name func(id [16]byte) (string, bool), id func(topic string) ([16]byte, bool)) Option {
	return func(o *options) { o.topicName, o.topicID = name, id }
}

// WithInitialRebalanceDelay sets group.initial.rebalance.delay.ms: how long
// the first rebalance of an empty group waits for more members (default 0).
func WithInitialRebalanceDelay(d time.Duration) Option {
	return func(o *options) {
		if d >= 0 {
			o.initialDelay = d
		}
	}
}

// WithOffsetsRetention sets offsets.retention.minutes: committed offsets of a
// group that has been empty this long (or, for simple commits, whose commit
// is this old) are deleted (default 7 days; <= 0 disables expiry).
func WithOffsetsRetention(d time.Duration) Option {
	return func(o *options) { o.retention = d }
}

// WithOffsetsRetentionCheckInterval sets offsets.retention.check.interval.ms,
// how often expired offsets are looked for (default 10 minutes).
func WithOffsetsRetentionCheckInterval(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.retentionCheck = d
		}
	}
}

// WithSessionTimeoutBounds sets group.min.session.timeout.ms and
// group.max.session.timeout.ms (defaults 6s and 30m, as Kafka): a JoinGroup
// with a session timeout outside them gets INVALID_SESSION_TIMEOUT.
func WithSessionTimeoutBounds(min, max time.Duration) Option {
	return func(o *options) { o.minSession, o.maxSession = min, max }
}

// WithMaxGroupSize sets group.max.size (default 0 = unlimited).
func WithMaxGroupSize(n int) Option {
	return func(o *options) { o.maxGroupSize = n }
}

// WithMaxMetadataBytes sets offset.metadata.max.bytes (default 4096).
func WithMaxMetadataBytes(n int) Option {
	return func(o *options) { o.maxMetadataBytes = n }
}

// Coordinator is the group coordinator. It is safe for concurrent use.
type Coordinator struct {
	store Store
	o     options
	log   *slog.Logger

	ctx    context.Context // cancelled by Close; used for Store.Append
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	groups map[string]*group
	closed bool
	sweep  Timer
}

// New returns a coordinator persisting through store.
func New(store Store, opts ...Option) *Coordinator {
	o := options{
		logger:           slog.Default(),
		clock:            realClock{},
		retention:        7 * 24 * time.Hour,
		retentionCheck:   10 * time.Minute,
		minSession:       6 * time.Second,
		maxSession:       30 * time.Minute,
		maxMetadataBytes: 4096,
	}
	for _, opt := range opts {
		opt(&o)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &Coordinator{
		store:  store,
		o:      o,
		log:    o.logger.With("component", "group"),
		ctx:    ctx,
		cancel: cancel,
		done:   make(chan struct{}),
		groups: make(map[string]*group),
	}
	if o.retention > 0 {
		c.mu.Lock()
		c.sweep = o.clock.AfterFunc(o.retentionCheck, c.expirySweep)
		c.mu.Unlock()
	}
	return c
}

// Close stops all timers and wakes every blocked JoinGroup/SyncGroup with
// COORDINATOR_NOT_AVAILABLE. Later requests get the same error.
func (c *Coordinator) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.done)
	c.cancel()
	if c.sweep != nil {
		c.sweep.Stop()
	}
	groups := make([]*group, 0, len(c.groups))
	for _, g := range c.groups {
		groups = append(groups, g)
	}
	c.mu.Unlock()
	for _, g := range groups {
		g.mu.Lock()
		g.stopTimers()
		g.mu.Unlock()
	}
	return nil
}

func (c *Coordinator) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// lockGroup returns the group named id, locked, creating it (Empty) when
// create is set. It returns nil when the group does not exist (or the
// coordinator is closed). Dead groups are never returned.
func (c *Coordinator) lockGroup(id string, create bool) *group {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil
		}
		g := c.groups[id]
		if g == nil {
			if !create {
				c.mu.Unlock()
				return nil
			}
			g = newGroup(c, id)
			c.groups[id] = g
		}
		c.mu.Unlock()
		g.mu.Lock()
		if g.state != stateDead {
			return g
		}
		g.mu.Unlock()
		c.forget(g)
	}
}

// forget removes a Dead group from the map (if it is still the one there).
func (c *Coordinator) forget(g *group) {
	c.mu.Lock()
	if c.groups[g.id] == g {
		delete(c.groups, g.id)
	}
	c.mu.Unlock()
}

// groupIDs returns the names of all groups, sorted.
func (c *Coordinator) groupIDs() []string {
	c.mu.Lock()
	ids := make([]string, 0, len(c.groups))
	for id := range c.groups {
		ids = append(ids, id)
	}
	c.mu.Unlock()
	sort.Strings(ids)
	return ids
}

// persist appends recs durably. It is called with the group lock held so
// that records reach the store in the order the state changes happen.
func (c *Coordinator) persist(recs []Record) error {
	if len(recs) == 0 {
		return nil
	}
	if c.store == nil {
		return nil
	}
	return c.store.Append(c.ctx, recs)
}

// ClientInfo identifies the client connection a request came from.
type ClientInfo struct {
	ClientID   string
	ClientHost string
}

type clientInfoKey struct{}

// WithClientInfo returns a context carrying the request's client id and
// host; JoinGroup records them per member (DescribeGroups reports them and
// generated member ids start with the client id, like Kafka).
func WithClientInfo(ctx context.Context, clientID, clientHost string) context.Context {
	return context.WithValue(ctx, clientInfoKey{}, ClientInfo{ClientID: clientID, ClientHost: clientHost})
}

func clientInfo(ctx context.Context) ClientInfo {
	if ctx == nil {
		return ClientInfo{}
	}
	ci, _ := ctx.Value(clientInfoKey{}).(ClientInfo)
	return ci
}

// newMemberID generates "<prefix>-<uuid>" like Kafka (prefix is the group
// instance id for static members, else the client id).
func newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	h := hex.EncodeToString(b[:])
	return prefix + "-" + h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// ErrBadRecord is wrapped by Load for a record it cannot decode.
var ErrBadRecord = errors.New("group: bad __consumer_offsets record")

// ErrClosed is returned by Load after Close.
var ErrClosed = errors.New("group: coordinator closed")

// storeErrCode is the Kafka error code a client gets when Store.Append
// failed.
func storeErrCode(err error) int16 {
	var ke *kerr.Error
	if errors.As(err, &ke) && ke.Code != 0 {
		return ke.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}
