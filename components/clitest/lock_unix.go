//go:build unix

package clitest

import (
	"fmt"
	"os"
	"syscall"
)

// lock holds an exclusive lock on the file at path until unlock is
// called or the process ends.
func lock(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("clitest: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("clitest: lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil // closing releases the lock
}
