package prune

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"golang.org/x/sync/errgroup"
)

// refSet is a set of blobs, keyed by ID with one bit per blob type (a data
// blob and a tree blob with equal content share an ID).
type refSet map[crypto.ID]uint8

func (s refSet) add(id crypto.ID, t pack.BlobType) { s[id] |= 1 << t }

func (s refSet) has(id crypto.ID, t pack.BlobType) bool { return s[id]&(1<<t) != 0 }

// each calls fn for every blob of the set.
func (s refSet) each(fn func(id crypto.ID, t pack.BlobType)) {
	for id, bits := range s {
		for _, t := range []pack.BlobType{pack.DataBlob, pack.TreeBlob} {
			if bits&(1<<t) != 0 {
				fn(id, t)
			}
		}
	}
}

// referenced lists the snapshots and returns every blob they reference. A
// snapshot or tree that cannot be read stops prune: without it, prune could
// not know what is garbage.
func (p *pruner) referenced(ctx context.Context) ([]snapshot.Entry, refSet, error) {
	snaps, err := snapshot.List(ctx, p.r)
	if err != nil {
		return nil, nil, fmt.Errorf("prune: %w; nothing was deleted on its account, run cairn check", err)
	}
	// List passes over damaged snapshot objects; prune must not act on
	// that partial view.
	if sk, ok := p.r.(interface{ Skipped() []repo.SkippedObject }); ok {
		if skipped := sk.Skipped(); len(skipped) > 0 {
			return nil, nil, fmt.Errorf("prune: %s cannot be read (%v), so what it references is unknown; nothing was deleted; run cairn check, and cairn forget %s if it is junk",
				skipped[0].Name, skipped[0].Err, path.Base(skipped[0].Name))
		}
	}
	ids := make([]crypto.ID, len(snaps))
	for i, e := range snaps {
		ids[i] = e.ID
	}
	slices.SortFunc(ids, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
	p.stats.Snapshots = len(snaps)
	if p.refs != nil && slices.Equal(ids, p.refsFor) {
		return snaps, p.refs, nil
	}

	w := &refWalker{r: p.r, refs: make(refSet)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Connections)
	for _, e := range snaps {
		g.Go(func() error {
			if err := w.walk(gctx, e.Snapshot.Tree); err != nil {
				return fmt.Errorf("prune: snapshot %s: %w; nothing was deleted, run cairn check", e.ID.Short(), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	p.refsFor, p.refs = ids, w.refs
	return snaps, w.refs, nil
}

// refWalker collects referenced blobs from many snapshots at once, loading
// each tree blob once.
type refWalker struct {
	r    Repo
	mu   sync.Mutex
	refs refSet
}

// claim adds a tree blob and reports whether it was new.
func (w *refWalker) claim(id crypto.ID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.refs.has(id, pack.TreeBlob) {
		return false
	}
	w.refs.add(id, pack.TreeBlob)
	return true
}

func (w *refWalker) walk(ctx context.Context, subtree []crypto.ID) error {
	for _, id := range subtree {
		if !w.claim(id) {
			continue
		}
		body, err := w.r.LoadBlob(ctx, pack.TreeBlob, id)
		if err != nil {
			return fmt.Errorf("load tree %s: %w", id.Short(), err)
		}
		nodes, err := snapshot.DecodeTree(body)
		if err != nil {
			return fmt.Errorf("tree %s: %w", id.Short(), err)
		}
		var subdirs [][]crypto.ID
		w.mu.Lock()
		for i := range nodes {
			switch n := &nodes[i]; n.Type {
			case snapshot.NodeFile:
				for _, b := range n.Content {
					w.refs.add(b, pack.DataBlob)
				}
			case snapshot.NodeDir:
				subdirs = append(subdirs, n.Subtree)
			}
		}
		w.mu.Unlock()
		for _, sub := range subdirs {
			if err := w.walk(ctx, sub); err != nil {
				return err
			}
		}
	}
	return nil
}
