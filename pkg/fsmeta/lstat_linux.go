package fsmeta

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Lstat reads the metadata of path without following a final symlink and
// returns it as a node named after the path's last element. names, if not
// nil, fills User and Group. Size is set for regular files only (a
// directory's st_size is file-system noise that would only defeat
// deduplication of trees), Rdev for devices only. Sockets, and any type the
// format cannot store, give an error wrapping ErrSkip.
func Lstat(path string, names *Names) (snapshot.Node, error) {
	var n snapshot.Node
	err := withPath(path, func(sys string) error {
		var err error
		n, err = lstat(sys, path, names)
		return err
	})
	return n, err
}

// lstat is Lstat of sys, a name of path that the kernel accepts.
func lstat(sys, path string, names *Names) (snapshot.Node, error) {
	var st unix.Stat_t
	if err := unix.Lstat(sys, &st); err != nil {
		return snapshot.Node{}, &fs.PathError{Op: "lstat", Path: path, Err: err}
	}
	n := snapshot.Node{
		Name:   []byte(filepath.Base(strings.TrimRight(path, "/"))),
		Mode:   st.Mode & snapshot.ModeMask,
		UID:    st.Uid,
		GID:    st.Gid,
		MTime:  st.Mtim.Nano(),
		CTime:  st.Ctim.Nano(),
		ATime:  st.Atim.Nano(),
		Inode:  st.Ino,
		Device: uint64(st.Dev),
		Links:  uint64(st.Nlink),
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		n.Type = snapshot.NodeFile
		n.Size = uint64(st.Size)
	case unix.S_IFDIR:
		n.Type = snapshot.NodeDir
	case unix.S_IFLNK:
		n.Type = snapshot.NodeSymlink
		target, err := readlink(sys, st.Size)
		if err != nil {
			return snapshot.Node{}, err
		}
		n.LinkTarget = target
	case unix.S_IFIFO:
		n.Type = snapshot.NodeFifo
	case unix.S_IFCHR:
		n.Type = snapshot.NodeCharDev
		n.Rdev = snapshot.MakeDev(unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFBLK:
		n.Type = snapshot.NodeBlockDev
		n.Rdev = snapshot.MakeDev(unix.Major(st.Rdev), unix.Minor(st.Rdev))
	case unix.S_IFSOCK:
		return snapshot.Node{}, fmt.Errorf("%s: %w: sockets are not backed up", path, ErrSkip)
	default:
		return snapshot.Node{}, fmt.Errorf("%s: %w: unknown file type %#o", path, ErrSkip, st.Mode&unix.S_IFMT)
	}
	if names != nil {
		n.User = names.User(n.UID)
		n.Group = names.Group(n.GID)
	}
	return n, nil
}

// readlink returns a symlink's target. size is lstat's st_size, which some
// file systems report as 0; the buffer grows until the target fits.
func readlink(path string, size int64) ([]byte, error) {
	bufSize := max(int(size)+1, 256)
	for {
		buf := make([]byte, bufSize)
		n, err := unix.Readlink(path, buf)
		if err != nil {
			return nil, &fs.PathError{Op: "readlink", Path: path, Err: err}
		}
		if n < len(buf) {
			return buf[:n], nil
		}
		bufSize *= 2
	}
}

// ReadXattrs returns the extended attributes of path itself (not of a
// symlink's target), sorted by name. A file system without xattr support
// gives nil, nil; an attribute removed while reading is left out.
func ReadXattrs(path string) ([]snapshot.Xattr, error) {
	var xattrs []snapshot.Xattr
	err := withPath(path, func(sys string) error {
		var err error
		xattrs, err = readXattrs(sys)
		return err
	})
	return xattrs, err
}

func readXattrs(path string) ([]snapshot.Xattr, error) {
	list, err := xattrCall(path, func(buf []byte) (int, error) { return unix.Llistxattr(path, buf) })
	if errors.Is(err, unix.ENOTSUP) {
		return nil, nil
	}
	if err != nil {
		return nil, &fs.PathError{Op: "llistxattr", Path: path, Err: err}
	}
	var xattrs []snapshot.Xattr
	for name := range strings.SplitSeq(string(list), "\x00") {
		if name == "" {
			continue
		}
		value, err := xattrCall(path, func(buf []byte) (int, error) { return unix.Lgetxattr(path, name, buf) })
		if errors.Is(err, unix.ENODATA) {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "lgetxattr " + name, Path: path, Err: err}
		}
		xattrs = append(xattrs, snapshot.Xattr{Name: name, Value: value})
	}
	slices.SortFunc(xattrs, func(a, b snapshot.Xattr) int { return strings.Compare(a.Name, b.Name) })
	return xattrs, nil
}

// xattrCall runs a size-then-fetch xattr call, retrying when the value grew
// between the two (ERANGE).
func xattrCall(path string, call func(buf []byte) (int, error)) ([]byte, error) {
	for range 8 {
		size, err := call(nil)
		if err != nil {
			return nil, err
		}
		if size == 0 {
			return nil, nil
		}
		buf := make([]byte, size)
		n, err := call(buf)
		if errors.Is(err, unix.ERANGE) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
	return nil, fmt.Errorf("%s: extended attributes keep changing size", path)
}
