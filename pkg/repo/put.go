package repo

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// putNew stores data under name, where name is derived from the hash of
// data (packs, key files, snapshots, indexes, leases, deletion markers).
//
// Storage never replaces an object (storage.ErrExists), and a retried
// upload whose first answer was lost finds its own bytes already there.
// Because the name stands for the content, an object of that name and the
// same size is this very upload: putNew treats ErrExists as success after a
// Stat confirms the size. The sealed bytes carry a random nonce (and key
// files a random salt), so nobody can plant an object under a name this
// client is about to write; a size that differs means the stored object is
// damaged, and is reported as such instead of being taken for ours.
//
// The config object is not content-named and must not use putNew: a
// second config is an error.
func (r *Repository) putNew(ctx context.Context, name string, data []byte) error {
	err := r.store.Put(ctx, name, data)
	if !errors.Is(err, storage.ErrExists) {
		return err
	}
	fi, serr := r.store.Stat(ctx, name)
	if serr != nil {
		return fmt.Errorf("%w (and could not compare it: %v)", err, serr)
	}
	if fi.Size != int64(len(data)) {
		return fmt.Errorf("%s already exists with %d bytes, not the %d of its content: "+
			"the stored object is damaged or was not written by cairn; run cairn check: %w",
			name, fi.Size, len(data), err)
	}
	return nil
}
