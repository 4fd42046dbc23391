package repo

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// maxCommitRounds bounds Commit's renew, re-list, verify, store-again loop.
// A round stores again only what a marker condemned since the previous
// one, so a second round normally finds nothing to do.
const maxCommitRounds = 5

// blobRef is a blob a snapshot references.
type blobRef struct {
	t  pack.BlobType
	id crypto.ID
}

// secure makes sure that every blob the snapshot with root tree references
// survives concurrent prunes, storing again those that only a condemned
// pack holds (FORMAT.md section 10, "a paused client").
//
// While the lease is live and does not list a marker M, M's sweep waits for
// this run, and the snapshot rescues M's packs; M is harmless, even when it
// condemns this run's own new packs, as a prune's mark phase does with
// every pack no snapshot references yet. Two things break that: a marker
// the lease lists (its sweep does not wait, though the index load ignored
// its packs, so only a reused parent blob could be in one), and a lapse,
// when the lease went unrenewed so long that a prune took the run for
// dead: then any marker, including one swept and removed meanwhile, may
// have deleted what the run uses, and a sweep under way goes on deleting.
// Markers of either kind are "dangerous": every referenced blob needs a
// copy in an existing pack that no dangerous marker condemns. Markers that
// first appear after a renewal with no lapse are not: their sweeps see the
// renewed lease and wait.
func (s *WriteSession) secure(ctx context.Context, tree []crypto.ID) error {
	l := s.lease
	dangerous := make(map[crypto.ID]bool)
	for _, m := range l.seen {
		dangerous[m] = true
	}
	lapsesSeen := 0
	for round := 0; ; round++ {
		// A lease written under a minute ago is as good as a renewal:
		// every prune sees it live, and markers that appear after it
		// wait for it. A short backup saves the round trip.
		if round > 0 || !l.fresh() {
			if err := l.renew(ctx); err != nil {
				return s.leaseErr(err)
			}
		}
		if err := l.Err(); err != nil {
			return s.leaseErr(err)
		}
		markers, err := s.r.ListObjects(ctx, KindDeletion)
		if err != nil {
			return fmt.Errorf("list deletion markers before the snapshot: %w", err)
		}
		lapses := l.lapseCount()
		if lapses > lapsesSeen {
			for _, m := range markers {
				dangerous[m] = true
			}
			lapsesSeen = lapses
		}
		unseen := slices.ContainsFunc(markers, func(m crypto.ID) bool { return !slices.Contains(l.seen, m) })
		if !unseen && lapses == 0 {
			return nil // nothing happened that could touch this run's data
		}
		if round == maxCommitRounds {
			return s.leaseErr(fmt.Errorf("deletion markers kept condemning this run's data for %d rounds; is a prune looping?", round))
		}
		again, err := s.verify(ctx, tree, markers, dangerous)
		if err != nil {
			return err
		}
		if len(again) == 0 {
			return nil
		}
		if err := s.storeAgain(ctx, again); err != nil {
			return err
		}
	}
}

// verify reloads the index (which condemns the packs of every current
// marker), lists the packs and walks the snapshot's trees. It returns the
// blobs whose every existing copy is in a pack a dangerous marker condemns,
// which must be stored again, and fails with ErrLease when a blob has no
// existing copy at all.
func (s *WriteSession) verify(ctx context.Context, tree []crypto.ID, markers []crypto.ID, dangerous map[crypto.ID]bool) ([]blobRef, error) {
	r := s.r
	if err := r.LoadIndex(ctx); err != nil {
		return nil, fmt.Errorf("reload index before the snapshot: %w", err)
	}
	unsafe := make(map[crypto.ID]bool)
	for _, m := range markers {
		if !dangerous[m] {
			continue
		}
		d, err := r.LoadDeletion(ctx, m)
		if err != nil {
			if isNotFound(err) {
				continue // swept: its packs are gone, which the listing shows
			}
			return nil, fmt.Errorf("load deletion marker before the snapshot: %w", err)
		}
		for _, p := range d.Packs {
			unsafe[p] = true
		}
	}
	existing := make(map[crypto.ID]bool)
	if err := r.ListPacks(ctx, func(id crypto.ID, _ int64) error {
		existing[id] = true
		return nil
	}); err != nil {
		return nil, fmt.Errorf("list packs before the snapshot: %w", err)
	}

	v := &treeCheck{s: s, existing: existing, unsafe: unsafe, checked: make(map[blobRef]bool), walked: make(map[string]bool)}
	if err := v.dir(ctx, tree); err != nil {
		return nil, err
	}
	// A pack that is gone must not satisfy the Saver's deduplication.
	r.idx.Condemn(v.gone)
	return v.again, nil
}

