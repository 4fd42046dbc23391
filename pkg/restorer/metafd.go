package restorer

import (
	"errors"
	"io/fs"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// applyFD applies a regular file's metadata through its open descriptor,
// just before it is closed and renamed into place: the same steps as
// fsmeta.Apply (owner only as root, then mode, xattrs, and the times last),
// but without resolving the path again for each, which is most of their
// cost with many small files. Renaming afterwards changes none of them, so
// a file appears under its final name with its content and its metadata
// complete. Errors name path, the file's final name.
func applyFD(fd int, path string, n *snapshot.Node, asRoot bool) error {
	var errs []error
	if asRoot {
		if err := unix.Fchown(fd, int(n.UID), int(n.GID)); err != nil {
			errs = append(errs, &fs.PathError{Op: "chown", Path: path, Err: err})
		}
	}
	if err := unix.Fchmod(fd, n.Mode&snapshot.ModeMask); err != nil {
		errs = append(errs, &fs.PathError{Op: "chmod", Path: path, Err: err})
	}
	for _, x := range n.Xattrs {
		if err := unix.Fsetxattr(fd, x.Name, x.Value, 0); err != nil {
			errs = append(errs, &fs.PathError{Op: "setxattr " + x.Name, Path: path, Err: err})
		}
	}
	times := [2]unix.Timespec{unix.NsecToTimespec(n.ATime), unix.NsecToTimespec(n.MTime)}
	if err := futimens(fd, &times); err != nil {
		errs = append(errs, &fs.PathError{Op: "set times", Path: path, Err: err})
	}
	return errors.Join(errs...)
}

// futimens sets the access and modification times of the open file fd to
// the nanosecond (utimensat with a NULL path, as the C library's futimens;
// x/sys/unix offers only microseconds on a descriptor).
func futimens(fd int, times *[2]unix.Timespec) error {
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(times)), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}
