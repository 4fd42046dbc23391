package archiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// dirNode is a directory being backed up. Scanning it fills entries, one
// per stored child in name order; its tree is written once pending, the
// count of children still in progress plus one for the scan itself, drops
// to zero. Children finish by writing their own slot only, so entries needs
// no lock: the slice is never grown after the scan.
type dirNode struct {
	path    string   // absolute
	parent  *dirNode // nil for the snapshot root
	slot    int      // index in parent.entries
	virtual *vdir    // non-nil: an intermediate directory with only these children
	old     *listing // the parent snapshot's entries; nil when there are none
	entries []entry
	pending atomic.Int64
}

type entry struct {
	node snapshot.Node
	omit bool // could not be stored; listed in Skipped
}

// ownNode is the directory's entry in its parent; nil for the root.
func (d *dirNode) ownNode() *snapshot.Node {
	if d.parent == nil {
		return nil
	}
	return &d.parent.entries[d.slot].node
}

// scanDir lists d, records every child's metadata, settles the children
// that need no further work (symlinks, devices, unchanged files) and queues
// the rest: files to read and directories to scan.
func (a *archiver) scanDir(ctx context.Context, d *dirNode) error {
	old, err := a.oldEntries(ctx, d)
	if err != nil {
		return err
	}
	names, err := a.listNames(d)
	if err != nil {
		// Stored with what could be listed (usually nothing) and listed
		// in Skipped.
		a.report.skip(d.path, err)
	}
	d.entries = make([]entry, 0, len(names)) // never grows past this
	var (
		files []*fileJob
		dirs  []*dirNode
		oi    int
	)
	for i, name := range names {
		if i%1024 == 1023 && ctx.Err() != nil {
			return ctx.Err() // a huge directory
		}
		var prev *snapshot.Node
		for oi < len(old) && string(old[oi].Name) < name {
			oi++
		}
		if oi < len(old) && string(old[oi].Name) == name {
			prev = &old[oi]
		}
		var sub *vdir
		if d.virtual != nil {
			sub = d.virtual.children[name]
		}
		path := joinPath(d.path, name)
		node, ok, err := a.stat(path, sub)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		slot := len(d.entries)
		d.entries = append(d.entries, entry{node: node})
		n := &d.entries[slot].node
		switch n.Type {
		case snapshot.NodeDir:
			child := &dirNode{path: path, parent: d, slot: slot}
			if sub != nil && !sub.leaf {
				child.virtual = sub
			}
			if prev != nil && prev.Type == snapshot.NodeDir && len(prev.Subtree) > 0 {
				child.old = newListing(prev.Subtree)
			}
			dirs = append(dirs, child)
		case snapshot.NodeFile:
			if a.reusable(n, prev) {
				n.Content, n.Sparse = prev.Content, prev.Sparse
				a.stats.filesUnchanged.Add(1)
				a.stats.bytesDone.Add(n.Size)
				a.stats.bytesUnchanged.Add(n.Size)
				a.event(path, StatusUnchanged, n.Size, nil)
				continue
			}
			files = append(files, &fileJob{dir: d, slot: slot, path: path, changed: prev != nil})
		}
	}
	d.pending.Store(int64(len(files) + len(dirs) + 1))
	a.queue.push(files, dirs)
	return a.childDone(ctx, d)
}

// oldEntries returns the parent snapshot's entries of d, waiting for the
// prefetcher or loading them itself. An unreadable parent tree is not
// fatal: its files are read again.
func (a *archiver) oldEntries(ctx context.Context, d *dirNode) ([]snapshot.Node, error) {
	if d.old == nil {
		return nil, nil
	}
	nodes, err := d.old.wait(ctx, a.repo)
	d.old = nil
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	if err != nil {
		a.report.warn(d.path, fmt.Errorf("cannot read this directory in the parent snapshot, so its files are read again: %w", err))
		return nil, nil
	}
	return nodes, nil
}

