package check

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// loadIndex reads every index object from the store, checked against its
// name and authenticated (LoadObject), validates it, and builds the index
// the rest of the check uses from exactly those bodies. A damaged object is
// named and the others are still used.
//
// The local cache only saves memory here: a cached view is used for
// lookups once it is proven to hold the same entries as the stored body.
// A cached copy that disagrees is rebuilt from the stored body, and the
// copy of a stored object that is damaged is dropped, so that no later
// command on this machine relies on what other machines cannot read.
func (c *checker) loadIndex(ctx context.Context) error {
	c.progress(StageIndex, 0, 1)
	ids, err := c.r.ListObjects(ctx, repo.KindIndex)
	if err != nil {
		return err
	}
	views := make([]*index.View, len(ids))
	damaged := make([]bool, len(ids))
	var (
		mu   sync.Mutex
		done int
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Connections)
	for i, id := range ids {
		g.Go(func() error {
			v, bad, err := c.loadIndexObject(gctx, id)
			if err != nil {
				return err
			}
			views[i], damaged[i] = v, bad
			mu.Lock()
			done++
			n := done
			mu.Unlock()
			c.progress(StageIndex, n, len(ids))
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	c.indexBad = c.indexIncomplete || slices.Contains(damaged, true)
	var keep []crypto.ID
	for i, id := range ids {
		if views[i] != nil {
			c.r.idx.AddView(id, views[i])
		}
		if !damaged[i] {
			keep = append(keep, id)
		}
	}
	if c.opts.Cache != nil {
		if err := c.opts.Cache.Retain(keep); err != nil {
			c.infof("local index cache: %v", err)
		}
	}
	c.progress(StageIndex, len(ids), len(ids))
	return nil
}

// loadIndexObject loads index object id from the store. It returns the view
// to use (nil when there is none) and whether the stored object is proven
// damaged; the error is only ctx's.
func (c *checker) loadIndexObject(ctx context.Context, id crypto.ID) (*index.View, bool, error) {
	name := repo.ObjectName(repo.KindIndex, id)
	body, err := c.r.LoadObject(ctx, repo.KindIndex, id)
	if ctx.Err() != nil {
		return nil, false, ctx.Err()
	}
	if errors.Is(err, storage.ErrNotFound) {
		// Removed by a concurrent prune or index upkeep after the listing.
		return nil, false, nil
	}
	if errors.Is(err, repo.ErrCorrupt) {
		c.errorf("index %s is damaged: %v; run cairn repair index to rebuild the index from the packs", id, err)
		c.releaseCached(id)
		return nil, true, nil
	}
	if err != nil {
		c.unreadablef("index %s: %v", id, err)
		c.mu.Lock()
		c.indexIncomplete = true
		c.mu.Unlock()
		return nil, false, nil
	}
	v, err := index.NewView(body)
	if err == nil {
		err = v.Validate()
	}
	if err != nil {
		c.errorf("index %s is damaged: %s authenticates but is not a valid index (%v); run cairn repair index to rebuild the index from the packs", id, name, err)
		c.releaseCached(id)
		return nil, true, nil
	}
	if c.opts.Cache == nil {
		return v, false, nil
	}
	if cached, err := c.opts.Cache.Load(id); err == nil {
		if sameIndex(id, cached, v) {
			return cached, false, nil
		}
		c.infof("the local cache's copy of index %s differed from the stored object; rebuilt from the stored object", id)
		c.releaseCached(id)
	}
	if err := c.opts.Cache.Store(id, body); err != nil {
		return v, false, nil
	}
	if cached, err := c.opts.Cache.Load(id); err == nil && sameIndex(id, cached, v) {
		return cached, false, nil
	}
	return v, false, nil
}

// releaseCached closes check's cached view of id; Retain then removes the
// file when the stored object is damaged, and Store replaces it otherwise.
func (c *checker) releaseCached(id crypto.ID) {
	if c.opts.Cache != nil {
		_ = c.opts.Cache.Release(id)
	}
}

// errDiffer stops the comparison of two index views at the first
// difference.
var errDiffer = errors.New("views differ")

// sameIndex reports whether the cached view holds exactly the entries,
// pack table and supersedes list of the stored body's view. It streams the
// cached file once (Set.Each reads it through a buffer).
func sameIndex(name crypto.ID, cached, stored *index.View) bool {
	if cached.Len() != stored.Len() ||
		!slices.Equal(cached.Supersedes(), stored.Supersedes()) ||
		!slices.Equal(cached.Packs(), stored.Packs()) {
		return false
	}
	one := index.NewSet()
	one.AddView(name, cached)
	i := 0
	err := one.Each(func(e index.Entry) error {
		if i >= stored.Len() || e != stored.Entry(i) {
			return errDiffer
		}
		i++
		return nil
	})
	return err == nil && i == stored.Len() && cached.Err() == nil
}

// loadMarkers records which packs deletion markers condemn: an index entry
// for such a pack that is already gone is an interrupted prune, not damage.
func (c *checker) loadMarkers(ctx context.Context) error {
	ids, err := c.r.ListObjects(ctx, repo.KindDeletion)
	if err != nil {
		return err
	}
	for _, id := range ids {
		var d repo.Deletion
		err := c.loadJSON(ctx, repo.KindDeletion, id, &d)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			if !c.fail("deletion marker "+id.String(), err) {
				c.markersIncomplete = true
			}
			continue
		}
		for _, p := range d.Packs {
			c.condemned[p] = id
		}
	}
	return nil
}

// loadJSON loads the envelope of kind named id and decodes its JSON body
// into v. A body that authenticates but does not decode is damage: it is
// reported wrapping repo.ErrCorrupt.
func (c *checker) loadJSON(ctx context.Context, kind string, id crypto.ID, v any) error {
	body, err := c.r.LoadObject(ctx, kind, id)
	if err != nil {
		return err
	}
	if err := decodeJSON(body, v); err != nil {
		return fmt.Errorf("%s: authenticated, but it does not decode: %v: %w", repo.ObjectName(kind, id), err, repo.ErrCorrupt)
	}
	return nil
}
