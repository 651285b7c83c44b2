// Package worker is sluice's connector engine: the Kafka Connect
// distributed-mode worker. Workers coordinate only through Kafka: they join
// the group group.id with protocol type "connect" (classic group protocol,
// explicit JoinGroup/SyncGroup/Heartbeat/LeaveGroup requests), keep
// connector and task configurations in the config topic, source offsets in
// the offsets topic and statuses in the status topic, all with Kafka
// Connect's record formats. A standalone worker is a group of one.
//
// Assignment is incremental cooperative: members report what they run; the
// leader keeps tasks where they are, gives unowned tasks to the least
// loaded members and asks overloaded members to give up their surplus,
// which moves only after they stopped it (a follow-up rebalance). Running
// tasks are never stopped merely because the group rebalanced. A member
// that loses its membership (session expired) stops everything first.
//
// The leader runs every connector instance (connectors only split work
// into task configs), so only the leader writes task configs and nothing
// needs forwarding. Any worker may write connector configs, target states
// and restart requests to the config topic; the owners react to them.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/loglevel"
	"github.com/sluicehq/sluice/runtime/plugin"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/runtime/kafkasec"
)

const defaultFetchWait = 200 * time.Millisecond

// Option configures a Worker.
type Option func(*options)

type options struct {
	logger     *slog.Logger
	clientOpts []kgo.Opt
	version    string
	levels     *loglevel.Levels
	registry   *plugin.Registry
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithLogLevels hands the worker the process's run-time log levels, which
// its REST API then serves under /admin/loggers (KIP-495).
func WithLogLevels(l *loglevel.Levels) Option { return func(o *options) { o.levels = l } }

// LogLevels returns the levels given with WithLogLevels, or nil.
func (w *Worker) LogLevels() *loglevel.Levels { return w.o.levels }

// WithVersion sets the version GET /connector-plugins reports for the
// built-in transformations, predicates and converters (default: the main
// module's version from the build info, or "dev").
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithRegistry gives the worker the process's plugin registry: its
// connectors are added to those passed to New, and its transformations,
// predicates, converters and header converters are what GET
// /connector-plugins lists, /connector-plugins/{class}/config describes and
// validation checks converter classes against. Without it the worker uses
// a registry of the connectors passed to New and plugin.Builtins.
func WithRegistry(r *plugin.Registry) Option { return func(o *options) { o.registry = r } }

// WithClientOptions adds franz-go options to every Kafka client the worker
// creates (SASL, TLS, dialer, ...).
func WithClientOptions(opts ...kgo.Opt) Option {
	return func(o *options) { o.clientOpts = append(o.clientOpts, opts...) }
}

type taskKey struct {
	conn string
	id   int
}

// Worker is one member of a worker group. It implements runtime/rest's
// Cluster interface.
type Worker struct {
	cfg     Config
	plugins []connect.Plugin
	reg     *plugin.Registry
	log     *slog.Logger
	o       options
	id      string

	admCl    *kgo.Client
	adm      *kadm.Client
	prod     *kgo.Client
	cfgLog   *kafkaLog
	statLog  *kafkaLog
	offLog   *kafkaLog
	cfgs     *configState
	statuses *statusStore
	offsets  *offsetStore
	member   *member
	metrics  *metrics

	wake   chan struct{}
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	lifeMu sync.Mutex // serializes lifecycle changes (reconcile, revoke)

	mu         sync.Mutex // guards the fields below
	asg        *assignment
	lastShape  string
	connectors map[string]*connectorRunner
	tasks      map[taskKey]*taskRunner
	started    bool
	closed     bool
	clusterID  string
}

// New returns a worker; Start joins the group.
func New(cfg Config, plugins []connect.Plugin, opts ...Option) (*Worker, error) {
	o := options{logger: slog.Default()}
	for _, fn := range opts {
		fn(&o)
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	sec, err := kafkasec.WorkerConfig(cfg.Props)
	if err != nil {
		return nil, fmt.Errorf("worker config: %w", err)
	}
	o.clientOpts = append(sec.Options(), o.clientOpts...)
	if cfg.OffsetFlushTimeout <= 0 {
		cfg.OffsetFlushTimeout = 5 * time.Second
	}
	if cfg.TaskShutdownTimeout <= 0 {
		cfg.TaskShutdownTimeout = 5 * time.Second
	}
	if cfg.OffsetPartitions <= 0 {
		cfg.OffsetPartitions = 25
	}
	if cfg.StatusPartitions <= 0 {
		cfg.StatusPartitions = 5
	}
	reg := o.registry
	if reg != nil {
		plugins = append(append([]connect.Plugin(nil), plugins...), reg.Connectors()...)
	}
	for _, p := range plugins {
		if p.New == nil || (p.Type != "source" && p.Type != "sink") {
			return nil, fmt.Errorf("plugin %q: Type must be source or sink and New must be set", p.Class)
		}
	}
	id := cfg.WorkerID
	if id == "" {
		id = cfg.AdvertisedURL
		if u, err := url.Parse(cfg.AdvertisedURL); err == nil && u.Host != "" {
			id = u.Host
		}
	}
	if reg == nil {
		reg, err = plugin.New(append(plugin.Connectors(plugins...), plugin.Builtins(builtinVersion(o.version))...)...)
		if err != nil {
			return nil, err
		}
	}
	w := &Worker{
		cfg:        cfg,
		plugins:    plugins,
		reg:        reg,
		log:        o.logger.With("worker_id", id),
		o:          o,
		id:         id,
		cfgs:       newConfigState(),
		statuses:   newStatusStore(),
		offsets:    newOffsetStore(),
		metrics:    newMetrics(),
		wake:       make(chan struct{}, 1),
		connectors: map[string]*connectorRunner{},
		tasks:      map[taskKey]*taskRunner{},
	}
	return w, nil
}

// ID returns the worker id reported in statuses (host:port of the REST URL).
func (w *Worker) ID() string { return w.id }

func (w *Worker) clientOpts(extra ...kgo.Opt) []kgo.Opt {
	out := []kgo.Opt{kgo.SeedBrokers(w.cfg.BootstrapServers...)}
	out = append(out, w.o.clientOpts...)
	return append(out, extra...)
}

// Start creates the internal topics if missing, reads them to their end and
// joins the worker group. It returns once the worker is ready to serve;
// the worker then runs until Close.
func (w *Worker) Start(ctx context.Context) error {
	w.mu.Lock()
	if w.started {
		w.mu.Unlock()
		return errors.New("worker already started")
	}
	w.started = true
	w.mu.Unlock()
	var err error
	if w.admCl, err = kgo.NewClient(w.clientOpts()...); err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	w.adm = kadm.NewClient(w.admCl)
	if w.prod, err = kgo.NewClient(w.clientOpts(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(0), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))...); err != nil {
		return fmt.Errorf("kafka producer: %w", err)
	}
	if err := w.ensureTopics(ctx); err != nil {
		return err
	}
	if md, err := w.adm.BrokerMetadata(ctx); err == nil {
		w.mu.Lock()
		w.clusterID = md.Cluster
		w.mu.Unlock()
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.cfgLog, err = newKafkaLog(w.cfg.BootstrapServers, w.cfg.ConfigTopic, w.adm, func(r *kgo.Record) {
		if err := w.cfgs.apply(string(r.Key), r.Value, r.Offset); err != nil {
			w.log.Warn("skipping config topic record", "key", string(r.Key), "offset", r.Offset, "err", err)
		}
		w.applyLoggerLevels()
		w.poke()
	}, w.log, w.o.clientOpts...)
	if err != nil {
		return err
	}
	w.statLog, err = newKafkaLog(w.cfg.BootstrapServers, w.cfg.StatusTopic, w.adm, func(r *kgo.Record) {
		if err := w.statuses.apply(string(r.Key), r.Value); err != nil {
			w.log.Warn("skipping status topic record", "key", string(r.Key), "err", err)
		}
	}, w.log, w.o.clientOpts...)
	if err != nil {
		return err
	}
	w.offLog, err = newKafkaLog(w.cfg.BootstrapServers, w.cfg.OffsetTopic, w.adm, func(r *kgo.Record) {
		if err := w.offsets.apply(r.Key, r.Value); err != nil {
			w.log.Warn("skipping offsets topic record", "key", string(r.Key), "err", err)
		}
	}, w.log, w.o.clientOpts...)
	if err != nil {
		return err
	}
	for _, l := range []*kafkaLog{w.cfgLog, w.statLog, w.offLog} {
		l.start()
	}
	for _, l := range []*kafkaLog{w.cfgLog, w.statLog, w.offLog} {
		if err := l.readToEnd(ctx); err != nil {
			return err
		}
	}
	w.cfgs.setLive()
	w.member = newMember(w.admCl, w.cfg, memberHooks{
		configOffset: func() int64 { return w.cfgs.snapshot().offset - 1 },
		current:      w.currentAssignment,
		revoke:       w.revokeAll,
		assign:       w.computeAssignment,
		assigned:     w.onAssigned,
	}, w.log)
	w.wg.Add(2)
	go func() { defer w.wg.Done(); w.member.run(w.ctx) }()
	go func() { defer w.wg.Done(); w.herder() }()
	w.log.Info("worker started", "group", w.cfg.GroupID, "url", w.cfg.AdvertisedURL)
	return nil
}

func (w *Worker) ensureTopics(ctx context.Context) error {
	type spec struct {
		name  string
		parts int32
		rf    int16
	}
	for _, s := range []spec{
		{w.cfg.ConfigTopic, 1, w.cfg.ConfigReplicationFactor},
		{w.cfg.OffsetTopic, w.cfg.OffsetPartitions, w.cfg.OffsetReplicationFactor},
		{w.cfg.StatusTopic, w.cfg.StatusPartitions, w.cfg.StatusReplicationFactor},
	} {
		if err := w.createTopic(ctx, s.name, s.parts, s.rf, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}); err != nil {
			return err
		}
	}
	// The config topic's records must be totally ordered.
	td, err := w.adm.ListTopics(ctx, w.cfg.ConfigTopic)
	if err != nil {
		return fmt.Errorf("describing %s: %w", w.cfg.ConfigTopic, err)
	}
	if d, ok := td[w.cfg.ConfigTopic]; ok && d.Err == nil && len(d.Partitions) != 1 {
		return &ConfigError{Key: "config.storage.topic", Value: w.cfg.ConfigTopic, Msg: fmt.Sprintf("topic has %d partitions; it must have exactly 1", len(d.Partitions))}
	}
	return nil
}

func (w *Worker) createTopic(ctx context.Context, name string, parts int32, rf int16, configs map[string]*string) error {
	resp, err := w.adm.CreateTopic(ctx, parts, rf, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating topic %s: %w", name, err)
	}
	return nil
}

// Close stops all connectors and tasks, leaves the group and closes the
// Kafka clients.
func (w *Worker) Close() error { return w.shutdown(true) }

func (w *Worker) shutdown(leave bool) error {
	w.mu.Lock()
	if w.closed || !w.started {
		w.closed = true
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	w.mu.Unlock()
	if w.cancel == nil {
		w.closeClients()
		return nil
	}
	w.cancel()
	w.wg.Wait()
	if leave {
		w.stopAll(true)
		if w.member != nil { // nil when Start failed before joining
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			w.member.leave(ctx)
			cancel()
		}
	} else {
		w.stopAll(false)
	}
	w.closeClients()
	w.log.Info("worker stopped")
	return nil
}

func (w *Worker) closeClients() {
	for _, l := range []*kafkaLog{w.cfgLog, w.statLog, w.offLog} {
		if l != nil {
			l.close()
		}
	}
	if w.prod != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = w.prod.Flush(ctx)
		cancel()
		w.prod.Close()
	}
	if w.admCl != nil {
		w.admCl.Close()
	}
}

func (w *Worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Worker) herder() {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-w.wake:
		case <-t.C:
		}
		w.reconcile()
	}
}

