package repo

import (
	"context"
	"fmt"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// ObjectInfo is a listed object of one kind: its ID, size and the storage
// server's modification time (which prune uses as its clock, never the
// client's).
type ObjectInfo struct {
	ID      crypto.ID
	Size    int64
	ModTime time.Time
}

// ListObjectInfos lists the objects of kind with their sizes and server
// modification times, in ascending ID order. Names that are not 64 hex
// digits are skipped, as ListObjects does.
func (r *Repository) ListObjectInfos(ctx context.Context, kind string) ([]ObjectInfo, error) {
	dir, err := kindDir(kind)
	if err != nil {
		return nil, err
	}
	var out []ObjectInfo
	err = r.store.List(ctx, dir+"/", func(oi storage.ObjectInfo) error {
		if id, ok := parseName(dir+"/", oi.Name); ok {
			out = append(out, ObjectInfo{ID: id, Size: oi.Size, ModTime: oi.ModTime})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/: %w", dir, err)
	}
	return out, nil
}

// DeletePack deletes pack id. Only prune calls it, after proving that the
// pack holds nothing a snapshot needs that is not stored elsewhere (see
// package prune). Deleting a missing pack is not an error: an interrupted
// prune repeats its sweep. The error of a refused delete wraps
// storage.ErrPermission.
func (r *Repository) DeletePack(ctx context.Context, id crypto.ID) error {
	name := PackName(id)
	if err := r.store.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// SetAside makes this process stop deduplicating against packs: Savers of
// this Repository store again every blob whose only copies are in them, and
// Has ignores them, as for packs a deletion marker condemns. Nothing is
// written. Prune sets aside the packs it is about to condemn, and every pack
// whose copies it has not read itself, before its Saver copies blobs out.
func (r *Repository) SetAside(packs []crypto.ID) { r.idx.Condemn(packs) }
