package rest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/loglevel"
	"github.com/sluicehq/sluice/runtime/rest/resttest"
)

// verbatimCluster is a resttest cluster that returns configs verbatim, as
// a worker does by default (sluice.rest.mask.secrets=false).
type verbatimCluster struct{ *resttest.Cluster }

func (verbatimCluster) MasksSecrets() bool { return false }

// TestKafkaRESTDifferencesFixed covers REST behaviours that differed from
// Kafka Connect's.
func TestKafkaRESTDifferencesFixed(t *testing.T) {
	s := New(resttest.NewCluster())
	runSteps(t, s, []step{
		{"create", "POST", "/connectors", `{"name":"src","config":{"connector.class":"file-source","file":"/tmp/x"}}`, 201, nil, nil},
		{"validate without connector.class", "PUT", "/connector-plugins/FileStreamSource/config/validate", `{"file":"/tmp/x","db.password":"pw"}`, 400,
			[]string{"contains no connector type", "file=/tmp/x"}, []string{"pw"}},
		{"plugin config of an unknown plugin", "GET", "/connector-plugins/com.example.Nope/config", "", 404, []string{"Unknown plugin com.example.Nope."}, nil},
		{"expand with an unknown value is the map form", "GET", "/connectors?expand=nope", "", 200, []string{`{"src":{}}`}, nil},
	})
	req := httptest.NewRequest("POST", "/connectors", strings.NewReader(`name=x`))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 415 || !strings.Contains(rec.Body.String(), "application/json") {
		t.Errorf("form POST: %d %s, want 415", rec.Code, rec.Body)
	}
	req = httptest.NewRequest("POST", "/connectors", strings.NewReader(`{"name":"j","config":{"connector.class":"file-sink"}}`))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != 201 {
		t.Errorf("JSON POST with charset: %d %s", rec.Code, rec.Body)
	}
}

// TestSecretsRoundTrip checks that with a cluster returning configs
// verbatim (Kafka's behaviour, the worker's default) GET config shows the
// secret and a PUT of what GET returned keeps it.
func TestSecretsRoundTrip(t *testing.T) {
	c := verbatimCluster{resttest.NewCluster()}
	s := New(c)
	runSteps(t, s, []step{
		{"create", "POST", "/connectors", `{"name":"src","config":{"connector.class":"file-source","file":"/tmp/x","db.password":"s3cret"}}`, 201, []string{`"db.password":"s3cret"`}, []string{"[hidden]"}},
		{"get", "GET", "/connectors/src/config", "", 200, []string{`"db.password":"s3cret"`}, nil},
		{"put back", "PUT", "/connectors/src/config", `{"connector.class":"file-source","file":"/tmp/y","db.password":"s3cret"}`, 200, nil, nil},
	})
	cfg, err := c.ConnectorConfig(context.Background(), "src")
	if err != nil {
		t.Fatal(err)
	}
	if cfg["db.password"] != "s3cret" {
		t.Errorf("stored password %q after the round trip", cfg["db.password"])
	}
}

// TestAdminLoggers checks KIP-495's /admin/loggers against loglevel.
func TestAdminLoggers(t *testing.T) {
	lv := loglevel.New(slog.LevelInfo)
	_ = slog.New(lv.Handler(slog.DiscardHandler)).With("component", "worker")
	s := New(resttest.NewCluster(), WithLogLevels(lv))
	runSteps(t, s, []step{
		{"list", "GET", "/admin/loggers", "", 200, []string{`"root":{"level":"INFO","last_modified":null}`, `"sluice.worker":{"level":"INFO"`}, nil},
		{"get", "GET", "/admin/loggers/sluice.worker", "", 200, []string{`"level":"INFO"`}, nil},
		{"unknown", "GET", "/admin/loggers/com.example", "", 404, []string{"Logger com.example not found."}, nil},
		{"set", "PUT", "/admin/loggers/sluice", `{"level":"DEBUG"}`, 200, []string{`["sluice","sluice.worker"]`}, nil},
		{"changed", "GET", "/admin/loggers/sluice.worker", "", 200, []string{`"level":"DEBUG"`, `"last_modified":1`}, nil},
		{"bad level", "PUT", "/admin/loggers/sluice", `{"level":"LOUD"}`, 400, []string{"Invalid log level 'LOUD'."}, nil},
		{"no level", "PUT", "/admin/loggers/sluice", `{}`, 400, []string{"must specify a log level"}, nil},
		{"cluster scope", "PUT", "/admin/loggers/sluice?scope=cluster", `{"level":"DEBUG"}`, 400, []string{"not supported"}, nil},
	})
	if rec := do(t, New(resttest.NewCluster()), "GET", "/admin/loggers", ""); rec.Code != 404 {
		t.Errorf("without WithLogLevels: %d", rec.Code)
	}
}

// clusterLevels is a resttest cluster that sets logger levels for every
// worker (KIP-976 scope=cluster) by recording them.
type clusterLevels struct {
	*resttest.Cluster
	set [][2]string
}

func (c *clusterLevels) SetClusterLoggerLevel(_ context.Context, namespace, level string) error {
	c.set = append(c.set, [2]string{namespace, level})
	return nil
}

// TestAdminLoggersClusterScope checks PUT /admin/loggers/{name}?scope=cluster:
// 204 without a body after the Cluster took the level, 400 for a bad level
// (never passed on), and the worker's own levels untouched by the handler.
func TestAdminLoggersClusterScope(t *testing.T) {
	lv := loglevel.New(slog.LevelInfo)
	c := &clusterLevels{Cluster: resttest.NewCluster()}
	s := New(c, WithLogLevels(lv))
	runSteps(t, s, []step{
		{"cluster scope", "PUT", "/admin/loggers/sluice.connector?scope=CLUSTER", `{"level":"debug"}`, 204, nil, []string{"sluice"}},
		{"bad level", "PUT", "/admin/loggers/sluice?scope=cluster", `{"level":"LOUD"}`, 400, []string{"Invalid log level 'LOUD'."}, nil},
		{"no level", "PUT", "/admin/loggers/sluice?scope=cluster", `{}`, 400, []string{"must specify a log level"}, nil},
		{"bad scope", "PUT", "/admin/loggers/sluice?scope=galaxy", `{"level":"DEBUG"}`, 400, []string{"Invalid scope"}, nil},
	})
	if len(c.set) != 1 || c.set[0] != [2]string{"sluice.connector", "debug"} {
		t.Fatalf("cluster levels set %v", c.set)
	}
	if _, ok := lv.Level("sluice.connector"); ok {
		t.Fatal("the handler set the level itself; the cluster applies it when it reads it back")
	}
}