// stat returns the node of path, or ok false when the entry is left out:
// excluded, or vanished, unreadable or a socket (those are listed in
// Skipped). For the intermediate directories leading to a backup path
// (sub not nil) every failure is an error, since the snapshot would
// otherwise silently miss a path that the user named.
func (a *archiver) stat(path string, sub *vdir) (snapshot.Node, bool, error) {
	n, err := fsmeta.Lstat(path, a.names)
	if err == nil && sub != nil && !sub.leaf && n.Type != snapshot.NodeDir {
		n, err = a.statThroughLink(path, n.Name)
	}
	if err != nil {
		if sub != nil {
			return n, false, fmt.Errorf("backup path: %w", err)
		}
		a.report.skip(path, err)
		a.event(path, StatusSkipped, 0, err)
		return n, false, nil
	}
	if !a.opts.WithATime {
		n.ATime = 0
	}
	if a.opts.Excluder != nil && (sub == nil || sub.leaf) &&
		a.opts.Excluder.Excluded(path, n.Type == snapshot.NodeDir, nodeInfo{&n}) {
		a.event(path, StatusExcluded, 0, nil)
		return n, false, nil
	}
	xattrs, err := fsmeta.ReadXattrs(path)
	if err != nil {
		// The entry itself is still worth storing.
		a.report.warn(path, fmt.Errorf("extended attributes not stored: %w", err))
	}
	n.Xattrs = xattrs
	return n, true, nil
}

// statThroughLink handles an intermediate path component that is a symlink
// to a directory (such as /var/run → /run): it stores the directory the
// link points to under the link's name, as the path the user gave reads.
func (a *archiver) statThroughLink(path string, name []byte) (snapshot.Node, error) {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return snapshot.Node{}, err
	}
	n, err := fsmeta.Lstat(target, a.names)
	if err != nil {
		return n, err
	}
	if n.Type != snapshot.NodeDir {
		return n, fmt.Errorf("%s is not a directory", path)
	}
	n.Name = name
	return n, nil
}

// listNames returns the names in d, sorted bytewise. A directory that
// cannot be read completely returns what it could read and the error.
func (a *archiver) listNames(d *dirNode) ([]string, error) {
	if d.virtual != nil {
		return d.virtual.names(), nil
	}
	noatime := a.euid == 0
	if n := d.ownNode(); n != nil {
		noatime = a.mayNoatime(n.UID)
	}
	names, err := a.readDir(d.path, noatime)
	slices.Sort(names) // Go strings compare bytewise
	return names, err
}

// readDirNames lists a directory, with O_NOATIME when permitted so that
// backing up does not change the directory's access time (which the next
// snapshot records). A directory that cannot be read completely returns
// the names it could read and the error.
func readDirNames(path string, noatime bool) ([]string, error) {
	fd, err := openFD(path, dirOpenFlags, noatime)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	if f == nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: errors.New("invalid descriptor")}
	}
	names, err := f.Readdirnames(-1)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return names, err
}

// childDone records that one child of d finished (or d's own scan) and
// writes the trees of d and its ancestors that thereby became complete.
// The goroutine that completes the root ends the run.
func (a *archiver) childDone(ctx context.Context, d *dirNode) error {
	for ; d != nil; d = d.parent {
		if d.pending.Add(-1) > 0 {
			return nil
		}
		ids, err := a.writeTree(ctx, d)
		if err != nil {
			return err
		}
		if d.parent == nil {
			a.finish(ids)
			return nil
		}
		d.parent.entries[d.slot].node.Subtree = ids
		a.stats.dirs.Add(1)
	}
	return nil
}

// writeTree saves the tree blobs of a complete directory and frees its
// entries.
func (a *archiver) writeTree(ctx context.Context, d *dirNode) ([]crypto.ID, error) {
	tw := snapshot.NewTreeWriter(ctx, a.saver)
	for i := range d.entries {
		if d.entries[i].omit {
			continue
		}
		if err := tw.Add(d.entries[i].node); err != nil {
			return nil, fmt.Errorf("directory %s: %w", d.path, err)
		}
	}
	d.entries = nil
	ids, err := tw.Close()
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("directory %s: %w", d.path, err)
	}
	return ids, nil
}
