package check

import (
	"context"
	"errors"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// checkSnapshots loads every snapshot and walks its trees, checking that
// every tree and data blob has a usable location. Each distinct tree blob is
// loaded once however many snapshots share it.
func (c *checker) checkSnapshots(ctx context.Context) error {
	ids, err := c.r.ListObjects(ctx, repo.KindSnapshot)
	if err != nil {
		return err
	}
	for _, id := range ids {
		body, err := c.r.LoadObject(ctx, repo.KindSnapshot, id)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, storage.ErrNotFound) {
			continue // forgotten meanwhile
		}
		var s *snapshot.Snapshot
		damaged := repo.IsDamage(err)
		if err == nil {
			s, err = snapshot.UnmarshalSnapshot(body)
			damaged = err != nil
		}
		if err != nil && damaged {
			// Damaged, oversized or junk: listings pass over it, so say
			// how to be rid of it.
			c.errorf("snapshot %s: %v (cairn forget %s removes it)", id, err, id)
			continue
		}
		if err != nil {
			c.snapshotFailed(id, body, err)
			continue
		}
		c.snaps = append(c.snaps, snapshot.Entry{ID: id, Snapshot: s})
	}
	c.report.Snapshots = len(c.snaps)

	w := &treeWalker{c: c, visited: make(map[crypto.ID]bool), dataSeen: make(map[crypto.ID]bool)}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Connections)
	for i, e := range c.snaps {
		g.Go(func() error {
			if err := w.walk(gctx, e.Snapshot.Tree); err != nil {
				return err
			}
			c.progress(StageSnapshots, i+1, len(c.snaps))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.report.Trees = len(w.visited)
	return nil
}

// treeWalker walks trees of many snapshots at once, visiting each tree blob
// and checking each data blob once.
type treeWalker struct {
	c        *checker
	mu       sync.Mutex
	visited  map[crypto.ID]bool
	dataSeen map[crypto.ID]bool
}

// claim reports whether id was not seen before, marking it seen.
func (w *treeWalker) claim(set map[crypto.ID]bool, id crypto.ID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if set[id] {
		return false
	}
	set[id] = true
	return true
}

// walk checks the runs of one directory and, recursively, its contents.
// Only a cancelled context is returned as an error; damage is recorded.
func (w *treeWalker) walk(ctx context.Context, subtree []crypto.ID) error {
	for _, id := range subtree {
		if !w.claim(w.visited, id) {
			continue
		}
		body, err := w.c.r.LoadBlob(ctx, pack.TreeBlob, id)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var nodes []snapshot.Node
		if err == nil {
			nodes, err = snapshot.DecodeTree(body)
		}
		if err != nil {
			w.c.treeFailed(id, body, err)
			continue
		}
		for i := range nodes {
			n := &nodes[i]
			switch n.Type {
			case snapshot.NodeFile:
				for _, blob := range n.Content {
					if w.claim(w.dataSeen, blob) {
						w.c.checkLocated(blob, pack.DataBlob)
					}
				}
			case snapshot.NodeDir:
				if err := w.walk(ctx, n.Subtree); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkLocated records an error when blob id has no location of type t in a
// pack that exists.
func (c *checker) checkLocated(id crypto.ID, t pack.BlobType) {
	indexed := false
	for _, e := range c.r.Index().LookupAll(id) {
		if e.Type != t {
			continue
		}
		if _, ok := c.packs[e.Pack]; ok {
			return
		}
		indexed = true
	}
	if !indexed {
		// A blob whose packs are missing is covered by the pack's error.
		c.notIndexed(id, t)
	}
	c.mu.Lock()
	c.unindexed[id] = true
	c.mu.Unlock()
}