// treeCheck walks a snapshot's trees once each, checking every blob.
type treeCheck struct {
	s                *WriteSession
	existing, unsafe map[crypto.ID]bool
	checked          map[blobRef]bool
	walked           map[string]bool // directories by their run IDs
	again            []blobRef
	gone             []crypto.ID // indexed packs not listed
}

// dir checks a directory's tree blobs, then its entries.
func (v *treeCheck) dir(ctx context.Context, subtree []crypto.ID) error {
	key := string(idBytes(subtree))
	if v.walked[key] {
		return nil
	}
	v.walked[key] = true
	for _, id := range subtree {
		if err := v.blob(blobRef{pack.TreeBlob, id}); err != nil {
			return err
		}
	}
	return snapshot.WalkDir(ctx, v.s.r, subtree, func(n *snapshot.Node) error {
		if n.Type == snapshot.NodeDir {
			return v.dir(ctx, n.Subtree)
		}
		for _, id := range n.Content {
			if err := v.blob(blobRef{pack.DataBlob, id}); err != nil {
				return err
			}
		}
		return nil
	})
}

// blob checks one referenced blob's copies.
func (v *treeCheck) blob(b blobRef) error {
	if v.checked[b] {
		return nil
	}
	v.checked[b] = true
	safe, exists := false, false
	for _, e := range v.s.r.idx.LookupAll(b.id) {
		if e.Type != b.t {
			continue
		}
		if !v.existing[e.Pack] {
			if !slices.Contains(v.gone, e.Pack) {
				v.gone = append(v.gone, e.Pack)
			}
			continue
		}
		exists = true
		if !v.unsafe[e.Pack] {
			safe = true
			break
		}
	}
	switch {
	case safe:
		return nil
	case exists:
		v.again = append(v.again, b)
		return nil
	}
	return v.s.lostBlob(b, nil)
}

// lostBlob is the error for a blob this run references that a prune
// deleted.
func (s *WriteSession) lostBlob(b blobRef, cause error) error {
	err := fmt.Errorf("%w: %s blob %s, which this backup references, is no longer in the repository: a prune deleted it (was the run paused for longer than the lease lifetime of %v?)",
		ErrLease, b.t, b.id, s.r.leaseLifetime)
	if cause != nil {
		err = fmt.Errorf("%w: %w", err, cause)
	}
	return fmt.Errorf("%w; no snapshot was written: run the backup again", err)
}

// storeAgain copies blobs out of condemned packs into new ones, through a
// Saver of its own, and waits for its uploads whatever happens.
func (s *WriteSession) storeAgain(ctx context.Context, blobs []blobRef) (err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	saver := s.r.NewSaver(ctx, SaverOptions{})
	defer func() {
		if err != nil {
			cancel()
			_ = saver.uploads.Wait()
		}
	}()
	for _, b := range blobs {
		data, err := s.r.LoadBlob(ctx, b.t, b.id)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return s.lostBlob(b, err)
		}
		if _, err := saver.SaveBlobID(ctx, b.t, b.id, data); err != nil {
			return fmt.Errorf("store again blobs of condemned packs: %w", err)
		}
	}
	if _, err := saver.Flush(ctx); err != nil {
		return fmt.Errorf("store again blobs of condemned packs: %w", err)
	}
	return nil
}

func idBytes(ids []crypto.ID) []byte {
	out := make([]byte, 0, len(ids)*crypto.IDSize)
	for _, id := range ids {
		out = append(out, id[:]...)
	}
	return out
}

func isNotFound(err error) bool { return errors.Is(err, storage.ErrNotFound) }
