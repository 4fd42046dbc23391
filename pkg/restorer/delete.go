package restorer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Options.Delete makes the restored directories equal to the snapshot.
//
// It runs after everything else was restored, and only if nothing failed:
// a restore that could not write a file, or stopped, deletes nothing, so a
// failure never costs more than it already did. It deletes only in
// directories the snapshot restores in full (the included subtrees, not
// the directories leading to an include path), and never leaves the
// target: every directory is opened relative to its parent's descriptor
// with O_NOFOLLOW, so a symlink swapped in for a directory is not
// followed, and entries are removed with unlinkat relative to that
// descriptor. A directory on another file system than its parent (a mount
// point) is neither entered nor deleted. Deleting in a directory changes
// its times, so the metadata of the directories it deleted in is applied
// again afterwards.

// dirOpenFlags open a directory below another without following a symlink.
const dirOpenFlags = unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC

// errOtherFS marks a directory on another file system.
var errOtherFS = errors.New("on another file system (a mount point): nothing deleted in it")

// deleteExtras deletes, below each included directory, the entries the
// snapshot does not hold.
func (rs *restorer) deleteExtras(ctx context.Context, includes []include) error {
	if n := rs.errs.count(); n > 0 {
		if rs.opts.Warn != nil {
			rs.opts.Warn(rs.target, fmt.Errorf("--delete: nothing was deleted, because %d path(s) could not be restored; fix them and run the restore again", n))
		}
		return nil
	}
	touched := map[string]bool{}
	for _, inc := range includes {
		if inc.node.Type != snapshot.NodeDir {
			continue
		}
		var dir []byte
		if inc.path != "/" {
			dir = []byte(inc.path)
		}
		fd, err := openDirBeneath(rs.target, dir)
		if err != nil {
			rs.errs.add(rs.destination(dir), fmt.Errorf("--delete: %w; nothing deleted below it", err))
			continue
		}
		err = rs.deleteIn(ctx, fd, dir, inc.node.Subtree, touched)
		unix.Close(fd)
		if err != nil {
			return err
		}
	}
	for _, d := range slices.Backward(rs.dirs) {
		if touched[d.path] {
			if err := fsmeta.Apply(d.path, &d.node, rs.asRoot); err != nil {
				rs.errs.add(d.path, err)
			}
		}
	}
	return nil
}

// deleteIn deletes the extras in the directory open at fd (snapshot path
// dir, holding subtree), then in its subdirectories.
func (rs *restorer) deleteIn(ctx context.Context, fd int, dir []byte, subtree []crypto.ID, touched map[string]bool) error {
	dst := rs.destination(dir)
	children, err := rs.listChildren(ctx, subtree)
	if err != nil {
		return fmt.Errorf("restore --delete: %w", err)
	}
	extras, err := extraNames(fd, children)
	if err != nil {
		rs.errs.add(dst, fmt.Errorf("--delete: list: %w", err))
		return nil
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		rs.errs.add(dst, err)
		return nil
	}
	for _, name := range extras {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !touched[dst] {
			touched[dst] = true
			if st.Mode&0o300 != 0o300 { // restored read-only: writable while deleting
				if err := unix.Fchmod(fd, st.Mode&0o7777|0o700); err != nil {
					rs.errs.add(dst, fmt.Errorf("--delete: make writable: %w", err))
					return nil
				}
			}
		}
		path := dst + "/" + name
		isDir, err := removeAt(fd, name, uint64(st.Dev)) //nolint:unconvert // uint32 on some architectures
		if err != nil {
			rs.errs.add(path, fmt.Errorf("--delete: %w", err))
			continue
		}
		rs.plan(Planned{Action: ActionDelete, Path: path, Dir: isDir})
	}
	for i := range children {
		n := &children[i]
		if n.Type != snapshot.NodeDir {
			continue
		}
		sub := append(append(append([]byte(nil), dir...), '/'), n.Name...)
		cfd, err := openSameFS(fd, string(n.Name), uint64(st.Dev)) //nolint:unconvert // uint32 on some architectures
		if errors.Is(err, errOtherFS) {
			if rs.opts.Warn != nil {
				rs.opts.Warn(rs.destination(sub), fmt.Errorf("--delete: %w", err))
			}
			continue
		}
		if err != nil {
			rs.errs.add(rs.destination(sub), fmt.Errorf("--delete: %w; nothing deleted below it", err))
			continue
		}
		err = rs.deleteIn(ctx, cfd, sub, n.Subtree, touched)
		unix.Close(cfd)
		if err != nil {
			return err
		}
	}
	return nil
}

