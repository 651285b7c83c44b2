package log

import (
	"fmt"
	"os"
)

// File is a segment data file (N.log) as the log uses it: positioned
// reads and writes, truncation, fsync and size. The default implementation
// is an *os.File; tests substitute one that fails fsyncs, writes short or
// loses unsynced bytes in a simulated crash (see WithFS).
type File interface {
	ReadAt(p []byte, off int64) (int, error)
	WriteAt(p []byte, off int64) (int, error)
	Truncate(size int64) error
	Sync() error
	Size() (int64, error)
	Close() error
}

// FS opens segment data files.
type FS interface {
	// OpenFile opens path for reading and writing, creating it if needed.
	OpenFile(path string) (File, error)
}

// osFS opens real files; fsyncs go through sync (WithSyncFunc).
type osFS struct{ sync func(*os.File) error }

func (fs osFS) OpenFile(path string) (File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f, fs.sync}, nil
}

type osFile struct {
	*os.File
	sync func(*os.File) error
}

func (f osFile) Sync() error { return f.sync(f.File) }

func (f osFile) Size() (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}

// StorageError reports an I/O failure on a partition's data files. After
// one, the log is offline: every later Append, Read and WaitDurable fails
// with it, because after a failed fsync or write what the disk holds is
// unknown (the page cache may have dropped dirty pages). Reopening the log
// (a restart) recovers from what is on disk. It wraps ErrStorage.
type StorageError struct {
	Op  string // what failed, e.g. "fsync segment 0"
	Err error
}

func (e *StorageError) Error() string {
	return fmt.Sprintf("log: storage failure (%s): %v; the partition is offline until the broker restarts", e.Op, e.Err)
}

// Unwrap returns ErrStorage and the cause.
func (e *StorageError) Unwrap() []error { return []error{ErrStorage, e.Err} }
