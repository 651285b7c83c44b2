package broker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sluicehq/sluice/broker/group"
	blog "github.com/sluicehq/sluice/broker/log"
)

// offsetsStore persists consumer-group records in partition 0 of the
// internal compacted topic __consumer_offsets.
type offsetsStore struct{ b *Broker }

// Append writes recs as one batch and returns once it is durable (per the
// broker's flush policy).
func (s offsetsStore) Append(ctx context.Context, recs []group.Record) error {
	if len(recs) == 0 {
		return nil
	}
	now := time.Now().UnixMilli()
	srs := make([]simpleRecord, len(recs))
	for i, r := range recs {
		srs[i] = simpleRecord{timestamp: now, key: r.Key, value: r.Value}
	}
	batch, err := buildBatch(srs)
	if err != nil {
		return fmt.Errorf("encode %s batch: %w", offsetsTopic, err)
	}
	if s.b.cl != nil {
		return s.b.cl.offsetsAppend(ctx, batch, time.UnixMilli(now))
	}
	l := s.b.offs.log
	res, err := l.Append(batch, blog.AppendOptions{Now: time.UnixMilli(now)})
	if err != nil {
		return fmt.Errorf("append to %s: %w", offsetsTopic, err)
	}
	if s.b.opts.flush.Mode == FlushDurable {
		if err := l.WaitDurable(ctx, res.LastOffset); err != nil {
			return fmt.Errorf("fsync %s: %w", offsetsTopic, err)
		}
	}
	return nil
}

// startGroups opens (or creates) __consumer_offsets, builds the
// coordinator and replays every stored record into it.
func (b *Broker) startGroups() error {
	t, _, _, ok := b.topicByName(offsetsTopic)
	if !ok && b.cl != nil {
		// Cluster mode: the controller creates it once brokers registered;
		// replicated records are loaded as they arrive.
		b.coord = newCoordRef(b.closedCoordinator())
		return nil
	}
	if !ok {
		var terr *topicError
		t, terr = b.createTopic(offsetsTopic, 1, map[string]string{
			"cleanup.policy": "compact",
			"segment.bytes":  "104857600",
		}, true, false)
		if terr != nil {
			return fmt.Errorf("broker: create %s: %s", offsetsTopic, terr.msg)
		}
	}
	b.offs = t.parts[0]
	if b.cl != nil {
		// Cluster mode: a live coordinator only on the partition leader.
		b.coord = newCoordRef(b.closedCoordinator())
		return nil
	}
	b.coord = newCoordRef(b.newCoordinator())
	n, err := b.replayOffsets()
	if err != nil {
		b.coord.Close()
		return err
	}
	b.log.Info("consumer group state loaded", "records", n)
	return nil
}

// newCoordinator builds the consumer-group coordinator.
func (b *Broker) newCoordinator() *group.Coordinator {
	return group.New(offsetsStore{b},
		group.WithLogger(b.log.With("component", "group")),
		group.WithInitialRebalanceDelay(b.opts.groupDelay),
		group.WithSessionTimeoutBounds(b.opts.minSession, b.opts.maxSession),
		group.WithTopicExists(func(name string, p int32) bool {
			_, parts, _, ok := b.topicByName(name)
			return ok && p >= 0 && int(p) < len(parts)
		}),
		group.WithTopicIDs(func(id [16]byte) (string, bool) {
			t, _, _, ok := b.topicByID(id)
			if !ok {
				return "", false
			}
			return t.name, true
		}, func(name string) ([16]byte, bool) {
			t, _, _, ok := b.topicByName(name)
			if !ok {
				return [16]byte{}, false
			}
			return t.id, true
		}),
	)
}

// replayOffsets feeds every __consumer_offsets record to Coordinator.Load.
func (b *Broker) replayOffsets() (int, error) {
	return replayInto(b.coord.get(), b.offs.log, b.offs.log.Read, b.log)
}

// replayInto feeds the records of l (read with read, from the log start to
// the end offset) to coord.
func replayInto(coord *group.Coordinator, l *blog.Log, read func(int64, int) ([]byte, error), lg *slog.Logger) (int, error) {
	off, end := l.StartOffset(), l.EndOffset()
	n := 0
	for off < end {
		data, err := read(off, 4<<20)
		if err != nil {
			return n, fmt.Errorf("broker: replay %s at offset %d: %w", offsetsTopic, off, err)
		}
		if len(data) == 0 {
			break
		}
		batches, err := blog.SplitBatches(data)
		if err != nil {
			return n, fmt.Errorf("broker: replay %s at offset %d: %w", offsetsTopic, off, err)
		}
		next := off
		for _, bt := range batches {
			h, recs, err := blog.DecodeRecords(bt)
			if err != nil {
				return n, fmt.Errorf("broker: replay %s batch at offset %d: %w", offsetsTopic, h.BaseOffset, err)
			}
			for _, r := range recs {
				if r.Offset < off {
					continue
				}
				if err := coord.Load(r.Key, r.Value); err != nil {
					// One undecodable record must not make the broker
					// unstartable; skip it loudly.
					lg.Error("skipping bad consumer-group record", "offset", r.Offset, "err", err)
				}
				n++
			}
			if h.LastOffset()+1 > next {
				next = h.LastOffset() + 1
			}
		}
		if next <= off {
			return n, errors.New("broker: replay made no progress in " + offsetsTopic)
		}
		off = next
	}
	return n, nil
}

// closedCoordinator is a coordinator that answers every request with
// COORDINATOR_NOT_AVAILABLE (cluster mode, while not leading
// __consumer_offsets-0).
func (b *Broker) closedCoordinator() *group.Coordinator {
	c := b.newCoordinator()
	c.Close()
	return c
}
