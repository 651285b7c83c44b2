package rest

import (
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
	switch scope := strings.ToLower(r.URL.Query().Get("scope")); scope {
	case "", "worker":
	case "cluster":
		// Kafka writes cluster-scoped levels to the config topic for every
		// worker; sluice changes levels per worker only.
		s.badRequest(w, r, "scope=cluster is not supported by sluice: set the level on each worker (scope=worker)")
		return
	default:
		s.badRequest(w, r, fmt.Sprintf("Invalid scope %q: must be worker or cluster", scope))
		return
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
	affected, err := s.o.logLevels.Set(r.PathValue("name"), *body.Level)
	if err != nil {
		s.badRequest(w, r, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, affected)
}
