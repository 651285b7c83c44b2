// Package faultfs is a fault-injecting file layer for tests of the
// partition log (broker/log) and the broker: over real files it can fail
// fsyncs (EIO), write short (ENOSPC), hold fsyncs at a gate and simulate a
// power loss, after which every file holds only what was fsynced. Its FS
// satisfies the log's FS interface through a one-line adapter (see
// blog.WithFS); it does not import the log, so the log's own tests can use
// it.
package faultfs

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
)

// FS opens files whose faults it controls. The zero value is ready to use.
type FS struct {
	mu    sync.Mutex
	files []*File

	// FailSync makes fsyncs fail with EIO.
	FailSync atomic.Bool
	// ShortWrite > 0 makes the next WriteAt write this many bytes, then
	// fail with ENOSPC.
	ShortWrite atomic.Int64
	// Syncs counts completed fsyncs.
	Syncs   atomic.Int64
	crashed atomic.Bool

	gateMu sync.Mutex
	gate   chan struct{}
}

// File is one file opened through FS.
type File struct {
	*os.File
	fs     *FS
	path   string
	mu     sync.Mutex
	synced int64 // bytes that survive Crash
}

// Open opens path read-write, creating it if needed. What the file already
// holds counts as durable.
func (fs *FS) Open(path string) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	ff := &File{File: f, fs: fs, path: path, synced: st.Size()}
	fs.mu.Lock()
	fs.files = append(fs.files, ff)
	fs.mu.Unlock()
	return ff, nil
}

// HoldSyncs makes fsyncs block until the returned release func is called.
func (fs *FS) HoldSyncs() (release func()) {
	ch := make(chan struct{})
	fs.gateMu.Lock()
	fs.gate = ch
	fs.gateMu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			fs.gateMu.Lock()
			fs.gate = nil
			fs.gateMu.Unlock()
			close(ch)
		})
	}
}

// Crash simulates a power loss: every file is cut back to its size at its
// last completed fsync, and later fsyncs fail.
func (fs *FS) Crash() error {
	fs.crashed.Store(true)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, f := range fs.files {
		f.mu.Lock()
		st, err := os.Stat(f.path)
		if err == nil && st.Size() > f.synced {
			err = os.Truncate(f.path, f.synced)
		}
		f.mu.Unlock()
		if err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// WriteAt writes p at off, or part of it when ShortWrite is set.
func (f *File) WriteAt(p []byte, off int64) (int, error) {
	if n := f.fs.ShortWrite.Swap(0); n > 0 && int(n) < len(p) {
		w, _ := f.File.WriteAt(p[:n], off)
		return w, &os.PathError{Op: "write", Path: f.path, Err: syscall.ENOSPC}
	}
	return f.File.WriteAt(p, off)
}

// Truncate truncates the file; bytes cut off are no longer durable.
func (f *File) Truncate(size int64) error {
	if err := f.File.Truncate(size); err != nil {
		return err
	}
	f.mu.Lock()
	if size < f.synced {
		f.synced = size
	}
	f.mu.Unlock()
	return nil
}

// Sync waits at the gate (HoldSyncs), then fsyncs or fails.
func (f *File) Sync() error {
	f.fs.gateMu.Lock()
	gate := f.fs.gate
	f.fs.gateMu.Unlock()
	if gate != nil {
		<-gate
	}
	st, err := f.File.Stat()
	if err != nil {
		return err
	}
	if f.fs.FailSync.Load() || f.fs.crashed.Load() {
		return &os.PathError{Op: "fsync", Path: f.path, Err: syscall.EIO}
	}
	if err := f.File.Sync(); err != nil {
		return err
	}
	f.mu.Lock()
	if st.Size() > f.synced {
		f.synced = st.Size()
	}
	f.mu.Unlock()
	f.fs.Syncs.Add(1)
	return nil
}

// Size returns the file's current size.
func (f *File) Size() (int64, error) {
	st, err := f.File.Stat()
	if err != nil {
		return 0, err
	}
	return st.Size(), nil
}
