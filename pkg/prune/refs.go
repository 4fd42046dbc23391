package prune

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
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
	if err := p.refuseSkipped(); err != nil {
		return nil, nil, err
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

// refuseSkipped fails when the repository passed over a snapshot or index
// object it could not read: a snapshot prune did not see may need any pack,
// and an index object it did not see may be the only one locating a blob.
func (p *pruner) refuseSkipped() error {
	for _, sk := range p.r.Skipped() {
		for _, kind := range []string{repo.KindSnapshot, repo.KindIndex} {
			dir := strings.TrimSuffix(repo.ObjectName(kind, crypto.ID{}), crypto.ID{}.String())
			if strings.HasPrefix(sk.Name, dir) {
				fix := "cairn repair index rebuilds the index without it"
				if kind == repo.KindSnapshot {
					fix = "if it is junk, cairn forget " + strings.TrimPrefix(sk.Name, dir) + " removes it"
				}
				return fmt.Errorf("prune: %s could not be read (%v); nothing was deleted: prune deletes nothing while any snapshot or index object is unreadable; run cairn check, and %s", sk.Name, sk.Err, fix)
			}
		}
	}
	return nil
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
