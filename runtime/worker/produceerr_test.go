package worker

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProduceErrorNamesRecord(t *testing.T) {
	key := `{"schema":{"type":"struct","name":"srv.public.big.Key"},"payload":{"id":7}}`
	err := produceError(&kgo.Record{Topic: "srv.public.big", Partition: 2, Key: []byte(key), Value: make([]byte, 3<<20)}, kerr.MessageTooLarge)
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("%v does not wrap MESSAGE_TOO_LARGE", err)
	}
	for _, want := range []string{"srv.public.big", `"payload":{"id":7}`, "3145728 value bytes", "MESSAGE_TOO_LARGE"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not contain %q", err, want)
		}
	}
}
