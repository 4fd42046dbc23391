package restorer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Action is what a restore does, or would do, to one path of the target.
type Action int

const (
	// ActionNew creates an entry where there is none.
	ActionNew Action = iota + 1
	// ActionReplace replaces an existing entry (Options.Overwrite chose
	// to, or it is of another type than the snapshot's).
	ActionReplace
	// ActionSkip leaves an existing entry that already is the
	// snapshot's, or that Options.Overwrite keeps.
	ActionSkip
	// ActionUpdate keeps an existing directory, restores into it and
	// applies the snapshot's metadata to it.
	ActionUpdate
	// ActionDelete removes an entry the snapshot does not hold, with
	// everything below it (Options.Delete).
	ActionDelete
)

var actionNames = []string{"", "new", "replace", "skip-unchanged", "update", "delete"}

func (a Action) String() string {
	if a > 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Planned is one action on one path, reported to Options.Planned.
type Planned struct {
	Action Action
	// Path is the entry's path in the target.
	Path string
	// Dir is set for directories.
	Dir bool
	// Size is the content the action writes (new, replace) or keeps
	// (skip-unchanged); zero for deletions.
	Size uint64
}

// plan reports p to Options.Planned.
func (rs *restorer) plan(p Planned) {
	if rs.opts.Planned != nil {
		rs.opts.Planned(p)
	}
}

// dryRun decides for every entry of the included subtrees what a restore
// would do, reporting each decision to Options.Planned and counting them
// in the result as a restore would, and writes nothing: existing entries
// are only lstat'ed (and, for OverwriteIfChanged, read). With
// Options.Delete, the entries a restore would delete are reported too.
func (rs *restorer) dryRun(ctx context.Context, includes []include) error {
	fresh := false
	fi, err := os.Stat(rs.target)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fresh = true
	case err != nil:
		return fmt.Errorf("restore: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("restore: target %s is not a directory", rs.target)
	}
	seen := map[string]bool{} // ancestors already planned, and whether new
	for _, inc := range includes {
		if inc.path == "/" {
			return rs.dryRunDir(ctx, nil, inc.node.Subtree, madeDir(fresh))
		}
		dir, dirFresh := "", fresh
		for i := range inc.ancestors {
			anc := &inc.ancestors[i]
			p := dir + "/" + string(anc.Name)
			f, ok := seen[p]
			if !ok {
				var descend bool
				if f, descend = rs.dryRunNode(ctx, p, anc, dirFresh); !descend {
					return nil // reported; as restoreTrees, nothing below it
				}
				seen[p] = f
			}
			dir, dirFresh = p, f
		}
		f, descend := rs.dryRunNode(ctx, inc.path, &inc.node, dirFresh)
		if descend && inc.node.Type == snapshot.NodeDir {
			if err := rs.dryRunDir(ctx, []byte(inc.path), inc.node.Subtree, madeDir(f)); err != nil {
				return err
			}
		}
	}
	return nil
}

// dryRunDir plans the entries of the directory at snapshot path dir and,
// depth first, of its subdirectories, filtered by Options.Select as walk
// filters them. One directory's entries are held at a time per level.
func (rs *restorer) dryRunDir(ctx context.Context, dir []byte, subtree []crypto.ID, parent *lazyDir) error {
	children, err := rs.listChildren(ctx, subtree)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if rs.opts.Delete && !parent.fresh { // (Delete excludes Select: parent is made)
		rs.listExtras(dir, children)
	}
	mk := func(p []byte, n *snapshot.Node, parentFresh bool) (bool, bool, error) {
		f, descend := rs.dryRunNode(ctx, string(p), n, parentFresh)
		return f, descend, nil
	}
	for i := range children {
		n := &children[i]
		p := append(append(append([]byte(nil), dir...), '/'), n.Name...)
		isDir := n.Type == snapshot.NodeDir
		sel, descendSel := rs.selected(p, isDir)
		if !sel {
			if isDir && descendSel { // passed over: planned if something below is
				if err := rs.dryRunDir(ctx, p, n.Subtree, parent.passOver(p, n)); err != nil {
					return err
				}
			}
			continue
		}
		parentFresh, ok, _ := parent.make(mk)
		if !ok {
			continue
		}
		f, descend := rs.dryRunNode(ctx, string(p), n, parentFresh)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if descend && descendSel && isDir {
			if err := rs.dryRunDir(ctx, p, n.Subtree, madeDir(f)); err != nil {
				return err
			}
		}
	}
	return nil
}

// dryRunNode plans one entry as restoreNode would restore it. For a
// directory it reports whether it would be new (fresh) and whether its
// contents can be restored (descend).
func (rs *restorer) dryRunNode(ctx context.Context, snapPath string, n *snapshot.Node, parentFresh bool) (fresh, descend bool) {
	dst := rs.destination([]byte(snapPath))
	isDir := n.Type == snapshot.NodeDir
	if !isDir && (n.Type == snapshot.NodeCharDev || n.Type == snapshot.NodeBlockDev) && !rs.asRoot {
		if rs.opts.Warn != nil {
			rs.opts.Warn(dst, fmt.Errorf("%s would not be restored: only root can create device nodes", n.Type))
		}
		return false, false
	}
	action := ActionNew
	if !parentFresh {
		fi, err := lstat(dst)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			rs.errs.add(dst, err)
			return false, false
		case isDir && fi.IsDir():
			action = ActionUpdate
		case isDir && rs.opts.Overwrite == OverwriteNever:
			rs.errs.add(dst, fmt.Errorf("would not be restored: a %s is in the way and --overwrite never keeps it", fileKind(fi)))
			return false, false
		case isDir:
			action = ActionReplace
		case fi.IsDir():
			rs.errs.add(dst, fmt.Errorf("would not be restored: a directory is in the way (remove it to restore this entry)"))
			return false, false
		default:
			keep, err := rs.keepExisting(ctx, dst, fi, n)
			if err != nil {
				rs.errs.add(dst, fmt.Errorf("compare with the existing file: %w", err))
				return false, false
			}
			if keep {
				action = ActionSkip
			} else {
				action = ActionReplace
			}
		}
	}
	size := n.Size
	switch {
	case isDir:
		rs.dirCount.Add(1)
		size = 0
	case action == ActionSkip:
		rs.skipped.Add(1)
		rs.skippedBytes.Add(n.Size)
	default:
		rs.files.Add(1)
		if n.Type != snapshot.NodeFile { // counted as restoreNode counts them
			rs.special.Add(1)
		}
		if n.Type == snapshot.NodeFile && !rs.dryRunLinked(n) {
			rs.progress.bytes.Add(n.Size)
		}
	}
	rs.plan(Planned{Action: action, Path: dst, Dir: isDir, Size: size})
	return action == ActionNew || action == ActionReplace, true
}

// dryRunLinked reports whether n is a further name of a hard-linked file
// already planned: it would be linked, not written.
func (rs *restorer) dryRunLinked(n *snapshot.Node) bool {
	if n.Links <= 1 {
		return false
	}
	key := inodeKey{n.Device, n.Inode}
	if _, ok := rs.linkFirst[key]; ok {
		return true
	}
	rs.linkFirst[key] = linkSource{}
	return false
}
