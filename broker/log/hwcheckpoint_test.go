package log

import (
	"os"
	"path/filepath"
	"testing"
)

// TestHighWatermarkCheckpoint reopens a log and checks the high-watermark
// cap it restores.
func TestHighWatermarkCheckpoint(t *testing.T) {
	cases := []struct {
		name     string
		cap      int64  // SetHighWatermarkCap before Close (-1 = never)
		truncate int64  // Truncate to this before Close (-1 = no)
		file     string // overwrite the checkpoint with this before reopening ("" = keep)
		want     int64  // HighWatermark after reopening
		wantFile bool
	}{
		{name: "never replicated", cap: -1, truncate: -1, want: 5},
		{name: "cap restored", cap: 2, truncate: -1, want: 2, wantFile: true},
		{name: "cap at end", cap: 5, truncate: -1, want: 5, wantFile: true},
		{name: "bounded by a truncated end", cap: 4, truncate: 3, want: 3, wantFile: true},
		{name: "corrupt file ignored", cap: 2, truncate: -1, file: "1\nx\n", want: 5, wantFile: true},
		{name: "negative offset ignored", cap: 2, truncate: -1, file: "0\n-4\n", want: 5, wantFile: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l := mustOpen(t, dir, DefaultConfig())
			for i := 0; i < 5; i++ {
				if _, err := l.Append(simple(t, 1, "x"), AppendOptions{StampEpoch: true, LeaderEpoch: 1}); err != nil {
					t.Fatal(err)
				}
			}
			if tc.cap >= 0 {
				l.SetHighWatermarkCap(tc.cap)
			}
			if tc.truncate >= 0 {
				if err := l.Truncate(tc.truncate); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, hwFileName)
			if _, err := os.Stat(path); (err == nil) != tc.wantFile {
				t.Fatalf("checkpoint file present: %v, want %v", err == nil, tc.wantFile)
			}
			if tc.file != "" {
				if err := os.WriteFile(path, []byte(tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			l = mustOpen(t, dir, DefaultConfig())
			defer l.Close()
			if hw := l.HighWatermark(); hw != tc.want {
				t.Fatalf("HighWatermark after reopening = %d, want %d (end %d)", hw, tc.want, l.EndOffset())
			}
		})
	}
}
