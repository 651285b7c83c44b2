package opensearch

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/opensearchtest"
	"github.com/sluicehq/sluice/runtime/connect"
)

var (
	keySchema = connect.NewStruct().Field("id", connect.NewSchema(connect.Int64).Build()).Build()
	pointSch  = connect.NewStruct().Name(dbzPoint).
			Field("x", connect.NewSchema(connect.Float64).Build()).
			Field("y", connect.NewSchema(connect.Float64).Build()).Build()
	valSchema = connect.NewStruct().
			Field("id", connect.NewSchema(connect.Int64).Build()).
			Field("name", connect.NewSchema(connect.String).Build()).
			Field("amount", connect.DecimalSchema(2).Optional().Build()).
			Field("ordered_at", connect.NewSchema(connect.Int64).Name(dbzMicroTimestamp).Optional().Build()).
			Field("where", pointSch).Build()
)

func record(topic string, part int32, off int64, id int64, name string) *connect.Record {
	k := connect.NewStructValue(keySchema).Set("id", id)
	r := &connect.Record{Topic: topic, Partition: part, Offset: off, KeySchema: keySchema, Key: k,
		OriginalTopic: topic, OriginalPartition: part, OriginalOffset: off}
	if name == "" {
		return r // tombstone
	}
	v := connect.NewStructValue(valSchema).Set("id", id).Set("name", name).
		Set("amount", connect.Decimal{Unscaled: big.NewInt(1234 + id), Scale: 2}).
		Set("ordered_at", int64(1700000000123456)).
		Set("where", connect.NewStructValue(pointSch).Set("x", 13.4).Set("y", 52.5))
	r.ValueSchema, r.Value = valSchema, v
	return r
}

func openTask(t *testing.T, srv *opensearchtest.Server, extra map[string]string) *Task {
	t.Helper()
	cfg := map[string]string{KeyURL: srv.URL, KeyNullValues: "delete", KeyBatchSize: "50", KeyMaxBuffered: "200",
		KeyMaxRetries: "1000", KeyFlushTimeout: "60000", KeyLinger: "1"}
	maps.Copy(cfg, extra)
	task := NewTask()
	task.sleep = func(ctx context.Context, d time.Duration) error { return ctx.Err() } // no real backoff waits
	if err := task.Open(context.Background(), cfg, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { task.Close() })
	return task
}

