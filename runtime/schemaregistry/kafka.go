package schemaregistry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kafkaLog reads the _schemas topic into a state and appends to it.
type kafkaLog struct {
	topic string
	cl    *kgo.Client // reader and producer
	adm   *kadm.Client
	st    *state
	log   *slog.Logger

	mu   sync.Mutex
	cond *sync.Cond
	next int64 // offset after the last applied record
	err  error // set when the reader stopped
	done chan struct{}
}

func openKafkaLog(ctx context.Context, brokers []string, topic string, st *state, log *slog.Logger, extra ...kgo.Opt) (*kafkaLog, error) {
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerLinger(0),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.FetchMaxWait(500 * time.Millisecond),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	l := &kafkaLog{topic: topic, cl: cl, adm: kadm.NewClient(cl), st: st, log: log, done: make(chan struct{})}
	l.cond = sync.NewCond(&l.mu)
	if err := l.ensureTopic(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	go l.read()
	return l, nil
}

// ensureTopic creates the topic (one partition, compacted) unless it exists.
func (l *kafkaLog) ensureTopic(ctx context.Context) error {
	cfg := map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}
	resp, err := l.adm.CreateTopic(ctx, 1, -1, cfg, l.topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("schema registry: creating topic %s: %w", l.topic, err)
	}
	if err == nil {
		return nil
	}
	// An existing topic must have one partition: ids are assigned in the
	// order of a single log.
	tds, err := l.adm.ListTopics(ctx, l.topic)
	if err != nil {
		return fmt.Errorf("schema registry: describing topic %s: %w", l.topic, err)
	}
	if td, ok := tds[l.topic]; ok && td.Err == nil && len(td.Partitions) != 1 {
		return fmt.Errorf("schema registry: topic %s has %d partitions; it must have exactly 1", l.topic, len(td.Partitions))
	}
	return nil
}

func (l *kafkaLog) read() {
	defer close(l.done)
	ctx := context.Background()
	for {
		fs := l.cl.PollFetches(ctx)
		if fs.IsClientClosed() {
			l.mu.Lock()
			l.err = kgo.ErrClientClosed
			l.cond.Broadcast()
			l.mu.Unlock()
			return
		}
		fs.EachError(func(t string, p int32, err error) {
			l.log.Warn("reading schemas topic", "topic", t, "partition", p, "err", err)
		})
		var last int64 = -1
		fs.EachRecord(func(r *kgo.Record) {
			if err := l.st.apply(r.Key, r.Value); err != nil {
				l.log.Warn("skipping schemas record", "offset", r.Offset, "err", err)
			}
			last = r.Offset
		})
		if last >= 0 {
			l.mu.Lock()
			l.next = last + 1
			l.cond.Broadcast()
			l.mu.Unlock()
		}
	}
}

// waitApplied waits until every record before offset end is applied.
func (l *kafkaLog) waitApplied(ctx context.Context, end int64) error {
	stop := context.AfterFunc(ctx, func() {
		l.mu.Lock()
		l.cond.Broadcast()
		l.mu.Unlock()
	})
	defer stop()
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.next < end {
		if l.err != nil {
			return l.err
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("schema registry: waiting for %s offset %d (at %d): %w", l.topic, end, l.next, err)
		}
		l.cond.Wait()
	}
	return nil
}

// catchUp waits until the state reflects everything in the topic now.
func (l *kafkaLog) catchUp(ctx context.Context) error {
	for {
		offs, err := l.adm.ListEndOffsets(ctx, l.topic)
		if err == nil {
			if o, ok := offs.Lookup(l.topic, 0); ok && o.Err == nil {
				return l.waitApplied(ctx, o.Offset)
			} else if ok {
				err = o.Err
			} else {
				err = errors.New("partition 0 not in metadata yet")
			}
		}
		// A just-created topic may take a moment to appear in metadata.
		select {
		case <-ctx.Done():
			return fmt.Errorf("schema registry: end offset of %s: %w", l.topic, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// append writes one record and waits until it is applied to the state.
func (l *kafkaLog) append(ctx context.Context, key, value []byte) error {
	r := &kgo.Record{Topic: l.topic, Partition: 0, Key: key, Value: value}
	res := l.cl.ProduceSync(ctx, r)
	if err := res.FirstErr(); err != nil {
		return fmt.Errorf("schema registry: writing %s: %w", l.topic, err)
	}
	return l.waitApplied(ctx, r.Offset+1)
}

func (l *kafkaLog) close() {
	l.cl.Close()
	<-l.done
}

// election makes this instance primary while a consumer group assigns it
// the topic's only partition. The member's client id is its advertised
// URL, which is how followers find the primary (DescribeGroups).
type election struct {
	group string
	topic string
	cl    *kgo.Client
	adm   *kadm.Client

	mu      sync.Mutex
	primary bool
	done    chan struct{}
}

func startElection(brokers []string, group, topic, url string, session time.Duration, extra ...kgo.Opt) (*election, error) {
	e := &election{group: group, topic: topic, done: make(chan struct{})}
	set := func(v bool) func(context.Context, *kgo.Client, map[string][]int32) {
		return func(_ context.Context, _ *kgo.Client, ps map[string][]int32) {
			if !slices.Contains(ps[topic], 0) {
				return
			}
			e.mu.Lock()
			e.primary = v
			e.mu.Unlock()
		}
	}
	opts := append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID(url),
		kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(),
		kgo.Balancers(kgo.RangeBalancer()),
		kgo.SessionTimeout(session),
		kgo.HeartbeatInterval(session / 4),
		kgo.FetchMaxBytes(1 << 16),
		kgo.OnPartitionsAssigned(set(true)),
		kgo.OnPartitionsRevoked(set(false)),
		kgo.OnPartitionsLost(set(false)),
	}, extra...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	e.cl, e.adm = cl, kadm.NewClient(cl)
	go func() {
		defer close(e.done)
		for {
			// Polling keeps the group member alive; the records are not used.
			if fs := cl.PollFetches(context.Background()); fs.IsClientClosed() {
				return
			}
		}
	}()
	return e, nil
}

func (e *election) isPrimary() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.primary
}

// primaryURL returns the advertised URL of the group member that holds the
// partition, or "" when none does (an election is in progress).
func (e *election) primaryURL(ctx context.Context) (string, error) {
	gs, err := e.adm.DescribeGroups(ctx, e.group)
	if err != nil {
		return "", err
	}
	g, ok := gs[e.group]
	if !ok {
		return "", nil
	}
	if g.Err != nil {
		return "", g.Err
	}
	for _, m := range g.Members {
		if c, ok := m.Assigned.AsConsumer(); ok {
			for _, t := range c.Topics {
				if t.Topic == e.topic && slices.Contains(t.Partitions, 0) {
					return m.ClientID, nil
				}
			}
		}
	}
	return "", nil
}

func (e *election) close() {
	e.cl.Close()
	<-e.done
}
