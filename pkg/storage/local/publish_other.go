//go:build !linux

package local

import (
	"errors"
	"syscall"
)

// renameNoReplace is not available outside Linux (macOS has renamex_np,
// but link(2) does the same job there); publish uses link(2).
func renameNoReplace(tmp, target string) error { return errors.ErrUnsupported }

// linkUnsupported reports link failures meaning "no hard links on this file
// system" (FAT32 and exFAT drives, some network shares).
func linkUnsupported(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	return errors.Is(err, errors.ErrUnsupported) || errno == syscall.EPERM || errno == syscall.EMLINK ||
		errno == syscall.ENOTSUP || errno == syscall.EOPNOTSUPP
}