func TestIndexUpdateDeleteAndMapping(t *testing.T) {
	srv := opensearchtest.Start()
	defer srv.Close()
	task := openTask(t, srv, nil)
	ctx := context.Background()
	tp := connect.TopicPartition{Topic: "Shop.Orders", Partition: 0}
	var recs []*connect.Record
	for i := range int64(100) {
		recs = append(recs, record(tp.Topic, 0, i, i, fmt.Sprintf("n%d", i)))
	}
	recs = append(recs, record(tp.Topic, 0, 100, 5, "renamed"), record(tp.Topic, 0, 101, 7, ""))
	if err := task.Put(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, err := task.Flush(ctx, map[connect.TopicPartition]int64{tp: 102})
	if err != nil || got[tp] != 102 {
		t.Fatalf("flush: %v %v", got, err)
	}
	docs := srv.Docs("shop.orders")
	if len(docs) != 99 {
		t.Fatalf("%d docs, want 99", len(docs))
	}
	if docs["5"]["name"] != "renamed" || docs["7"] != nil {
		t.Errorf("update/delete not applied: 5=%v 7=%v", docs["5"], docs["7"])
	}
	d := docs["3"]
	if d["amount"] != 12.37 || d["ordered_at"] != "2023-11-14T22:13:20.123456Z" {
		t.Errorf("conversion: %v", d)
	}
	if p := d["where"].(map[string]any); p["lat"] != 52.5 || p["lon"] != 13.4 {
		t.Errorf("point: %v", p)
	}
	if _, v, _ := srv.Doc("shop.orders", "5"); v != 100 {
		t.Errorf("external version of doc 5 = %d, want its offset 100", v)
	}
	props := srv.Mapping("shop.orders")["properties"].(map[string]any)
	for f, typ := range map[string]string{"id": "long", "name": "text", "amount": "double", "ordered_at": "date", "where": "geo_point"} {
		if props[f].(map[string]any)["type"] != typ {
			t.Errorf("mapping of %s = %v, want %s", f, props[f], typ)
		}
	}
}

func TestStormRetriesEveryItemAndReplayKeepsNewest(t *testing.T) {
	srv := opensearchtest.Start(opensearchtest.WithFaults(opensearchtest.Faults{
		ItemReject429: 0.4, Request429: 0.2, Request503: 0.05, Reset: 0.05, ResetAfterApply: true}))
	defer srv.Close()
	task := openTask(t, srv, nil)
	ctx := context.Background()
	want := map[string]string{}
	cur := map[connect.TopicPartition]int64{}
	var all []*connect.Record
	for p := range int32(3) {
		for i := range int64(400) {
			id := int64(p)*1000 + i%100 // each key updated 4 times in its partition
			name := fmt.Sprintf("p%d-o%d", p, i)
			all = append(all, record("t", p, i, id, name))
			want[fmt.Sprint(id)] = name
			cur[connect.TopicPartition{Topic: "t", Partition: p}] = i + 1
		}
	}
	for i := 0; i < len(all); i += 37 {
		if err := task.Put(ctx, all[i:min(i+37, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	got, err := task.Flush(ctx, cur)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, cur) {
		t.Fatalf("flush returned %v, want %v", got, cur)
	}
	// Replay everything (a restart from old offsets) while the storm goes on.
	if err := task.Put(ctx, all); err != nil {
		t.Fatal(err)
	}
	if _, err := task.Flush(ctx, cur); err != nil {
		t.Fatal(err)
	}
	docs := srv.Docs("t")
	for id, name := range want {
		if docs[id]["name"] != name {
			t.Errorf("doc %s = %v, want %s", id, docs[id]["name"], name)
		}
	}
	if len(docs) != len(want) {
		t.Errorf("%d docs, want %d", len(docs), len(want))
	}
	if v := srv.Violations(); len(v) > 0 {
		t.Errorf("older versions overwrote newer: %v", v[:min(5, len(v))])
	}
	st := srv.Stats()
	if st.Rejected429 == 0 || st.RequestRejected == 0 || st.Resets == 0 || st.Conflicts == 0 {
		t.Errorf("storm did not exercise every path: %+v", st)
	}
	t.Logf("server stats: %+v, task stats: %+v", st, task.Stats())
}

func TestMalformedDocuments(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		behaviour string
		wantErr   string
	}{
		{"fail", "record m-0@1"},
		{"warn", ""},
		{"ignore", ""},
	} {
		t.Run(tc.behaviour, func(t *testing.T) {
			srv := opensearchtest.Start()
			defer srv.Close()
			task := openTask(t, srv, map[string]string{KeyMalformed: tc.behaviour, KeySchemaIgnore: "true"})
			// The index maps name as long; record 1's name is not a number.
			if err := task.putJSON(ctx, "/m", map[string]any{"mappings": map[string]any{"properties": map[string]any{"name": map[string]any{"type": "long"}}}}); err != nil {
				t.Fatal(err)
			}
			tp := connect.TopicPartition{Topic: "m"}
			recs := []*connect.Record{record("m", 0, 0, 1, "17"), record("m", 0, 1, 2, "not-a-number"), record("m", 0, 2, 3, "18")}
			if err := task.Put(ctx, recs); err != nil {
				t.Fatal(err)
			}
			got, err := task.Flush(ctx, map[connect.TopicPartition]int64{tp: 3})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "mapper_parsing_exception") {
					t.Fatalf("flush error %v, want one naming %q and mapper_parsing_exception", err, tc.wantErr)
				}
				if perr := task.Put(ctx, recs[:1]); perr == nil {
					t.Error("put after a fatal error succeeded")
				}
				return
			}
			if err != nil || got[tp] != 3 {
				t.Fatalf("flush %v %v", got, err)
			}
			if n := len(srv.Docs("m")); n != 2 || task.Stats().Dropped != 1 {
				t.Errorf("%d docs, %d dropped; want 2 and 1", n, task.Stats().Dropped)
			}
		})
	}
}

func TestFlushCommitsOnlyAcknowledged(t *testing.T) {
	srv := opensearchtest.Start()
	defer srv.Close()
	task := openTask(t, srv, map[string]string{KeyFlushTimeout: "50", KeyBatchSize: "10", KeyMaxInFlight: "2", KeyMaxBuffered: "20"})
	ctx := context.Background()
	tp := connect.TopicPartition{Topic: "slow"}
	if err := task.Put(ctx, []*connect.Record{record("slow", 0, 0, 1, "a")}); err != nil {
		t.Fatal(err)
	}
	if got, err := task.Flush(ctx, map[connect.TopicPartition]int64{tp: 1}); err != nil || got[tp] != 1 {
		t.Fatalf("flush: %v %v", got, err)
	}
	srv.SetFaults(opensearchtest.Faults{Request429: 1}) // every request rejected
	if err := task.Put(ctx, []*connect.Record{record("slow", 0, 1, 2, "b")}); err != nil {
		t.Fatal(err)
	}
	got, err := task.Flush(ctx, map[connect.TopicPartition]int64{tp: 2})
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := got[tp]; ok && o > 1 {
		t.Fatalf("flush returned offset %d for an unacknowledged record", o)
	}
	srv.SetFaults(opensearchtest.Faults{})
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err = task.Flush(ctx, map[connect.TopicPartition]int64{tp: 2})
		if err != nil {
			t.Fatal(err)
		}
		if got[tp] == 2 || time.Now().After(deadline) {
			break
		}
	}
	if got[tp] != 2 {
		t.Fatalf("after the rejections stopped, flush returned %v", got)
	}
}

