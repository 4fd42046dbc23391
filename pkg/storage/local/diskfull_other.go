//go:build !windows

package local

import (
	"errors"
	"syscall"
)

// isDiskFull reports whether err means the file system has no space left.
func isDiskFull(err error) bool {
	return errors.Is(err, syscall.ENOSPC)
}
