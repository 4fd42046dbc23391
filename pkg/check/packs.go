package check

import (
	"cmp"
	"context"
	"errors"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// packTrailer is the smallest possible pack tail after the last blob: the
// length field and a sealed header with no entries.
const packTrailer = 4 + crypto.Overhead + 1 + 8 + 4

// loadIndex loads the index. When the repository's loader fails (it stops
// at the first bad index object), each index object is loaded on its own,
// so that every damaged one is named and the good ones are still used.
func (c *checker) loadIndex(ctx context.Context) error {
	c.progress(StageIndex, 0, 1)
	err := c.r.LoadIndex(ctx)
	if err == nil {
		c.progress(StageIndex, 1, 1)
		return nil
	}
	if ctx.Err() != nil {
		return err
	}
	ids, err := c.r.ListObjects(ctx, repo.KindIndex)
	if err != nil {
		return err
	}
	set := c.r.Index()
	loaded := append(set.Names(), set.Superseded()...)
	for i, id := range ids {
		c.progress(StageIndex, i, len(ids))
		if slices.Contains(loaded, id) {
			continue
		}
		err := c.r.LoadIndexObject(ctx, id)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, storage.ErrNotFound) {
			continue // removed by a concurrent prune
		}
		if err != nil {
			c.errorf("index %s is damaged: %v", id, err)
		}
	}
	c.progress(StageIndex, len(ids), len(ids))
	return nil
}

// loadMarkers records which packs deletion markers condemn: an index entry
// for such a pack that is already gone is an interrupted prune, not damage.
func (c *checker) loadMarkers(ctx context.Context) error {
	ids, err := c.r.ListObjects(ctx, repo.KindDeletion)
	if err != nil {
		return err
	}
	for _, id := range ids {
		d, err := c.r.LoadDeletion(ctx, id)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			c.errorf("deletion marker %s: %v", id, err)
			continue
		}
		for _, p := range d.Packs {
			c.condemned[p] = id
		}
	}
	return nil
}

// checkPacks lists data/ once and checks every index entry against it: its
// pack exists and the entry lies inside it. Packs no index mentions are
// reported as information.
func (c *checker) checkPacks(ctx context.Context) error {
	err := c.r.ListPacks(ctx, func(id crypto.ID, size int64) error {
		c.packs[id] = size
		return nil
	})
	if err != nil {
		return err
	}
	c.report.Packs = len(c.packs)
	err = c.r.Index().Each(func(e index.Entry) error {
		c.byPack[e.Pack] = append(c.byPack[e.Pack], e)
		return nil
	})
	if err != nil {
		return err
	}
	for p, entries := range c.byPack {
		// The same entry may be in several index objects.
		slices.SortFunc(entries, func(a, b index.Entry) int {
			if c := cmp.Compare(a.Offset, b.Offset); c != 0 {
				return c
			}
			return compareIDs(a.ID, b.ID)
		})
		entries = slices.CompactFunc(entries, func(a, b index.Entry) bool { return a.Offset == b.Offset && a.ID == b.ID })
		c.byPack[p] = entries
		c.report.Blobs += len(entries)

		size, exists := c.packs[p]
		if !exists {
			if marker, ok := c.condemned[p]; ok {
				c.infof("pack %s was deleted by a prune that did not finish (deletion marker %s); the next prune completes it", p, marker.Short())
				continue
			}
			c.errorf("pack %s is missing; the index places %d blobs in it", p, len(entries))
			c.markDamaged(p)
			for _, e := range entries {
				c.markBad(e)
			}
			continue
		}
		for _, e := range entries {
			if int64(e.Offset)+int64(e.Length)+packTrailer > size {
				c.errorf("pack %s: the index places %s blob %s at offset %d, length %d, beyond the pack's %d bytes", p, e.Type, e.ID, e.Offset, e.Length, size)
				c.markDamaged(p)
				c.markBad(e)
			}
		}
	}
	orphans := 0
	for p := range c.packs {
		if _, ok := c.byPack[p]; !ok {
			orphans++
			if _, condemned := c.condemned[p]; condemned {
				continue
			}
			c.infof("pack %s is in no index (left by an interrupted backup or prune); the next prune removes it", p)
		}
	}
	if orphans > 0 {
		c.infof("%d packs are in no index", orphans)
	}
	return nil
}

// checkHeaders reads every indexed pack's header and compares it with the
// index entries for that pack.
func (c *checker) checkHeaders(ctx context.Context) error {
	var todo []crypto.ID
	for p := range c.byPack {
		if _, ok := c.packs[p]; ok {
			todo = append(todo, p)
		}
	}
	slices.SortFunc(todo, compareIDs)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.opts.Connections)
	var done int
	for _, p := range todo {
		g.Go(func() error {
			header, _, err := c.r.ReadPackHeader(gctx, p)
			if gctx.Err() != nil {
				return gctx.Err()
			}
			if err != nil {
				c.errorf("pack %s: header: %v", p, err)
				c.markDamaged(p)
			} else {
				c.compareHeader(p, header)
			}
			c.mu.Lock()
			done++
			n := done
			c.mu.Unlock()
			c.progress(StagePacks, n, len(todo))
			return nil
		})
	}
	return g.Wait()
}

// compareHeader checks the index entries of pack p against its
// authenticated header, which is the ground truth for what the pack holds.
func (c *checker) compareHeader(p crypto.ID, header []pack.Entry) {
	type key struct {
		id     crypto.ID
		offset uint32
	}
	inHeader := make(map[key]pack.Entry, len(header))
	for _, h := range header {
		inHeader[key{h.ID, h.Offset}] = h
	}
	matched := 0
	for _, e := range c.byPack[p] {
		h, ok := inHeader[key{e.ID, e.Offset}]
		if !ok || h.Type != e.Type || h.Length != e.Length {
			c.errorf("pack %s: the index places %s blob %s at offset %d, length %d, but the pack header does not", p, e.Type, e.ID, e.Offset, e.Length)
			c.markDamaged(p)
			c.markBad(e)
			continue
		}
		matched++
	}
	if extra := len(header) - matched; extra > 0 {
		c.infof("pack %s holds %d blobs that no index lists", p, extra)
	}
}
