package prune

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// marker is a deletion marker with its server time.
type marker struct {
	id      crypto.ID
	modTime time.Time
	repo.Deletion
}

// loadMarkers lists and loads every deletion marker. A marker that cannot
// be read stops prune: backups cannot load the index either until it is
// repaired, and its packs' fate is unknown.
func (p *pruner) loadMarkers(ctx context.Context) ([]marker, error) {
	infos, err := p.r.ListObjectInfos(ctx, repo.KindDeletion)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	var out []marker
	for _, oi := range infos {
		id := oi.ID
		d, err := p.r.LoadDeletion(ctx, id)
		if errors.Is(err, storage.ErrNotFound) {
			continue // swept by a concurrent prune
		}
		if err != nil {
			return nil, fmt.Errorf("prune: %w", err)
		}
		out = append(out, marker{id: id, modTime: oi.ModTime, Deletion: d})
	}
	return out, nil
}

// condemnedBy maps every pack the markers name to the first marker naming
// it.
func condemnedBy(markers []marker) map[crypto.ID]crypto.ID {
	out := make(map[crypto.ID]crypto.ID)
	for _, m := range markers {
		for _, pk := range m.Packs {
			if _, ok := out[pk]; !ok {
				out[pk] = m.id
			}
		}
	}
	return out
}

// listPacks returns the packs in data/ and their sizes.
func (p *pruner) listPacks(ctx context.Context) (map[crypto.ID]int64, error) {
	sizes := make(map[crypto.ID]int64)
	err := p.r.ListPacks(ctx, func(id crypto.ID, size int64) error {
		sizes[id] = size
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("prune: list packs: %w", err)
	}
	return sizes, nil
}

// packEntries returns the index entries of the packs for which want is
// true, one per location (the same entry may be in several index objects).
func (p *pruner) packEntries(want func(pk crypto.ID) bool) (map[crypto.ID][]index.Entry, error) {
	type loc struct {
		id     crypto.ID
		offset uint32
	}
	seen := make(map[crypto.ID]map[loc]bool)
	out := make(map[crypto.ID][]index.Entry)
	err := p.r.Index().Each(func(e index.Entry) error {
		if !want(e.Pack) {
			return nil
		}
		s := seen[e.Pack]
		if s == nil {
			s = make(map[loc]bool)
			seen[e.Pack] = s
		}
		if k := (loc{e.ID, e.Offset}); !s[k] {
			s[k] = true
			out[e.Pack] = append(out[e.Pack], e)
		}
		return nil
	})
	return out, err
}

// view is the state of the packs at one moment, for one decision.
type view struct {
	sizes     map[crypto.ID]int64     // packs that exist
	condemned map[crypto.ID]crypto.ID // pack → marker
}

// usable reports whether pk exists and no marker condemns it.
func (v *view) usable(pk crypto.ID) bool {
	if _, ok := v.sizes[pk]; !ok {
		return false
	}
	_, condemned := v.condemned[pk]
	return !condemned
}
