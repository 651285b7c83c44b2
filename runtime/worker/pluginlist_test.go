package worker

import (
	"context"
	"errors"
	"testing"

	"github.com/sluicehq/sluice/runtime/api"
	"github.com/sluicehq/sluice/runtime/convert"
)

// TestPluginsListEveryKind checks that the plugin list holds, besides the
// connectors, the transformations, predicates, converters and header
// converters, each with a version, and that their config can be described.
func TestPluginsListEveryKind(t *testing.T) {
	w, err := New(DefaultConfig(), testPlugins(newCollector()), WithLogger(testLogger(t)), WithVersion("9.9.9"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		numSourceClass: "source",
		"org.apache.kafka.connect.transforms.InsertField$Value":           "transformation",
		"org.apache.kafka.connect.transforms.predicates.TopicNameMatches": "predicate",
		convert.JSONClass:         "converter",
		convert.SimpleHeaderClass: "header_converter",
	}
	got := map[string]string{}
	for _, p := range w.Plugins() {
		if p.Version == "" {
			t.Errorf("%s (%s) has no version", p.Class, p.Type)
		}
		if p.Type != "source" && p.Type != "sink" && p.Version != "9.9.9" {
			t.Errorf("%s: version %q, want the worker's", p.Class, p.Version)
		}
		if _, ok := want[p.Class]; ok && (got[p.Class] == "" || p.Type != "converter") {
			got[p.Class] = p.Type // a class may be both converter and header_converter
		}
	}
	for class, typ := range want {
		if got[class] != typ && !(typ == "converter" && got[class] == "header_converter") {
			t.Errorf("%s: listed as %q, want %q", class, got[class], typ)
		}
	}
	ctx := context.Background()
	tests := []struct {
		plugin string
		key    string // a key the description must hold; "" = unknown plugin
	}{
		{"org.apache.kafka.connect.transforms.InsertField$Value", "static.field"},
		{convert.JSONClass, "schemas.enable"},
		{numSourceClass, "tasks.max"},
		{"com.example.Nope", ""},
	}
	for _, tc := range tests {
		defs, err := w.PluginConfig(ctx, tc.plugin)
		if tc.key == "" {
			if !errors.Is(err, api.ErrNotFound) {
				t.Errorf("%s: %v, want not found", tc.plugin, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.plugin, err)
		}
		found := false
		for _, d := range defs {
			if d.Name == tc.key {
				found = true
				if d.Order < 1 {
					t.Errorf("%s %s: order %d", tc.plugin, d.Name, d.Order)
				}
			}
		}
		if !found {
			t.Errorf("%s: no key %s in %+v", tc.plugin, tc.key, defs)
		}
	}
}

// TestSecretsVerbatimByDefault checks that connector configs are returned
// verbatim unless sluice.rest.mask.secrets is set.
func TestSecretsVerbatimByDefault(t *testing.T) {
	cfg := map[string]string{"connector.class": numSourceClass, "db.password": "s3cret", "topic": "t"}
	for _, mask := range []bool{false, true} {
		c := DefaultConfig()
		c.MaskSecrets = mask
		w, err := New(c, testPlugins(newCollector()), WithLogger(testLogger(t)))
		if err != nil {
			t.Fatal(err)
		}
		want := "s3cret"
		if mask {
			want = hidden
		}
		if got := w.masked(cfg)["db.password"]; got != want || w.MasksSecrets() != mask {
			t.Errorf("mask=%v: db.password %q, want %q", mask, got, want)
		}
	}
	p, err := FromProperties(map[string]string{"sluice.rest.mask.secrets": "true", "topic.tracking.enable": "false"})
	if err != nil || !p.MaskSecrets || p.TopicTracking {
		t.Errorf("sluice.rest.mask.secrets=true parsed as %v (%v)", p.MaskSecrets, err)
	}
}
