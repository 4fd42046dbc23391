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
			if c.markersIncomplete {
				// It may be the sweep of a prune whose marker
				// could not be read: not proven damage.
				c.unreadablef("pack %s is missing, and a deletion marker that may condemn it could not be read", p)
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
			if _, condemned := c.condemned[p]; condemned || c.indexBad {
				continue
			}
			c.infof("pack %s is in no index (left by an interrupted backup or prune); the next prune removes it", p)
		}
	}
	switch {
	case orphans > 0 && c.indexBad:
		// Most likely the packs of the index objects that failed: they
		// are not litter, and prune must not treat them as such.
		c.infof("%d packs are in no index that could be read; the index objects named above may list them, and cairn repair index rebuilds the index from the packs", orphans)
	case orphans > 0:
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
			switch {
			case errors.Is(err, repo.ErrCorrupt):
				c.errorf("pack %s: header: %v", p, err)
				c.markDamaged(p)
			case errors.Is(err, storage.ErrNotFound):
				// Deleted since the listing: a concurrent prune's sweep.
			case err != nil:
				c.unreadablef("pack %s: header: %v", p, err)
			default:
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
	matched, disagree := 0, 0
	for _, e := range c.byPack[p] {
		h, ok := inHeader[key{e.ID, e.Offset}]
		if !ok || h.Type != e.Type || h.Length != e.Length {
			c.errorf("pack %s: the index places %s blob %s at offset %d, length %d, but the pack header does not", p, e.Type, e.ID, e.Offset, e.Length)
			c.markDamaged(p)
			c.markBad(e)
			disagree++
			continue
		}
		matched++
	}
	if disagree > 0 {
		c.errorf("pack %s: %d index entries disagree with the pack's authenticated header; run cairn repair index to rebuild the index from the pack headers", p, disagree)
	}
	if extra := len(header) - matched; extra > 0 {
		c.infof("pack %s holds %d blobs that no index lists", p, extra)
	}
}
