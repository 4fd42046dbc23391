package repo

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// Versioned reports whether the store keeps the versions of deleted and
// replaced objects (a versioned bucket): deleting a pack then only hides
// it, and its space comes back when the noncurrent versions expire or are
// purged (PurgeDeletedPacks).
func (r *Repository) Versioned(ctx context.Context) bool {
	v, ok := storage.AsVersioner(r.store)
	if !ok {
		return false
	}
	on, err := v.Versioning(ctx)
	return err == nil && on
}

// PurgeStats count what PurgeDeletedPacks removed, or could not.
type PurgeStats struct {
	Versions int   // versions and delete markers removed for good
	Bytes    int64 // their size
	Locked   int   // versions the store refused to delete (object lock retention)
}

// PurgeDeletedPacks removes for good the old versions of packs that are
// deleted (their current version is a delete marker) and that the loaded
// index does not reference, on a versioned bucket: prune --delete-versions.
// It judges each pack from the listing of its versions, not from what this
// run deleted, so a version that object lock kept this time is purged by a
// later run, and nothing loses track of it. A pack the index still
// references was hidden by someone else (an append-only client, say): its
// versions are what cairn repair objects needs, so they stay.
func (r *Repository) PurgeDeletedPacks(ctx context.Context) (PurgeStats, error) {
	var st PurgeStats
	v, ok := storage.AsVersioner(r.store)
	if !ok {
		return st, nil
	}
	inIndex := r.indexedPacks()
	type pack struct {
		hidden   bool
		versions []storage.VersionInfo
	}
	packs := make(map[string]*pack)
	var order []string
	err := v.ListVersions(ctx, "data/", func(vi storage.VersionInfo) error {
		p := packs[vi.Name]
		if p == nil {
			p = &pack{}
			packs[vi.Name] = p
			order = append(order, vi.Name)
		}
		if vi.IsLatest && vi.DeleteMarker {
			p.hidden = true
		}
		p.versions = append(p.versions, vi)
		return nil
	})
	if err != nil {
		return st, fmt.Errorf("list the versions of data/: %w", err)
	}
	for _, name := range order {
		p := packs[name]
		id, err := crypto.ParseID(name[strings.LastIndexByte(name, '/')+1:])
		if !p.hidden || err != nil || inIndex[id] {
			continue
		}
		for _, vi := range p.versions {
			err := v.DeleteVersion(ctx, name, vi.VersionID)
			switch {
			case errors.Is(err, storage.ErrPermission):
				st.Locked++
			case err != nil:
				return st, fmt.Errorf("delete version %s of %s: %w", vi.VersionID, name, err)
			default:
				st.Versions++
				st.Bytes += vi.Size
			}
		}
	}
	return st, nil
}