// revokeAll stops every connector and task before (re)joining the group.
func (w *Worker) revokeAll() {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	w.mu.Lock()
	w.asg = nil
	w.mu.Unlock()
	w.stopAllLocked(false)
}

func (w *Worker) stopAll(final bool) {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	w.stopAllLocked(final)
}

// stopAllLocked stops everything in parallel; final writes UNASSIGNED
// statuses (worker shutdown).
func (w *Worker) stopAllLocked(final bool) {
	w.mu.Lock()
	conns := maps.Clone(w.connectors)
	tasks := maps.Clone(w.tasks)
	w.connectors = map[string]*connectorRunner{}
	w.tasks = map[taskKey]*taskRunner{}
	w.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.stop()
			if final && t.state() != string(stateFailed) {
				w.writeTaskStatus(t.key.conn, t.key.id, "UNASSIGNED", "")
			}
		}()
	}
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.stop()
			if final && c.state != string(stateFailed) {
				w.writeConnectorStatus(c.name, "UNASSIGNED", "")
			}
		}()
	}
	wg.Wait()
}

// currentAssignment is the work this worker runs, for its group metadata.
func (w *Worker) currentAssignment() map[string][]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.asg == nil {
		return map[string][]int{}
	}
	return w.asg.tasks
}

func (w *Worker) onAssigned(a assignment) {
	w.mu.Lock()
	w.asg = &a
	w.mu.Unlock()
	w.log.Info("joined worker group", "generation", a.generation, "leader", a.isLeader, "assignment", fmt.Sprint(a.tasks), "revoked", fmt.Sprint(a.revoked))
	if len(a.revoked) > 0 {
		// Stop revoked work before rejoining (incremental cooperative).
		w.reconcile()
		return
	}
	w.poke()
}

