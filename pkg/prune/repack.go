package prune

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"golang.org/x/sync/errgroup"
)

// repack copies the live blobs of the plan's mostly unused packs into new
// packs and indexes them. It must finish before the marker condemning the
// old packs is written: a crash in between only leaves indexed duplicates,
// which the next mark condemns.
func (p *pruner) repack(ctx context.Context, pl *plan) error {
	if len(pl.repack) == 0 {
		return nil
	}
	// In this process only: the Saver must store every blob it is given
	// again, not deduplicate against a copy in a pack about to be
	// condemned or in one this run has not read (a planted pack's header
	// may claim any blob).
	p.r.SetAside(slices.Collect(maps.Keys(pl.view.sizes)))
	saver := p.r.NewSaver(ctx, repo.SaverOptions{Connections: p.opts.Connections})
	var (
		mu    sync.Mutex
		saved []blobKey
		prog  = Progress{Stage: StageRepack, TotalPacks: len(pl.repack)}
	)
	for _, pk := range pl.repack {
		prog.TotalBytes += liveBytes(pl.keep[pk])
	}
	p.progress(prog)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Connections)
	for _, pk := range pl.repack {
		g.Go(func() error {
			keys, err := p.copyPack(gctx, saver, pk, pl.keep[pk])
			mu.Lock()
			saved = append(saved, keys...)
			if err == nil {
				prog.Packs++
				prog.Bytes += liveBytes(pl.keep[pk])
			}
			now := prog
			mu.Unlock()
			if err == nil {
				p.progress(now)
			}
			return err
		})
	}
	copyErr := g.Wait()
	if _, err := saver.Flush(ctx); err != nil && copyErr == nil {
		copyErr = fmt.Errorf("prune: repack: %w", err)
	}
	if copyErr != nil {
		return copyErr
	}
	// The copies this run wrote count as proven, in sweeps of this run.
	for _, k := range saved {
		for _, e := range p.r.Index().LookupAll(k.id) {
			if _, existed := pl.view.sizes[e.Pack]; !existed && e.Type == k.t {
				p.wrote(e)
			}
		}
	}
	return nil
}

// liveBytes is the stored size of entries, the live bytes a repack copies
// (as Stats.BytesRepacked counts them).
func liveBytes(entries []index.Entry) int64 {
	var n int64
	for _, e := range entries {
		n += int64(e.Length)
	}
	return n
}

// copyPack reads the blobs of entries from pack pk (LoadPackBlobs: one
// ranged read, each blob authenticated) and saves them again. A blob that
// does not open is read from another copy if there is one (LoadBlob
// authenticates it too); if none works, prune stops before condemning
// anything.
func (p *pruner) copyPack(ctx context.Context, saver *repo.Saver, pk crypto.ID, entries []index.Entry) ([]blobKey, error) {
	var saved []blobKey
	err := p.r.LoadPackBlobs(ctx, pk, entries, repo.PackReadOptions{}, func(e index.Entry, plain []byte, err error) error {
		if err != nil {
			var lerr error
			plain, lerr = p.r.LoadBlob(ctx, e.Type, e.ID)
			if lerr != nil {
				return fmt.Errorf("prune: repack: %s blob %s of pack %s cannot be read: %w; nothing was condemned, run cairn check", e.Type, e.ID, pk.Short(), err)
			}
		}
		if _, err := saver.SaveBlobID(ctx, e.Type, e.ID, plain); err != nil {
			return fmt.Errorf("prune: repack: %w", err)
		}
		saved = append(saved, blobKey{e.ID, e.Type})
		return nil
	})
	return saved, err
}