// listExtras reports, for a dry run, the entries a --delete restore would
// delete in the directory at snapshot path dir.
func (rs *restorer) listExtras(dir []byte, children []snapshot.Node) {
	dst := rs.destination(dir)
	fd, err := openDirBeneath(rs.target, dir)
	if err != nil {
		rs.errs.add(dst, fmt.Errorf("--delete: %w", err))
		return
	}
	defer unix.Close(fd)
	extras, err := extraNames(fd, children)
	if err != nil {
		rs.errs.add(dst, fmt.Errorf("--delete: list: %w", err))
		return
	}
	for _, name := range extras {
		var st unix.Stat_t
		isDir := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR
		rs.plan(Planned{Action: ActionDelete, Path: dst + "/" + name, Dir: isDir})
	}
}

// listChildren returns the entries of one snapshot directory.
func (rs *restorer) listChildren(ctx context.Context, subtree []crypto.ID) ([]snapshot.Node, error) {
	var children []snapshot.Node
	err := snapshot.WalkDir(ctx, rs.trees, subtree, func(n *snapshot.Node) error {
		children = append(children, *n)
		return nil
	})
	return children, err
}

// extraNames lists the directory open at fd and returns the names that
// are not among children, sorted. A restore's temporary files are not
// extras: the restore removes its own leftovers.
func extraNames(fd int, children []snapshot.Node) ([]string, error) {
	names, err := readNames(fd)
	if err != nil {
		return nil, err
	}
	keep := make(map[string]bool, len(children))
	for i := range children {
		keep[string(children[i].Name)] = true
	}
	var extras []string
	for _, name := range names {
		if !keep[name] && !isTempName(name) {
			extras = append(extras, name)
		}
	}
	slices.Sort(extras)
	return extras, nil
}

// readNames lists the directory open at fd, leaving fd open.
func readNames(fd int) ([]string, error) {
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(dup)
	f := os.NewFile(uintptr(dup), "")
	defer f.Close()
	return f.Readdirnames(-1)
}

// openDirBeneath opens target and then the directory at dir (a snapshot
// path, nil for the target itself) one component at a time, following no
// symlink below target. target itself may be a symlink: the user chose it.
func openDirBeneath(target string, dir []byte) (int, error) {
	fd, err := unix.Open(target, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: target, Err: err}
	}
	for comp := range strings.SplitSeq(strings.TrimPrefix(string(dir), "/"), "/") {
		if comp == "" {
			continue
		}
		next, err := openAt(fd, comp, dirOpenFlags)
		unix.Close(fd)
		if err != nil {
			return -1, fmt.Errorf("open %s below the target without following symlinks: %w", comp, err)
		}
		fd = next
	}
	return fd, nil
}

// openSameFS opens the directory name below dirfd without following a
// symlink, refusing one on another file system than dev.
func openSameFS(dirfd int, name string, dev uint64) (int, error) {
	fd, err := openAt(dirfd, name, dirOpenFlags)
	if err != nil {
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if uint64(st.Dev) != dev { //nolint:unconvert // uint32 on some architectures
		unix.Close(fd)
		return -1, errOtherFS
	}
	return fd, nil
}

func openAt(dirfd int, name string, flags int) (int, error) {
	return retryEINTR(func() (int, error) { return unix.Openat(dirfd, name, flags, 0) })
}

// removeAt removes name below dirfd and, if it is a directory, everything
// in it, without following symlinks (a symlink is removed, not its target)
// or entering another file system. It reports whether name was a
// directory.
func removeAt(dirfd int, name string, dev uint64) (isDir bool, err error) {
	err = unix.Unlinkat(dirfd, name, 0)
	if err == nil {
		return false, nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return false, err
	}
	fd, oerr := openSameFS(dirfd, name, dev)
	if oerr != nil {
		if errors.Is(oerr, unix.ENOTDIR) || errors.Is(oerr, unix.ELOOP) {
			return false, err // not a directory: unlinkat's error stands
		}
		return true, oerr
	}
	defer unix.Close(fd)
	// It is going away: make it writable, so a read-only directory's
	// entries can be removed.
	_ = unix.Fchmod(fd, 0o700)
	names, err := readNames(fd)
	if err != nil {
		return true, err
	}
	for _, n := range names {
		if _, err := removeAt(fd, n, dev); err != nil {
			return true, fmt.Errorf("%s/%s: %w", name, n, err)
		}
	}
	return true, unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
}