// computeAssignment is the leader's assignor (see assignCooperative).
func (w *Worker) computeAssignment(ctx context.Context, gen int32, leaderID string, members []kmsg.JoinGroupResponseMember) (map[string][]byte, error) {
	if err := w.cfgLog.readToEnd(ctx); err != nil {
		return nil, err
	}
	snap := w.cfgs.snapshot()
	states := make([]memberState, 0, len(members))
	urls := map[string]string{}
	for _, m := range members {
		var md kmsg.ConnectMemberMetadata
		st := memberState{id: m.MemberID}
		if err := md.ReadFrom(m.ProtocolMetadata); err == nil {
			st.url = md.URL
			var cur kmsg.ConnectMemberAssignment
			if len(md.CurrentAssignment) > 0 && cur.ReadFrom(md.CurrentAssignment) == nil {
				st.current = fromTaskMap(decodeTasks(cur.Assignment))
			}
		}
		urls[m.MemberID] = st.url
		states = append(states, st)
	}
	counts := map[string]int{}
	for n := range snap.connectors {
		counts[n] = len(snap.tasks[n])
	}
	full, revoked := assignCooperative(leaderID, states, sortedKeys(snap.connectors), counts)
	w.mu.Lock()
	w.lastShape = snap.shape()
	w.mu.Unlock()
	out := make(map[string][]byte, len(states))
	for _, st := range states {
		out[st.id] = encodeAssignment(leaderID, urls[leaderID], snap.offset-1, toTaskMap(full[st.id]), toTaskMap(revoked[st.id]))
	}
	return out, nil
}

