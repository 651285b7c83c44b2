package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/sluicehq/sluice/broker/log"
)

func (b *Broker) handleListOffsets(req *kmsg.ListOffsetsRequest) *kmsg.ListOffsetsResponse {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewListOffsetsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewListOffsetsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.Timestamp, sp.Offset, sp.LeaderEpoch = -1, -1, 0
			_, p, code := b.lookup(rt.Topic, rp.Partition)
			if code == 0 && b.cl != nil {
				if terr := b.cl.leaderCheck(p, rp.CurrentLeaderEpoch); terr != nil {
					code = terr.code
				} else {
					sp.LeaderEpoch = p.leaderEpoch()
				}
			}
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if err := p.log.Failed(); err != nil {
				sp.ErrorCode = storageErrCode(err)
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			hw := p.log.HighWatermark()
			switch rp.Timestamp {
			case -2: // earliest
				sp.Offset = p.log.StartOffset()
			case -1: // latest (= high watermark = last stable offset: no transactions)
				sp.Offset = hw
			case -3: // max timestamp (v7+)
				off, ts, err := maxTimestampOffset(p)
				if err != nil {
					sp.ErrorCode = storageErrCode(err)
					break
				}
				sp.Offset, sp.Timestamp = off, ts
			default:
				if rp.Timestamp < 0 {
					sp.ErrorCode = kerr.UnsupportedVersion.Code
					break
				}
				off, ts, err := p.log.OffsetForTimestamp(rp.Timestamp)
				if err != nil {
					sp.ErrorCode = storageErrCode(err)
					break
				}
				sp.Offset, sp.Timestamp = off, ts
				if off < 0 {
					sp.Timestamp = -1
				}
			}
			if rp.Timestamp != -1 && rp.Timestamp != -2 && sp.Offset >= hw {
				// Like Kafka: records at or past the high watermark are not
				// visible to consumers yet.
				sp.Offset, sp.Timestamp = -1, -1
			}
			if req.Version == 0 && sp.ErrorCode == 0 {
				if sp.Offset >= 0 && rp.MaxNumOffsets > 0 {
					sp.OldStyleOffsets = []int64{sp.Offset}
				} else {
					sp.OldStyleOffsets = []int64{}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// maxTimestampOffset finds the record with the largest timestamp (ListOffsets
// -3, KIP-734): it scans batch headers from the log start, then decodes the
// winning batch to find the first record carrying that timestamp.
func maxTimestampOffset(p *partition) (offset, ts int64, err error) {
	l := p.log
	off, end := l.StartOffset(), l.HighWatermark()
	var best []byte
	bestTS := int64(-1)
	for off < end {
		data, err := l.Read(off, 1<<20)
		if err != nil {
			return -1, -1, err
		}
		if len(data) == 0 {
			break
		}
		batches, err := blog.SplitBatches(data)
		if err != nil {
			return -1, -1, err
		}
		next := off
		for _, bt := range batches {
			h, err := blog.ParseBatchHeader(bt)
			if err != nil {
				return -1, -1, err
			}
			if !h.IsControl() && h.NumRecords > 0 && h.MaxTimestamp > bestTS {
				bestTS = h.MaxTimestamp
				best = append(best[:0], bt...)
			}
			if last := h.LastOffset() + 1; last > next {
				next = last
			}
		}
		if next <= off {
			break
		}
		off = next
	}
	if best == nil {
		return -1, -1, nil
	}
	h, recs, err := blog.DecodeRecords(best)
	if err != nil {
		return -1, -1, err
	}
	if h.Attributes&blog.AttrLogAppendTime != 0 {
		// Every record carries the batch's max timestamp.
		return h.BaseOffset, bestTS, nil
	}
	for _, r := range recs {
		if r.Timestamp == bestTS {
			return r.Offset, bestTS, nil
		}
	}
	return h.LastOffset(), bestTS, nil
}
