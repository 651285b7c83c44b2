package worker

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRecordErrorsNameTheRecord checks that errors about one record name
// where it is: topic, partition and offset for consumed records; topic
// (the table of a CDC source), key and source offset for polled ones; the
// offset ranges of a failed Put batch.
func TestRecordErrorsNameTheRecord(t *testing.T) {
	w := newOffline(t)
	h, err := w.newErrHandler(taskKey{"c", 0}, map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	cause := errors.New("bad bytes")
	sinkErr := h.handle(context.Background(), stageValueConverter, "json", cause, &kgo.Record{Topic: "orders", Partition: 2, Offset: 41})
	srcErr := sourceRecordError(&connect.Record{Topic: "srv.public.users", Key: map[string]any{"id": 7},
		SourcePartition: map[string]any{"server": "srv"}, SourceOffset: map[string]any{"lsn": 99}}, cause)
	batch := []*connect.Record{
		{OriginalTopic: "orders", OriginalPartition: 0, OriginalOffset: 7},
		{OriginalTopic: "orders", OriginalPartition: 0, OriginalOffset: 9},
		{OriginalTopic: "audit", OriginalPartition: 1, OriginalOffset: 3},
	}
	tests := []struct {
		name string
		got  string
		want []string
	}{
		{"sink record", sinkErr.Error(), []string{"VALUE_CONVERTER", "topic orders", "partition 2", "offset 41", "bad bytes"}},
		{"source record", srcErr.Error(), []string{"topic srv.public.users", "key map[id:7]", "lsn:99", "bad bytes"}},
		{"put batch", batchRanges(batch), []string{"3 records", "orders[0] offsets 7..9", "audit[1] offset 3"}},
	}
	for _, tc := range tests {
		for _, w := range tc.want {
			if !strings.Contains(tc.got, w) {
				t.Errorf("%s: %q does not contain %q", tc.name, tc.got, w)
			}
		}
	}
	if !errors.Is(sinkErr, cause) || !errors.Is(srcErr, cause) {
		t.Error("the cause is not wrapped")
	}
}
