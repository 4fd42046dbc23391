package repo

import (
	"context"
	"errors"
	"fmt"
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
func (r *Repository) LoadIndex(ctx context.Context) error {
	if err := r.loadDeletions(ctx); err != nil {
		return err
	}
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
	return nil
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

// loadIndexViews loads the listed index objects not loaded yet, with bounded
// concurrency, and returns those that no longer exist.
func (r *Repository) loadIndexViews(ctx context.Context, names []crypto.ID) ([]crypto.ID, error) {
	var (
		mu      sync.Mutex
		missing []crypto.ID
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Connections)
	for _, name := range names {
		r.mu.Lock()
		_, loaded := r.views[name]
		r.mu.Unlock()
		if loaded {
			continue
		}
		g.Go(func() error {
			v, err := r.loadIndexView(gctx, name)
			if errors.Is(err, storage.ErrNotFound) {
				mu.Lock()
				missing = append(missing, name)
				mu.Unlock()
				return nil
			}
			if err != nil {
				return err
			}
			r.addIndexView(name, v)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return missing, nil
}

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
	body, err := r.LoadObject(ctx, KindIndex, name)
	if err != nil {
		return nil, err
	}
	v, err := index.NewView(body)
	if err == nil {
		err = v.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", ObjectName(KindIndex, name), err, ErrCorrupt)
	}
	return r.cacheView(name, body, v), nil
}

// cacheView stores a checked index body in the cache and returns the cached
// (memory-mapped) view, so the heap copy can be freed; without a cache, or
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
	r.mu.Lock()
	r.views[name] = v
	r.mu.Unlock()
	r.idx.AddView(name, v)
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

// CompactIndex merges the index objects in use into one when there are more
// than max of them, and then deletes the ones it supersedes where the
// credentials allow (readers skip superseded objects, so append-only
// clients may leave them for prune). It reports whether it merged.
func (r *Repository) CompactIndex(ctx context.Context, max int) (bool, error) {
	set := r.Index()
	names := set.Names()
	if len(names) <= max {
		return false, nil
	}
	body, err := index.TryMerge(set.Views(), names, nil)
	if err != nil {
		return false, fmt.Errorf("merge %d index objects: %w", len(names), err)
	}
	if _, err := r.saveIndex(ctx, body); err != nil {
		return false, fmt.Errorf("merge %d index objects: %w", len(names), err)
	}
	for _, old := range set.Superseded() {
		err := r.DeleteObject(ctx, KindIndex, old)
		if errors.Is(err, storage.ErrPermission) {
			break // append-only credentials: every delete would fail
		}
		if err != nil {
			return true, err
		}
	}
	return true, nil
}
