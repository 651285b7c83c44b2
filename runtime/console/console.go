// Package console serves sluice's web console: a small single-page
// application (plain HTML, CSS and JavaScript embedded with go:embed, no
// build step, nothing loaded from the network) mounted under /ui/ on the
// Kafka Connect REST port.
//
// Every connector action the console offers (create, edit, validate,
// pause, resume, stop, restart, delete) is a call to the Kafka Connect REST
// API served next to it, so anything the console does curl can do, and it
// only ever sees configs the way the REST API returns them: secrets masked.
//
// The package adds only what that API lacks, under /ui/api/:
//
//   - GET /ui/api/history: per-connector throughput and lag over the last
//     minutes, sampled in memory from the workers' own metrics
//     (WriteMetrics, the same text GET /metrics serves), with the latest
//     task-reported gauges (snapshot progress of CDC sources).
//   - GET /ui/api/cluster, /ui/api/topics, /ui/api/topics/{topic},
//     /ui/api/topics/{topic}/messages, /ui/api/groups: a broker view read
//     with franz-go (kadm, kgo) from the worker's bootstrap servers, so it
//     works against the bundled broker and any Kafka cluster.
package console

import (
	"context"
	"embed"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

//go:embed assets
var assets embed.FS

// Prefix is the path the console is served under.
const Prefix = "/ui/"

// MetricsSource is a worker whose metrics the console samples; it writes
// the Prometheus text exposition format (*worker.Worker implements it).
type MetricsSource interface {
	WriteMetrics(w io.Writer)
}

// Defaults for the in-memory history.
const (
	DefaultSampleInterval = 2 * time.Second
	DefaultHistoryWindow  = 10 * time.Minute
)

type options struct {
	logger    *slog.Logger
	bootstrap []string
	kgoOpts   []kgo.Opt
	sources   []MetricsSource
	interval  time.Duration
	window    time.Duration
	protected map[string]bool
	timeout   time.Duration
}

// Option configures a Console.
type Option func(*options)

// WithLogger sets the logger for errors of the broker view and sampler.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithBootstrapServers sets the Kafka bootstrap servers of the broker
// view (the worker's bootstrap.servers). Without them the broker view
// answers 503.
func WithBootstrapServers(addrs ...string) Option {
	return func(o *options) { o.bootstrap = append(o.bootstrap, addrs...) }
}

// WithKafkaOptions adds franz-go client options (TLS, SASL, ...) to the
// broker view's clients.
func WithKafkaOptions(opts ...kgo.Opt) Option {
	return func(o *options) { o.kgoOpts = append(o.kgoOpts, opts...) }
}

// WithMetrics adds workers whose metrics the history samples; the history
// sums them (the in-process workers of `sluice up`).
func WithMetrics(srcs ...MetricsSource) Option {
	return func(o *options) { o.sources = append(o.sources, srcs...) }
}

// WithSampleInterval sets how often metrics are sampled (default
// DefaultSampleInterval).
func WithSampleInterval(d time.Duration) Option { return func(o *options) { o.interval = d } }

// WithHistoryWindow sets how much history is kept (default
// DefaultHistoryWindow).
func WithHistoryWindow(d time.Duration) Option { return func(o *options) { o.window = d } }

// WithProtectedTopics names topics whose records the message browser
// refuses to show: the worker's config storage topic holds connector
// configs with their secrets in clear text, which the console never
// exposes.
func WithProtectedTopics(topics ...string) Option {
	return func(o *options) {
		for _, t := range topics {
			if t != "" {
				o.protected[t] = true
			}
		}
	}
}

// WithRequestTimeout bounds each broker view request (default 15 s).
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// Console is the web console. Start its sampler with Start, mount it with
// Mount or Handler, and stop it with Close.
type Console struct {
	o       options
	hist    *history
	handler http.Handler

	mu     sync.Mutex
	adm    *kadm.Client
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a console; it connects to Kafka lazily, on the first broker
// view request.
func New(opts ...Option) *Console {
	o := options{
		logger:    slog.New(slog.DiscardHandler),
		interval:  DefaultSampleInterval,
		window:    DefaultHistoryWindow,
		protected: map[string]bool{},
		timeout:   15 * time.Second,
	}
	for _, f := range opts {
		f(&o)
	}
	if o.interval <= 0 {
		o.interval = DefaultSampleInterval
	}
	if o.window < o.interval {
		o.window = DefaultHistoryWindow
	}
	c := &Console{o: o, hist: newHistory(int(o.window/o.interval) + 1)}
	c.handler = c.routes()
	return c
}

// Start samples the metrics sources every interval until Close. The first
// sample is taken at once.
func (c *Console) Start() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cancel != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.o.interval)
		defer t.Stop()
		for {
			c.sample(time.Now())
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// sample reads every source's metrics once and records them.
func (c *Console) sample(now time.Time) {
	var b strings.Builder
	for _, s := range c.o.sources {
		s.WriteMetrics(&b)
		b.WriteByte('\n')
	}
	c.hist.add(now, parseMetrics(b.String()))
}

// Close stops the sampler and closes the Kafka clients.
func (c *Console) Close() error {
	c.mu.Lock()
	cancel, done := c.cancel, c.done
	c.cancel = nil
	cl := c.cl
	c.cl, c.adm = nil, nil
	c.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
	if cl != nil {
		cl.Close()
	}
	return nil
}

// Handler serves the console for request paths under Prefix.
func (c *Console) Handler() http.Handler { return c.handler }

// Mount returns a handler that serves the console under Prefix (and
// redirects /ui to it) and passes every other request to next, the REST
// API.
func (c *Console) Mount(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == strings.TrimSuffix(Prefix, "/"):
			http.Redirect(w, r, Prefix, http.StatusFound)
		case strings.HasPrefix(r.URL.Path, Prefix):
			c.handler.ServeHTTP(w, r)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// admin returns the shared admin client, creating it on first use.
func (c *Console) admin() (*kadm.Client, *kgo.Client, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.adm != nil {
		return c.adm, c.cl, nil
	}
	if len(c.o.bootstrap) == 0 {
		return nil, nil, errNoKafka
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.o.bootstrap...), kgo.ClientID("sluice-console")}, c.o.kgoOpts...)...)
	if err != nil {
		return nil, nil, err
	}
	c.cl, c.adm = cl, kadm.NewClient(cl)
	return c.adm, c.cl, nil
}

