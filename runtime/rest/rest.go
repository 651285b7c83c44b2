// Package rest serves sluice's Kafka Connect-compatible REST API over a
// Cluster (implemented by runtime/worker). Routes, JSON shapes and status
// codes follow Kafka Connect so existing tooling (curl scripts, kcctl,
// Terraform providers) works unchanged. See docs/rest-api.md.
package rest

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
)

// Cluster is what the REST API needs from the worker group (Contract F).
// Errors wrap api.ErrNotFound, api.ErrConflict, api.ErrBadRequest or are a
// *api.ValidationError; the server maps them to 404, 409 and 400.
type Cluster interface {
	Connectors(ctx context.Context) ([]string, error)
	Connector(ctx context.Context, name string) (api.ConnectorInfo, error)
	CreateConnector(ctx context.Context, req api.CreateConnectorRequest) (api.ConnectorInfo, error) // api.ErrConflict if exists, *api.ValidationError if invalid
	PutConnectorConfig(ctx context.Context, name string, cfg map[string]string) (info api.ConnectorInfo, created bool, err error)
	DeleteConnector(ctx context.Context, name string) error
	ConnectorConfig(ctx context.Context, name string) (map[string]string, error)
	ConnectorStatus(ctx context.Context, name string) (api.ConnectorStateInfo, error)
	Tasks(ctx context.Context, name string) ([]api.TaskInfo, error)
	TaskStatus(ctx context.Context, name string, task int) (api.TaskState, error)
	RestartConnector(ctx context.Context, name string, includeTasks, onlyFailed bool) (api.ConnectorStateInfo, error)
	RestartTask(ctx context.Context, name string, task int) error
	PauseConnector(ctx context.Context, name string) error
	ResumeConnector(ctx context.Context, name string) error
	StopConnector(ctx context.Context, name string) error
	Offsets(ctx context.Context, name string) (api.ConnectorOffsets, error)
	AlterOffsets(ctx context.Context, name string, offs api.ConnectorOffsets) (api.Message, error) // connector must be STOPPED, else api.ErrBadRequest
	ResetOffsets(ctx context.Context, name string) (api.Message, error)
	Plugins() []api.PluginInfo
	ValidateConfig(ctx context.Context, class string, cfg map[string]string) (api.ConfigInfos, error)
	WriteMetrics(w io.Writer) // Prometheus text exposition format
}

// ConfigPatcher is optionally implemented by a Cluster that can apply a
// KIP-477 config patch atomically (null values delete keys). Without it the
// server reads the config, merges and writes it back.
type ConfigPatcher interface {
	PatchConnectorConfig(ctx context.Context, name string, patch map[string]*string) (api.ConnectorInfo, error)
}

// TopicTracker is optionally implemented by a Cluster that records the
// topics each connector used (KIP-558). Without it the topics routes answer
// 403 like Kafka Connect with topic tracking disabled.
type TopicTracker interface {
	ConnectorTopics(ctx context.Context, name string) ([]string, error)
	ResetConnectorTopics(ctx context.Context, name string) error
}

// SecretMasker is optionally implemented by a Cluster that says whether
// responses mask secret config values as "[hidden]". Kafka Connect returns
// them verbatim; without this interface the server masks them.
type SecretMasker interface {
	MasksSecrets() bool
}

// PluginConfigDescriber is optionally implemented by a Cluster that
// describes the config keys of any plugin (connector, transformation,
// predicate, converter, header converter) for
// GET /connector-plugins/{plugin}/config; an unknown plugin is an
// api.ErrNotFound error.
type PluginConfigDescriber interface {
	PluginConfig(ctx context.Context, plugin string) ([]api.ConfigKeyInfo, error)
}

// ClusterIDer is optionally implemented by a Cluster that knows the Kafka
// cluster id reported by GET /.
type ClusterIDer interface {
	KafkaClusterID() string
}

// DefaultMaxBodyBytes is the default request body limit.
const DefaultMaxBodyBytes = 4 << 20

// DefaultRequestTimeout bounds one request, like Kafka Connect's 90 s.
const DefaultRequestTimeout = 90 * time.Second

type options struct {
	logger         *slog.Logger
	version        string
	commit         string
	clusterID      string
	maxBody        int64
	requestTimeout time.Duration
	logLevels      LogLevels
}

// Option configures a Server.
type Option func(*options)

// WithLogger sets the logger for the access log and errors.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithVersion sets the version and commit reported by GET /.
func WithVersion(version, commit string) Option {
	return func(o *options) { o.version, o.commit = version, commit }
}

// WithKafkaClusterID sets the kafka_cluster_id reported by GET / when the
// Cluster does not implement ClusterIDer.
func WithKafkaClusterID(id string) Option { return func(o *options) { o.clusterID = id } }

// WithMaxBodyBytes limits request bodies (default DefaultMaxBodyBytes);
// larger bodies get 413.
func WithMaxBodyBytes(n int64) Option { return func(o *options) { o.maxBody = n } }

// WithRequestTimeout bounds each request's Cluster call (default
// DefaultRequestTimeout); a timeout answers 500 "Request timed out".
func WithRequestTimeout(d time.Duration) Option { return func(o *options) { o.requestTimeout = d } }

// Server is the REST API. It is an http.Handler and can also run its own
// listener with Serve or ListenAndServe.
type Server struct {
	c       Cluster
	o       options
	handler http.Handler

	mu  sync.Mutex
	srv *http.Server
}

// New returns a Server answering for c.
func New(c Cluster, opts ...Option) *Server {
	o := options{
		logger:         slog.New(slog.DiscardHandler),
		version:        "dev",
		maxBody:        DefaultMaxBodyBytes,
		requestTimeout: DefaultRequestTimeout,
	}
	for _, f := range opts {
		f(&o)
	}
	s := &Server{c: c, o: o}
	s.handler = s.accessLog(s.routes())
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// ListenAndServe listens on addr ("host:port") and serves until Shutdown.
// It returns http.ErrServerClosed after Shutdown.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// Serve serves on ln until Shutdown. It returns http.ErrServerClosed after
// Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.srv == nil {
		s.srv = &http.Server{
			Handler:           s,
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(s.o.logger.Handler(), slog.LevelWarn),
		}
	}
	srv := s.srv
	s.mu.Unlock()
	return srv.Serve(ln)
}

// Shutdown stops the listener and waits for in-flight requests until ctx
// ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	if srv == nil {
		// Make a later Serve return at once.
		s.srv = &http.Server{Handler: s}
		srv = s.srv
	}
	s.mu.Unlock()
	return srv.Shutdown(ctx)
}

// statusWriter records the status code and size for the access log.
type statusWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.n += int64(n)
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		s.o.logger.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.String("query", r.URL.RawQuery),
			slog.Int("status", sw.status),
			slog.Int64("bytes", sw.n),
			slog.Duration("duration", time.Since(start)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// errTimeout is answered when a Cluster call outlives the request timeout.
var errTimeout = errors.New("Request timed out")
