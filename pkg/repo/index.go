package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// MaxIndexObjects is how many index objects in use a repository may have
// before a Saver's Flush merges them into one.
const MaxIndexObjects = 32

// Index returns the loaded index: what LoadIndex found plus the blobs Savers
// of this repository stored since.
func (r *Repository) Index() IndexReader { return r.idx }

// LoadIndex loads every index object into Index(): from the local cache
// when it holds a copy, else downloaded, checked and added to the cache. It
// then drops cache files of index objects that no longer exist and condemns
// the packs named by deletion markers, so that Saver does not deduplicate
// against packs a prune is about to delete.
//
// Deletion markers are listed before index objects: prune writes its merged
// index before it removes a marker, so whichever index objects this run
// sees, the packs they name are either condemned or still exist.
//
// An index object that fails its hash, its authentication, its decoding or
// the size limit is skipped with a warning naming it (see Skipped), so that
// junk under index/ stops no client; prune and check learn of it from
// Skipped. A supersedes claim that fails its proof (index.Contains) leaves
// both objects in use and is reported once through OpenOptions.Warn, but is
// not a skip: nothing is hidden (see UnprovenIndexClaims).
func (r *Repository) LoadIndex(ctx context.Context) error {
	if err := r.loadDeletions(ctx); err != nil {
		return err
	}
	return r.loadIndexObjects(ctx)
}

// loadIndexObjects is LoadIndex without listing deletion markers: a write
// session has just listed and condemned them when it wrote its lease, and a
// marker written after that waits for the lease (FORMAT.md section 10).
func (r *Repository) loadIndexObjects(ctx context.Context) error {
	var listed []crypto.ID
	for attempt := 0; ; attempt++ {
		var err error
		listed, err = r.ListObjects(ctx, KindIndex)
		if err != nil {
			return err
		}
		missing, err := r.loadIndexViews(ctx, listed)
		if err != nil {
			return err
		}
		// An index object that vanished after the listing is harmless
		// when another loaded one supersedes it (index upkeep or prune
		// deleted it after writing the merged one); otherwise list again
		// to find the object that replaced it.
		superseded := r.supersededByLoaded()
		missing = slices.DeleteFunc(missing, func(id crypto.ID) bool {
			_, found := superseded[id]
			return found
		})
		if len(missing) == 0 {
			break
		}
		if attempt == 2 {
			return fmt.Errorf("load index: %s disappeared while loading and nothing replaced it; retry, or run cairn check: %w",
				ObjectName(KindIndex, missing[0]), storage.ErrNotFound)
		}
	}
	if r.cache != nil {
		if err := r.cache.Retain(listed); err != nil {
			return fmt.Errorf("trim index cache: %w", err)
		}
	}
	r.reportUnproven()
	return nil
}

// indexState is what LoadIndex remembers between calls, guarded by r.mu.
type indexState struct {
	bad      map[crypto.ID]bool   // index objects skipped for failing their checks
	reported map[index.Claim]bool // unproven claims already warned about
}

// UnprovenIndexClaims returns the supersedes claims between loaded index
// objects that failed their proof: both objects stay in use. It is an
// attack (objects planted to hide the real index) or the leftover of an
// interrupted prune; cairn repair index, or the next prune, removes them.
func (r *Repository) UnprovenIndexClaims() []index.Claim { return r.idx.Unproven() }

// reportUnproven warns once about each unproven claim.
func (r *Repository) reportUnproven() {
	claims := r.idx.Unproven()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ix.reported == nil {
		r.ix.reported = make(map[index.Claim]bool)
	}
	for _, c := range claims {
		if r.ix.reported[c] {
			continue
		}
		r.ix.reported[c] = true
		if r.opts.Warn != nil {
			r.opts.Warn(ObjectName(KindIndex, c.By), fmt.Errorf(
				"claims to supersede %s but does not hold all its entries, so both are used (an interrupted prune leaves this, and so can someone planting objects); cairn repair index or cairn prune cleans it up",
				ObjectName(KindIndex, c.Of)))
		}
	}
}

// supersededByLoaded returns the index objects that a loaded one supersedes,
// whether or not they were loaded themselves.
func (r *Repository) supersededByLoaded() map[crypto.ID]struct{} {
	r.mu.Lock()
	views := make([]*index.View, 0, len(r.views))
	for _, v := range r.views {
		views = append(views, v)
	}
	r.mu.Unlock()
	out := make(map[crypto.ID]struct{})
	for _, v := range views {
		for _, id := range v.Supersedes() {
			out[id] = struct{}{}
		}
	}
	return out
}

