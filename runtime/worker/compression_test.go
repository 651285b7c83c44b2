package worker

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/sluicehq/sluice/internal/testenv"
	"github.com/sluicehq/sluice/runtime/api"
)

// TestSourceProducerCompressionDefault: source tasks produce
// snappy-compressed batches by default (Kafka's producer default is none;
// docs/worker.md says why sluice differs), and
// producer.override.compression.type picks a codec, none included.
func TestSourceProducerCompressionDefault(t *testing.T) {
	bs := testenv.StartBroker(t)
	prefix := testPrefix(t)
	w := startWorker(t, testConfig(bs, prefix, 1), newCollector())
	cases := []struct {
		name     string
		override map[string]string
		codec    int8 // RecordBatch attributes & 0x07
	}{
		{name: "default", codec: 2},
		{name: "none", override: map[string]string{"producer.override.compression.type": "none"}, codec: 0},
		{name: "lz4", override: map[string]string{"producer.override.compression.type": "lz4"}, codec: 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			topic := prefix + "-comp-" + tc.name
			cfg := sourceConfig(topic, 1, 200)
			for k, v := range tc.override {
				cfg[k] = v
			}
			if _, err := w.CreateConnector(context.Background(), api.CreateConnectorRequest{Name: "comp-" + tc.name, Config: cfg}); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "records in "+topic, func() error {
				codecs, err := batchCodecs(bs, topic)
				if err != nil {
					return err
				}
				if len(codecs) == 0 {
					return fmt.Errorf("no batches yet")
				}
				for _, c := range codecs {
					if c != tc.codec {
						t.Fatalf("batch codec %d, want %d (all: %v)", c, tc.codec, codecs)
					}
				}
				return nil
			})
		})
	}
}

// batchCodecs fetches partition 0 of topic from offset 0 and returns each
// record batch's compression codec.
func batchCodecs(bs, topic string) ([]int8, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(bs))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	tds, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return nil, err
	}
	td, ok := tds[topic]
	if !ok || td.Err != nil {
		return nil, fmt.Errorf("topic %s not there yet", topic)
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID = -1
	req.MaxWaitMillis = 100
	req.MaxBytes = 1 << 20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = topic
	ft.TopicID = td.ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	// The fetch must reach the partition's leader (the single broker).
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	var out []int8
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if rp.ErrorCode != 0 {
				return nil, fmt.Errorf("fetch %s/%d: error code %d", topic, rp.Partition, rp.ErrorCode)
			}
			b := rp.RecordBatches
			for len(b) >= 61 {
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(b); err != nil {
					break // a partial batch at the end
				}
				out = append(out, int8(rb.Attributes&0x07))
				b = b[12+int(rb.Length):]
			}
		}
	}
	return out, nil
}
