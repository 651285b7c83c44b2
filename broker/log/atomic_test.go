package log

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "meta.json")
	for _, want := range []string{"first", "second, longer contents", "3"} {
		if err := WriteFileAtomic(path, []byte(want)); err != nil {
			t.Fatalf("WriteFileAtomic(%q): %v", want, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Fatalf("read back %q, %v; want %q", got, err, want)
		}
	}
	if _, err := os.Stat(path + extTmp); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left behind: %v", err)
	}
	// A failed fsync leaves the old contents in place.
	failSync := func(*os.File) error { return errors.New("injected EIO") }
	if err := writeFileAtomic(path, []byte("torn"), failSync); err == nil {
		t.Fatal("writeFileAtomic with a failing fsync returned nil")
	}
	if got, _ := os.ReadFile(path); string(got) != "3" {
		t.Fatalf("after a failed write the file holds %q, want the old %q", got, "3")
	}
}