// loadIndexViews loads the listed index objects not loaded (or skipped)
// yet, with bounded concurrency, and returns those that no longer exist.
// Objects that fail their checks are skipped with a warning.
func (r *Repository) loadIndexViews(ctx context.Context, names []crypto.ID) ([]crypto.ID, error) {
	var (
		mu      sync.Mutex
		missing []crypto.ID
		got     []crypto.ID // loaded, with views
		views   []*index.View
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Connections)
	for _, name := range names {
		r.mu.Lock()
		_, loaded := r.views[name]
		bad := r.ix.bad[name]
		r.mu.Unlock()
		if loaded || bad {
			continue
		}
		g.Go(func() error {
			v, err := r.loadIndexView(gctx, name)
			var be badIndexError
			switch {
			case errors.As(err, &be):
				r.mu.Lock()
				if r.ix.bad == nil {
					r.ix.bad = make(map[crypto.ID]bool)
				}
				r.ix.bad[name] = true
				r.mu.Unlock()
				r.skip(ObjectName(KindIndex, name), be.err)
				return nil
			case errors.Is(err, storage.ErrNotFound):
				mu.Lock()
				missing = append(missing, name)
				mu.Unlock()
				return nil
			case err != nil:
				return err
			}
			mu.Lock()
			got, views = append(got, name), append(views, v)
			mu.Unlock()
			return nil
		})
	}
	err := g.Wait()
	// All at once, so that each superseding view is read once to prove
	// its claims (see index.Set.AddViews).
	r.addIndexViews(got, views)
	if err != nil {
		return nil, err
	}
	return missing, nil
}

// maxIndexObjectSize bounds a stored index object: an index of 40 million
// blobs, as for the decompressed body. Larger objects are refused before
// they are read.
const maxIndexObjectSize = maxEnvelopeSize

// badIndexError wraps why received bytes of an index object failed their
// checks (hash, authentication, decoding, size), as opposed to storage not
// delivering them: the first is skipped, the second stops LoadIndex.
type badIndexError struct{ err error }

func (e badIndexError) Error() string { return e.err.Error() }
func (e badIndexError) Unwrap() error { return e.err }

// loadIndexView returns a view of one index object, from the cache if it
// has it, else downloaded, validated and then cached.
func (r *Repository) loadIndexView(ctx context.Context, name crypto.ID) (*index.View, error) {
	if r.cache != nil {
		// Any cache failure just means downloading: the cache is never
		// needed for correctness.
		if v, err := r.cache.Load(name); err == nil {
			return v, nil
		}
	}
	sealed, err := r.fetchIndex(ctx, name)
	if err == nil {
		// Overwritten on a versioned bucket: the genuine version. (A
		// missing index object stays missing: compaction deletes them.)
		sealed, err = r.objectFromVersions(ctx, ObjectName(KindIndex, name), name, sealed, nil)
	}
	if err != nil {
		return nil, err
	}
	body, err := r.openObject(KindIndex, name, sealed)
	if err != nil {
		return nil, badIndexError{err}
	}
	v, err := index.NewView(body)
	if err == nil {
		err = v.Validate()
	}
	if err != nil {
		return nil, badIndexError{fmt.Errorf("%s: %w: %w", ObjectName(KindIndex, name), err, ErrCorrupt)}
	}
	return r.cacheView(name, body, v), nil
}

