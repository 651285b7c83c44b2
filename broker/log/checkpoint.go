package log

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
)

const (
	checkpointFile = "checkpoint"
	checkpointSize = 35
)

var checkpointMagic = [4]byte{'S', 'L', 'C', 'K'}

type checkpoint struct {
	RecoveryPoint  int64
	LogStartOffset int64
	Clean          bool
}

func (c checkpoint) encode() []byte {
	b := make([]byte, checkpointSize)
	copy(b, checkpointMagic[:])
	binary.BigEndian.PutUint16(b[4:], 1)
	binary.BigEndian.PutUint64(b[10:], uint64(c.RecoveryPoint))
	binary.BigEndian.PutUint64(b[18:], uint64(c.LogStartOffset))
	if c.Clean {
		b[26] = 1
	}
	binary.BigEndian.PutUint32(b[6:], crc32.Checksum(b[10:], castagnoli))
	return b
}

func decodeCheckpoint(b []byte) (checkpoint, error) {
	var c checkpoint
	if len(b) != checkpointSize || [4]byte(b[:4]) != checkpointMagic {
		return c, fmt.Errorf("log: checkpoint: bad magic or size %d", len(b))
	}
	if v := binary.BigEndian.Uint16(b[4:]); v != 1 {
		return c, fmt.Errorf("log: checkpoint: unsupported version %d", v)
	}
	if got, want := crc32.Checksum(b[10:], castagnoli), binary.BigEndian.Uint32(b[6:]); got != want {
		return c, fmt.Errorf("log: checkpoint: CRC is %#08x, computed %#08x", want, got)
	}
	c.RecoveryPoint = int64(binary.BigEndian.Uint64(b[10:]))
	c.LogStartOffset = int64(binary.BigEndian.Uint64(b[18:]))
	c.Clean = b[26] == 1
	if c.RecoveryPoint < 0 || c.LogStartOffset < 0 {
		return c, fmt.Errorf("log: checkpoint: negative offsets")
	}
	return c, nil
}

func readCheckpoint(dir string) (checkpoint, error) {
	b, err := os.ReadFile(filepath.Join(dir, checkpointFile))
	if err != nil {
		return checkpoint{}, err
	}
	return decodeCheckpoint(b)
}

func writeCheckpoint(dir string, c checkpoint, sync func(*os.File) error) error {
	return writeFileAtomic(filepath.Join(dir, checkpointFile), c.encode(), sync)
}
