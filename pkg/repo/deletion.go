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

// Deletion is a deletion marker (FORMAT.md section 10): prune's
// announcement that it will delete Packs once every backup that might use
// them has finished.
type Deletion struct {
	Created       time.Time
	Packs         []crypto.ID
	SnapshotsSeen []crypto.ID
}

type deletionJSON struct {
	Created       time.Time `json:"created"`
	Packs         []string  `json:"packs"`
	SnapshotsSeen []string  `json:"snapshots_seen"`
}

// MarshalJSON writes the format's JSON, with hex IDs.
func (d Deletion) MarshalJSON() ([]byte, error) {
	return json.Marshal(deletionJSON{Created: d.Created.UTC(), Packs: hexIDs(d.Packs), SnapshotsSeen: hexIDs(d.SnapshotsSeen)})
}

// UnmarshalJSON reads the format's JSON.
func (d *Deletion) UnmarshalJSON(b []byte) error {
	var w deletionJSON
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	packs, err := parseIDs(w.Packs)
	if err != nil {
		return fmt.Errorf("packs: %w", err)
	}
	seen, err := parseIDs(w.SnapshotsSeen)
	if err != nil {
		return fmt.Errorf("snapshots_seen: %w", err)
	}
	*d = Deletion{Created: w.Created, Packs: packs, SnapshotsSeen: seen}
	return nil
}

// SaveDeletion writes a deletion marker and returns its ID.
func (r *Repository) SaveDeletion(ctx context.Context, d Deletion) (crypto.ID, error) {
	body, err := json.Marshal(d)
	if err != nil {
		return crypto.ID{}, err
	}
	return r.SaveObject(ctx, KindDeletion, body)
}

// LoadDeletion loads and decodes deletion marker id.
func (r *Repository) LoadDeletion(ctx context.Context, id crypto.ID) (Deletion, error) {
	body, err := r.LoadObject(ctx, KindDeletion, id)
	if err != nil {
		return Deletion{}, err
	}
	var d Deletion
	if err := json.Unmarshal(body, &d); err != nil {
		return Deletion{}, fmt.Errorf("%s: decode: %w", ObjectName(KindDeletion, id), err)
	}
	return d, nil
}

// loadDeletions lists deletions/ and condemns every pack the markers name
// in Index(). A marker deleted since the listing is skipped: prune removes
// a marker only after the packs are gone and a merged index omits them.
func (r *Repository) loadDeletions(ctx context.Context) error {
	ids, err := r.ListObjects(ctx, KindDeletion)
	if err != nil {
		return err
	}
	return r.condemn(ctx, ids)
}

// condemn loads the given deletion markers and condemns their packs.
func (r *Repository) condemn(ctx context.Context, ids []crypto.ID) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.opts.Connections)
	for _, id := range ids {
		g.Go(func() error {
			d, err := r.LoadDeletion(gctx, id)
			if errors.Is(err, storage.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			r.idx.Condemn(d.Packs)
			return nil
		})
	}
	return g.Wait()
}

func hexIDs(ids []crypto.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

func parseIDs(ss []string) ([]crypto.ID, error) {
	out := make([]crypto.ID, len(ss))
	for i, s := range ss {
		id, err := crypto.ParseID(s)
		if err != nil {
			return nil, err
		}
		out[i] = id
	}
	return out, nil
}