// fetchIndex reads the stored bytes of an index object: it stats the
// object first and refuses one above maxIndexObjectSize without reading
// it, and reads through a limit of the size the store reported, so that a
// server streaming more than it listed cannot make the client hold it.
func (r *Repository) fetchIndex(ctx context.Context, id crypto.ID) ([]byte, error) {
	name := ObjectName(KindIndex, id)
	info, err := r.store.Stat(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	if info.Size > maxIndexObjectSize {
		return nil, badIndexError{fmt.Errorf("%s: %d bytes, more than the %d an index object may have: %w",
			name, info.Size, int64(maxIndexObjectSize), ErrCorrupt)}
	}
	rc, err := r.store.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	defer rc.Close()
	buf := bytes.NewBuffer(make([]byte, 0, min(info.Size, 64<<20)+1))
	if _, err := buf.ReadFrom(io.LimitReader(rc, info.Size+1)); err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	switch n := int64(buf.Len()); {
	case n > info.Size:
		return nil, badIndexError{fmt.Errorf("%s: the store sent more than the %d bytes it listed: %w", name, info.Size, ErrCorrupt)}
	case n < info.Size:
		// Storage did not deliver: not the object's fault.
		return nil, fmt.Errorf("load %s: read %d of its %d bytes: %w", name, n, info.Size, io.ErrUnexpectedEOF)
	}
	return buf.Bytes(), nil
}

// cacheView stores a checked index body in the cache and returns the cached
// view (read with pread from the cache file), so the heap copy can be freed; without a cache, or
// if caching fails, it returns v.
func (r *Repository) cacheView(name crypto.ID, body []byte, v *index.View) *index.View {
	if r.cache == nil {
		return v
	}
	if err := r.cache.Store(name, body); err != nil {
		return v
	}
	if cached, err := r.cache.Load(name); err == nil {
		return cached
	}
	return v
}

func (r *Repository) addIndexView(name crypto.ID, v *index.View) {
	r.addIndexViews([]crypto.ID{name}, []*index.View{v})
}

func (r *Repository) addIndexViews(names []crypto.ID, views []*index.View) {
	if len(names) == 0 {
		return
	}
	r.mu.Lock()
	for i, name := range names {
		r.views[name] = views[i]
	}
	r.mu.Unlock()
	r.idx.AddViews(names, views)
}

// saveIndex writes an index object with body and adds it to Index().
func (r *Repository) saveIndex(ctx context.Context, body []byte) (crypto.ID, error) {
	v, err := index.NewView(body)
	if err != nil {
		return crypto.ID{}, fmt.Errorf("encode index: %w", err) // a bug in the encoder
	}
	id, err := r.SaveObject(ctx, KindIndex, body)
	if err != nil {
		return crypto.ID{}, err
	}
	r.addIndexView(id, r.cacheView(id, body, v))
	return id, nil
}

// forgetIndexView drops a deleted index object from Index().
func (r *Repository) forgetIndexView(name crypto.ID) {
	r.mu.Lock()
	delete(r.views, name)
	r.mu.Unlock()
	r.idx.RemoveView(name)
}

// CompactIndex merges the index objects in use into one when there are more
// than max of them, and then deletes the loaded objects the merged one
// replaced where the credentials allow (see MergeIndex; append-only clients
// leave them, and readers skip them once the merged object provably holds
// them). It reports whether it merged.
func (r *Repository) CompactIndex(ctx context.Context, max int) (bool, error) {
	if len(r.idx.Names()) <= max {
		return false, nil
	}
	if _, err := r.replaceIndex(ctx, nil); err != nil {
		return false, err
	}
	return true, nil
}

// MergeIndex writes one index object that holds every entry of the index
// objects in use except those in packs for which drop reports true (drop
// may be nil), and supersedes all of them; prune's sweep calls it with the
// packs it deleted. It then deletes the index objects it replaced: those
// whose entries it carried over, and loaded ones that another loaded one
// provably contains; never one it did not load (an index written by a
// backup since LoadIndex stays). Deleting stops without an error at the
// first storage.ErrPermission: with append-only credentials the old objects
// stay, and readers still use those the merged one does not provably hold
// (those with dropped packs) until someone who may delete merges again.
//
// When a single object is in use and drop names none of its packs, nothing
// is written; the loaded superseded objects are still deleted. replaced is
// the number of objects deleted.
func (r *Repository) MergeIndex(ctx context.Context, drop func(pack crypto.ID) bool) (replaced int, err error) {
	names, views := r.idx.InUse()
	dropping := false
	for _, v := range views {
		if drop == nil {
			break
		}
		for _, pk := range v.Packs() {
			dropping = dropping || drop(pk)
		}
	}
	if !dropping && len(names) <= 1 {
		return r.deleteIndexObjects(ctx, r.idx.Superseded(), crypto.ID{})
	}
	return r.replaceIndex(ctx, drop)
}

// replaceIndex merges the objects in use, leaving out dropped packs, saves
// the result and deletes what it replaced (see MergeIndex).
func (r *Repository) replaceIndex(ctx context.Context, drop func(pack crypto.ID) bool) (int, error) {
	names, views := r.idx.InUse()
	body, err := index.TryMerge(views, names, drop)
	if err != nil {
		return 0, fmt.Errorf("merge %d index objects: %w", len(names), err)
	}
	merged, err := r.saveIndex(ctx, body)
	if err != nil {
		return 0, fmt.Errorf("merge %d index objects: %w", len(names), err)
	}
	// The inputs' entries are carried over (but for the packs the caller
	// dropped); the superseded ones are proven contained in something
	// carried over.
	old := append(slices.Clone(names), r.idx.Superseded()...)
	sortIDs(old)
	return r.deleteIndexObjects(ctx, slices.Compact(old), merged)
}

// deleteIndexObjects deletes the given index objects but keep, stopping
// quietly at the first permission error, and returns how many it deleted.
func (r *Repository) deleteIndexObjects(ctx context.Context, ids []crypto.ID, keep crypto.ID) (int, error) {
	deleted := 0
	for _, id := range ids {
		if id == keep {
			continue
		}
		err := r.DeleteObject(ctx, KindIndex, id)
		if errors.Is(err, storage.ErrPermission) {
			break // append-only credentials: every delete would fail
		}
		if err != nil {
			return deleted, err
		}
		r.forgetIndexView(id)
		deleted++
	}
	return deleted, nil
}

func sortIDs(ids []crypto.ID) {
	slices.SortFunc(ids, func(a, b crypto.ID) int { return bytes.Compare(a[:], b[:]) })
}
