package archiver

import (
	"context"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/repo"
)

// blobSaver stores blobs; *repo.Saver and dryRunSaver satisfy it. SaveBlob
// must not keep data after it returns: the archiver reuses chunk buffers.
type blobSaver interface {
	SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (crypto.ID, error)
}

// dryRunSaver computes blob IDs and counts what a real Saver would store,
// storing nothing. It remembers the IDs it saw, a few dozen bytes per new
// blob.
type dryRunSaver struct {
	keys    *crypto.Keys
	index   interface{ Has(crypto.ID) bool }
	hashers sync.Pool

	mu    sync.Mutex
	seen  map[crypto.ID]struct{}
	stats repo.SaveStats
}

func newDryRunSaver(keys *crypto.Keys, idx interface{ Has(crypto.ID) bool }) *dryRunSaver {
	d := &dryRunSaver{keys: keys, index: idx, seen: make(map[crypto.ID]struct{})}
	d.hashers.New = func() any { return keys.NewIDHasher() }
	return d
}

func (d *dryRunSaver) SaveBlob(ctx context.Context, t pack.BlobType, data []byte) (crypto.ID, error) {
	if err := ctx.Err(); err != nil {
		return crypto.ID{}, err
	}
	h := d.hashers.Get().(*crypto.IDHasher)
	id := h.Sum(data)
	d.hashers.Put(h)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stats.Blobs++
	if _, ok := d.seen[id]; !ok && !d.index.Has(id) {
		d.seen[id] = struct{}{}
		d.stats.BlobsNew++
		d.stats.BytesNew += int64(len(data))
		if t == pack.DataBlob {
			d.stats.DataBytesNew += int64(len(data))
		}
	}
	return id, nil
}

func (d *dryRunSaver) Stats() repo.SaveStats {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stats
}

func (d *dryRunSaver) Flush(ctx context.Context) (repo.SaveStats, error) {
	return d.Stats(), ctx.Err()
}
