package worker

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestHeaderConverter checks that record headers go through the header
// converter: SimpleHeaderConverter by default (typed values as text, read
// back with inferred types), or the connector's header.converter.
func TestHeaderConverter(t *testing.T) {
	w := newOffline(t)
	ctx := context.Background()
	ts := time.UnixMilli(1732743221947).UTC()
	in := []connect.Header{
		{Key: "s", Schema: connect.StringSchema, Value: "abc"},
		{Key: "n", Schema: connect.Int64Schema, Value: int64(5)},
		{Key: "b", Schema: connect.BooleanSchema, Value: true},
		{Key: "ts", Schema: connect.TimestampSchema().Build(), Value: ts},
		{Key: "null", Value: nil},
	}
	tests := []struct {
		name      string
		conn      map[string]string
		wireBytes map[string]string
		back      map[string]any
	}{
		{"simple (default)", map[string]string{},
			map[string]string{"s": "abc", "n": "5", "b": "true", "ts": "2024-11-27T21:33:41.947Z"},
			map[string]any{"s": "abc", "n": int8(5), "b": true, "ts": "2024-11-27T21:33:41.947Z", "null": nil}},
		{"string converter", map[string]string{"header.converter": "org.apache.kafka.connect.storage.StringConverter"},
			map[string]string{"s": "abc", "n": "5", "b": "true", "ts": "2024-11-27T21:33:41.947Z"},
			map[string]any{"s": "abc", "n": "5", "b": "true", "ts": "2024-11-27T21:33:41.947Z", "null": nil}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.conn["connector.class"] = numSourceClass
			tc.conn["key.converter"], tc.conn["value.converter"] = "string", "string"
			p, err := w.newPipeline(taskKey{"c", 0}, tc.conn)
			if err != nil {
				t.Fatal(err)
			}
			tr := &taskRunner{w: w}
			kr, err := tr.sourceRecord(ctx, p, &connect.Record{Topic: "t", Partition: -1, Value: "v", Headers: in})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, h := range kr.Headers {
				if h.Value != nil {
					got[h.Key] = string(h.Value)
				}
			}
			if !reflect.DeepEqual(got, tc.wireBytes) {
				t.Errorf("written headers %v, want %v", got, tc.wireBytes)
			}
			r, err := tr.sinkRecord(ctx, p, &kgo.Record{Topic: "t", Value: []byte("v"), Headers: kr.Headers})
			if err != nil {
				t.Fatal(err)
			}
			back := map[string]any{}
			for _, h := range r.Headers {
				back[h.Key] = h.Value
			}
			if !reflect.DeepEqual(back, tc.back) {
				t.Errorf("read headers %#v, want %#v", back, tc.back)
			}
		})
	}
	if _, err := w.newPipeline(taskKey{"c", 0}, map[string]string{"header.converter": "com.example.Nope"}); err == nil {
		t.Error("unknown header.converter accepted")
	}
}
