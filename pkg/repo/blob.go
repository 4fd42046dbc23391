package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// ErrBlobNotFound means the index knows no location of a blob.
var ErrBlobNotFound = errors.New("blob not in the index")

// LoadBlob returns the plaintext of blob id of type t. A data blob is read
// alone from its pack (a ranged Get). A tree blob comes from the local
// tree pack cache when the repository has one: the first tree blob needed
// from a pack downloads the whole pack (one Get, shared by concurrent
// callers), later ones read the local file. Either way the blob is checked
// with OpenBlob.
// When the index knows several copies, a missing or damaged one makes it try
// the next; the error then names every pack it tried.
func (r *Repository) LoadBlob(ctx context.Context, t pack.BlobType, id crypto.ID) ([]byte, error) {
	var errs []error
	for _, e := range r.Index().LookupAll(id) {
		if e.Type != t {
			continue
		}
		plain, err := r.loadBlobAt(ctx, e)
		plain, err = r.blobFromVersions(ctx, e, plain, err)
		if err == nil {
			return plain, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s blob %s: %w", t, id, ErrBlobNotFound)
	}
	return nil, errors.Join(errs...)
}

func (r *Repository) loadBlobAt(ctx context.Context, e index.Entry) ([]byte, error) {
	if e.Type == pack.TreeBlob && r.packs != nil {
		if plain, served, err := r.packs.load(ctx, r, e); served {
			return plain, err
		}
	}
	name := PackName(e.Pack)
	sealed, err := r.readRange(ctx, name, int64(e.Offset), int64(e.Length))
	if err != nil {
		return nil, err
	}
	if len(sealed) != int(e.Length) {
		return nil, fmt.Errorf("%s: %s blob %s at offset %d: pack is too short (truncated?): %w", name, e.Type, e.ID.Short(), e.Offset, ErrCorrupt)
	}
	plain, err := r.OpenBlob(e.Type, e.ID, sealed)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return plain, nil
}

// readRange reads length bytes of an object from offset (fewer at its end).
func (r *Repository) readRange(ctx context.Context, name string, offset, length int64) ([]byte, error) {
	rc, err := r.store.Get(ctx, name, offset, length)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	defer rc.Close()
	buf := make([]byte, length)
	n, err := io.ReadFull(rc, buf)
	if err != nil && err != io.ErrUnexpectedEOF {
		if err == io.EOF {
			return buf[:0], nil
		}
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return buf[:n], nil
}

// OpenBlob authenticates, decrypts and decompresses a sealed blob (as stored
// in a pack at its index entry) and checks it against its ID. It is for
// callers that download whole packs themselves, and is safe for concurrent
// use. Errors wrap ErrCorrupt.
func (r *Repository) OpenBlob(t pack.BlobType, id crypto.ID, sealed []byte) ([]byte, error) {
	hasher := r.hashers.Get().(*crypto.IDHasher)
	defer r.hashers.Put(hasher)
	scratch := r.getBuf()
	defer r.putBuf(scratch)
	plain, err := pack.OpenBlobScratch(r.keys, hasher, r.dec, t, id, sealed, MaxBlobSize, scratch)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrCorrupt)
	}
	return plain, nil
}

// tailGuess is how much of a pack's end ReadPackHeader fetches at first: the
// header of a 16 MiB pack of 1 MiB chunks is ~1.4 KiB, so one request
// usually suffices.
const tailGuess = 16 << 10

// ReadPackHeader reads and authenticates the header of pack packID with
// ranged reads of the pack's end, and returns its entries and the pack's
// size. Errors name the pack and wrap ErrCorrupt when the pack is damaged.
func (r *Repository) ReadPackHeader(ctx context.Context, packID crypto.ID) ([]pack.Entry, int64, error) {
	entries, size, err := r.readPackHeader(ctx, packID)
	return r.packHeaderFromVersions(ctx, packID, entries, size, err)
}

func (r *Repository) readPackHeader(ctx context.Context, packID crypto.ID) ([]pack.Entry, int64, error) {
	name := PackName(packID)
	info, err := r.store.Stat(ctx, name)
	if err != nil {
		return nil, 0, fmt.Errorf("stat %s: %w", name, err)
	}
	size := info.Size
	corrupt := func(err error) error { return fmt.Errorf("%s: %w: %w", name, err, ErrCorrupt) }
	if size < 4+crypto.Overhead {
		return nil, size, corrupt(fmt.Errorf("only %d bytes", size))
	}
	start := max(size-tailGuess, 0)
	tail, err := r.readRange(ctx, name, start, size-start)
	if err != nil {
		return nil, size, err
	}
	if int64(len(tail)) != size-start {
		return nil, size, corrupt(fmt.Errorf("pack shrank while reading"))
	}
	hlen, err := pack.HeaderLength(tail)
	if err != nil {
		return nil, size, corrupt(err)
	}
	if int64(hlen)+4 > size {
		return nil, size, corrupt(fmt.Errorf("header length %d exceeds the pack", hlen))
	}
	var sealed []byte
	if hlen+4 <= len(tail) {
		sealed = tail[len(tail)-4-hlen : len(tail)-4]
	} else {
		sealed, err = r.readRange(ctx, name, size-4-int64(hlen), int64(hlen))
		if err != nil {
			return nil, size, err
		}
		if len(sealed) != hlen {
			return nil, size, corrupt(fmt.Errorf("pack shrank while reading"))
		}
	}
	entries, err := pack.ParseHeader(r.keys, sealed, size)
	if err != nil {
		return nil, size, corrupt(err)
	}
	return entries, size, nil
}

// ListPacks calls fn for every pack in the repository, in name order.
func (r *Repository) ListPacks(ctx context.Context, fn func(id crypto.ID, size int64) error) error {
	return r.store.List(ctx, "data/", func(oi storage.ObjectInfo) error {
		if id, ok := parsePackName(oi.Name); ok {
			return fn(id, oi.Size)
		}
		return nil // not a pack name
	})
}

// parsePackName returns the ID of a pack named data/<hh>/<id>.
func parsePackName(name string) (crypto.ID, bool) {
	rest := strings.TrimPrefix(name, "data/")
	if len(rest) != 3+2*crypto.IDSize || rest[2] != '/' {
		return crypto.ID{}, false
	}
	id, err := crypto.ParseID(rest[3:])
	if err != nil || rest[:2] != id.String()[:2] {
		return crypto.ID{}, false
	}
	return id, true
}
