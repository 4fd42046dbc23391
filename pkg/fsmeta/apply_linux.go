package fsmeta

import (
	"errors"
	"fmt"
	"io/fs"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Apply sets n's metadata on the restored path, in the only order that
// keeps every part: ownership first (chown clears setuid and setgid), then
// the full mode including setuid, setgid and sticky, then xattrs, and the
// times last, since every other change would touch them. Times are set on
// path itself, also for symlinks.
//
// Ownership is only set when asRoot is true; an unprivileged restore keeps
// the restoring user as owner, as cp does. Symlinks get lchown and times
// but no chmod (Linux has no symlink modes). Xattrs are best effort: every
// failure is collected and returned, joined, after the rest was applied.
//
// A directory's times change whenever an entry is created in it, so the
// restorer must call Apply on a directory after its contents are restored.
func Apply(path string, n *snapshot.Node, asRoot bool) error {
	return withPath(path, func(sys string) error { return apply(sys, n, asRoot) })
}

func apply(path string, n *snapshot.Node, asRoot bool) error {
	var errs []error
	if asRoot {
		if err := unix.Lchown(path, int(n.UID), int(n.GID)); err != nil {
			errs = append(errs, &fs.PathError{Op: "lchown", Path: path, Err: err})
		}
	}
	if n.Type != snapshot.NodeSymlink {
		if err := unix.Fchmodat(unix.AT_FDCWD, path, n.Mode&snapshot.ModeMask, 0); err != nil {
			errs = append(errs, &fs.PathError{Op: "chmod", Path: path, Err: err})
		}
	}
	for _, x := range n.Xattrs {
		if err := unix.Lsetxattr(path, x.Name, x.Value, 0); err != nil {
			errs = append(errs, &fs.PathError{Op: "lsetxattr " + x.Name, Path: path, Err: err})
		}
	}
	times := []unix.Timespec{unix.NsecToTimespec(n.ATime), unix.NsecToTimespec(n.MTime)}
	if n.ATime == 0 {
		// Not stored (the default since backups store atime only on
		// request): leave the access time the restore gave the file.
		times[0] = unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		errs = append(errs, &fs.PathError{Op: "set times", Path: path, Err: err})
	}
	return errors.Join(errs...)
}

// Mknod creates a fifo or device node at path with n's permission bits
// (less the umask; Apply sets the exact mode afterwards). Device nodes need
// root (CAP_MKNOD): without it the error says so.
func Mknod(path string, n *snapshot.Node) error {
	return withPath(path, func(sys string) error { return mknod(sys, n) })
}

func mknod(path string, n *snapshot.Node) error {
	perm := n.Mode & 0o777
	var err error
	switch n.Type {
	case snapshot.NodeFifo:
		err = unix.Mkfifo(path, perm)
	case snapshot.NodeCharDev, snapshot.NodeBlockDev:
		kind := uint32(unix.S_IFCHR)
		if n.Type == snapshot.NodeBlockDev {
			kind = unix.S_IFBLK
		}
		err = unix.Mknod(path, kind|perm, int(unix.Mkdev(snapshot.DevMajor(n.Rdev), snapshot.DevMinor(n.Rdev))))
		if errors.Is(err, unix.EPERM) {
			return fmt.Errorf("create %s %s: only root can create device nodes; restore as root or exclude it: %w", n.Type, path, err)
		}
	default:
		return fmt.Errorf("create %s: mknod cannot create a %s", path, n.Type)
	}
	if err != nil {
		return &fs.PathError{Op: "mknod", Path: path, Err: err}
	}
	return nil
}
