// Package controller is the broker cluster's metadata quorum (KRaft-style):
// every broker started with --controller-quorum runs one voter of a Raft
// group (go.etcd.io/raft/v3) whose replicated state machine holds broker
// registrations and liveness (fenced or not), topics, partitions, replica
// assignments, partition leaders, leader epochs, ISRs, topic configs and
// the producer-id allocator. Brokers read the applied State and propose
// Cmds; the Raft leader is the active controller.
//
// # State machine
//
// State.Apply(Cmd) is pure and deterministic (no clock, no randomness: ids
// and times are chosen by the proposer), so every voter applying the same
// committed log reaches the same State. Leader election happens inside
// Apply: fencing a broker moves leadership of its partitions to the first
// replica (in assignment order) that is in the ISR and not fenced, bumping
// the leader epoch; with none left the partition is offline (leader -1,
// ISR unchanged), and unclean election never happens. Registering a broker
// again (a restart) first fences its old incarnation the same way.
//
// # Liveness
//
// Every node sends a heartbeat to the Raft leader every HeartbeatInterval
// over the controller transport. The leader proposes Fence for a broker it
// has not heard from for SessionTimeout and Unfence once it hears from it
// again; the heartbeat answer tells the broker it is in contact with the
// active controller (a broker out of contact for SessionTimeout stops
// acting as leader on its own).
//
// # Transport
//
// One TCP listener per node (the address of its entry in the quorum
// string). A frame is
//
//	0 Length uint32   bytes after this field
//	4 Kind   uint8    1 = Raft message, 2 = heartbeat, 3 = heartbeat answer
//	5 Body            Kind 1: a protobuf raftpb.Message; 2 and 3: From int32, BrokerEpoch int64
//
// Outbound frames go through a bounded queue per peer; a full queue or a
// broken connection drops frames (Raft retransmits) and reports the peer
// unreachable to Raft.
//
// # On-disk format (<data dir>/controller/)
//
//	wal        append-only log of records (etcd-WAL style)
//	snapshot   the newest snapshot: a protobuf raftpb.Snapshot whose Data is
//	           the JSON-encoded State, replaced atomically (tmp, fsync, rename,
//	           fsync dir)
//
// A WAL record is (big-endian; CRC = CRC-32C of Type and Payload):
//
//	0 Length  uint32   bytes of Type + Payload
//	4 CRC     uint32
//	8 Type    uint8    1 = Entry (protobuf raftpb.Entry), 2 = HardState
//	                   (protobuf raftpb.HardState)
//	9 Payload
//
// Before Ready's messages are sent, its entries and hard state are appended
// and, when Raft says MustSync, the file is fsynced. On open the snapshot is
// loaded into memory storage, then the WAL is replayed: entries at or below
// the snapshot index are skipped, a later entry with an index already seen
// replaces that entry and everything after it (a new leader overwrote an
// uncommitted tail), the last HardState wins. A short or CRC-failing record
// is a torn tail: the file is truncated there. Every SnapshotEvery applied
// entries the State is written to snapshot, and the WAL is rewritten (to
// wal.tmp, fsynced, renamed) holding only the hard state and the entries
// after the snapshot index.
//
// # Bootstrap
//
// A node with no snapshot and no WAL starts from an implicit snapshot at
// index 1, term 1, whose configuration has every quorum member as voter and
// whose State is empty, so all members of a new cluster agree without any
// configuration-change entries. Membership is static: the quorum string
// must list the same ids on every node.
package controller
