package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaLog is a KafkaBasedLog: a goroutine reads one topic from its
// beginning forever and hands every record to apply; readToEnd waits until
// everything written before the call has been applied.
type kafkaLog struct {
	topic string
	cl    *kgo.Client
	adm   *kadm.Client
	apply func(*kgo.Record)
	log   *slog.Logger

	mu      sync.Mutex
	pos     map[int32]int64 // next offset to read per partition
	changed chan struct{}

	cancel context.CancelFunc
	done   chan struct{}
}

func newKafkaLog(seeds []string, topic string, adm *kadm.Client, apply func(*kgo.Record), log *slog.Logger, extra ...kgo.Opt) (*kafkaLog, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(defaultFetchWait),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("reader for %s: %w", topic, err)
	}
	return &kafkaLog{
		topic:   topic,
		cl:      cl,
		adm:     adm,
		apply:   apply,
		log:     log,
		pos:     map[int32]int64{},
		changed: make(chan struct{}),
		done:    make(chan struct{}),
	}, nil
}

func (l *kafkaLog) start() {
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go l.run(ctx)
}

func (l *kafkaLog) run(ctx context.Context) {
	defer close(l.done)
	for {
		fs := l.cl.PollFetches(ctx)
		if ctx.Err() != nil || fs.IsClientClosed() {
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				l.log.Warn("reading internal topic", "topic", t, "partition", p, "err", err)
			}
		})
		adv := map[int32]int64{}
		fs.EachRecord(func(r *kgo.Record) {
			l.apply(r)
			adv[r.Partition] = r.Offset + 1
		})
		if len(adv) > 0 {
			l.mu.Lock()
			for p, o := range adv {
				if o > l.pos[p] {
					l.pos[p] = o
				}
			}
			close(l.changed)
			l.changed = make(chan struct{})
			l.mu.Unlock()
		}
	}
}

// readToEnd blocks until every record written to the topic before the call
// was applied.
func (l *kafkaLog) readToEnd(ctx context.Context) error {
	ends, err := l.endOffsets(ctx)
	if err != nil {
		return err
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { want[o.Partition] = o.Offset })
	for {
		l.mu.Lock()
		ok := true
		for p, o := range want {
			if o > 0 && l.pos[p] < o {
				ok = false
				break
			}
		}
		ch := l.changed
		l.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-l.done:
			return errClosed
		case <-ctx.Done():
			return fmt.Errorf("reading %s to its end: %w", l.topic, ctx.Err())
		}
	}
}

// endOffsets lists the topic's end offsets. A topic created a moment ago
// may not be known to every broker of a cluster yet: retriable errors
// (UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE, ...) are retried
// with backoff until ctx ends.
func (l *kafkaLog) endOffsets(ctx context.Context) (kadm.ListedOffsets, error) {
	delay := 50 * time.Millisecond
	for {
		ends, err := l.adm.ListEndOffsets(ctx, l.topic)
		if err == nil {
			err = ends.Error()
		}
		if err == nil {
			return ends, nil
		}
		if !kerr.IsRetriable(err) {
			return nil, fmt.Errorf("end offsets of %s: %w", l.topic, err)
		}
		l.log.Debug("end offsets not available yet; retrying", "topic", l.topic, "err", err, "retry_in", delay)
		select {
		case <-time.After(delay):
		case <-l.done:
			return nil, errClosed
		case <-ctx.Done():
			return nil, fmt.Errorf("end offsets of %s: %w (last error: %v)", l.topic, ctx.Err(), err)
		}
		delay = min(2*delay, time.Second)
	}
}

func (l *kafkaLog) close() {
	if l.cancel != nil {
		l.cancel()
		<-l.done
	}
	l.cl.Close()
}
