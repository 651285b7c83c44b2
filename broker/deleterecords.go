package broker

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	blog "github.com/sluicehq/sluice/broker/log"
)

func (b *Broker) handleDeleteRecords(req *kmsg.DeleteRecordsRequest) *kmsg.DeleteRecordsResponse {
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewDeleteRecordsResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewDeleteRecordsResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.LowWatermark = -1
			_, p, code := b.lookup(rt.Topic, rp.Partition)
			if code != 0 {
				sp.ErrorCode = code
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			if b.cl != nil {
				if terr := b.cl.leaderCheck(p, -1); terr != nil {
					sp.ErrorCode = terr.code
					st.Partitions = append(st.Partitions, sp)
					continue
				}
			}
			// Records may be deleted up to the high watermark, as in Kafka.
			hw := p.log.HighWatermark()
			off := rp.Offset
			if off == -1 {
				off = hw
			}
			switch {
			case p.log.Failed() != nil:
				sp.ErrorCode = storageErrCode(p.log.Failed())
			case off < 0 || off > hw:
				sp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				if err := p.log.DeleteRecords(off); err != nil {
					sp.ErrorCode = storageErrCode(err)
				} else if b.cl != nil {
					ctx, cancel := context.WithTimeout(b.ctx, time.Duration(max(req.TimeoutMillis, 0))*time.Millisecond)
					low, code, msg := b.cl.waitLogStart(ctx, p, off)
					cancel()
					sp.LowWatermark, sp.ErrorCode = low, code
					if code != 0 {
						b.log.Info("DeleteRecords: waiting for the followers failed", "topic", rt.Topic, "partition", rp.Partition, "reason", msg)
					}
				} else {
					sp.LowWatermark = p.log.StartOffset()
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// storageErrCode maps a log error to a Kafka error code.
func storageErrCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, blog.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, blog.ErrClosed):
		return kerr.UnknownTopicOrPartition.Code // deleted concurrently
	case errors.Is(err, blog.ErrCorruptBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, blog.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, blog.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, blog.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code
	case errors.Is(err, blog.ErrDuplicateSequence):
		return kerr.DuplicateSequenceNumber.Code
	}
	return kerr.KafkaStorageError.Code
}
