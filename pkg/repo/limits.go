package repo

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// ErrTooLarge means a stored object is larger than objects of its kind may
// be (FORMAT.md section 2). Errors wrapping it also wrap ErrCorrupt: an
// oversized object is damage, passed over like one that fails its hash.
var ErrTooLarge = errors.New("object larger than its kind allows")

// Stored-size limits per object kind. Each is far above what any writer
// produces, so no repository written today comes near them, and low enough
// that a hostile or damaged object costs one Stat instead of a download of
// whatever size the server chooses.
const (
	// A config is about 300 bytes of JSON and a key file about 500.
	maxConfigSize  = 64 << 10
	maxKeyFileSize = 64 << 10
	// A snapshot is JSON with its paths, tags and statistics: a few
	// hundred bytes usually; 64 MiB holds hundreds of thousands of paths.
	maxSnapshotSize = 64 << 20
	// A lease carries the deletion markers its run has seen and a
	// deletion marker the packs it condemns: 64 MiB is a million IDs.
	maxLeaseSize    = 64 << 20
	maxDeletionSize = 64 << 20
	// Index objects are few (at most MaxIndexObjects after compaction)
	// and hold the whole index between them, so they get the bound on a
	// decompressed envelope.
	maxIndexSize = maxEnvelopeSize
)

// kindLimit is the stored-size limit of an object of kind.
// statFreeLimit is the largest limit for which readLimited reads without
// asking for the size first.
const statFreeLimit = 1 << 20

func kindLimit(kind string) int64 {
	switch kind {
	case KindSnapshot:
		return maxSnapshotSize
	case KindLease:
		return maxLeaseSize
	case KindDeletion:
		return maxDeletionSize
	case KindKey:
		return maxKeyFileSize
	case configName:
		return maxConfigSize
	}
	return maxIndexSize
}

// readLimited reads the whole object name, refusing it if it is larger
// than limit. It learns the size from the Get response where the store
// reports it (storage.Sized), so an oversized object costs one request and
// no download. Otherwise, for kinds whose limit is large, it asks with a
// Stat before reading; for small limits (config and key files, 64 KiB)
// reading limit+1 bytes is as cheap as the Stat. Either way it reads
// through a limiter, because a server may deliver more than it said.
// Storage errors are returned as they are (wrapped), never as damage.
func readLimited(ctx context.Context, store storage.Store, name string, limit int64) ([]byte, error) {
	rc, err := store.Get(ctx, name, 0, -1)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	// The response's announced length, where the store reports it, says
	// what a Stat would have; otherwise a large limit is worth a Stat
	// before the body is read (closing rc then aborts the download).
	size := int64(-1)
	if sz, ok := rc.(storage.Sized); ok {
		size = sz.Remaining()
	}
	if size < 0 && limit > statFreeLimit {
		info, err := store.Stat(ctx, name)
		if err != nil {
			return nil, err
		}
		size = info.Size
	}
	if size > limit {
		return nil, tooLarge(size, limit)
	}
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return nil, tooLarge(int64(len(data)), limit)
	}
	return data, nil
}

// tooLarge is the error for an object of size bytes (at least; a limited
// read stops early) over limit. Callers add the object's name.
func tooLarge(size, limit int64) error {
	return fmt.Errorf("%d bytes, more than the %d KiB objects of its kind may have: %w: %w", size, limit>>10, ErrTooLarge, ErrCorrupt)
}

// IsDamage reports whether err (from LoadObject, or from decoding what it
// returned) means that an object's bytes arrived and failed a check: its
// hash, its authentication or its size limit. Any other error means
// storage did not deliver, which is never damage.
func IsDamage(err error) bool { return errors.Is(err, ErrCorrupt) }

// Damaged is IsDamage, as a method for the listings in other packages
// (snapshot.Skipper) that reach the repository through an interface.
func (r *Repository) Damaged(err error) bool { return IsDamage(err) }

// SkipObject records that a listing passed over the object of kind named
// by id because of err, and warns through OpenOptions.Warn. Skipped
// reports it afterwards, so prune and check can refuse or fail.
func (r *Repository) SkipObject(kind string, id crypto.ID, err error) {
	name := kind + " " + id.String()
	if dir, derr := kindDir(kind); derr == nil {
		name = dir + "/" + id.String()
	}
	r.skip(name, err)
}
