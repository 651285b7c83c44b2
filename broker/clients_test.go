package broker_test

import (
	"context"
	"io"
	"log"
	"testing"
	"time"

	"github.com/IBM/sarama"
	kafkago "github.com/segmentio/kafka-go"

	"github.com/sluicehq/sluice/internal/testenv"
)

// Old clients: sarama speaking Kafka 0.9 (Produce/Fetch v1, magic 0) and
// 0.10.2 produces magic 0/1 message sets
// (up-converted to record batches) and fetches with Fetch v1/v3,
// which gets magic 0/1 messages down-converted from the stored batches.
// Newer protocol versions are exercised for comparison.
func TestSaramaOldAndNewProtocolVersions(t *testing.T) {
	addr := testenv.StartBroker(t)
	sarama.Logger = log.New(io.Discard, "", 0)
	for _, v := range []sarama.KafkaVersion{sarama.V0_9_0_0, sarama.V0_10_2_0, sarama.V0_11_0_0, sarama.V2_8_0_0} {
		t.Run(v.String(), func(t *testing.T) {
			topic := "sarama-" + v.String()
			createTopic(t, addr, topic, 1, nil)
			cfg := sarama.NewConfig()
			cfg.Version = v
			cfg.Producer.Return.Successes = true
			cfg.Producer.RequiredAcks = sarama.WaitForAll
			cfg.Producer.Compression = sarama.CompressionSnappy
			cfg.Consumer.Return.Errors = true
			prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			const n = 50
			for i := 0; i < n; i++ {
				msg := &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(recKey(i)), Value: sarama.StringEncoder(recValue(i))}
				if _, off, err := prod.SendMessage(msg); err != nil || off != int64(i) {
					t.Fatalf("send %d: offset %d, %v", i, off, err)
				}
			}
			cons, err := sarama.NewConsumer([]string{addr}, cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			pc, err := cons.ConsumePartition(topic, 0, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			timeout := time.After(60 * time.Second)
			for i := 0; i < n; i++ {
				select {
				case m := <-pc.Messages():
					if m.Offset != int64(i) || string(m.Key) != recKey(i) || string(m.Value) != recValue(i) {
						t.Fatalf("message %d: offset %d key %q value %q", i, m.Offset, m.Key, m.Value)
					}
				case err := <-pc.Errors():
					t.Fatalf("consume: %v", err)
				case <-timeout:
					t.Fatalf("consumed %d of %d messages", i, n)
				}
			}
		})
	}
}

// segmentio/kafka-go: produce, consume, and InitProducerId with the 0/0
// producer id/epoch kafka-go sends.
func TestKafkaGoClient(t *testing.T) {
	addr := testenv.StartBroker(t)
	const topic, n = "kafkago", 100
	createTopic(t, addr, topic, 1, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := &kafkago.Writer{Addr: kafkago.TCP(addr), Topic: topic, RequiredAcks: kafkago.RequireAll, BatchTimeout: 10 * time.Millisecond}
	defer w.Close()
	var msgs []kafkago.Message
	for i := 0; i < n; i++ {
		msgs = append(msgs, kafkago.Message{Key: []byte(recKey(i)), Value: []byte(recValue(i))})
	}
	if err := w.WriteMessages(ctx, msgs...); err != nil {
		t.Fatal(err)
	}
	r := kafkago.NewReader(kafkago.ReaderConfig{Brokers: []string{addr}, Topic: topic, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	for i := 0; i < n; i++ {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if m.Offset != int64(i) || string(m.Key) != recKey(i) || string(m.Value) != recValue(i) {
			t.Fatalf("message %d: offset %d key %q", i, m.Offset, m.Key)
		}
	}
	cl := &kafkago.Client{Addr: kafkago.TCP(addr), Timeout: 10 * time.Second}
	seen := map[int]bool{}
	for i := 0; i < 3; i++ {
		resp, err := cl.InitProducerID(ctx, &kafkago.InitProducerIDRequest{TransactionTimeoutMs: 60000})
		if err != nil || resp.Error != nil {
			t.Fatalf("InitProducerID %d: %v %v", i, err, resp.Error)
		}
		if resp.Producer.ProducerEpoch != 0 || seen[resp.Producer.ProducerID] {
			t.Fatalf("InitProducerID %d: id %d epoch %d, want a fresh id with epoch 0", i, resp.Producer.ProducerID, resp.Producer.ProducerEpoch)
		}
		seen[resp.Producer.ProducerID] = true
	}
}
