package broker

import (
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	off, end := l.StartOffset(), l.EndOffset()
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
		batches, err := splitEntries(data)
		if err != nil {
			return -1, -1, err
		}
		next := off
		for _, bt := range batches {
			bi, err := checkBatch(bt)
			if err != nil {
				return -1, -1, err
			}
			if bi.attributes&attrControl == 0 && bi.numRecords > 0 && bi.maxTimestamp > bestTS {
				bestTS = bi.maxTimestamp
				best = append(best[:0], bt...)
			}
			base := int64(binary.BigEndian.Uint64(bt))
			if last := base + int64(bi.lastOffsetDelta) + 1; last > next {
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
	base, recs, err := batchRecords(best)
	if err != nil {
		return -1, -1, err
	}
	attrs := int16(binary.BigEndian.Uint16(best[offAttributes:]))
	first := int64(binary.BigEndian.Uint64(best[offFirstTS:]))
	if attrs&attrLogAppendTime != 0 {
		// Every record carries the batch's max timestamp.
		return base, bestTS, nil
	}
	for _, r := range recs {
		if first+r.TimestampDelta64 == bestTS {
			return base + int64(r.OffsetDelta), bestTS, nil
		}
	}
	return base + int64(binary.BigEndian.Uint32(best[offLastOffDelta:])), bestTS, nil
}
