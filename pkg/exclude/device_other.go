//go:build !unix

package exclude

import "io/fs"

// device is not available here: --one-file-system is refused by New.
func device(fs.FileInfo) (uint64, bool) { return 0, false }
