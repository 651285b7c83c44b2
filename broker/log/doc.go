// Package log is one partition's persistent, append-only log: Kafka v2
// RecordBatches stored on disk in offset order, split into segments, with
// sparse indexes, crash recovery, group-committed fsyncs, idempotent-producer
// state, retention and compaction. Importers alias it blog.
//
// # Directory layout
//
// One directory per partition holds (N = a 20-digit, zero-padded decimal
// offset, the segment's base offset = the first offset it may contain):
//
//	N.log        segment data: RecordBatches back to back
//	N.index      sparse offset index of segment N
//	N.timeindex  sparse time index of segment N
//	N.snapshot   idempotent-producer state covering every batch with offset < N
//	checkpoint   recovery point, log start offset, clean-shutdown flag
//	lock         empty; an exclusive flock on it is held while the log is open
//	leader-epochs     replicated partitions: leader-epoch cache (text)
//	high-watermark    replicated partitions: last checkpointed high watermark (text)
//	*.tmp, *.cleaned  leftovers of an interrupted write/compaction (deleted on open)
//
// All integers on disk are big-endian. CRC means CRC-32C (Castagnoli).
//
// # Segment files (N.log)
//
// A segment is the concatenation of v2 RecordBatches exactly as the producer
// sent them, except that bytes 0..7 (BaseOffset) are set by the log; the
// batch CRC does not cover BaseOffset so it stays valid. With
// LogAppendTime the log also sets the timestamp-type attribute bit (0x08),
// FirstTimestamp and MaxTimestamp to the append time and recomputes the CRC.
// A batch is laid out as (offsets in bytes):
//
//	 0 BaseOffset           int64
//	 8 BatchLength          int32  bytes after this field (total = 12 + BatchLength, >= 61)
//	12 PartitionLeaderEpoch int32
//	16 Magic                int8   always 2
//	17 CRC                  uint32 CRC-32C of bytes 21..end
//	21 Attributes           int16  bits 0-2 codec, 3 timestamp type, 4 transactional, 5 control
//	23 LastOffsetDelta      int32
//	27 FirstTimestamp       int64
//	35 MaxTimestamp         int64
//	43 ProducerID           int64
//	51 ProducerEpoch        int16
//	53 BaseSequence         int32
//	57 NumRecords           int32
//	61 Records              (compressed with the codec in Attributes)
//
// Batches in a segment have strictly increasing, non-overlapping offset
// ranges [BaseOffset, BaseOffset+LastOffsetDelta]; after compaction there may
// be gaps between batches, and a batch may hold fewer records than its offset
// range. A segment rolls (a new, empty segment with base = next offset is
// created) before a batch that would push a non-empty segment past
// Config.SegmentBytes, whose MaxTimestamp is Config.SegmentMs or more past the
// MaxTimestamp of the segment's first batch (like Kafka; wall-clock time since
// the segment was created/opened when timestamps are missing), or whose
// offsets would lie more than MaxInt32 past the segment base. Only the last
// ("active") segment is ever appended to; a batch larger than SegmentBytes
// gets a segment of its own.
//
// # Offset index (N.index)
//
// 8-byte entries: RelativeOffset uint32 (batch BaseOffset - N), Position
// uint32 (byte position of that batch in N.log). An entry is added for a
// batch when at least Config.IndexIntervalBytes bytes were appended since the
// previous entry. Entries increase strictly in both fields. To find offset O,
// binary-search the last entry with base <= O, then walk batch headers from
// its position (ReadAt) to the batch whose range contains O or lies after it.
//
// # Time index (N.timeindex)
//
// 16-byte entries: Timestamp int64 (largest MaxTimestamp of all batches in
// the segment up to and including the entry's batch), RelativeOffset uint32,
// Position uint32 of that batch. Entries are added next to offset-index
// entries when the largest timestamp grew, and once more when a segment is
// sealed (rolled or closed), so the last entry carries the segment's largest
// timestamp (used by retention.ms). To find the first record with timestamp
// >= T, binary-search the last entry with Timestamp < T (all records up to and
// including that batch are older than T) and walk batches from it.
//
// # Producer-state snapshot (N.snapshot)
//
//	 0 Magic   [4]byte "SLPS"
//	 4 Version int16   1
//	 6 CRC     uint32  CRC-32C of bytes 10..end
//	10 Count   int32   number of producers, then Count times:
//	     ProducerID int64, Epoch int16, LastTimestamp int64, N int8 (0..5),
//	     N times: FirstSeq int32, LastSeq int32, BaseOffset int64, LastOffset int64
//
// A snapshot is written on every segment roll (N = new segment base) and on
// Close (N = end offset); the two newest are kept.
//
// # Checkpoint (checkpoint)
//
//	 0 Magic          [4]byte "SLCK"
//	 4 Version        int16   1
//	 6 CRC            uint32  CRC-32C of bytes 10..34
//	10 RecoveryPoint  int64   every segment with base < this was fsynced with its indexes
//	18 LogStartOffset int64
//	26 Clean          int8    1 = written by Close after everything was fsynced
//	27 Reserved       [8]byte
//
// It is replaced atomically (write checkpoint.tmp, fsync, rename, fsync dir)
// on segment roll, on log-start-offset changes, on Close (Clean = 1) and on
// Open (Clean = 0, before any append).
//
// # Recovery (Open)
//
//  1. Delete *.tmp and *.cleaned leftovers.
//  2. Read the checkpoint; a missing or corrupt one means "unclean, recovery
//     point 0, start offset = first segment base".
//  3. Every segment whose base >= recovery point is scanned unless the
//     shutdown was clean; every segment whose index files are missing or
//     invalid (size not a multiple of the entry size, entries not increasing,
//     positions past the end of the data, last entry not pointing at a batch
//     with the expected base offset) is scanned too. Scanning validates each
//     batch in order: a complete 61-byte header, BatchLength >= 49 and within
//     the file, Magic 2, CRC, LastOffsetDelta >= 0 and BaseOffset greater than
//     the previous batch's last offset (and >= segment base). At the first
//     invalid batch the segment is truncated there and all later segments
//     are deleted (a torn or corrupt tail). Both indexes are rebuilt from the
//     scan.
//  4. Producer state = newest valid snapshot with offset <= end offset
//     (newer ones are deleted), then every batch at or after the snapshot
//     offset is replayed; with no valid snapshot the whole log is replayed.
//     Producers whose newest batch lies below the log start offset are
//     forgotten (as when the start offset moves at run time).
//  5. A new checkpoint with Clean = 0 is written before Open returns.
//
// # Follower truncation
//
// Truncate(offset) (a divergent tail found by OffsetForLeaderEpoch) cuts the
// segment holding offset at the batch boundary, deletes later segments and
// their indexes, rewrites the checkpoint (recovery point at or below the
// cut segment) and reloads as Open does; an offset below the log start
// offset is a full truncation. TruncateFullyAndStartAt(offset) (a follower
// whose end is below its leader's log start) deletes every
// segment, index and producer snapshot, writes a checkpoint with recovery
// point and log start offset = offset, empties leader-epochs and writes
// high-watermark = offset; the reload then creates the empty segment N =
// offset. A crash part way leaves a suffix of the old segments, which Open
// loads as a shorter log (start = first remaining base); the follower finds
// itself below the leader's log start again and repeats the reset.
//
// # Idempotent producers
//
// For batches with ProducerID >= 0, BaseSequence >= 0 and no control flag,
// Append keeps per producer id the epoch and the last five batches'
// (first sequence, last sequence, base offset, last offset), and applies
// Kafka's rules: an older epoch is ErrInvalidProducerEpoch; a newer epoch
// must start at sequence 0 (else ErrOutOfOrderSequence); within the epoch a
// batch equal to a cached one is a duplicate (*DuplicateError with the
// original offsets) and otherwise must start right after the last sequence
// (sequences wrap from MaxInt32 to 0). Unknown producers may start at any
// sequence (Kafka >= 2.5), so ErrUnknownProducerID is not returned.
//
// # Reads
//
// Read finds the segment by binary search over base offsets, the batch by
// the offset index plus a short header walk, and returns whole batches from
// that segment with one ReadAt of up to maxBytes (a second one when the
// first batch alone is larger; ReadStrict returns nothing then), never
// past HighWatermark. Readers hold a shared lock only; appends
// publish a segment's size and the end offset after the write, so readers
// never see partial batches.
//
// OffsetForTimestamp picks the first segment whose largest timestamp is >=
// T, walks batches from the time-index position and decodes (decompressing
// if needed) the first batch whose MaxTimestamp is >= T to find the record.
//
// # Durability
//
// Append writes through the OS page cache. WaitDurable(offset) returns once
// an fsync of the active segment that started after offset was written has
// completed; concurrent waiters share a single fsync (group commit). Rolling
// fsyncs the sealed segment and its indexes before the new checkpoint is
// written. FlushPolicy: FlushDurable fsyncs in the background after every
// append and makes HighWatermark (what Read returns) the durable offset, so
// readers never see data a power loss could take back; FlushInterval syncs
// on a ticker; FlushNone leaves it to callers. Config.FlushMessages
// (flush.messages) makes Append fsync once that many messages are
// unflushed; FlushIfDue applies Config.FlushMs (flush.ms).
//
// The first failed fsync or write takes the log offline (StorageError,
// ErrStorage): after a failed fsync the page cache may have dropped the
// dirty pages, so a later successful fsync proves nothing. Appends, reads
// and waits for data not yet durable fail from then on, and Close records
// no clean shutdown, so the next Open recovers from what is on disk.
// Segment data files go through the File/FS interfaces (WithFS);
// broker/log/faultfs injects failures and simulated power loss in tests.
//
// # Retention and compaction
//
// Clean deletes whole non-active segments whose largest timestamp is older
// than RetentionMs, and the oldest non-active segments while the log is
// larger than RetentionBytes (only with Config.Delete), and segments entirely
// below the log start offset; the log start offset moves to the base of the
// first remaining segment. With Config.Compact it rewrites non-active
// segments keeping only the newest record per key (records without a key are
// kept; tombstones whose timestamp is older than DeleteRetentionMs are
// dropped); records keep their offsets, batches keep BaseOffset,
// LastOffsetDelta, producer fields and codec, and get a new CRC. A compacted
// segment is written to N.cleaned, fsynced, its old indexes deleted (and the
// directory fsynced), then renamed over N.log and re-indexed. A batch left
// without records is dropped (idempotent producers' state lives in the
// snapshots). Compressed batches are decompressed (gzip; snappy raw or
// xerial-framed; lz4 frame; zstd) and written back with the same codec;
// decompressed data is capped at 256 MiB per batch.
// A compaction pass is skipped when no segment was sealed since the last
// pass, no kept tombstone has expired and the config did not change.
package log
