package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/api"
)

// TestTopicTracking checks KIP-558 topic tracking: the topics a source
// produces to and a sink consumes from are recorded in the status topic
// (a second worker reading it sees them), reset forgets them until they
// are used again, and with topic.tracking.enable=false the routes are
// refused.
func TestTopicTracking(t *testing.T) {
	bs := startKfake(t)
	prefix := testPrefix(t)
	col := newCollector()
	w := startWorker(t, testConfig(bs, prefix, 1), col)
	ctx := context.Background()
	topic := prefix + "-nums"
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "src", Config: map[string]string{
		"connector.class": numSourceClass, "topic": topic, "count": "100000", "batch": "1", "poll.delay.ms": "20",
	}}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.CreateConnector(ctx, api.CreateConnectorRequest{Name: "snk", Config: map[string]string{
		"connector.class": collectSinkClass, "topics": topic,
	}}); err != nil {
		t.Fatal(err)
	}
	wantTopics := func(w *Worker, name string, want []string) {
		t.Helper()
		waitFor(t, 30*time.Second, fmt.Sprintf("%s topics %v", name, want), func() error {
			got, err := w.ConnectorTopics(ctx, name)
			if err != nil {
				return err
			}
			if !slices.Equal(got, want) {
				return fmt.Errorf("topics %v", got)
			}
			return nil
		})
	}
	wantTopics(w, "src", []string{topic})
	wantTopics(w, "snk", []string{topic})

	// Stored in the status topic: a second worker of the group sees them.
	w2 := startWorker(t, testConfig(bs, prefix, 2), newCollector())
	wantTopics(w2, "src", []string{topic})

	if err := w.StopConnector(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	waitState(t, w, "src", api.Stopped, 0)
	if err := w.ResetConnectorTopics(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	wantTopics(w, "src", []string{})
	wantTopics(w2, "src", []string{})
	if err := w.ResumeConnector(ctx, "src"); err != nil {
		t.Fatal(err)
	}
	wantTopics(w, "src", []string{topic}) // used again: recorded again
	if _, err := w.ConnectorTopics(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown connector: %v", err)
	}

	off := DefaultConfig()
	off.TopicTracking = false
	w3, err := New(off, testPlugins(newCollector()), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w3.ConnectorTopics(ctx, "src"); !errors.Is(err, api.ErrForbidden) {
		t.Errorf("tracking disabled: %v, want forbidden", err)
	}
}
