package loglevel

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestLevelsPerLogger(t *testing.T) {
	var buf bytes.Buffer
	lv := New(slog.LevelInfo)
	root := slog.New(lv.Handler(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: LevelTrace})))
	rest := root.With("component", "rest")
	orders := root.With("worker_id", "w1").With("connector", "orders", "task", 0)
	users := root.With("connector", "users")
	logAll := func() string {
		buf.Reset()
		rest.Debug("rest-debug")
		orders.Debug("orders-debug")
		users.Debug("users-debug")
		root.Debug("root-debug")
		root.Info("root-info")
		return buf.String()
	}
	tests := []struct {
		name, level string
		affected    []string
		shown       []string
		hidden      []string
	}{
		{"", "", nil, []string{"root-info"}, []string{"rest-debug", "orders-debug", "users-debug", "root-debug"}},
		{"sluice.connector.orders", "DEBUG", []string{"sluice.connector.orders"}, []string{"orders-debug"}, []string{"users-debug", "rest-debug"}},
		{"sluice.connector", "debug", []string{"sluice.connector", "sluice.connector.orders", "sluice.connector.users"}, []string{"orders-debug", "users-debug"}, []string{"rest-debug", "root-debug"}},
		{"sluice.connector.users", "ERROR", []string{"sluice.connector.users"}, []string{"orders-debug"}, []string{"users-debug"}},
		{Root, "DEBUG", []string{Root}, []string{"root-debug", "rest-debug"}, []string{"users-debug"}},
		{Root, "OFF", []string{Root}, nil, []string{"root-info", "root-debug", "rest-debug"}},
	}
	for _, tc := range tests {
		if tc.name != "" {
			got, err := lv.Set(tc.name, tc.level)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(tc.affected, ",") {
				t.Errorf("set %s: affected %v, want %v", tc.name, got, tc.affected)
			}
		}
		out := logAll()
		for _, m := range tc.shown {
			if !strings.Contains(out, "msg="+m) {
				t.Errorf("after %s=%s: %s not logged", tc.name, tc.level, m)
			}
		}
		for _, m := range tc.hidden {
			if strings.Contains(out, "msg="+m) {
				t.Errorf("after %s=%s: %s logged", tc.name, tc.level, m)
			}
		}
	}
	if info, ok := lv.Level("sluice.connector.orders"); !ok || info.Level != "DEBUG" || info.LastModified == nil {
		t.Errorf("orders level %+v %v", info, ok)
	}
	if info, ok := lv.Level("sluice.rest"); !ok || info.Level != "OFF" || info.LastModified != nil {
		t.Errorf("rest follows the root: %+v %v", info, ok)
	}
	if _, ok := lv.Level("com.example.nope"); ok {
		t.Error("unknown logger found")
	}
	if _, err := lv.Set("x", "LOUD"); err == nil || !strings.Contains(err.Error(), "Invalid log level 'LOUD'") {
		t.Errorf("bad level: %v", err)
	}
	if all := lv.All(); len(all) != 5 { // root; sluice.rest, sluice.connector.orders, .users (seen); sluice.connector (set)
		t.Errorf("all: %v", all)
	}
}

func TestOf(t *testing.T) {
	lv := New(slog.LevelInfo)
	l := slog.New(lv.Handler(slog.DiscardHandler)).With("component", "x")
	if Of(l) != lv {
		t.Error("Of does not find the Levels of a derived logger")
	}
	if Of(slog.New(slog.DiscardHandler)) != nil {
		t.Error("Of found Levels in a plain logger")
	}
}
