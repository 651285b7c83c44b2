package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	blog "github.com/sluicehq/sluice/broker/log"
)

// FlushMode selects when produced data is fsynced (see blog.FlushMode).
type FlushMode = blog.FlushMode

const (
	// FlushDurable (the default) fsyncs right after appends, group-committed;
	// acks=-1 produce requests are answered only once an fsync covers their
	// records, and fetches only see fsynced records (the high watermark is
	// the durable offset).
	FlushDurable = blog.FlushDurable
	// FlushInterval fsyncs every partition log on a fixed interval; acks=-1
	// answers after the append.
	FlushInterval = blog.FlushInterval
	// FlushNone never fsyncs explicitly (the OS decides), except where a
	// topic sets flush.messages or flush.ms.
	FlushNone = blog.FlushNone
)

// FlushPolicy is the broker's fsync policy; it is the partition logs' own
// policy type, so there is one definition.
type FlushPolicy = blog.FlushPolicy

// ParseFlushPolicy parses "durable", "none" or "interval:<duration>".
func ParseFlushPolicy(s string) (FlushPolicy, error) { return blog.ParseFlushPolicy(s) }

// Option configures a Broker.
type Option func(*options)

type options struct {
	dataDir           string
	listen            string
	advertised        string
	nodeID            int32
	autoCreate        bool
	defaultPartitions int32
	logger            *slog.Logger
	flush             FlushPolicy
	groupDelay        time.Duration
	minSession        time.Duration
	maxSession        time.Duration
	topicDefaults     blog.Config
	cleanInterval     time.Duration
	maxFrame          int32
	idleTimeout       time.Duration
	logOpts           []blog.Option // extra partition-log options (tests: fault injection)
	sec               securityOptions
	cluster           clusterOptions
}

// WithDataDir sets the directory holding topic metadata and partition logs.
func WithDataDir(dir string) Option { return func(o *options) { o.dataDir = dir } }

// WithListen sets the TCP listen address (default "127.0.0.1:9092").
func WithListen(addr string) Option { return func(o *options) { o.listen = addr } }

// WithAdvertisedAddr sets the host:port announced to clients in metadata
// (default: the bound listener address).
func WithAdvertisedAddr(addr string) Option { return func(o *options) { o.advertised = addr } }

// WithNodeID sets the broker's node id (default 0).
func WithNodeID(id int32) Option { return func(o *options) { o.nodeID = id } }

// WithAutoCreateTopics enables creating unknown topics on metadata requests
// (default true).
func WithAutoCreateTopics(on bool) Option { return func(o *options) { o.autoCreate = on } }

// WithDefaultPartitions sets the partition count of auto-created topics and
// of CreateTopics requests asking for the default (default 1).
func WithDefaultPartitions(n int32) Option { return func(o *options) { o.defaultPartitions = n } }

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithFlushPolicy sets the fsync policy (default durable).
func WithFlushPolicy(p FlushPolicy) Option { return func(o *options) { o.flush = p } }

// WithGroupInitialRebalanceDelay sets group.initial.rebalance.delay.ms
// (default 3s, like Kafka).
func WithGroupInitialRebalanceDelay(d time.Duration) Option {
	return func(o *options) { o.groupDelay = d }
}

// WithGroupSessionTimeoutBounds sets group.min.session.timeout.ms and
// group.max.session.timeout.ms (defaults 6s and 30m, like Kafka): a
// JoinGroup asking for a session timeout outside [min, max] gets
// INVALID_SESSION_TIMEOUT.
func WithGroupSessionTimeoutBounds(min, max time.Duration) Option {
	return func(o *options) { o.minSession, o.maxSession = min, max }
}

// WithTopicDefaults sets the log configuration topics start from before
// their own configs are applied (default blog.DefaultConfig()).
func WithTopicDefaults(cfg blog.Config) Option { return func(o *options) { o.topicDefaults = cfg } }

// WithCleanInterval sets how often the background cleaner applies
// retention and compaction (default 30s).
func WithCleanInterval(d time.Duration) Option { return func(o *options) { o.cleanInterval = d } }

