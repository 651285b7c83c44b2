package broker

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/sluicehq/sluice/broker/log"
)

// durableWait is an appended partition an acks=-1 request must wait for.
type durableWait struct {
	sp   *kmsg.ProduceResponseTopicPartition
	log  *blog.Log
	last int64
	// cluster mode: wait for the ISR instead of the local fsync
	p     *partition
	t     *topic
	epoch int32
}

func (b *Broker) handleProduce(ctx context.Context, req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	now := time.Now()
	var failAll *topicError
	switch {
	case req.TransactionID != nil:
		failAll = kafkaErr(kerr.TransactionalIDAuthorizationFailed, "transactional id %q: transactions are not supported by this broker", *req.TransactionID)
	case req.Acks != 0 && req.Acks != 1 && req.Acks != -1:
		failAll = kafkaErr(kerr.InvalidRequiredAcks, "acks %d: want 0, 1 or -1", req.Acks)
	}
	var waits []durableWait
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		t, parts, set, ok := b.topicByName(rt.Topic)
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			sp := &st.Partitions[pi]
			*sp = kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.BaseOffset, sp.LogAppendTime, sp.LogStartOffset = -1, -1, -1
			fail := func(terr *topicError) {
				sp.ErrorCode = terr.code
				if req.Version >= 8 {
					sp.ErrorMessage = kmsg.StringPtr(terr.msg)
				}
			}
			switch {
			case failAll != nil:
				fail(failAll)
				continue
			case !ok:
				fail(kafkaErr(kerr.UnknownTopicOrPartition, "topic %q does not exist", rt.Topic))
				continue
			case t.internal:
				fail(kafkaErr(kerr.InvalidTopicException, "topic %q is internal; clients cannot produce to it", rt.Topic))
				continue
			case rp.Partition < 0 || int(rp.Partition) >= len(parts):
				fail(kafkaErr(kerr.UnknownTopicOrPartition, "topic %q has no partition %d", rt.Topic, rp.Partition))
				continue
			}
			p := parts[rp.Partition]
			epoch := int32(-1)
			var unlock func()
			if b.cl != nil {
				var terr *topicError
				if epoch, unlock, terr = b.cl.beginProduce(p, t, req.Acks); terr != nil {
					fail(terr)
					continue
				}
			}
			last, terr := b.appendRecords(p, set, rp.Records, sp, now, epoch)
			if unlock != nil {
				unlock()
			}
			if terr != nil {
				if terr.code == kerr.KafkaStorageError.Code {
					b.log.Error("produce failed: storage error", "topic", rt.Topic, "partition", rp.Partition, "reason", terr.msg)
				} else {
					b.log.Debug("produce rejected", "topic", rt.Topic, "partition", rp.Partition, "code", terr.code, "reason", terr.msg)
				}
				fail(terr)
				continue
			}
			switch {
			case req.Acks == -1 && b.cl != nil && last >= 0:
				waits = append(waits, durableWait{sp: sp, log: p.log, last: last, p: p, t: t, epoch: epoch})
			case req.Acks == -1 && b.opts.flush.Mode == FlushDurable && last >= 0:
				waits = append(waits, durableWait{sp: sp, log: p.log, last: last})
			}
		}
		resp.Topics = append(resp.Topics, st)
	}
	if len(waits) > 0 {
		timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
		if timeout <= 0 {
			timeout = 30 * time.Second
		}
		wctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		var wg sync.WaitGroup
		for i := range waits {
			w := &waits[i]
			wg.Add(1)
			go func() {
				defer wg.Done()
				if w.p != nil {
					if code, msg := b.cl.waitReplicated(wctx, w.p, w.t, w.last, w.epoch); code != 0 {
						b.log.Warn("produce: waiting for the in-sync replicas failed", "topic", w.p.topic, "partition", w.p.index, "reason", msg)
						w.sp.ErrorCode, w.sp.BaseOffset = code, -1
						if req.Version >= 8 {
							w.sp.ErrorMessage = kmsg.StringPtr(msg)
						}
					}
					return
				}
				if err := w.log.WaitDurable(wctx, w.last); err != nil {
					code := kerr.KafkaStorageError.Code
					level := slog.LevelError
					if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
						code, level = kerr.RequestTimedOut.Code, slog.LevelWarn
					} else if errors.Is(err, blog.ErrClosed) {
						code, level = kerr.NotLeaderForPartition.Code, slog.LevelWarn
					}
					b.log.Log(context.Background(), level, "produce: waiting for fsync failed", "err", err)
					w.sp.ErrorCode = code
					w.sp.BaseOffset = -1
				}
			}()
		}
		wg.Wait()
	}
	return resp
}

