package broker

import (
	"math"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// allocProducerID hands out a producer id that was never used before, even
// across restarts: ids are reserved in blocks persisted in meta.json
// before any id of the block is returned.
func (b *Broker) allocProducerID() (int64, error) {
	b.pidMu.Lock()
	defer b.pidMu.Unlock()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.pidNext >= b.meta.NextProducerID {
		old := b.meta.NextProducerID
		b.meta.NextProducerID = b.pidNext + pidBlock
		if err := b.saveMetaLocked(); err != nil {
			b.meta.NextProducerID = old
			return 0, err
		}
	}
	id := b.pidNext
	b.pidNext++
	return id, nil
}

func (b *Broker) handleInitProducerID(req *kmsg.InitProducerIDRequest) *kmsg.InitProducerIDResponse {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp
	}
	// v3+: an idempotent producer may ask to bump the epoch of its current
	// id (after a sequence error); ids we never handed out are refused.
	if req.Version >= 3 && req.ProducerID >= 0 {
		b.pidMu.Lock()
		known := req.ProducerID < b.pidNext
		b.pidMu.Unlock()
		if !known {
			resp.ErrorCode = kerr.InvalidProducerIDMapping.Code
			return resp
		}
		if req.ProducerEpoch >= 0 && req.ProducerEpoch < math.MaxInt16-1 {
			resp.ProducerID, resp.ProducerEpoch = req.ProducerID, req.ProducerEpoch+1
			return resp
		}
	}
	id, err := b.allocProducerID()
	if err != nil {
		b.log.Error("persist producer id reservation", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}