var errNoKafka = errors.New("the console has no Kafka bootstrap servers configured")

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	sub, err := fs.Sub(assets, "assets")
	if err != nil {
		panic(err) // the embedded tree always has assets/
	}
	files := http.FileServerFS(sub)
	static := http.StripPrefix("/ui", noCache(files))
	mux.HandleFunc("/ui/", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "the console's pages are read-only; connector changes go to the REST API")
			return
		}
		static.ServeHTTP(w, r)
	})
	mux.HandleFunc("GET /ui/api/history", c.getHistory)
	mux.HandleFunc("GET /ui/api/cluster", c.getCluster)
	mux.HandleFunc("GET /ui/api/topics", c.getTopics)
	mux.HandleFunc("GET /ui/api/topics/{topic}", c.getTopic)
	mux.HandleFunc("GET /ui/api/topics/{topic}/messages", c.getMessages)
	mux.HandleFunc("GET /ui/api/groups", c.getGroups)
	mux.HandleFunc("/ui/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such console endpoint: "+r.Method+" "+r.URL.Path)
	})
	return securityHeaders(mux)
}

// noCache makes browsers revalidate the assets, so an upgraded binary's
// console is picked up at once.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// securityHeaders forbids framing and any script or style not served by
// the console itself.
func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		h.ServeHTTP(w, r)
	})
}
