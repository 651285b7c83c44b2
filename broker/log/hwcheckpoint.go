package log

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// hwFileName holds a replicated partition's last checkpointed high
// watermark, in the role of Kafka's replication-offset-checkpoint (one
// file per partition directory here).
const hwFileName = "high-watermark"

// hwCheckpointInterval bounds how often SetHighWatermarkCap rewrites the
// file; Close always writes the latest value.
const hwCheckpointInterval = 5 * time.Second

// encodeHW writes a version line (0) and the offset line.
func encodeHW(hw int64) []byte { return fmt.Appendf(nil, "0\n%d\n", hw) }

func decodeHW(raw []byte) (int64, error) {
	lines := bytes.Split(bytes.TrimSuffix(raw, []byte("\n")), []byte("\n"))
	if len(lines) != 2 || string(lines[0]) != "0" {
		return -1, errors.New("want version line 0 and an offset line")
	}
	hw, err := strconv.ParseInt(string(lines[1]), 10, 64)
	if err != nil || hw < 0 {
		return -1, fmt.Errorf("offset line %q: want a non-negative integer", lines[1])
	}
	return hw, nil
}

// loadHighWatermark restores the checkpointed high-watermark cap, bounded
// by the end offset. A missing file leaves the log uncapped (a log that was
// never replicated); an unreadable one is logged and ignored, which only
// makes readers wait for the leader's next high watermark.
func (l *Log) loadHighWatermark() {
	path := filepath.Join(l.dir, hwFileName)
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var hw int64
	if err == nil {
		hw, err = decodeHW(raw)
	}
	if err != nil {
		l.lg.Warn("high-watermark checkpoint unreadable, ignoring it", "path", path, "err", err)
		return
	}
	hw = min(hw, l.end.Load())
	l.hwCap.Store(hw)
	l.hwSaved.Store(hw)
}

// saveHighWatermark writes the current cap if it changed since the last
// write and, unless force, the last write is hwCheckpointInterval old.
func (l *Log) saveHighWatermark(force bool) error {
	if force {
		l.hwSaveMu.Lock()
	} else if !l.hwSaveMu.TryLock() {
		return nil // another save is under way
	}
	defer l.hwSaveMu.Unlock()
	hw := l.hwCap.Load()
	if hw < 0 || hw == l.hwSaved.Load() {
		return nil
	}
	now := time.Now()
	if !force && now.Sub(l.hwSavedAt) < hwCheckpointInterval {
		return nil
	}
	if err := writeFileAtomic(filepath.Join(l.dir, hwFileName), encodeHW(hw), l.opts.sync); err != nil {
		return fmt.Errorf("log: write %s: %w", hwFileName, err)
	}
	l.hwSaved.Store(hw)
	l.hwSavedAt = now
	return nil
}