// generation returns the current group generation.
func (w *Worker) generation() int32 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.asg == nil {
		return -1
	}
	return w.asg.generation
}

// reconcile brings the running connectors and tasks in line with the
// assignment and the config snapshot.
func (w *Worker) reconcile() {
	w.lifeMu.Lock()
	defer w.lifeMu.Unlock()
	w.mu.Lock()
	var a *assignment
	if w.asg != nil {
		cp := *w.asg
		a = &cp
	}
	closed := w.closed
	w.mu.Unlock()
	if a == nil || closed {
		return
	}
	if w.cfgs.snapshot().offset-1 < a.configOffset {
		ctx, cancel := context.WithTimeout(w.ctx, 30*time.Second)
		err := w.cfgLog.readToEnd(ctx)
		cancel()
		if err != nil {
			w.log.Warn("reading config topic", "err", err)
			return
		}
	}
	snap := w.cfgs.snapshot()
	restarts := w.cfgs.takeRestarts()

	// Connectors: all on the leader.
	w.mu.Lock()
	conns := maps.Clone(w.connectors)
	tasks := maps.Clone(w.tasks)
	w.mu.Unlock()
	for name, c := range conns {
		cfg, ok := snap.connectors[name]
		if !a.isLeader || !ok {
			c.stop()
			w.mu.Lock()
			delete(w.connectors, name)
			w.mu.Unlock()
			if !ok {
				w.tombstoneStatus(connectorStatusKey(name))
			}
			continue
		}
		if !maps.Equal(cfg, c.raw) {
			c.stop()
			w.mu.Lock()
			delete(w.connectors, name)
			w.mu.Unlock()
		}
	}
	if a.isLeader {
		for _, name := range sortedKeys(snap.connectors) {
			w.mu.Lock()
			c := w.connectors[name]
			w.mu.Unlock()
			if c == nil {
				c = w.newConnectorRunner(name, snap.connectors[name])
				w.mu.Lock()
				w.connectors[name] = c
				w.mu.Unlock()
			}
			c.reconcile(snap, a.generation)
		}
		for _, r := range restarts {
			if r.Task >= 0 {
				continue
			}
			w.mu.Lock()
			c := w.connectors[r.Connector]
			w.mu.Unlock()
			if c != nil && (!r.OnlyFailed || c.state == string(stateFailed)) {
				w.writeConnectorStatus(r.Connector, string(stateRestarting), "")
				c.stop()
				c = w.newConnectorRunner(r.Connector, snap.connectors[r.Connector])
				w.mu.Lock()
				w.connectors[r.Connector] = c
				w.mu.Unlock()
				c.reconcile(snap, a.generation)
			}
		}
		w.mu.Lock()
		shapeChanged := w.lastShape != snap.shape()
		w.mu.Unlock()
		if shapeChanged {
			w.log.Info("connector/task set changed; rebalancing")
			w.member.requestRejoin()
		}
	}

	// Tasks.
	want := map[taskKey]bool{}
	for conn, ids := range a.tasks {
		for _, id := range ids {
			if id != connectorTask {
				want[taskKey{conn, id}] = true
			}
		}
	}
	stop := map[taskKey]*taskRunner{}
	for k, t := range tasks {
		tcfgs := snap.tasks[k.conn]
		_, exists := snap.connectors[k.conn]
		keep := want[k] && exists && k.id < len(tcfgs) && snap.target(k.conn) != targetStopped &&
			maps.Equal(tcfgs[k.id], t.raw) && (snap.reconfiguring[k.conn] || maps.Equal(snap.connectors[k.conn], t.connRaw))
		if !keep {
			stop[k] = t
		}
	}
	for _, r := range restarts {
		for k, t := range tasks {
			if k.conn != r.Connector || stop[k] != nil {
				continue
			}
			if (r.Task >= 0 && r.Task == k.id) || (r.Task < 0 && r.IncludeTasks && (!r.OnlyFailed || t.state() == string(stateFailed))) {
				w.writeTaskStatus(k.conn, k.id, string(stateRestarting), "")
				stop[k] = t
			}
		}
	}
	// Stop in parallel: each may take up to the graceful shutdown timeout.
	var wg sync.WaitGroup
	for k, t := range stop {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t.stop()
			if _, ok := snap.connectors[k.conn]; !ok {
				w.tombstoneStatus(taskStatusKey(k.conn, k.id))
			}
		}()
		w.mu.Lock()
		delete(w.tasks, k)
		w.mu.Unlock()
	}
	wg.Wait()
	keys := make([]taskKey, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].conn != keys[j].conn {
			return keys[i].conn < keys[j].conn
		}
		return keys[i].id < keys[j].id
	})
	for _, k := range keys {
		tcfgs := snap.tasks[k.conn]
		if k.id >= len(tcfgs) || snap.target(k.conn) == targetStopped {
			continue
		}
		w.mu.Lock()
		t := w.tasks[k]
		w.mu.Unlock()
		if t == nil {
			t = w.startTask(k, snap.connectors[k.conn], tcfgs[k.id], snap.target(k.conn) == targetPaused, a.generation)
			w.mu.Lock()
			w.tasks[k] = t
			w.mu.Unlock()
			continue
		}
		t.setPaused(snap.target(k.conn) == targetPaused)
	}
}

