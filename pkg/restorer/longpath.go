package restorer

import (
	"errors"
	"io/fs"
	"os"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/fsmeta"
)

// The restorer's file-system calls go through fsmeta.WithPath, so that
// entries deeper than PATH_MAX (4096 bytes) are restored like any other:
// the kernel is given a name relative to a descriptor of their directory.
// For ordinary paths this costs a length check.

// at runs fn with a usable name for path; errors name path itself.
func at(path string, fn func(p string) error) error {
	err := fsmeta.WithPath(path, fn)
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path != path {
		pe.Path = path
	}
	return err
}

func mkdir(path string, perm os.FileMode) error {
	return at(path, func(p string) error { return os.Mkdir(p, perm) })
}

func lstat(path string) (fi fs.FileInfo, err error) {
	err = at(path, func(p string) error { fi, err = os.Lstat(p); return err })
	return fi, err
}

func chmod(path string, mode os.FileMode) error {
	return at(path, func(p string) error { return os.Chmod(p, mode) })
}

func remove(path string) error {
	return at(path, func(p string) error { return os.Remove(p) })
}

func symlink(target, path string) error {
	return at(path, func(p string) error { return os.Symlink(target, p) })
}

func readlink(path string) (target string, err error) {
	err = at(path, func(p string) error { target, err = os.Readlink(p); return err })
	return target, err
}

// openRead opens path for reading without following a final symlink; the
// file stays usable after the directory descriptor is closed.
func openRead(path string) (f *os.File, err error) {
	err = at(path, func(p string) error {
		f, err = os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		return err
	})
	return f, err
}

// openFD opens path with raw flags, retrying on EINTR.
func openFD(path string, flags int, perm uint32) (fd int, err error) {
	err = at(path, func(p string) error {
		fd, err = retryEINTR(func() (int, error) { return unix.Open(p, flags, perm) })
		return err
	})
	return fd, err
}

// rename and link take two paths, each of which may be long.
// rename is rename(2) without os.Rename's Lstat of the destination (which
// only turns "a directory is in the way" into a different error): one
// system call per restored file fewer.
func rename(from, to string) error {
	return at(from, func(f string) error {
		return at(to, func(t string) error {
			if err := unix.Rename(f, t); err != nil {
				return &os.LinkError{Op: "rename", Old: f, New: t, Err: err}
			}
			return nil
		})
	})
}

func link(from, to string) error {
	return at(from, func(f string) error {
		return at(to, func(t string) error { return os.Link(f, t) })
	})
}
