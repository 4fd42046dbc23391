package local

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames tmp to target unless target exists. It returns an
// error wrapping errors.ErrUnsupported where the kernel or the file system
// lacks RENAME_NOREPLACE (kernels before 3.15, some FUSE and network file
// systems), so that publish falls back to link(2).
func renameNoReplace(tmp, target string) error {
	err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, target, unix.RENAME_NOREPLACE)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS),
		errors.Is(err, unix.ENOTSUP), errors.Is(err, unix.EOPNOTSUPP):
		return errors.ErrUnsupported
	}
	return &os.LinkError{Op: "rename", Old: tmp, New: target, Err: err}
}

// linkUnsupported reports link(2) failures meaning "no hard links on this
// file system": EPERM from FAT32 and exFAT, EOPNOTSUPP from others.
func linkUnsupported(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EOPNOTSUPP) ||
		errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EMLINK)
}
