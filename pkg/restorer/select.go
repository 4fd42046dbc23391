package restorer

import (
	"slices"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// Options.Select filters what a restore (or a dry run) restores. An entry
// it does not select is left out; a directory it does not select but
// descends into is passed over: it is restored, with its metadata, only
// once something below it is, so a filter such as --include '*.pdf'
// restores the PDFs and the directories leading to them, and no empty
// directories elsewhere. A lazyDir holds such a directory until then.

// lazyDir is a directory of the walk: made already (restored, or planned
// by a dry run), or passed over by Select and made, after the pending
// directories above it, when something below it is restored.
type lazyDir struct {
	parent *lazyDir // of a pending directory
	path   []byte
	node   snapshot.Node // without Subtree
	state  lazyState
	fresh  bool // made, and new: nothing below it exists yet
}

type lazyState uint8

const (
	lazyPending lazyState = iota
	lazyMade
	lazyFailed // could not be made (reported); nothing below it is restored
)

// madeDir is a directory restored (or planned) already.
func madeDir(fresh bool) *lazyDir { return &lazyDir{state: lazyMade, fresh: fresh} }

// passOver returns the pending directory n (at snapshot path p) below d.
func (d *lazyDir) passOver(p []byte, n *snapshot.Node) *lazyDir {
	node := *n
	node.Name, node.Subtree = slices.Clone(n.Name), nil
	return &lazyDir{parent: d, path: p, node: node}
}

// makeFunc restores (or plans) one directory, as restoreNode does.
type makeFunc func(p []byte, n *snapshot.Node, parentFresh bool) (fresh, ok bool, err error)

// make makes d and the pending directories above it, outermost first, and
// reports whether d is new and whether it exists. A directory that could
// not be made is not tried again.
func (d *lazyDir) make(mk makeFunc) (fresh, ok bool, err error) {
	switch d.state {
	case lazyMade:
		return d.fresh, true, nil
	case lazyFailed:
		return false, false, nil
	}
	parentFresh, ok, err := d.parent.make(mk)
	if err == nil && ok {
		d.fresh, ok, err = mk(d.path, &d.node, parentFresh)
	}
	if err != nil {
		return false, false, err
	}
	d.state = lazyFailed
	if ok {
		d.state = lazyMade
	}
	return d.fresh, ok, nil
}

// selected applies Options.Select to the entry at snapshot path p.
func (rs *restorer) selected(p []byte, isDir bool) (restore, descend bool) {
	if rs.opts.Select == nil {
		return true, true
	}
	return rs.opts.Select(string(p), isDir)
}
