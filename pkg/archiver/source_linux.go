package archiver

import (
	"errors"
	"io"
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/fsmeta"
)

// fileOpenFlags open a file for reading without following a symlink that
// replaced it, and without blocking if a fifo took its place (the fstat
// after opening then rejects it).
const (
	fileOpenFlags = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_NOFOLLOW | unix.O_NONBLOCK
	dirOpenFlags  = unix.O_RDONLY | unix.O_CLOEXEC | unix.O_DIRECTORY | unix.O_NOFOLLOW
)

// openFD opens path with flags, adding O_NOATIME when noatime is set (the
// caller owns the file or is root); if the kernel refuses it anyway, it
// opens without. Paths longer than PATH_MAX are opened relative to a
// descriptor of their directory (fsmeta.WithPath), so no subtree is too
// deep to back up.
func openFD(path string, flags int, noatime bool) (int, error) {
	fd := -1
	err := fsmeta.WithPath(path, func(p string) error {
		var err error
		fd, err = openShort(p, flags, noatime)
		return err
	})
	return fd, err
}

func openShort(path string, flags int, noatime bool) (int, error) {
	if noatime {
		fd, err := openRetry(path, flags|unix.O_NOATIME)
		if !errors.Is(err, unix.EPERM) {
			return fd, err
		}
	}
	return openRetry(path, flags)
}

func openRetry(path string, flags int) (int, error) {
	for {
		fd, err := unix.Open(path, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// openSource opens a file to back up.
func openSource(path string, noatime bool) (sourceFile, error) {
	fd, err := openFD(path, fileOpenFlags, noatime)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	return &fdFile{fd: fd, path: path}, nil
}

// fdFile reads a file with plain system calls: regular files gain nothing
// from the runtime poller that os.File would try to register them with.
type fdFile struct {
	fd   int
	path string
}

func (f *fdFile) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, err := unix.Read(f.fd, p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, &fs.PathError{Op: "read", Path: f.path, Err: err}
		case n == 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (f *fdFile) Stat() (fileStat, error) {
	var st unix.Stat_t
	if err := unix.Fstat(f.fd, &st); err != nil {
		return fileStat{}, &fs.PathError{Op: "fstat", Path: f.path, Err: err}
	}
	return fileStat{
		regular: st.Mode&unix.S_IFMT == unix.S_IFREG,
		size:    st.Size,
		blocks:  st.Blocks,
		mtime:   st.Mtim.Nano(),
		ino:     st.Ino,
		dev:     uint64(st.Dev), //nolint:unconvert // uint32 on some architectures
	}, nil
}

func (f *fdFile) Close() error {
	if f.fd < 0 {
		return nil
	}
	err := unix.Close(f.fd)
	f.fd = -1
	return err
}

// euid is the effective user ID, for deciding where O_NOATIME is allowed.
func euid() int { return unix.Geteuid() }
