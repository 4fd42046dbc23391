//go:build unix

package exclude

import (
	"io/fs"
	"syscall"
)

// device returns the ID of the file system fi lives on.
func device(fi fs.FileInfo) (uint64, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Dev), true //nolint:unconvert // Dev is int32 on some platforms
}
