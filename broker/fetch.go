package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/sluicehq/sluice/broker/log"
)

// fetchTarget is one requested partition resolved to its log.
type fetchTarget struct {
	rp      *kmsg.FetchRequestTopicPartition
	p       *partition
	code    int16
	replica int32 // follower broker id, -1 for consumers
}

func (b *Broker) handleFetch(ctx context.Context, req *kmsg.FetchRequest) *kmsg.FetchResponse {
	// Sessions are not kept: every answer has session id 0 (sessionless),
	// so clients keep sending full fetch requests.
	if req.Version >= 7 && req.SessionID != 0 {
		resp := req.ResponseKind().(*kmsg.FetchResponse)
		resp.ErrorCode = kerr.FetchSessionIDNotFound.Code
		return resp
	}
	replicaID := req.ReplicaID
	if req.Version >= 15 {
		replicaID = req.ReplicaState.ID
	}
	targets := make([][]fetchTarget, len(req.Topics))
	names := make([]string, len(req.Topics))
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		var (
			parts []*partition
			ok    bool
			t     *topic
			miss  = kerr.UnknownTopicOrPartition.Code
		)
		if req.Version >= 13 {
			t, parts, _, ok = b.topicByID(rt.TopicID)
			miss = kerr.UnknownTopicID.Code
		} else {
			t, parts, _, ok = b.topicByName(rt.Topic)
		}
		if ok {
			names[ti] = t.name
		}
		targets[ti] = make([]fetchTarget, len(rt.Partitions))
		for pi := range rt.Partitions {
			rp := &rt.Partitions[pi]
			ft := fetchTarget{rp: rp, replica: -1}
			switch {
			case !ok:
				ft.code = miss
			case rp.Partition < 0 || int(rp.Partition) >= len(parts):
				ft.code = kerr.UnknownTopicOrPartition.Code
			default:
				ft.p = parts[rp.Partition]
			}
			if ft.p != nil && b.cl != nil {
				if code := b.cl.fetchCheck(ft.p, rp.CurrentLeaderEpoch, replicaID); code != 0 {
					ft.p, ft.code = nil, code
				} else if replicaID >= 0 {
					ft.replica = replicaID
					b.cl.onFollowerFetch(ft.p, replicaID, rp.FetchOffset, rp.LogStartOffset)
				}
			}
			targets[ti][pi] = ft
		}
	}

	wait := time.Duration(req.MaxWaitMillis) * time.Millisecond
	deadline := time.Now().Add(wait)
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		// Subscribe before reading so an append in between is not missed.
		var changed []<-chan struct{}
		for _, ts := range targets {
			for _, ft := range ts {
				if ft.p != nil {
					changed = append(changed, ft.p.log.Changed())
				}
			}
		}
		resp, n, hasErr := b.fetchOnce(req, targets, names)
		remaining := time.Until(deadline)
		if n >= int(req.MinBytes) || hasErr || remaining <= 0 || ctx.Err() != nil || len(changed) == 0 {
			return resp
		}
		if timer == nil {
			timer = time.NewTimer(remaining)
		} else {
			timer.Reset(remaining)
		}
		if !waitAny(ctx, changed, timer.C) {
			resp, _, _ = b.fetchOnce(req, targets, names)
			return resp
		}
	}
}

// waitAny blocks until one channel fires (true) or the timer/ctx ends
// (false).
func waitAny(ctx context.Context, chans []<-chan struct{}, timer <-chan time.Time) bool {
	if len(chans) == 1 {
		select {
		case <-chans[0]:
			return true
		case <-timer:
		case <-ctx.Done():
		}
		return false
	}
	fired := make(chan struct{}, 1)
	done := make(chan struct{})
	defer close(done)
	for _, ch := range chans {
		go func(ch <-chan struct{}) {
			select {
			case <-ch:
				select {
				case fired <- struct{}{}:
				default:
				}
			case <-done:
			}
		}(ch)
	}
	select {
	case <-fired:
		return true
	case <-timer:
	case <-ctx.Done():
	}
	return false
}

// fetchOnce reads every target once. It returns the response, the number
// of record bytes and whether any partition has an error.
func (b *Broker) fetchOnce(req *kmsg.FetchRequest, targets [][]fetchTarget, names []string) (*kmsg.FetchResponse, int, bool) {
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	maxBytes := int(req.MaxBytes)
	if req.Version < 3 || maxBytes <= 0 {
		maxBytes = 50 << 20
	}
	total := 0
	hasErr := false
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		if names[ti] != "" {
			st.Topic = names[ti]
		}
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, len(targets[ti]))
		for pi, ft := range targets[ti] {
			sp := &st.Partitions[pi]
			*sp = kmsg.NewFetchResponseTopicPartition()
			sp.Partition = ft.rp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = -1, -1, -1
			sp.PreferredReadReplica = -1
			// Never null: librdkafka rejects a null records field.
			sp.RecordBatches = []byte{}
			if ft.p == nil {
				sp.ErrorCode = ft.code
				hasErr = true
				continue
			}
			l := ft.p.log
			limit := int(ft.rp.PartitionMaxBytes)
			if left := maxBytes - total; left < limit {
				limit = left
			}
			// KIP-74: only the first non-empty partition may return a batch
			// larger than the limits; later ones get only whole batches
			// that fit in what is left of MaxBytes.
			var data []byte
			var err error
			switch {
			case ft.replica >= 0:
				// Followers read up to the log end, not the high watermark.
				if limit <= 0 {
					limit = 1
				}
				data, err = l.ReadReplica(ft.rp.FetchOffset, limit)
			case total == 0:
				if limit <= 0 {
					limit = 1
				}
				data, err = l.Read(ft.rp.FetchOffset, limit)
			case limit > 0:
				data, err = l.ReadStrict(ft.rp.FetchOffset, limit)
			default:
				err = l.Failed()
			}
			hw := l.HighWatermark()
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = hw, hw, l.StartOffset()
			if err != nil {
				sp.ErrorCode = storageErrCode(err)
				if !errors.Is(err, blog.ErrOffsetOutOfRange) && !errors.Is(err, blog.ErrClosed) && !errors.Is(err, blog.ErrStorage) {
					b.log.Warn("fetch read failed", "topic", ft.p.topic, "partition", ft.p.index, "offset", ft.rp.FetchOffset, "err", err)
				}
				hasErr = true
				continue
			}
			if magic := fetchMagic(req.Version); magic < 2 && len(data) > 0 {
				// Old consumers (Kafka < 0.11) cannot parse record batches.
				conv, err := downConvert(data, magic, ft.rp.FetchOffset)
				if err != nil {
					b.log.Warn("fetch: down-converting for an old client failed", "topic", ft.p.topic, "partition", ft.p.index, "offset", ft.rp.FetchOffset, "err", err)
					sp.ErrorCode = kerr.CorruptMessage.Code
					hasErr = true
					continue
				}
				data = conv
			}
			if data != nil {
				sp.RecordBatches = data
			}
			total += len(data)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, total, hasErr
}
