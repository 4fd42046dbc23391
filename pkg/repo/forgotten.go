package repo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// KindForgotten is the kind of the records `forget` and `key remove` write
// (FORMAT.md section 13): the authenticated statement that a snapshot or a
// key file was removed on purpose. Without it, a snapshot that vanishes is
// the storage hiding it, and a key file that reappears is the storage
// putting back a revoked passphrase.
const KindForgotten = "forgotten"

// Forgotten is the body of a forgotten record.
type Forgotten struct {
	Created   time.Time
	Host      string
	Snapshots []crypto.ID // snapshots removed by forget (or replaced by tag)
	Keys      []crypto.ID // key files removed by key remove
}

type forgottenJSON struct {
	Created   time.Time `json:"created"`
	Host      string    `json:"host"`
	Snapshots []string  `json:"snapshots,omitempty"`
	Keys      []string  `json:"keys,omitempty"`
}

// MarshalJSON writes the format's JSON, with hex IDs.
func (f Forgotten) MarshalJSON() ([]byte, error) {
	return json.Marshal(forgottenJSON{Created: f.Created.UTC(), Host: f.Host, Snapshots: hexIDs(f.Snapshots), Keys: hexIDs(f.Keys)})
}

// UnmarshalJSON reads the format's JSON.
func (f *Forgotten) UnmarshalJSON(b []byte) error {
	var w forgottenJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	snaps, err := parseIDs(w.Snapshots)
	if err != nil {
		return fmt.Errorf("snapshots: %w", err)
	}
	keys, err := parseIDs(w.Keys)
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	*f = Forgotten{Created: w.Created, Host: w.Host, Snapshots: snaps, Keys: keys}
	return nil
}

// RecordForgotten writes a forgotten record for snapshots and key files
// about to be removed. Write it before removing them: a crash in between
// leaves a record of something still there, which is harmless, while the
// other order would leave a removal nobody vouches for.
func (r *Repository) RecordForgotten(ctx context.Context, snapshots, keys []crypto.ID) (crypto.ID, error) {
	if len(snapshots) == 0 && len(keys) == 0 {
		return crypto.ID{}, nil
	}
	body, err := json.Marshal(Forgotten{Created: r.now(), Host: r.opts.Host, Snapshots: snapshots, Keys: keys})
	if err != nil {
		return crypto.ID{}, err
	}
	id, err := r.SaveObject(ctx, KindForgotten, body)
	if err != nil {
		return crypto.ID{}, fmt.Errorf("record what is removed: %w", err)
	}
	return id, nil
}

// ForgottenSet is what every forgotten record in a repository says.
type ForgottenSet struct {
	Snapshots map[crypto.ID]time.Time // when each was forgotten
	Keys      map[crypto.ID]time.Time
}

// LoadForgotten reads every forgotten record. A record that fails its
// checks is skipped with a warning (r.skip): it vouches for nothing, so the
// worst it can do is make a removal look unexplained.
func (r *Repository) LoadForgotten(ctx context.Context) (ForgottenSet, error) {
	ids, err := r.ListObjects(ctx, KindForgotten)
	if err != nil {
		return ForgottenSet{Snapshots: map[crypto.ID]time.Time{}, Keys: map[crypto.ID]time.Time{}}, err
	}
	return r.loadForgotten(ctx, ids)
}

// loadForgotten is LoadForgotten for the records of a listing just taken.
func (r *Repository) loadForgotten(ctx context.Context, ids []crypto.ID) (ForgottenSet, error) {
	set := ForgottenSet{Snapshots: map[crypto.ID]time.Time{}, Keys: map[crypto.ID]time.Time{}}
	records := make([]*Forgotten, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Connections)
	for i, id := range ids {
		r.mu.Lock()
		f, cached := r.forgotten[id]
		r.mu.Unlock()
		if cached {
			records[i] = f
			continue
		}
		g.Go(func() error {
			name := ObjectName(KindForgotten, id)
			body, err := r.LoadObject(gctx, KindForgotten, id)
			switch {
			case errors.Is(err, storage.ErrNotFound):
				return nil
			case errors.Is(err, ErrCorrupt):
				r.skip(name, err)
				r.cacheForgotten(id, nil)
				return nil
			case err != nil:
				return err // storage trouble: the caller cannot judge removals
			}
			var f Forgotten
			if err := json.Unmarshal(body, &f); err != nil {
				r.skip(name, fmt.Errorf("%s: decode: %w", name, err))
				r.cacheForgotten(id, nil)
				return nil
			}
			records[i] = &f
			r.cacheForgotten(id, &f)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return set, err
	}
	for _, f := range records {
		if f == nil {
			continue
		}
		for _, s := range f.Snapshots {
			set.Snapshots[s] = f.Created
		}
		for _, k := range f.Keys {
			set.Keys[k] = f.Created
		}
	}
	return set, nil
}

// cacheForgotten remembers a record read (nil: it failed its checks).
func (r *Repository) cacheForgotten(id crypto.ID, f *Forgotten) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.forgotten == nil {
		r.forgotten = make(map[crypto.ID]*Forgotten)
	}
	r.forgotten[id] = f
}
