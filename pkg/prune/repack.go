package prune

import (
	"context"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// repack copies the live blobs of the plan's mostly unused packs into new
// packs and indexes them. It must finish before the marker condemning the
// old packs is written: a crash in between only leaves indexed duplicates,
// which the next mark condemns.
func (p *pruner) repack(ctx context.Context, pl *plan, condemn []crypto.ID) error {
	if len(pl.repack) == 0 {
		return nil
	}
	// In this process only: the Saver must not count blobs in packs that
	// are about to be condemned as stored already.
	p.r.Index().Condemn(condemn)
	saver := p.r.NewSaver(ctx, repo.SaverOptions{Connections: p.opts.Connections})
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(p.opts.Connections)
	for _, pk := range pl.repack {
		g.Go(func() error { return p.copyPack(gctx, saver, pk, pl.keep[pk]) })
	}
	copyErr := g.Wait()
	if _, err := saver.Flush(ctx); err != nil && copyErr == nil {
		copyErr = fmt.Errorf("prune: repack: %w", err)
	}
	return copyErr
}

// copyPack downloads pack pk once and saves the blobs of entries again. A
// blob that does not open is read from another copy if there is one; if
// none works, prune stops before condemning anything.
func (p *pruner) copyPack(ctx context.Context, saver *repo.Saver, pk crypto.ID, entries []index.Entry) error {
	name := repo.PackName(pk)
	data, err := storage.ReadAll(ctx, p.r.Store(), name)
	if err != nil {
		return fmt.Errorf("prune: repack: read %s: %w", name, err)
	}
	for _, e := range entries {
		var plain []byte
		err := fmt.Errorf("outside the pack")
		if end := int64(e.Offset) + int64(e.Length); end <= int64(len(data)) {
			plain, err = p.r.OpenBlob(e.Type, e.ID, data[e.Offset:end])
		}
		if err != nil {
			plain, err = p.r.LoadBlob(ctx, e.Type, e.ID)
		}
		if err != nil {
			return fmt.Errorf("prune: repack: %s blob %s of pack %s cannot be read: %w; nothing was condemned, run cairn check", e.Type, e.ID, pk.Short(), err)
		}
		if _, err := saver.SaveBlobID(ctx, e.Type, e.ID, plain); err != nil {
			return fmt.Errorf("prune: repack: %w", err)
		}
	}
	return nil
}
