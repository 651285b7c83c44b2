package log

import (
	"errors"
	"fmt"
)

// Errors returned by the log; test with errors.Is.
var (
	// ErrOffsetOutOfRange: the requested offset is below the log start offset or above the end offset.
	ErrOffsetOutOfRange = errors.New("log: offset out of range")
	// ErrCorruptBatch: a batch is malformed or fails its CRC check.
	ErrCorruptBatch = errors.New("log: corrupt record batch")
	// ErrDuplicateSequence: the batch is a retry of an already appended batch (see DuplicateError).
	ErrDuplicateSequence = errors.New("log: duplicate sequence number")
	// ErrOutOfOrderSequence: the batch's sequence does not follow the producer's last sequence.
	ErrOutOfOrderSequence = errors.New("log: out of order sequence number")
	// ErrInvalidProducerEpoch: the batch's producer epoch is older than the current one.
	ErrInvalidProducerEpoch = errors.New("log: invalid producer epoch")
	// ErrUnknownProducerID: the producer id has no state in this log. Append
	// follows Kafka >= 2.5 and accepts any sequence from an unknown producer,
	// so it does not currently return this error; it is defined for callers.
	ErrUnknownProducerID = errors.New("log: unknown producer id")
	// ErrClosed: the log was closed.
	ErrClosed = errors.New("log: closed")
	// ErrStorage: an fsync or write of the partition's files failed and the
	// log is offline until it is reopened (see StorageError).
	ErrStorage = errors.New("log: storage failure")
	// ErrLocked: another open Log (in this or another process) uses the directory.
	ErrLocked = errors.New("log: directory is in use by another open log")
)

// DuplicateError reports a retried batch; it wraps ErrDuplicateSequence and
// carries the offsets the original batch was given.
type DuplicateError struct {
	BaseOffset int64
	LastOffset int64
}

func (e *DuplicateError) Error() string {
	return fmt.Sprintf("log: duplicate sequence number: batch already appended at offsets %d..%d", e.BaseOffset, e.LastOffset)
}

// Unwrap returns ErrDuplicateSequence.
func (e *DuplicateError) Unwrap() error { return ErrDuplicateSequence }

// CorruptError describes what is wrong with a batch; it wraps ErrCorruptBatch.
type CorruptError struct {
	Reason string
}

func (e *CorruptError) Error() string { return "log: corrupt record batch: " + e.Reason }

// Unwrap returns ErrCorruptBatch.
func (e *CorruptError) Unwrap() error { return ErrCorruptBatch }

func corruptf(format string, args ...any) error {
	return &CorruptError{Reason: fmt.Sprintf(format, args...)}
}
