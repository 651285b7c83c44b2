package worker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
)

// newOffline returns a worker that is not started (validation and masking
// need no Kafka).
func newOffline(t *testing.T) *Worker {
	t.Helper()
	w, err := New(DefaultConfig(), testPlugins(newCollector()), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func fieldErrors(infos api.ConfigInfos) map[string][]string {
	out := map[string][]string{}
	for _, c := range infos.Configs {
		if len(c.Value.Errors) > 0 {
			out[c.Definition.Name] = c.Value.Errors
		}
	}
	return out
}

func TestValidateConfig(t *testing.T) {
	w := newOffline(t)
	t.Setenv("SLUICE_TEST_SECRET", "s3cr3t")
	tests := []struct {
		name      string
		class     string
		cfg       map[string]string
		badFields []string
	}{
		{"valid source", numSourceClass, map[string]string{"name": "a", "connector.class": numSourceClass, "topic": "t", "count": "3"}, nil},
		{"valid by alias", "NumSource", map[string]string{"name": "a", "connector.class": "NumSource", "topic": "t", "count": "3"}, nil},
		{"plugin required key missing", numSourceClass, map[string]string{"name": "a", "connector.class": numSourceClass, "count": "3"}, []string{"topic"}},
		{"bad tasks.max", numSourceClass, map[string]string{"name": "a", "connector.class": numSourceClass, "topic": "t", "count": "3", "tasks.max": "0"}, []string{"tasks.max"}},
		{"bad count type", numSourceClass, map[string]string{"name": "a", "connector.class": numSourceClass, "topic": "t", "count": "many"}, []string{"count"}},
		{"bad tolerance and converter", numSourceClass, map[string]string{"name": "a", "connector.class": numSourceClass, "topic": "t", "count": "1", "errors.tolerance": "some", "value.converter": "com.example.Nope"}, []string{"errors.tolerance", "value.converter"}},
		{"sink without topics", collectSinkClass, map[string]string{"name": "s", "connector.class": collectSinkClass}, []string{"topics", "topics.regex"}},
		{"sink with both", collectSinkClass, map[string]string{"name": "s", "connector.class": collectSinkClass, "topics": "a", "topics.regex": "b.*"}, []string{"topics", "topics.regex"}},
		{"sink dlq in topics", collectSinkClass, map[string]string{"name": "s", "connector.class": collectSinkClass, "topics": "a,d", "errors.deadletterqueue.topic.name": "d"}, []string{"topics"}},
		{"bad transform", collectSinkClass, map[string]string{"name": "s", "connector.class": collectSinkClass, "topics": "a", "transforms": "x", "transforms.x.type": "com.example.Nope"}, []string{"transforms.x.type"}},
		{"unresolvable provider", numSourceClass, map[string]string{"name": "a", "connector.class": numSourceClass, "topic": "${env:SLUICE_TEST_NOPE}", "count": "1"}, []string{"topic"}},
		{"resolved provider", numSourceClass, map[string]string{"name": "a", "connector.class": numSourceClass, "topic": "t", "count": "1", "db.password": "${env:SLUICE_TEST_SECRET}"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			infos, err := w.ValidateConfig(context.Background(), tc.class, tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := fieldErrors(infos)
			for _, f := range tc.badFields {
				if len(got[f]) == 0 {
					t.Errorf("no error for %s; errors: %v", f, got)
				}
			}
			if len(got) != len(tc.badFields) {
				t.Errorf("errors on %v, want exactly %v", got, tc.badFields)
			}
			n := 0
			for _, e := range got {
				n += len(e)
			}
			if infos.ErrorCount != n {
				t.Errorf("error_count %d, counted %d", infos.ErrorCount, n)
			}
		})
	}
	// Provider-resolved values never appear in error messages.
	t.Setenv("SLUICE_TEST_BADCOUNT", "notanumber")
	infos, err := w.ValidateConfig(context.Background(), numSourceClass, map[string]string{"name": "a", "connector.class": numSourceClass, "topic": "t", "count": "${env:SLUICE_TEST_BADCOUNT}"})
	if err != nil {
		t.Fatal(err)
	}
	fe := fieldErrors(infos)
	if len(fe["count"]) != 1 || strings.Contains(fe["count"][0], "notanumber") || !strings.Contains(fe["count"][0], "[hidden]") {
		t.Fatalf("count errors %q", fe["count"])
	}
	if _, err := w.ValidateConfig(context.Background(), "com.example.Missing", map[string]string{}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("unknown class: %v", err)
	}
}

func TestCreateInvalidConnectorIsValidationError(t *testing.T) {
	forEachBackend(t, testCreateInvalidConnectorIsValidationError)
}

func testCreateInvalidConnectorIsValidationError(t *testing.T, bs string) {
	w := startWorker(t, testConfig(bs, testPrefix(t), 1), newCollector())
	_, err := w.CreateConnector(context.Background(), api.CreateConnectorRequest{Name: "x", Config: map[string]string{"connector.class": numSourceClass, "tasks.max": "-1"}})
	var ve *api.ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("err = %v, want *api.ValidationError", err)
	}
	fe := fieldErrors(ve.Infos)
	if len(fe["tasks.max"]) == 0 || len(fe["topic"]) == 0 || len(fe["count"]) == 0 {
		t.Fatalf("field errors %v", fe)
	}
	if names, _ := w.Connectors(context.Background()); len(names) != 0 {
		t.Fatalf("invalid connector stored: %v", names)
	}
	if _, err := w.CreateConnector(context.Background(), api.CreateConnectorRequest{Name: "a/b", Config: map[string]string{"connector.class": numSourceClass}}); !errors.Is(err, api.ErrBadRequest) {
		t.Fatalf("bad name: %v", err)
	}
}

func TestSecretsMaskedAndProvidersResolved(t *testing.T) {
	forEachBackend(t, testSecretsMaskedAndProvidersResolved)
}

func testSecretsMaskedAndProvidersResolved(t *testing.T, bs string) {
	prefix := testPrefix(t)
	dir := t.TempDir()
	secrets := filepath.Join(dir, "secrets.properties")
	if err := os.WriteFile(secrets, []byte("topic.name = "+prefix+"-provided\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLUICE_TEST_COUNT", "7")
	wcfg := testConfig(bs, prefix, 1)
	wcfg.MaskSecrets = true // sluice.rest.mask.secrets (default: verbatim, as Kafka)
	w := startWorker(t, wcfg, newCollector())
	ctx := context.Background()
	cfg := map[string]string{
		"connector.class": numSourceClass,
		"topic":           "${file:" + secrets + ":topic.name}",
		"count":           "${env:SLUICE_TEST_COUNT}",
		"db.password":     "hunter2",
	}
	info, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if info.Config["db.password"] != "[hidden]" || info.Config["count"] != "${env:SLUICE_TEST_COUNT}" {
		t.Fatalf("create response config %v", info.Config)
	}
	got, err := w.ConnectorConfig(ctx, "src")
	if err != nil || got["db.password"] != "[hidden]" {
		t.Fatalf("ConnectorConfig %v %v", got, err)
	}
	// Records go to the provider-resolved topic; stored task configs keep
	// the references.
	waitFor(t, 20*time.Second, "7 records in the provided topic", func() error {
		if n := len(topicValues(t, bs, prefix+"-provided")); n != 7 {
			return fmt.Errorf("%d records", n)
		}
		return nil
	})
	tasks, err := w.Tasks(ctx, "src")
	if err != nil || len(tasks) != 1 {
		t.Fatalf("tasks %v %v", tasks, err)
	}
	if tasks[0].Config["count"] != "${env:SLUICE_TEST_COUNT}" || tasks[0].Config["db.password"] != "[hidden]" {
		t.Fatalf("task config %v", tasks[0].Config)
	}
	snap := w.cfgs.snapshot()
	if snap.tasks["src"][0]["count"] != "${env:SLUICE_TEST_COUNT}" || strings.Contains(fmt.Sprint(snap.tasks), prefix+"-provided") {
		t.Fatalf("resolved value stored: %v", snap.tasks)
	}
	// Sending "[hidden]" back keeps the stored secret.
	back := got
	back["count"] = "8"
	if _, _, err := w.PutConnectorConfig(ctx, "src", back); err != nil {
		t.Fatal(err)
	}
	if p := w.cfgs.snapshot().connectors["src"]["db.password"]; p != "hunter2" {
		t.Fatalf("stored password %q", p)
	}
}