// appendRecords validates and appends a produce request's records for one
// partition, filling sp. It returns the last appended offset (-1 if
// nothing new was appended).
func (b *Broker) appendRecords(p *partition, set topicSettings, records []byte, sp *kmsg.ProduceResponseTopicPartition, now time.Time, epoch int32) (int64, *topicError) {
	if len(records) == 0 {
		return -1, kafkaErr(kerr.CorruptMessage, "produce request has no records")
	}
	entries, err := splitEntries(records)
	if err != nil {
		return -1, kafkaErr(kerr.CorruptMessage, "records: %v", err)
	}
	if entries[0][offMagic] < 2 {
		// Old Produce versions: magic 0/1 message set -> one v2 batch.
		for i, e := range entries {
			if e[offMagic] >= 2 {
				return -1, kafkaErr(kerr.CorruptMessage, "records: entry %d has magic %d mixed with legacy messages", i, e[offMagic])
			}
		}
		batch, err := convertMessageSet(entries)
		if err != nil {
			return -1, kafkaErr(kerr.CorruptMessage, "legacy message set: %v", err)
		}
		entries = [][]byte{batch}
	}
	// Validate every batch (CRC included, once) before appending any, so a
	// bad request leaves the log untouched.
	valid := make([]blog.ValidBatch, len(entries))
	for i, batch := range entries {
		v, err := blog.CheckBatch(batch)
		if err != nil {
			return -1, kafkaErr(kerr.CorruptMessage, "batch %d: %v", i, err)
		}
		h := v.Header()
		if h.IsTransactional() || h.IsControl() {
			return -1, kafkaErr(kerr.InvalidRecord, "batch %d is transactional or a control batch; transactions are not supported", i)
		}
		if h.NumRecords == 0 {
			return -1, kafkaErr(kerr.CorruptMessage, "batch %d has no records", i)
		}
		if set.compression >= 0 {
			// compression.type differs from "producer": store the batch with
			// the topic's codec, as Kafka does.
			if v, err = blog.Recompress(v, set.compression); err != nil {
				return -1, kafkaErr(kerr.CorruptMessage, "batch %d: recompress for topic %q compression.type: %v", i, p.topic, err)
			}
		}
		if int64(len(v.Bytes())) > int64(set.maxMessageBytes) {
			return -1, kafkaErr(kerr.MessageTooLarge, "batch %d is %d bytes, topic %q max.message.bytes is %d", i, len(v.Bytes()), p.topic, set.maxMessageBytes)
		}
		valid[i] = v
	}
	last := int64(-1)
	for i, v := range valid {
		res, err := p.log.AppendValid(v, blog.AppendOptions{LogAppendTime: set.logAppendTime, Now: now, StampEpoch: epoch >= 0, LeaderEpoch: epoch})
		var dup *blog.DuplicateError
		switch {
		case errors.As(err, &dup):
			// A retry of an appended batch: answer with the original
			// offsets and no error, as Kafka does, but only once the
			// original is as durable as a fresh append would have to be.
			if i == 0 {
				sp.BaseOffset = dup.BaseOffset
				sp.LogStartOffset = p.log.StartOffset()
			}
			if dup.LastOffset > last {
				last = dup.LastOffset
			}
			continue
		case err != nil:
			return last, kafkaErr(kerr.TypedErrorForCode(storageErrCode(err)), "append to %s-%d: %v", p.topic, p.index, err)
		}
		if i == 0 {
			sp.BaseOffset = res.BaseOffset
			sp.LogAppendTime = res.LogAppendTime
			sp.LogStartOffset = res.LogStartOffset
		}
		last = res.LastOffset
	}
	return last, nil
}
