package repo

import (
	"context"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// maxPrefetchedKeys bounds the remembered key files Open reads before the
// keys/ listing arrives: the first of PreferKeys, which the CLI makes the
// one that opened this location last.
const maxPrefetchedKeys = 1

// openFetch is what Open reads before it can derive a key: the config, the
// keys/ listing and the key files this machine opened the repository with
// before (OpenOptions.PreferKeys), all at once, so that opening a far-away
// repository costs one round trip rather than three. forgotten/ is listed
// at the same time and waited for only after the key derivation.
type openFetch struct {
	config    []byte
	configErr error
	names     []crypto.ID // of keys/
	listErr   error
	keys      map[crypto.ID]*crypto.KeyFile // prefetched, intact key files

	forgottenDone chan struct{}
	forgotten     []crypto.ID
	forgottenErr  error
}

// fetchForOpen starts the reads and returns when those a key derivation
// needs are done; the forgotten/ listing may still run (awaitForgotten).
func fetchForOpen(ctx context.Context, store storage.Store, opts OpenOptions) *openFetch {
	f := &openFetch{keys: make(map[crypto.ID]*crypto.KeyFile), forgottenDone: make(chan struct{})}
	go func() {
		defer close(f.forgottenDone)
		f.forgotten, f.forgottenErr = listObjects(ctx, store, KindForgotten)
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wg.Go(func() { f.config, f.configErr = readLimited(ctx, store, configName, maxConfigSize) })
	wg.Go(func() { f.names, f.listErr = listObjects(ctx, store, KindKey) })
	for _, id := range opts.PreferKeys[:min(len(opts.PreferKeys), maxPrefetchedKeys)] {
		wg.Go(func() {
			// A plain read: a missing or damaged one is read again, with
			// the versions fallback, only if the listing names it.
			name := ObjectName(KindKey, id)
			data, err := readLimited(ctx, store, name, maxKeyFileSize)
			var kf *crypto.KeyFile
			if err == nil {
				kf, err = decodeKeyFile(name, id, data)
			}
			if err == nil {
				mu.Lock()
				f.keys[id] = kf
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return f
}

// awaitForgotten waits for the forgotten/ listing.
func (f *openFetch) awaitForgotten(ctx context.Context) ([]crypto.ID, error) {
	select {
	case <-f.forgottenDone:
		return f.forgotten, f.forgottenErr
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// earlyList is a listing Open starts before it can derive a key
// (OpenOptions.ListEarly): the first ListObjects of its kind takes it.
type earlyList struct {
	done chan struct{}
	ids  []crypto.ID
	err  error
}

// startEarlyLists lists each of kinds in a goroutine of its own.
func startEarlyLists(ctx context.Context, store storage.Store, kinds []string) map[string]*earlyList {
	if len(kinds) == 0 {
		return nil
	}
	lists := make(map[string]*earlyList, len(kinds))
	for _, kind := range kinds {
		if _, dup := lists[kind]; dup {
			continue
		}
		l := &earlyList{done: make(chan struct{})}
		lists[kind] = l
		go func() {
			defer close(l.done)
			l.ids, l.err = listObjects(ctx, store, kind)
		}()
	}
	return lists
}

// takeEarly returns the early listing of kind, once; nil when there is
// none (left).
func (r *Repository) takeEarly(kind string) *earlyList {
	r.earlyMu.Lock()
	defer r.earlyMu.Unlock()
	l := r.early[kind]
	delete(r.early, kind)
	return l
}
