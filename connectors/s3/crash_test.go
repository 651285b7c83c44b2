package s3

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runtime/connect"
)

// TestLocalStorageRemovesCrashLeftovers leaves temporary files the way a
// kill -9 does (files being written, a commit marker being replaced, a
// temporary file of an older version), starts a new task on the same
// directory and checks that exactly those files of its partitions are
// gone while committed data and everything else stays.
func TestLocalStorageRemovesCrashLeftovers(t *testing.T) {
	cfg, store := localStore(t)
	cfg = withCfg(cfg, KeyFlushSize, "3", KeyFormatClass, ParquetFormatClass)
	p0 := connect.TopicPartition{Topic: "orders", Partition: 0}
	p1 := connect.TopicPartition{Topic: "orders", Partition: 1}
	p12 := connect.TopicPartition{Topic: "orders", Partition: 12}

	// The crashed task: one committed group on p0, open files on p0, p1
	// and p12, and a marker write cut short.
	tk1, _ := openTask(t, cfg, []connect.TopicPartition{p0, p1, p12})
	mustPut(t, tk1, flatRecord("orders", 0, 0, 0), flatRecord("orders", 0, 1, 1), flatRecord("orders", 0, 2, 2))
	mustPut(t, tk1, flatRecord("orders", 0, 3, 3), flatRecord("orders", 1, 0, 4), flatRecord("orders", 12, 0, 5))
	if _, err := tk1.st.create(context.Background(), tk1.markerKey(p0)); err != nil {
		t.Fatal(err)
	}
	// tk1 is never closed: its temporary files stay, as after SIGKILL.

	root := store.root
	write := func(rel string, data string) {
		t.Helper()
		p := filepath.Join(root, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("topics/orders/partition=0/.sluice-tmp-123456789", "")                           // older sluice
	write("topics/orders/partition=0/notes.txt", "user file")                              // user files
	write("topics/orders/partition=0/.sluice-tmp-notes", "user file")                      //
	write("topics/orders/partition=0/.sluice-tmp-other+0+0000000000.snappy.parquet-1", "") // another topic's
	write("elsewhere/.sluice-tmp-42", "")                                                  // outside the sink's prefix

	temps := func() []string {
		var out []string
		for _, k := range store.list(t) {
			if strings.Contains(k, tempPrefix) {
				out = append(out, k)
			}
		}
		return out
	}
	before := temps()
	parquetKeys := func() []string {
		return slices.DeleteFunc(dataKeys(store.list(t)), func(k string) bool { return !strings.HasSuffix(k, ".parquet") })
	}
	committed := parquetKeys()
	if len(committed) != 1 {
		t.Fatalf("committed files = %v, want 1", committed)
	}
	data := store.read(t, committed[0])
	for _, want := range []string{"orders+0+0000000003", "orders+1+0000000000", "orders+12+0000000000", "orders+0.json"} {
		if !slices.ContainsFunc(before, func(k string) bool { return strings.Contains(k, tempPrefix+want) }) {
			t.Fatalf("no temporary file for %s in %v", want, before)
		}
	}

	// The new task owns p0 only: p0's leftovers and the old-style file go.
	tk2, _ := openTask(t, cfg, []connect.TopicPartition{p0})
	defer tk2.Close()
	kept := []string{
		"elsewhere/.sluice-tmp-42",
		"topics/orders/partition=0/.sluice-tmp-notes",
		"topics/orders/partition=0/.sluice-tmp-other+0+0000000000.snappy.parquet-1",
	}
	for _, k := range before {
		if strings.Contains(k, "orders+1+") || strings.Contains(k, "orders+12+") {
			kept = append(kept, k)
		}
	}
	slices.Sort(kept)
	if got := temps(); !slices.Equal(got, kept) {
		t.Fatalf("temporary files after start = %v, want %v", got, kept)
	}
	if b := store.read(t, committed[0]); !bytes.Equal(b, data) {
		t.Fatal("committed file changed")
	}
	if b := store.read(t, "topics/orders/partition=0/notes.txt"); string(b) != "user file" {
		t.Fatalf("user file = %q", b)
	}

	// Taking over p1 and p12 removes theirs.
	if err := tk2.Assign(context.Background(), []connect.TopicPartition{p1, p12}); err != nil {
		t.Fatal(err)
	}
	kept = slices.DeleteFunc(kept, func(k string) bool { return strings.Contains(k, "orders+1") })
	if got := temps(); !slices.Equal(got, kept) {
		t.Fatalf("temporary files after assigning p1, p12 = %v, want %v", got, kept)
	}
	// The new task writes on from the committed offset.
	mustPut(t, tk2, flatRecord("orders", 0, 3, 3), flatRecord("orders", 0, 4, 4), flatRecord("orders", 0, 5, 5))
	if got := parquetKeys(); len(got) != 2 {
		t.Fatalf("committed files = %v, want 2", got)
	}
}

// TestLocalStorageRecreatesRemovedDirectory checks that the cache of
// existing directories does not break writes after a directory is removed.
func TestLocalStorageRecreatesRemovedDirectory(t *testing.T) {
	l := &localStorage{root: t.TempDir()}
	ctx := context.Background()
	for i, key := range []string{"a/b/one", "a/b/two"} {
		if i == 1 {
			if err := os.RemoveAll(filepath.Join(l.root, "a")); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.put(ctx, key, []byte(key)); err != nil {
			t.Fatalf("put %s: %v", key, err)
		}
		if b, err := l.get(ctx, key); err != nil || string(b) != key {
			t.Fatalf("get %s = %q, %v", key, b, err)
		}
	}
}
