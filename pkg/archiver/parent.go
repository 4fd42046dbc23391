package archiver

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// racyWindow is how close to the parent snapshot's start a file's ctime
// may be before its parent entry is distrusted. File systems stamp times
// from a clock that advances in ticks (jiffies, often 4 ms), so a file
// written, backed up, and written again within one tick keeps its mtime and
// ctime; if its size stayed the same too, nothing in its metadata shows the
// second write (git's "racy clean" problem). Such a file necessarily has a
// ctime at or after the snapshot started less a tick, so files with
// ctime >= start - racyWindow are read again. A second covers coarse
// clocks and small skew between the kernel and the wall clock.
const racyWindow = time.Second

// blobIndex is what reuse checks need of the index (*index.Set).
type blobIndex interface {
	Lookup(id crypto.ID) (index.Entry, bool)
	LookupAll(id crypto.ID) []index.Entry
	IsCondemned(pack crypto.ID) bool
}

// reusable reports whether file n may take the content of prev, its entry
// in the parent snapshot, without being read. Size, mtime, ctime, inode and
// device must all match: any write changes mtime and ctime, and a file
// replaced by another (rename over it, restore from elsewhere) has another
// inode even when its times were copied. ctime cannot be set by users, so
// tools that reset mtime (cp -p, rsync, tar) do not fool the check.
//
// The parent's content must also still be in the index, as data blobs in
// packs that no deletion marker condemns: a backup must never reference a
// pack that a concurrent prune is about to delete (FORMAT.md section 10),
// nor a blob lost from a damaged repository.
func (a *archiver) reusable(n, prev *snapshot.Node) bool {
	switch {
	case a.opts.Force || prev == nil || prev.Type != snapshot.NodeFile:
		return false
	case n.Size != prev.Size || n.MTime != prev.MTime || n.CTime != prev.CTime ||
		n.Inode != prev.Inode || n.Device != prev.Device:
		return false
	case prev.CTime >= a.racyBefore:
		return false
	case n.Size > 0 && len(prev.Content) == 0:
		return false
	}
	for _, id := range prev.Content {
		if !hasData(a.index, id) {
			return false
		}
	}
	return true
}

// hasData reports whether id is stored as a data blob in a pack that is
// not condemned. One Lookup answers the common case, since it prefers a
// copy in a pack that is not condemned. The index ignores types, and a data
// blob may share its ID with a tree blob of the same bytes; only when the
// copy found is a tree blob or condemned does it look at every copy, which
// is rare.
func hasData(idx blobIndex, id crypto.ID) bool {
	e, ok := idx.Lookup(id)
	if !ok {
		return false
	}
	if e.Type == pack.DataBlob && !idx.IsCondemned(e.Pack) {
		return true
	}
	for _, e := range idx.LookupAll(id) {
		if e.Type == pack.DataBlob && !idx.IsCondemned(e.Pack) {
			return true
		}
	}
	return false
}

// listing is the parent snapshot's entries of one directory, loaded once by
// whoever claims it first: a prefetcher, or the worker that scans the
// directory and finds it unclaimed.
type listing struct {
	subtree []crypto.ID
	started atomic.Bool
	ready   chan struct{} // closed when nodes and err are set
	nodes   []snapshot.Node
	err     error
}

func newListing(subtree []crypto.ID) *listing {
	return &listing{subtree: subtree, ready: make(chan struct{})}
}

// claim reports whether the caller is the one to load l.
func (l *listing) claim() bool { return l.started.CompareAndSwap(false, true) }

// load loads l; only the claimer calls it.
func (l *listing) load(ctx context.Context, loader snapshot.BlobLoader) {
	defer close(l.ready)
	l.err = snapshot.WalkDir(ctx, loader, l.subtree, func(n *snapshot.Node) error {
		l.nodes = append(l.nodes, *n)
		return nil
	})
}

// wait returns l's entries, loading them unless someone else does.
func (l *listing) wait(ctx context.Context, loader snapshot.BlobLoader) ([]snapshot.Node, error) {
	if l.claim() {
		l.load(ctx, loader)
	} else {
		select {
		case <-l.ready:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return l.nodes, l.err
}

// prefetch loads the parent listings of the directories about to be
// scanned, so that on remote storage the workers rarely wait for a tree
// blob. It returns when the queue closes.
func (a *archiver) prefetch(ctx context.Context) error {
	for {
		l, ok := a.queue.nextPrefetch()
		if !ok {
			return nil
		}
		l.load(ctx, a.repo)
	}
}