func TestGiveUpAfterMaxRetries(t *testing.T) {
	srv := opensearchtest.Start(opensearchtest.WithFaults(opensearchtest.Faults{ItemReject429: 1}))
	defer srv.Close()
	task := openTask(t, srv, map[string]string{KeyMaxRetries: "3"})
	ctx := context.Background()
	if err := task.Put(ctx, []*connect.Record{record("g", 0, 0, 1, "a")}); err != nil {
		t.Fatal(err)
	}
	_, err := task.Flush(ctx, map[connect.TopicPartition]int64{{Topic: "g"}: 1})
	if err == nil || !strings.Contains(err.Error(), "giving up after 3 retries") {
		t.Fatalf("flush error %v", err)
	}
	if st := srv.Stats(); st.BulkRequests != 4 {
		t.Errorf("%d bulk requests, want 4 (1 + 3 retries)", st.BulkRequests)
	}
}

func TestDocID(t *testing.T) {
	two := connect.NewStruct().Field("a", connect.NewSchema(connect.String).Build()).Field("b", connect.NewSchema(connect.Int32).Build()).Build()
	for _, tc := range []struct {
		key  any
		want string
		err  string
	}{
		{"k", "k", ""},
		{int64(42), "42", ""},
		{connect.NewStructValue(keySchema).Set("id", int64(7)), "7", ""},
		{connect.NewStructValue(two).Set("a", "x+y").Set("b", int32(3)), `x\+y+3`, ""},
		{map[string]any{"b": 2.0, "a": "z"}, "z+2", ""},
		{nil, "", "null"},
		{[]any{1}, "", "cannot be a document id"},
	} {
		got, err := docID(tc.key)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("docID(%v) error %v, want %q", tc.key, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("docID(%v) = %q, %v; want %q", tc.key, got, err, tc.want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg map[string]string
		key string
	}{
		{map[string]string{}, KeyURL},
		{map[string]string{KeyURL: "localhost:9200"}, KeyURL},
		{map[string]string{KeyURL: "http://h:9200", KeyMalformed: "report"}, KeyMalformed},
		{map[string]string{KeyURL: "http://h:9200", KeyRoutingType: "value"}, KeyRoutingValuePath},
		{map[string]string{KeyURL: "http://h:9200", KeyDataStream: "true", KeyIndexWriteMethod: "upsert"}, KeyIndexWriteMethod},
		{map[string]string{KeyURL: "http://h:9200", KeyGCDeletes: "forever"}, KeyGCDeletes},
		{map[string]string{KeyURL: "http://h:9200", KeyUsername: "u"}, KeyPassword},
		{map[string]string{KeyURL: "http://h:9200", KeyTopicIndexMap: "nocolon"}, KeyTopicIndexMap},
	} {
		_, err := parseSettings(tc.cfg)
		var ce *connect.ConfigError
		if !errors.As(err, &ce) || ce.Key != tc.key {
			t.Errorf("%v: error %v, want one for %s", tc.cfg, err, tc.key)
		}
	}
}

func TestDataStreamAndRouting(t *testing.T) {
	ctx := context.Background()
	t.Run("data stream", func(t *testing.T) {
		srv := opensearchtest.Start()
		defer srv.Close()
		task := openTask(t, srv, map[string]string{KeyDataStream: "true", KeyDataStreamPrefix: "logs"})
		r := record("app", 0, 0, 1, "a")
		r.Timestamp = time.UnixMilli(1700000000000)
		if err := task.Put(ctx, []*connect.Record{r, record("app", 0, 1, 2, "b")}); err != nil {
			t.Fatal(err)
		}
		tp := connect.TopicPartition{Topic: "app"}
		if got, err := task.Flush(ctx, map[connect.TopicPartition]int64{tp: 2}); err != nil || got[tp] != 2 {
			t.Fatalf("flush %v %v", got, err)
		}
		if !srv.IsDataStream("logs-app") {
			t.Fatal("logs-app is not a data stream")
		}
		docs := srv.Docs("logs-app")
		if len(docs) != 2 || docs["1"]["@timestamp"] != "2023-11-14T22:13:20.000Z" {
			t.Errorf("data stream docs: %v", docs)
		}
	})
	t.Run("routing by value", func(t *testing.T) {
		srv := opensearchtest.Start()
		defer srv.Close()
		task := openTask(t, srv, map[string]string{KeyRoutingType: "value", KeyRoutingValuePath: "/name"})
		if err := task.Put(ctx, []*connect.Record{record("r", 0, 0, 1, "tenant-7")}); err != nil {
			t.Fatal(err)
		}
		if _, err := task.Flush(ctx, map[connect.TopicPartition]int64{{Topic: "r"}: 1}); err != nil {
			t.Fatal(err)
		}
		if got := srv.Routing("r", "1"); got != "tenant-7" {
			t.Errorf("routing %q, want tenant-7", got)
		}
	})
}

// TestReplayAfterDelete shows the documented index.gc_deletes answer: a
// replay of a write older than a delete is refused while the delete's
// tombstone is kept, and resurrects the document once OpenSearch forgot it.
func TestReplayAfterDelete(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		gcDeletes   string
		resurrected bool
	}{
		{"", true},    // OpenSearch's default 60s has passed
		{"7d", false}, // sluice.index.gc.deletes keeps the tombstone
	} {
		t.Run("gc_deletes="+tc.gcDeletes, func(t *testing.T) {
			now := time.Unix(1_000_000, 0)
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			srv := opensearchtest.Start(opensearchtest.WithClock(clock))
			defer srv.Close()
			task := openTask(t, srv, map[string]string{KeyGCDeletes: tc.gcDeletes})
			tp := connect.TopicPartition{Topic: "gc"}
			write := record("gc", 0, 5, 1, "old")
			for _, r := range []*connect.Record{write, record("gc", 0, 6, 1, "")} {
				if err := task.Put(ctx, []*connect.Record{r}); err != nil {
					t.Fatal(err)
				}
				if _, err := task.Flush(ctx, map[connect.TopicPartition]int64{tp: r.Offset + 1}); err != nil {
					t.Fatal(err)
				}
			}
			mu.Lock()
			now = now.Add(2 * time.Minute)
			mu.Unlock()
			if err := task.Put(ctx, []*connect.Record{write}); err != nil { // the replay
				t.Fatal(err)
			}
			if _, err := task.Flush(ctx, map[connect.TopicPartition]int64{tp: 6}); err != nil {
				t.Fatal(err)
			}
			_, _, found := srv.Doc("gc", "1")
			if found != tc.resurrected {
				t.Errorf("document present after the replay = %v, want %v", found, tc.resurrected)
			}
			if got := len(srv.Violations()) > 0; got != tc.resurrected {
				t.Errorf("violation recorded = %v, want %v", got, tc.resurrected)
			}
		})
	}
}
