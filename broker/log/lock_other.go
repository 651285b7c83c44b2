//go:build !unix

package log

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir opens dir/lock; platforms without flock get no cross-process
// exclusion.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log: open lock file: %w", err)
	}
	return f, nil
}
