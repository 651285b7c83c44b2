package broker

import (
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
			switch rp.Timestamp {
			case -2: // earliest
				sp.Offset = p.log.StartOffset()
			case -1: // latest (= high watermark = last stable offset: no transactions)
				sp.Offset = p.log.EndOffset()
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
