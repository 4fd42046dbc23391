package archiver

import "io"

// sourceFile is an opened file to back up.
type sourceFile interface {
	io.Reader
	Stat() (fileStat, error)
	Close() error
}

// fileStat is what the archiver needs of fstat.
type fileStat struct {
	regular bool
	size    int64
	blocks  int64 // 512-byte units
	mtime   int64 // nanoseconds
	ino     uint64
	dev     uint64
}

// openFunc opens a file to back up; noatime asks for O_NOATIME where
// permitted. Tests replace it to make reads fail or files change.
type openFunc func(path string, noatime bool) (sourceFile, error)

// readDirFunc lists a directory's names (see readDirNames).
type readDirFunc func(path string, noatime bool) ([]string, error)

// mayNoatime reports whether O_NOATIME is permitted on a file owned by
// uid: the owner and root may use it.
func (a *archiver) mayNoatime(uid uint32) bool {
	return a.euid == 0 || a.euid == int(uid)
}