func (w *Worker) taskSnapshot() map[taskKey]*taskRunner {
	w.mu.Lock()
	defer w.mu.Unlock()
	return maps.Clone(w.tasks)
}

// writeTaskConfigs writes task configs and their commit record (leader
// only).
func (w *Worker) writeTaskConfigs(ctx context.Context, name string, gen int32, tasks []map[string]string) error {
	w.mu.Lock()
	ok := w.asg != nil && w.asg.isLeader && w.asg.generation == gen
	w.mu.Unlock()
	if !ok {
		return errNotLeader
	}
	recs := make([]*kgo.Record, 0, len(tasks)+1)
	for i, t := range tasks {
		b, err := json.Marshal(propsValue{Properties: t})
		if err != nil {
			return err
		}
		recs = append(recs, &kgo.Record{Topic: w.cfg.ConfigTopic, Key: []byte("task-" + name + "-" + strconv.Itoa(i)), Value: b})
	}
	b, _ := json.Marshal(commitValue{Tasks: len(tasks)})
	recs = append(recs, &kgo.Record{Topic: w.cfg.ConfigTopic, Key: []byte("commit-" + name), Value: b})
	if err := w.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return err
	}
	// Tasks beyond the new count no longer exist: drop their statuses.
	for i := len(tasks); ; i++ {
		if _, ok := w.statuses.task(name, i); !ok {
			break
		}
		w.tombstoneStatus(taskStatusKey(name, i))
	}
	return nil
}

