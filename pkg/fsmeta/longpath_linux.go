package fsmeta

import (
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxPath is the longest path the kernel accepts in one system call
// (PATH_MAX, 4096, counts the terminating NUL).
const maxPath = unix.PathMax - 1

// WithPath calls fn with a path that names the same entry as path and that
// system calls accept however long path is. A path of up to PATH_MAX bytes
// is passed as it is. A longer one is resolved a directory at a time: the
// directory holding its last element is opened (O_PATH) in steps of fewer
// than PATH_MAX bytes, each relative to the descriptor of the previous step
// (openat), and fn gets /proc/self/fd/<fd>/<name>, which every path-based
// call (lstat, lchown, lsetxattr, utimensat, rename...) resolves through
// the open directory without following a final symlink any more than path
// would. The descriptor is closed when fn returns; fn must not keep the
// path. Needs /proc, as long paths are only reachable from descriptors.
func WithPath(path string, fn func(p string) error) error {
	if len(path) <= maxPath {
		return fn(path)
	}
	fd, name, err := openParent(path)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fn("/proc/self/fd/" + strconv.Itoa(fd) + "/" + name)
}

// withPath is WithPath for fsmeta's own calls: their errors name path, not
// the /proc name they used.
func withPath(path string, fn func(p string) error) error {
	err := WithPath(path, fn)
	var pe *fs.PathError
	if len(path) > maxPath && errors.As(err, &pe) {
		pe.Path = path
	}
	return err
}

// openParent opens the directory of path's last element with O_PATH, in
// steps short enough for the kernel.
func openParent(path string) (int, string, error) {
	cut := strings.LastIndexByte(path, '/')
	if cut < 0 || cut == len(path)-1 {
		return -1, "", &fs.PathError{Op: "resolve", Path: path, Err: fmt.Errorf("long path without a final name: %w", unix.ENAMETOOLONG)}
	}
	dir, name := path[:cut], path[cut+1:]
	fd := unix.AT_FDCWD
	for len(dir) > 0 {
		step := dir
		if len(step) > maxPath {
			i := strings.LastIndexByte(step[:maxPath], '/')
			if i <= 0 {
				closeFD(fd)
				return -1, "", &fs.PathError{Op: "resolve", Path: path, Err: unix.ENAMETOOLONG}
			}
			step = step[:i]
		}
		dir = strings.TrimLeft(dir[len(step):], "/")
		next, err := openatRetry(fd, step, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
		closeFD(fd)
		if err != nil {
			return -1, "", &fs.PathError{Op: "open", Path: path, Err: err}
		}
		fd = next
	}
	if fd == unix.AT_FDCWD {
		// "/name" or a path of slashes: short enough, but keep one shape.
		next, err := openatRetry(fd, "/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC)
		if err != nil {
			return -1, "", &fs.PathError{Op: "open", Path: path, Err: err}
		}
		fd = next
	}
	return fd, name, nil
}

func closeFD(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

func openatRetry(dirfd int, path string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, path, flags, 0)
		if err != unix.EINTR {
			return fd, err
		}
	}
}
