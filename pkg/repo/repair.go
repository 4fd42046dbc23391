package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// RepairOptions configure RepairIndex.
type RepairOptions struct {
	// DryRun reads the pack headers and reports what would be written and
	// deleted, changing nothing.
	DryRun bool
	// Progress, if not nil, is told after each pack header how many of how
	// many have been read. Calls come one at a time, from several
	// goroutines.
	Progress func(done, total int)
}

// RepairStats say what RepairIndex found and did.
type RepairStats struct {
	// Packs is the number of packs listed; Blobs the entries of the
	// rebuilt index.
	Packs, Blobs int
	// BadPacks are packs whose header failed its checks: their blobs are
	// left out of the rebuilt index. cairn check reports the snapshots that
	// need them.
	BadPacks []SkippedObject
	// Vanished counts packs deleted (by a prune) between listing and
	// reading.
	Vanished int
	// OldIndexes is the number of index objects there were, including any
	// that fail their checks.
	OldIndexes int
	// NotHeld names the index objects in use whose entries the rebuilt
	// index does not all hold: entries of missing or damaged packs, or
	// claims the pack headers contradict (forged). Empty on a healthy
	// repository.
	NotHeld []crypto.ID
	// Written is the new index object (zero in a dry run or when there was
	// nothing to write).
	Written crypto.ID
	// Deleted old index objects, and Kept ones the credentials did not
	// allow deleting.
	Deleted, Kept int
}

// RepairIndex rebuilds the index from the pack headers: it lists index/,
// then data/, reads and authenticates the header of every pack (only the
// header, with bounded concurrency), writes one index object holding every
// blob of every pack whose header passed, superseding every listed index
// object, and then deletes those objects.
//
// A pack whose header fails its checks is reported by name (BadPacks) and
// left out; a pack that vanished meanwhile is counted; any other failure to
// read a header (storage unreachable) stops the repair before anything is
// written, since leaving a readable pack out and then deleting the old
// index would lose its blobs.
//
// Crash safety follows from the order: nothing is deleted before the new
// object is stored, so at every step the objects present hold at least
// every blob of every good pack. Index objects are listed before packs, and
// a backup uploads packs before the index object naming them, so every
// listed index object's packs are among the packs listed: an object a
// running backup writes meanwhile is either listed (and its packs are in
// the rebuilt index) or not listed (and stays).
//
// Run it while no prune sweeps: the rebuilt index names every pack present,
// including packs a deletion marker condemns, and a sweep that deletes one
// after the repair listed it leaves an entry whose pack is gone and which,
// once the marker is removed, nothing condemns (check reports it; another
// repair removes it).
//
// With credentials that may not delete (append-only), the old objects stay.
// Readers then ignore those the new object provably holds (a healthy index,
// or one that had only lost objects); the others, holding entries the pack
// headers do not back (NotHeld), stay in use and are reported by every
// load as unproven claims until someone who may delete runs the repair.
func (r *Repository) RepairIndex(ctx context.Context, opts RepairOptions) (RepairStats, error) {
	var st RepairStats
	// The current index, to compare with; junk in it is skipped (and
	// deleted below). If it cannot be loaded at all, the comparison is
	// all that is lost.
	if err := r.LoadIndex(ctx); err != nil && ctx.Err() != nil {
		return st, err
	}
	old, err := r.ListObjects(ctx, KindIndex)
	if err != nil {
		return st, fmt.Errorf("repair index: %w", err)
	}
	st.OldIndexes = len(old)
	var packs []crypto.ID
	if err := r.ListPacks(ctx, func(id crypto.ID, _ int64) error {
		packs = append(packs, id)
		return nil
	}); err != nil {
		return st, fmt.Errorf("repair index: %w", err)
	}
	st.Packs = len(packs)
	entries, err := r.readPackHeaders(ctx, packs, &st, opts.Progress)
	if err != nil {
		return st, fmt.Errorf("repair index: %w; nothing was changed", err)
	}
	body := index.Encode(entries, old)
	rebuilt, err := index.NewView(body)
	if err != nil {
		return st, fmt.Errorf("repair index: encode: %w", err) // a bug in the encoder
	}
	st.Blobs = rebuilt.Len()
	names, views := r.idx.InUse()
	held, err := index.Contains(rebuilt, views)
	if err != nil {
		return st, fmt.Errorf("repair index: compare with the current index: %w", err)
	}
	for i, ok := range held {
		if !ok {
			st.NotHeld = append(st.NotHeld, names[i])
		}
	}
	if opts.DryRun || (len(entries) == 0 && len(old) == 0) {
		return st, nil
	}
	st.Written, err = r.saveIndex(ctx, body)
	if err != nil {
		return st, fmt.Errorf("repair index: write the rebuilt index: %w; nothing was deleted", err)
	}
	st.Deleted, err = r.deleteIndexObjects(ctx, old, st.Written)
	st.Kept = len(old) - st.Deleted
	if err != nil {
		return st, fmt.Errorf("repair index: the rebuilt index %s is written, but deleting the old ones failed: %w; run the repair again",
			ObjectName(KindIndex, st.Written), err)
	}
	return st, nil
}

// readPackHeaders reads the headers of packs with bounded concurrency and
// returns their entries. Damaged packs are recorded in st.BadPacks and
// vanished ones counted; other errors are returned.
func (r *Repository) readPackHeaders(ctx context.Context, packs []crypto.ID, st *RepairStats, progress func(done, total int)) ([]index.Entry, error) {
	headers := make([][]pack.Entry, len(packs))
	bad := make([]error, len(packs))
	vanished := make([]bool, len(packs))
	var (
		mu   sync.Mutex
		done int
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Connections)
	for i, id := range packs {
		g.Go(func() error {
			h, _, err := r.ReadPackHeader(gctx, id)
			switch {
			case errors.Is(err, ErrCorrupt):
				bad[i] = err
			case errors.Is(err, storage.ErrNotFound):
				vanished[i] = true
			case err != nil:
				return err
			default:
				headers[i] = h
			}
			if progress != nil {
				mu.Lock()
				done++
				progress(done, len(packs))
				mu.Unlock()
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	n := 0
	for _, h := range headers {
		n += len(h)
	}
	entries := make([]index.Entry, 0, n)
	for i, id := range packs {
		switch {
		case bad[i] != nil:
			st.BadPacks = append(st.BadPacks, SkippedObject{Name: PackName(id), Err: bad[i]})
		case vanished[i]:
			st.Vanished++
		}
		for _, e := range headers[i] {
			entries = append(entries, index.Entry{ID: e.ID, Type: e.Type, Pack: id, Offset: e.Offset, Length: e.Length, PlainLen: e.PlainLen})
		}
	}
	return entries, nil
}
