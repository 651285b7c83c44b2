package worker

import (
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
)

func TestParseProperties(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string]string
	}{
		{"basic", "a=1\nb = 2\n", map[string]string{"a": "1", "b": "2"}},
		{"comments and blanks", "# c\n! c2\n\n  x:y\n", map[string]string{"x": "y"}},
		{"whitespace separator", "key value with spaces\n", map[string]string{"key": "value with spaces"}},
		{"continuation", "list=a,\\\n    b,\\\n    c\n", map[string]string{"list": "a,b,c"}},
		{"escapes", `k\ ey=v\tal\u0041\\` + "\n", map[string]string{"k ey": "v\talA\\"}},
		{"escaped separator in key", `a\=b=c`, map[string]string{"a=b": "c"}},
		{"empty value", "empty=\nother", map[string]string{"empty": "", "other": ""}},
		{"last wins", "a=1\na=2", map[string]string{"a": "2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseProperties(strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := ParseProperties(strings.NewReader("a=\\u00zz\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("bad escape: %v", err)
	}
}

func TestFromProperties(t *testing.T) {
	c, err := FromProperties(map[string]string{
		"bootstrap.servers":                 "k1:9092, k2:9092",
		"group.id":                          "g",
		"offset.storage.topic":              "offs",
		"offset.storage.partitions":         "10",
		"config.storage.replication.factor": "3",
		"key.converter":                     "org.apache.kafka.connect.storage.StringConverter",
		"value.converter.schemas.enable":    "false",
		"offset.flush.interval.ms":          "1000",
		"rest.advertised.host.name":         "w1.example",
		"rest.advertised.port":              "8084",
		"session.timeout.ms":                "6000",
		"heartbeat.interval.ms":             "2000",
		"task.shutdown.graceful.timeout.ms": "7000",
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.BootstrapServers) != 2 || c.BootstrapServers[1] != "k2:9092" || c.GroupID != "g" || c.OffsetTopic != "offs" ||
		c.OffsetPartitions != 10 || c.StatusPartitions != 5 || c.ConfigReplicationFactor != 3 || c.StatusReplicationFactor != -1 ||
		c.KeyConverter != "org.apache.kafka.connect.storage.StringConverter" || c.ValueConverterConfig["schemas.enable"] != "false" ||
		c.OffsetFlushInterval != time.Second || c.AdvertisedURL != "http://w1.example:8084" || c.SessionTimeout != 6*time.Second ||
		c.TaskShutdownTimeout != 7*time.Second || c.ConfigTopic != "connect-configs" {
		t.Fatalf("config %+v", c)
	}
	c, err = FromProperties(map[string]string{"rest.advertised.listener": "https://a:1", "listeners": "http://0.0.0.0:9"})
	if err != nil || c.AdvertisedURL != "https://a:1" {
		t.Fatalf("%v %v", c.AdvertisedURL, err)
	}
	c, err = FromProperties(map[string]string{"listeners": "http://0.0.0.0:9000"})
	if err != nil || c.AdvertisedURL != "http://localhost:9000" {
		t.Fatalf("%v %v", c.AdvertisedURL, err)
	}
	for _, bad := range []map[string]string{
		{"offset.flush.interval.ms": "soon"},
		{"offset.storage.partitions": "0"},
		{"status.storage.replication.factor": "0"},
		{"session.timeout.ms": "1000", "heartbeat.interval.ms": "3000"},
		{"bootstrap.servers": " , "},
	} {
		_, err := FromProperties(bad)
		var ce *ConfigError
		if !errors.As(err, &ce) {
			t.Errorf("%v: err %v, want *ConfigError", bad, err)
		}
	}
}

func TestConfigStateTaskCommit(t *testing.T) {
	c := newConfigState()
	c.setLive()
	apply := func(k, v string) {
		var b []byte
		if v != "" {
			b = []byte(v)
		}
		_ = c.apply(k, b, 0)
	}
	apply("connector-my-conn", `{"properties":{"a":"1"}}`)
	apply("task-my-conn-0", `{"properties":{"t":"0"}}`)
	if s := c.snapshot(); len(s.tasks["my-conn"]) != 0 {
		t.Fatalf("uncommitted tasks visible: %v", s.tasks)
	}
	apply("task-my-conn-1", `{"properties":{"t":"1"}}`)
	apply("commit-my-conn", `{"tasks":2}`)
	s := c.snapshot()
	if len(s.tasks["my-conn"]) != 2 || s.tasks["my-conn"][1]["t"] != "1" {
		t.Fatalf("tasks %v", s.tasks)
	}
	// A commit naming a task that was never written is ignored.
	if err := c.apply("commit-my-conn", []byte(`{"tasks":3}`), 0); !errors.Is(err, errInconsistentTasks) {
		t.Fatalf("inconsistent commit: %v", err)
	}
	apply("target-state-my-conn", `{"state":"PAUSED"}`)
	apply("restart-connector-my-conn", `{"include-tasks":true,"only-failed":true}`)
	if s := c.snapshot(); s.target("my-conn") != targetPaused {
		t.Fatal("target not applied")
	}
	if r := c.takeRestarts(); len(r) != 1 || !r[0].IncludeTasks || !r[0].OnlyFailed || r[0].Task != -1 {
		t.Fatalf("restarts %+v", r)
	}
	apply("connector-my-conn", "")
	if s := c.snapshot(); len(s.connectors) != 0 || len(s.tasks) != 0 {
		t.Fatalf("delete left %v %v", s.connectors, s.tasks)
	}
	if err := c.apply("connector-x", []byte("{"), 0); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

func TestOffsetTrackerOrdering(t *testing.T) {
	tr := newOffsetTracker()
	part := map[string]any{"p": int64(1)}
	var ps []*pending
	var pts []*partTrack
	for i := 0; i < 4; i++ {
		p, pt, err := tr.add(part, map[string]any{"n": int64(i)}, uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		ps, pts = append(ps, p), append(pts, pt)
	}
	// Acks out of order: nothing committable until the first is acked.
	tr.ack(ps[2], pts[2], nil)
	tr.ack(ps[1], pts[1], nil)
	if c := tr.committable(); len(c) != 0 {
		t.Fatalf("committable before first ack: %+v", c)
	}
	tr.ack(ps[0], pts[0], nil)
	c := tr.committable()
	if len(c) != 1 || c[0].off.Offset["n"] != int64(2) {
		t.Fatalf("committable %+v", c)
	}
	tr.markWritten(c)
	if c := tr.committable(); len(c) != 0 {
		t.Fatalf("written offsets offered again: %+v", c)
	}
	// A failed record blocks its partition's offsets for good.
	tr.ack(ps[3], pts[3], errors.New("boom"))
	if c := tr.committable(); len(c) != 0 || tr.failure() == nil {
		t.Fatalf("after failure: %+v %v", c, tr.failure())
	}
	if p, _, err := tr.add(nil, nil, 9); p != nil || err != nil {
		t.Fatal("untracked record tracked")
	}
}

func TestOffsetStoreKeys(t *testing.T) {
	s := newOffsetStore()
	k, err := offsetKey("c", map[string]any{"b": 1, "a": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if string(k) != `["c",{"a":"x","b":1}]` {
		t.Fatalf("key %s", k)
	}
	// Keys written by Kafka Connect (any field order) are found.
	if err := s.apply([]byte(`["c",{"b":1,"a":"x"}]`), []byte(`{"lsn":12345678901234,"f":1.5}`)); err != nil {
		t.Fatal(err)
	}
	off, err := s.get("c", map[string]any{"a": "x", "b": int64(1)})
	if err != nil || off["lsn"] != int64(12345678901234) || off["f"] != 1.5 {
		t.Fatalf("offset %v %v", off, err)
	}
	if err := s.apply([]byte(`["c",{"b":1,"a":"x"}]`), nil); err != nil {
		t.Fatal(err)
	}
	if off, _ := s.get("c", map[string]any{"a": "x", "b": 1}); off != nil {
		t.Fatalf("tombstone ignored: %v", off)
	}
	if err := s.apply([]byte(`{"not":"array"}`), []byte(`{}`)); err == nil {
		t.Fatal("bad key accepted")
	}
}

func TestResolveConfig(t *testing.T) {
	t.Setenv("SLUICE_X", "ex")
	got, err := resolveConfig(map[string]string{"a": "pre-${env:SLUICE_X}-post", "b": "${vault:y}", "c": "plain"})
	if err != nil || got["a"] != "pre-ex-post" || got["b"] != "${vault:y}" || got["c"] != "plain" {
		t.Fatalf("%v %v", got, err)
	}
	_, err = resolveConfig(map[string]string{"pw": "${file:/nonexistent/x.properties:k}"})
	var pe *ProviderError
	if !errors.As(err, &pe) || pe.Key != "pw" {
		t.Fatalf("err %v", err)
	}
	raw := map[string]string{"a": "${env:SLUICE_X}", "b": "v"}
	res, _ := resolveConfig(raw)
	task := reverseResolve(map[string]string{"a": "ex", "b": "v", "c": "ex"}, raw, res)
	if task["a"] != "${env:SLUICE_X}" || task["c"] != "ex" {
		t.Fatalf("reverse %v", task)
	}
}

func TestMasking(t *testing.T) {
	c := DefaultConfig()
	c.MaskSecrets = true // sluice.rest.mask.secrets; verbatim by default, as Kafka
	w, err := New(c, testPlugins(newCollector()), WithLogger(testLogger(t)))
	if err != nil {
		t.Fatal(err)
	}
	m := w.masked(map[string]string{"connector.class": numSourceClass, "db.password": "p", "aws.secret.access.key": "s", "topic": "t", "other.password": "${env:X}"})
	if m["db.password"] != hidden || m["aws.secret.access.key"] != hidden || m["topic"] != "t" || m["other.password"] != "${env:X}" {
		t.Fatalf("masked %v", m)
	}
	var conns []string
	for _, p := range w.Plugins() {
		if p.Type == "source" || p.Type == "sink" {
			conns = append(conns, p.Class)
		}
	}
	if len(conns) != 3 || conns[0] != collectSinkClass {
		t.Fatalf("connector plugins %v", conns)
	}
	var _ connect.SourceTask = &numSourceTask{}
}

func TestClientOverrides(t *testing.T) {
	w := newOffline(t)
	w.cfg.Props = map[string]string{"consumer.max.poll.records": "50", "consumer.session.timeout.ms": "7000", "producer.linger.ms": "1"}
	props := w.clientProps("consumer", map[string]string{"consumer.override.max.poll.records": "20", "producer.override.linger.ms": "9"})
	if props["max.poll.records"] != "20" || props["session.timeout.ms"] != "7000" || len(props) != 2 {
		t.Fatalf("consumer props %v", props)
	}
	opts, maxPoll, err := consumerOpts(props)
	if err != nil || maxPoll != 20 || len(opts) != 1 {
		t.Fatalf("consumerOpts: %d opts, max %d, %v", len(opts), maxPoll, err)
	}
	tests := []struct {
		props map[string]string
		key   string
	}{
		{map[string]string{"session.timeout.ms": "soon"}, "session.timeout.ms"},
		{map[string]string{"auto.offset.reset": "sometimes"}, "auto.offset.reset"},
		{map[string]string{"isolation.level": "dirty"}, "isolation.level"},
		{map[string]string{"max.poll.records": "0"}, "max.poll.records"},
		{map[string]string{"fetch.max.bytes": "-1"}, "fetch.max.bytes"},
	}
	for _, tc := range tests {
		if _, _, err := consumerOpts(tc.props); err == nil || !strings.Contains(err.Error(), tc.key) {
			t.Errorf("consumer %v: err %v should name %s", tc.props, err, tc.key)
		}
	}
	if _, err := producerOpts(map[string]string{"compression.type": "brotli"}); err == nil || !strings.Contains(err.Error(), "compression.type") {
		t.Errorf("compression: %v", err)
	}
	if opts, err := producerOpts(map[string]string{"compression.type": "zstd", "linger.ms": "5", "batch.size": "1000"}); err != nil || len(opts) != 3 {
		t.Errorf("producerOpts: %d %v", len(opts), err)
	}
}
