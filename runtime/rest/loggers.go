package rest

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/runtime/loglevel"
)

// LogLevels is what /admin/loggers (KIP-495) needs: the process's logger
// levels, changeable at run time (loglevel.Levels implements it).
type LogLevels interface {
	All() map[string]loglevel.Info
	Level(name string) (loglevel.Info, bool)
	Set(name, level string) ([]string, error)
}

// WithLogLevels serves GET /admin/loggers, GET /admin/loggers/{name} and
// PUT /admin/loggers/{name} from l. Without it those routes are 404.
func WithLogLevels(l LogLevels) Option { return func(o *options) { o.logLevels = l } }

// LogLevelsProvider is optionally implemented by a Cluster that holds the
// process's log levels; the server then serves /admin/loggers from them
// (WithLogLevels takes precedence).
type LogLevelsProvider interface {
	LogLevels() *loglevel.Levels
}

// ClusterLogLevelSetter is optionally implemented by a Cluster that can
// set a logger's level on every worker (KIP-976 scope=cluster): the worker
// writes the level to the config topic and every worker applies it when it
// reads the record. Without it PUT ?scope=cluster is 400.
type ClusterLogLevelSetter interface {
	SetClusterLoggerLevel(ctx context.Context, namespace, level string) error
}

func (s *Server) adminRoutes(mux *http.ServeMux) {
	if s.o.logLevels == nil {
		if p, ok := s.c.(LogLevelsProvider); ok && p.LogLevels() != nil {
			s.o.logLevels = p.LogLevels()
		}
	}
	if s.o.logLevels == nil {
		return
	}
	mux.HandleFunc("GET /admin/loggers", s.listLoggers)
	mux.HandleFunc("GET /admin/loggers/{$}", s.listLoggers)
	mux.HandleFunc("GET /admin/loggers/{name}", s.getLogger)
	mux.HandleFunc("PUT /admin/loggers/{name}", s.setLogger)
}

func (s *Server) listLoggers(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.o.logLevels.All())
}

func (s *Server) getLogger(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	info, ok := s.o.logLevels.Level(name)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("Logger %s not found.", name))
		return
	}
	writeJSON(w, http.StatusOK, info)
}

func (s *Server) setLogger(w http.ResponseWriter, r *http.Request) {
	scope := strings.ToLower(r.URL.Query().Get("scope"))
	switch scope {
	case "", "worker", "cluster":
	default:
		s.badRequest(w, r, fmt.Sprintf("Invalid scope %q: must be worker or cluster", scope))
		return
	}
	var cl ClusterLogLevelSetter
	if scope == "cluster" {
		var ok bool
		if cl, ok = s.c.(ClusterLogLevelSetter); !ok {
			s.badRequest(w, r, "scope=cluster is not supported by this cluster: set the level on each worker (scope=worker)")
			return
		}
	}
	var body struct {
		Level *string `json:"level"`
	}
	if !s.decode(w, r, &body) {
		return
	}
	if body.Level == nil {
		s.badRequest(w, r, "The request body must specify a log level")
		return
	}
	if cl != nil {
		// As Kafka: the level is checked here, written for every worker
		// (this one included) and the answer is 204 without a body.
		if _, err := loglevel.ParseLevel(*body.Level); err != nil {
			s.badRequest(w, r, err.Error())
			return
		}
		ctx, cancel := s.ctx(r)
		defer cancel()
		if err := cl.SetClusterLoggerLevel(ctx, r.PathValue("name"), *body.Level); err != nil {
			s.fail(w, r, ctx, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
		return
	}
	affected, err := s.o.logLevels.Set(r.PathValue("name"), *body.Level)
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, affected)
}
