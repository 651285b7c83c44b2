package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// allocProducerID hands out a producer id that was never used before, even
// across restarts: ids are reserved in blocks persisted in meta.json
// before any id of the block is returned.
func (b *Broker) allocProducerID() (int64, error) {
	if b.cl != nil {
		return b.cl.allocProducerID()
	}
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
		// InitProducerId has no error message field; FindCoordinator(type
		// transaction), which transactional clients send first, carries
		// errNoTransactions.
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		b.log.Warn("InitProducerId refused: "+errNoTransactions, "transactional_id", *req.TransactionalID)
		return resp
	}
	// Without a transactional id Kafka always hands out a fresh producer id
	// with epoch 0, whatever ProducerID/ProducerEpoch the request carries
	// (kafka-go sends 0/0; bumping them would take over another producer's
	// id).
	id, err := b.allocProducerID()
	if err != nil {
		b.log.Error("persist producer id reservation", "err", err)
		resp.ErrorCode = kerr.KafkaStorageError.Code
		return resp
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	return resp
}

// errNoTransactions is the error message for transactional requests.
const errNoTransactions = "transactions are not supported by this broker (sluice): use an idempotent producer without transactional.id"