// WithMaxRequestSize sets the largest request frame accepted (default
// 100 MiB); larger frames close the connection.
func WithMaxRequestSize(n int32) Option { return func(o *options) { o.maxFrame = n } }

// WithIdleTimeout closes connections that send nothing for d
// (connections.max.idle.ms, default 10 minutes; 0 disables).
func WithIdleTimeout(d time.Duration) Option { return func(o *options) { o.idleTimeout = d } }

// Broker is a single-node Kafka-protocol broker.
type Broker struct {
	opts   options
	log    *slog.Logger
	ln     net.Listener
	host   string
	port   int32
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.RWMutex // guards topics, byID, meta
	topics map[string]*topic
	byID   map[[16]byte]*topic
	meta   metaState

	pidMu   sync.Mutex // guards producer id allocation (meta.NextProducerID via mu)
	pidNext int64

	coord *coordRef
	offs  *partition // __consumer_offsets partition 0

	cl *cluster // nil unless cluster mode (WithControllerQuorum)

	connMu sync.Mutex
	conns  map[net.Conn]struct{}

	sec *security // listeners, credentials, ACLs (listener.go)

	closeOnce sync.Once
	closeErr  error
}

// New opens the data directory, recovers topics and consumer-group state,
// binds the listener and starts serving.
func New(opts ...Option) (*Broker, error) {
	o := options{
		listen:            "127.0.0.1:9092",
		autoCreate:        true,
		defaultPartitions: 1,
		groupDelay:        3 * time.Second,
		minSession:        6 * time.Second,
		maxSession:        30 * time.Minute,
		topicDefaults:     blog.DefaultConfig(),
		cleanInterval:     30 * time.Second,
		maxFrame:          100 << 20,
		idleTimeout:       10 * time.Minute,
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.dataDir == "" {
		return nil, errors.New("broker: data dir is required (WithDataDir)")
	}
	if o.defaultPartitions < 1 {
		return nil, fmt.Errorf("broker: default partitions %d must be >= 1", o.defaultPartitions)
	}
	if o.minSession <= 0 || o.maxSession < o.minSession {
		return nil, fmt.Errorf("broker: group session timeout bounds [%v, %v]: want 0 < min <= max", o.minSession, o.maxSession)
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if err := os.MkdirAll(filepath.Join(o.dataDir, "logs"), 0o755); err != nil {
		return nil, fmt.Errorf("broker: data dir: %w", err)
	}
	b := &Broker{
		opts:   o,
		log:    o.logger,
		topics: make(map[string]*topic),
		byID:   make(map[[16]byte]*topic),
		conns:  make(map[net.Conn]struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	load := b.loadMeta
	if o.clustered() {
		load = b.startCluster
	}
	if err := load(); err != nil {
		b.closeLogs()
		return nil, err
	}
	started := false
	defer func() {
		if !started && b.cl != nil {
			b.cl.node.Stop()
		}
	}()
	if err := b.startGroups(); err != nil {
		b.closeLogs()
		return nil, err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		b.coord.Close()
		b.closeLogs()
		return nil, fmt.Errorf("broker: listen %s: %w", o.listen, err)
	}
	b.ln = ln
	adv := o.advertised
	if adv == "" {
		adv = ln.Addr().String()
	}
	host, portS, err := net.SplitHostPort(adv)
	if err != nil {
		ln.Close()
		b.coord.Close()
		b.closeLogs()
		return nil, fmt.Errorf("broker: advertised address %q: %w", adv, err)
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	port, err := strconv.Atoi(portS)
	if err != nil || port <= 0 || port > 65535 {
		ln.Close()
		b.coord.Close()
		b.closeLogs()
		return nil, fmt.Errorf("broker: advertised address %q: bad port", adv)
	}
	b.host, b.port = host, int32(port)
	if err := b.startSecurity(); err != nil {
		ln.Close()
		b.coord.Close()
		b.closeLogs()
		return nil, err
	}

	b.wg.Add(2)
	go b.acceptLoop()
	go b.background()
	if b.cl != nil {
		b.cl.run()
	}
	started = true
	b.log.Info("broker started", "listen", ln.Addr().String(), "advertised", b.Addr(),
		"data_dir", o.dataDir, "node_id", o.nodeID, "flush", o.flush.String())
	return b, nil
}

// Addr returns the advertised "host:port" clients use as bootstrap.
func (b *Broker) Addr() string {
	return net.JoinHostPort(b.host, strconv.Itoa(int(b.port)))
}

// Close stops accepting, closes every connection, waits for in-flight
// requests and closes the consumer-group coordinator and all logs.
func (b *Broker) Close() error {
	b.closeOnce.Do(func() {
		if b.cl != nil {
			b.cl.controlledShutdown()
		}
		b.cancel()
		err := b.ln.Close()
		if err != nil && !errors.Is(err, net.ErrClosed) {
			b.closeErr = err
		}
		b.connMu.Lock()
		for c := range b.conns {
			c.Close()
		}
		b.connMu.Unlock()
		// Wake requests blocked in the coordinator (JoinGroup, SyncGroup)
		// before waiting for the connections to finish.
		if err := b.coord.Close(); err != nil && b.closeErr == nil {
			b.closeErr = err
		}
		b.wg.Wait()
		if b.cl != nil {
			b.cl.close()
		}
		if err := b.closeLogs(); err != nil && b.closeErr == nil {
			b.closeErr = err
		}
		b.log.Info("broker stopped", "addr", b.Addr())
	})
	return b.closeErr
}

// closeLogs syncs and closes every partition log.
func (b *Broker) closeLogs() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	var first error
	for _, t := range b.topics {
		for _, p := range t.parts {
			if b.opts.flush.Mode != FlushNone {
				if err := p.log.Sync(); err != nil && !errors.Is(err, blog.ErrClosed) && first == nil {
					first = err
				}
			}
			if err := p.log.Close(); err != nil && !errors.Is(err, blog.ErrClosed) && first == nil {
				first = fmt.Errorf("close %s-%d: %w", t.name, p.index, err)
			}
		}
	}
	return first
}

// background runs the periodic cleaner and applies topics' flush.ms
// (the flush policy itself runs inside every partition log).
func (b *Broker) background() {
	defer b.wg.Done()
	clean := time.NewTicker(b.opts.cleanInterval)
	defer clean.Stop()
	flush := time.NewTicker(flushCheckInterval)
	defer flush.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case now := <-clean.C:
			for _, p := range b.allPartitions() {
				if err := p.log.Clean(now); err != nil && !errors.Is(err, blog.ErrClosed) && !errors.Is(err, blog.ErrStorage) {
					b.log.Warn("log clean failed", "topic", p.topic, "partition", p.index, "err", err)
				}
			}
		case now := <-flush.C:
			for _, p := range b.allPartitions() {
				if err := p.log.FlushIfDue(now); err != nil && !errors.Is(err, blog.ErrClosed) && !errors.Is(err, blog.ErrStorage) {
					b.log.Warn("log flush (flush.ms) failed", "topic", p.topic, "partition", p.index, "err", err)
				}
			}
		}
	}
}

// flushCheckInterval is how often topics' flush.ms is checked (Kafka's
// log.flush.scheduler.interval.ms).
const flushCheckInterval = 100 * time.Millisecond

// openLog opens one partition's log with the broker's flush policy.
func (b *Broker) openLog(t string, id [16]byte, p int32, cfg blog.Config) (*blog.Log, error) {
	opts := append([]blog.Option{
		blog.WithLogger(b.log.With("topic", t, "partition", p)),
		blog.WithFlushPolicy(b.opts.flush),
	}, b.opts.logOpts...)
	return blog.Open(b.partDir(id, p), cfg, opts...)
}

func (b *Broker) allPartitions() []*partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var ps []*partition
	for _, t := range b.topics {
		ps = append(ps, t.parts...)
	}
	return ps
}
