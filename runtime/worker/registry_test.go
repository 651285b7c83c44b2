package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/sluicehq/sluice/runtime/plugin"
	"github.com/sluicehq/sluice/runtime/rest"
	"github.com/sluicehq/sluice/runtime/transform"
)

// suffixOptions is the configuration of the test-only transformation
// test.Suffix, declared once like a built-in's.
type suffixOptions struct{ suffix string }

func (o *suffixOptions) Keys() connect.ConfigDef {
	return connect.ConfigDef{{Name: "suffix", Type: connect.TypeString, Importance: connect.High, Doc: "Appended to the value.", Into: connect.IntoString(&o.suffix)}}
}
func (o *suffixOptions) Check() error { return nil }

// suffixSMT appends a suffix to the record value.
type suffixSMT struct{ suffix string }

func (s suffixSMT) Apply(r *connect.Record) (*connect.Record, error) {
	out := r.Clone()
	out.Value = fmt.Sprint(r.Value) + s.suffix
	return out, nil
}

var suffixSpec = plugin.Spec{
	Class: "test.Suffix", Aliases: []string{"Suffix"}, Version: "1", Kind: plugin.Transformation,
	Config: func() connect.ConfigDef { return (&suffixOptions{}).Keys() },
	NewTransformation: func(cfg map[string]string) (transform.Transformation, error) {
		o := &suffixOptions{}
		if _, err := connect.Bind(cfg, o); err != nil {
			return nil, err
		}
		return suffixSMT{o.suffix}, nil
	},
}

// startRegistryWorker starts a worker with the given registry and its REST
// API, returning both.
func startRegistryWorker(t *testing.T, cfg Config, reg *plugin.Registry) (*Worker, *httptest.Server) {
	t.Helper()
	w := startWorkerWith(t, cfg, nil, WithRegistry(reg))
	srv := httptest.NewServer(rest.New(w))
	t.Cleanup(srv.Close)
	return w, srv
}

func postConnector(t *testing.T, srv *httptest.Server, name string, cfg map[string]string) (int, string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"name": name, "config": cfg})
	resp, err := http.Post(srv.URL+"/connectors", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTasksBuildTransformsFromRegistry checks that the running worker
// resolves transformations through its registry, like validation and the
// plugin listing: a class only the registry knows is usable in a
// connector config and runs in the task, and a registry without the
// built-in transformations rejects theirs with a 400 naming
// transforms.<alias>.type.
func TestTasksBuildTransformsFromRegistry(t *testing.T) {
	bs := startKfake(t)
	prefix := testPrefix(t)
	reg, err := plugin.New(append(append(plugin.Connectors(testPlugins(newCollector())...), plugin.Builtins("t")...), suffixSpec)...)
	if err != nil {
		t.Fatal(err)
	}
	w, srv := startRegistryWorker(t, testConfig(bs, prefix, 1), reg)

	resp, err := http.Get(srv.URL + "/connector-plugins?connectorsOnly=false")
	if err != nil {
		t.Fatal(err)
	}
	listing, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(listing), `"test.Suffix"`) {
		t.Fatalf("plugin listing lacks test.Suffix: %s", listing)
	}

	topic := prefix + "-out"
	cfg := sourceConfig(topic, 1, 5)
	cfg["transforms"] = "sfx"
	cfg["transforms.sfx.type"] = "Suffix"
	// The class's own spec validates its keys at create time.
	if code, body := postConnector(t, srv, "bad", cfg); code != http.StatusBadRequest || !strings.Contains(body, "transforms.sfx.suffix") {
		t.Fatalf("missing suffix: %d %s", code, body)
	}
	cfg["transforms.sfx.suffix"] = "!"
	if code, body := postConnector(t, srv, "src", cfg); code != http.StatusCreated {
		t.Fatalf("create: %d %s", code, body)
	}
	waitRunning(t, w, "src", 1)
	waitFor(t, 30*time.Second, "suffixed records", func() error {
		got := topicValues(t, bs, topic)
		for i := 0; i < 5; i++ {
			if v := fmt.Sprintf("t0-%d!", i); got[v] != 1 {
				return fmt.Errorf("%s seen %d times in %v", v, got[v], got)
			}
		}
		return nil
	})

	// A registry without the built-in transformations: neither theirs nor
	// test.Suffix (absent too) is usable.
	var specs []plugin.Spec
	for _, s := range append(plugin.Connectors(testPlugins(newCollector())...), plugin.Builtins("t")...) {
		if s.Kind != plugin.Transformation {
			specs = append(specs, s)
		}
	}
	bare, err := plugin.New(specs...)
	if err != nil {
		t.Fatal(err)
	}
	_, srv2 := startRegistryWorker(t, testConfig(bs, prefix+"-bare", 2), bare)
	for _, class := range []string{transform.RegexRouterClass, "Suffix"} {
		cfg := sourceConfig(prefix+"-x", 1, 1)
		cfg["transforms"] = "r"
		cfg["transforms.r.type"] = class
		cfg["transforms.r.regex"] = "(.*)"
		cfg["transforms.r.replacement"] = "$1"
		cfg["transforms.r.suffix"] = "!"
		code, body := postConnector(t, srv2, "r", cfg)
		if code != http.StatusBadRequest || !strings.Contains(body, "transforms.r.type") || !strings.Contains(body, "unknown transformation class") {
			t.Fatalf("%s on a registry without it: %d %s", class, code, body)
		}
	}
}

// TestValidateConvertersWithTheirKeys checks that validation builds a
// connector's converters as its tasks do, with their own
// key.converter.*/value.converter.* keys: an Avro converter with its
// registry URL is valid, one without is an error on value.converter, and
// a bad JsonConverter key is reported there too.
func TestValidateConvertersWithTheirKeys(t *testing.T) {
	w := newOffline(t)
	base := map[string]string{"name": "s", "connector.class": collectSinkClass, "topics": "a"}
	tests := []struct {
		name  string
		extra map[string]string
		field string // "" = valid
	}{
		{"avro with its registry", map[string]string{"value.converter": "avro", "value.converter.schema.registry.url": "http://127.0.0.1:1"}, ""},
		{"avro without registry", map[string]string{"value.converter": "avro"}, "value.converter"},
		{"json bad decimal.format", map[string]string{"key.converter": "json", "key.converter.decimal.format": "HEX"}, "key.converter"},
		{"header converter", map[string]string{"header.converter": "json", "header.converter.schemas.enable": "false"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := map[string]string{}
			for k, v := range base {
				cfg[k] = v
			}
			for k, v := range tc.extra {
				cfg[k] = v
			}
			infos, err := w.ValidateConfig(context.Background(), collectSinkClass, cfg)
			if err != nil {
				t.Fatal(err)
			}
			got := fieldErrors(infos)
			if tc.field == "" {
				if infos.ErrorCount != 0 {
					t.Fatalf("errors %v", got)
				}
				return
			}
			if len(got[tc.field]) == 0 || infos.ErrorCount != 1 {
				t.Fatalf("errors %v, want one on %s", got, tc.field)
			}
		})
	}
}