// SetClusterLoggerLevel sets a logger's level on every worker of the
// cluster (KIP-976 scope=cluster), through Kafka as Kafka Connect does: it
// writes logger-cluster-<namespace> = {"level": level} to the config topic
// and each worker, this one included, applies it when it reads the record
// (workers started later do not). It returns once this worker applied it.
func (w *Worker) SetClusterLoggerLevel(ctx context.Context, namespace, level string) error {
	if err := w.ready(ctx); err != nil {
		return err
	}
	if strings.TrimSpace(namespace) == "" {
		return fmt.Errorf("logger name must not be empty: %w", api.ErrBadRequest)
	}
	if _, err := loglevel.ParseLevel(level); err != nil {
		return fmt.Errorf("%w: %v", api.ErrBadRequest, err)
	}
	return w.writeConfig(ctx, loggerClusterPrefix+namespace, loggerLevelValue{Level: &level})
}

// applyLoggerLevels applies the cluster-scoped logger levels read from the
// config topic to this worker's levels.
func (w *Worker) applyLoggerLevels() {
	for _, l := range w.cfgs.takeLoggerLevels() {
		if w.o.levels == nil {
			continue
		}
		if affected, err := w.o.levels.Set(l.Namespace, l.Level); err != nil {
			w.log.Warn("ignoring cluster logger level", "logger", l.Namespace, "level", l.Level, "err", err)
		} else {
			w.log.Info("set cluster logger level", "logger", l.Namespace, "level", l.Level, "loggers", affected)
		}
	}
}

// writeConfig writes one config topic record and waits until this worker
// has read it back.
func (w *Worker) writeConfig(ctx context.Context, key string, value any) error {
	_, err := w.writeConfigAt(ctx, key, value)
	return err
}

// writeConfigAt is writeConfig returning the record's offset.
func (w *Worker) writeConfigAt(ctx context.Context, key string, value any) (int64, error) {
	var b []byte
	if value != nil {
		var err error
		if b, err = json.Marshal(value); err != nil {
			return -1, err
		}
	}
	r, err := w.prod.ProduceSync(ctx, &kgo.Record{Topic: w.cfg.ConfigTopic, Key: []byte(key), Value: b}).First()
	if err != nil {
		if errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) {
			return -1, w.tooLargeError(key, len(b), err)
		}
		return -1, fmt.Errorf("writing %s to the config topic: %w", key, err)
	}
	return r.Offset, w.cfgLog.readToEnd(ctx)
}

// tooLargeError is the 400 for a config record the config topic does not
// take, stating the limit that applies.
func (w *Worker) tooLargeError(key string, size int, err error) error {
	limit, _ := w.prod.OptValue(kgo.ProducerBatchMaxBytes).(int32)
	return fmt.Errorf("%w: the config record %s is %d bytes, over the limit of the config topic %s: "+
		"%d bytes per producer batch (producer.max.request.size) or the topic's max.message.bytes, whichever is lower (%v)",
		api.ErrBadRequest, key, size, w.cfg.ConfigTopic, limit, err)
}

func (w *Worker) writeStatus(key string, v statusValue) {
	b, _ := json.Marshal(v)
	_ = w.statuses.apply(key, b)
	w.prod.Produce(context.Background(), &kgo.Record{Topic: w.cfg.StatusTopic, Key: []byte(key), Value: b}, func(_ *kgo.Record, err error) {
		if err != nil {
			w.log.Warn("writing status", "key", key, "err", err)
		}
	})
}

func (w *Worker) tombstoneStatus(key string) {
	_ = w.statuses.apply(key, nil)
	w.prod.Produce(context.Background(), &kgo.Record{Topic: w.cfg.StatusTopic, Key: []byte(key)}, nil)
}

func (w *Worker) writeConnectorStatus(name, state, trace string) {
	w.writeStatus(connectorStatusKey(name), statusValue{State: state, Trace: trace, WorkerID: w.id, Generation: w.generation()})
}

func (w *Worker) writeTaskStatus(name string, id int, state, trace string) {
	w.writeStatus(taskStatusKey(name, id), statusValue{State: state, Trace: trace, WorkerID: w.id, Generation: w.generation()})
}

func (w *Worker) plugin(class string) (connect.Plugin, bool) {
	for _, p := range w.plugins {
		if p.Matches(class) {
			return p, true
		}
	}
	return connect.Plugin{}, false
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortStrings(s []string) { slices.Sort(s) }

func itoa(n int) string { return strconv.Itoa(n) }
