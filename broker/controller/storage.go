package controller

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

const (
	walName  = "wal"
	snapName = "snapshot"

	recEntry     = 1
	recHardState = 2
)

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// disk is the persistent half of a node's Raft storage: the WAL and the
// snapshot file (see doc.go). It is used by the node's loop only.
type disk struct {
	dir string
	f   *os.File
	w   *bufio.Writer
}

// openDisk loads dir into a fresh MemoryStorage. With nothing on disk the
// bootstrap snapshot holding voters is installed.
func openDisk(dir string, voters []uint64) (*disk, *raft.MemoryStorage, *pb.Snapshot, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, nil, fmt.Errorf("controller: data dir: %w", err)
	}
	ms := raft.NewMemoryStorage()
	snap := &pb.Snapshot{}
	raw, err := os.ReadFile(filepath.Join(dir, snapName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if _, werr := os.Stat(filepath.Join(dir, walName)); werr == nil {
			return nil, nil, nil, fmt.Errorf("controller: %s exists without %s; refusing to start", filepath.Join(dir, walName), snapName)
		}
		st, _ := json.Marshal(NewState())
		snap = &pb.Snapshot{Data: st, Metadata: &pb.SnapshotMetadata{
			Index: proto.Uint64(1), Term: proto.Uint64(1),
			ConfState: &pb.ConfState{Voters: voters},
		}}
		if err := writeSnapshot(dir, snap); err != nil {
			return nil, nil, nil, err
		}
	case err != nil:
		return nil, nil, nil, fmt.Errorf("controller: read snapshot: %w", err)
	default:
		if err := proto.Unmarshal(raw, snap); err != nil {
			return nil, nil, nil, fmt.Errorf("controller: parse %s: %w", filepath.Join(dir, snapName), err)
		}
	}
	if err := ms.ApplySnapshot(snap); err != nil {
		return nil, nil, nil, fmt.Errorf("controller: install snapshot: %w", err)
	}
	d := &disk{dir: dir}
	if err := d.replay(ms, snap.GetMetadata().GetIndex()); err != nil {
		return nil, nil, nil, err
	}
	return d, ms, snap, nil
}

// replay reads the WAL into ms and opens it for appending.
func (d *disk) replay(ms *raft.MemoryStorage, snapIndex uint64) error {
	path := filepath.Join(d.dir, walName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("controller: open wal: %w", err)
	}
	r := bufio.NewReader(f)
	var good int64
	var hs *pb.HardState
	var ents []*pb.Entry
	for {
		typ, payload, n, err := readRecord(r)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// Torn or corrupt tail: cut it off.
				if terr := f.Truncate(good); terr != nil {
					f.Close()
					return fmt.Errorf("controller: truncate torn wal at %d: %w", good, terr)
				}
			}
			break
		}
		good += n
		switch typ {
		case recEntry:
			e := &pb.Entry{}
			if err := proto.Unmarshal(payload, e); err != nil {
				f.Close()
				return fmt.Errorf("controller: wal entry at byte %d: %w", good-n, err)
			}
			if e.GetIndex() <= snapIndex {
				continue
			}
			// A rewritten index replaces it and everything after it.
			for len(ents) > 0 && ents[len(ents)-1].GetIndex() >= e.GetIndex() {
				ents = ents[:len(ents)-1]
			}
			ents = append(ents, e)
		case recHardState:
			h := &pb.HardState{}
			if err := proto.Unmarshal(payload, h); err != nil {
				f.Close()
				return fmt.Errorf("controller: wal hard state at byte %d: %w", good-n, err)
			}
			hs = h
		}
	}
	if len(ents) > 0 && ents[0].GetIndex() != snapIndex+1 {
		f.Close()
		return fmt.Errorf("controller: wal starts at index %d, snapshot ends at %d", ents[0].GetIndex(), snapIndex)
	}
	if err := ms.Append(ents); err != nil {
		f.Close()
		return fmt.Errorf("controller: load wal entries: %w", err)
	}
	if hs != nil {
		if hs.GetCommit() < snapIndex {
			hs.Commit = proto.Uint64(snapIndex)
		}
		if err := ms.SetHardState(hs); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return err
	}
	d.f = f
	d.w = bufio.NewWriter(f)
	return nil
}

func readRecord(r *bufio.Reader) (typ byte, payload []byte, n int64, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, 0, errors.New("short header")
		}
		return 0, nil, 0, err
	}
	size := binary.BigEndian.Uint32(hdr[0:])
	if size < 1 || size > 64<<20 {
		return 0, nil, 0, fmt.Errorf("record length %d", size)
	}
	body := make([]byte, size)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, nil, 0, errors.New("short record")
	}
	if crc32.Checksum(body, crcTable) != binary.BigEndian.Uint32(hdr[4:]) {
		return 0, nil, 0, errors.New("crc mismatch")
	}
	return body[0], body[1:], int64(8 + size), nil
}

func appendRecord(w io.Writer, typ byte, m proto.Message) error {
	payload, err := proto.Marshal(m)
	if err != nil {
		return err
	}
	body := make([]byte, 9+len(payload))
	binary.BigEndian.PutUint32(body[0:], uint32(1+len(payload)))
	body[8] = typ
	copy(body[9:], payload)
	binary.BigEndian.PutUint32(body[4:], crc32.Checksum(body[8:], crcTable))
	_, err = w.Write(body)
	return err
}

// save appends entries and the hard state, fsyncing when sync is set.
func (d *disk) save(ents []*pb.Entry, hs *pb.HardState, sync bool) error {
	for _, e := range ents {
		if err := appendRecord(d.w, recEntry, e); err != nil {
			return err
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		if err := appendRecord(d.w, recHardState, hs); err != nil {
			return err
		}
	}
	if err := d.w.Flush(); err != nil {
		return err
	}
	if sync {
		return d.f.Sync()
	}
	return nil
}

// compact writes snap and rewrites the WAL with hs and the entries after
// the snapshot index.
func (d *disk) compact(snap *pb.Snapshot, hs *pb.HardState, ents []*pb.Entry) error {
	if err := writeSnapshot(d.dir, snap); err != nil {
		return err
	}
	tmp := filepath.Join(d.dir, walName+".tmp")
	f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, e := range ents {
		if err := appendRecord(w, recEntry, e); err != nil {
			f.Close()
			return err
		}
	}
	if hs != nil && !raft.IsEmptyHardState(hs) {
		if err := appendRecord(w, recHardState, hs); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := os.Rename(tmp, filepath.Join(d.dir, walName)); err != nil {
		f.Close()
		return err
	}
	if err := syncDir(d.dir); err != nil {
		f.Close()
		return err
	}
	d.f.Close()
	d.f, d.w = f, bufio.NewWriter(f)
	return nil
}

func (d *disk) close() error {
	if d.f == nil {
		return nil
	}
	err := d.w.Flush()
	if e := d.f.Close(); err == nil {
		err = e
	}
	d.f = nil
	return err
}

func writeSnapshot(dir string, snap *pb.Snapshot) error {
	raw, err := proto.Marshal(snap)
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, snapName+".tmp")
	f, err := os.Create(tmp)
	if err != nil {
		return fmt.Errorf("controller: write snapshot: %w", err)
	}
	if _, err := f.Write(raw); err != nil {
		f.Close()
		return fmt.Errorf("controller: write snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("controller: fsync snapshot: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, snapName)); err != nil {
		return fmt.Errorf("controller: install snapshot: %w", err)
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
