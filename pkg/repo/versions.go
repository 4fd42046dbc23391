package repo

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// Reading genuine versions.
//
// On a store that keeps versions (storage.Versioner), an object that was
// overwritten or deleted by a client without the passphrase is still
// there as an older version, and because every name but config is the
// SHA-256 of the object's bytes, the genuine one can be recognised without
// trusting the server or the writer. The reading paths below call the
// functions of this file after the current version failed: they return the
// genuine bytes instead and warn, so restores keep working until the owner
// runs `cairn repair objects`.

// maxVersionCandidates bounds how many versions of one object a reader
// downloads to find the genuine one. Versions are tried oldest first, and
// the genuine version of a content-addressed name is its first, so only a
// store that lies about its versions makes the bound matter.
const maxVersionCandidates = 64

// errNoGenuineVersion means no stored version matches the name.
var errNoGenuineVersion = errors.New("no stored version matches its name")

// genuineVersion returns the ID of the first version of name, oldest
// first, whose SHA-256 is id, and with keep its bytes. Versions larger than
// limit are passed over. It returns an error wrapping errNoGenuineVersion
// when none matches.
func genuineVersion(ctx context.Context, v storage.Versioner, name string, id crypto.ID, limit int64, keep bool) (string, []byte, error) {
	var candidates []storage.VersionInfo
	err := v.ListVersions(ctx, name, func(vi storage.VersionInfo) error {
		if vi.Name == name && !vi.DeleteMarker && vi.Size <= limit {
			candidates = append(candidates, vi)
		}
		return nil
	})
	if err != nil {
		return "", nil, fmt.Errorf("list versions of %s: %w", name, err)
	}
	// Listed newest first; the stable sort keeps that order among equal
	// times, so reverse first.
	slices.Reverse(candidates)
	slices.SortStableFunc(candidates, func(a, b storage.VersionInfo) int { return a.ModTime.Compare(b.ModTime) })
	var errs []error
	for i, vi := range candidates {
		if i == maxVersionCandidates {
			errs = append(errs, fmt.Errorf("gave up after %d of %d versions", i, len(candidates)))
			break
		}
		data, got, err := hashVersion(ctx, v, name, vi.VersionID, limit, keep)
		if err != nil {
			if ctx.Err() != nil {
				return "", nil, ctx.Err()
			}
			errs = append(errs, err)
			continue
		}
		if got == id {
			return vi.VersionID, data, nil
		}
	}
	err = fmt.Errorf("%s: %w (%d versions)", name, errNoGenuineVersion, len(candidates))
	if len(errs) > 0 {
		err = fmt.Errorf("%w; also: %w", err, errors.Join(errs...))
	}
	return "", nil, err
}

// hashVersion reads one version through SHA-256, keeping its bytes with
// keep, and refuses more than limit bytes.
func hashVersion(ctx context.Context, v storage.Versioner, name, versionID string, limit int64, keep bool) ([]byte, crypto.ID, error) {
	rc, err := v.GetVersion(ctx, name, versionID, 0, -1)
	if err != nil {
		return nil, crypto.ID{}, err
	}
	defer rc.Close()
	h := sha256.New()
	var buf bytes.Buffer
	w := io.Writer(h)
	if keep {
		w = io.MultiWriter(h, &buf)
	}
	n, err := io.Copy(w, io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, crypto.ID{}, fmt.Errorf("read %s version %s: %w", name, versionID, err)
	}
	if n > limit {
		return nil, crypto.ID{}, fmt.Errorf("%s version %s: more than %d bytes", name, versionID, limit)
	}
	var got crypto.ID
	copy(got[:], h.Sum(nil))
	return buf.Bytes(), got, nil
}

// currentFailed reports whether a read of an object's current version
// failed in a way an older version can cure: damaged or missing.
func currentFailed(err error) bool {
	return errors.Is(err, ErrCorrupt) || errors.Is(err, storage.ErrNotFound)
}

// readFromVersions is called with what reading the current version of the
// content-addressed object name (hash id) gave: data and err. When the
// store keeps versions and the current version is missing (behind a delete
// marker) or does not match its name, it returns the genuine version's
// bytes instead and tells warn (if not nil). In every other case it
// returns data and err unchanged, so the caller's own checks report the
// problem.
func readFromVersions(ctx context.Context, store storage.Store, name string, id crypto.ID, limit int64,
	data []byte, err error, warn func(string, error)) ([]byte, error) {
	v, ok := storage.AsVersioner(store)
	if !ok {
		return data, err
	}
	problem := "missing (deleted)"
	switch {
	case err == nil:
		if crypto.Hash(data) == id {
			return data, nil
		}
		problem = "overwritten (it does not match its name)"
	case !errors.Is(err, storage.ErrNotFound):
		return data, err
	}
	vid, genuine, gerr := genuineVersion(ctx, v, name, id, limit, true)
	if gerr != nil {
		return data, err
	}
	if warn != nil {
		warn(name, fmt.Errorf("the current version is %s; read the genuine older version %s instead: run cairn repair objects with the owner's credentials", problem, vid))
	}
	return genuine, nil
}

// objectFromVersions is readFromVersions for envelopes: LoadObject calls it
// on what it read. A lease or deletion marker that is missing stays
// missing: their writers delete them as part of the protocol (FORMAT.md
// section 10), and readers expect some to vanish.
func (r *Repository) objectFromVersions(ctx context.Context, name string, id crypto.ID, data []byte, err error) ([]byte, error) {
	if err != nil && (strings.HasPrefix(name, kindDirs[KindLease]+"/") || strings.HasPrefix(name, kindDirs[KindDeletion]+"/")) {
		return data, err
	}
	return readFromVersions(ctx, r.store, name, id, maxEnvelopeSize, data, err, r.warn)
}

// maxPackVersion bounds a pack version read into memory: the largest pack
// a writer makes is the configured size plus one blob.
func (r *Repository) maxPackVersion() int64 {
	return int64(r.cfg.PackSize) + MaxBlobSize + 64<<10
}

// genuinePack returns the bytes of the genuine version of pack packID
// after reading its current version failed with cause, or ok false when
// the store keeps no versions, cause is not damage or absence, or no
// version matches.
func (r *Repository) genuinePack(ctx context.Context, packID crypto.ID, cause error) ([]byte, bool) {
	v, ok := storage.AsVersioner(r.store)
	if !ok || !currentFailed(cause) {
		return nil, false
	}
	name := PackName(packID)
	vid, data, err := genuineVersion(ctx, v, name, packID, r.maxPackVersion(), true)
	if err != nil {
		return nil, false
	}
	r.warn(name, fmt.Errorf("the current version is damaged, overwritten or deleted (%v); read the genuine older version %s instead: run cairn repair objects with the owner's credentials", cause, vid))
	return data, true
}

// packHeaderFromVersions is called by ReadPackHeader with its result: when
// the pack's current version is damaged or missing and an older version
// is genuine, it returns that version's header and size instead.
func (r *Repository) packHeaderFromVersions(ctx context.Context, packID crypto.ID, entries []pack.Entry, size int64, err error) ([]pack.Entry, int64, error) {
	if err == nil {
		return entries, size, nil
	}
	data, ok := r.genuinePack(ctx, packID, err)
	if !ok {
		return entries, size, err
	}
	hlen, herr := pack.HeaderLength(data)
	if herr != nil || int64(hlen)+4 > int64(len(data)) {
		return entries, size, err
	}
	parsed, perr := pack.ParseHeader(r.keys, data[len(data)-4-hlen:len(data)-4], int64(len(data)))
	if perr != nil {
		return entries, size, err
	}
	return parsed, int64(len(data)), nil
}

// blobFromVersions is called by LoadBlob with what loadBlobAt gave: when
// the blob's pack is damaged or missing and an older version of the pack
// is genuine, it returns the blob from that version.
func (r *Repository) blobFromVersions(ctx context.Context, e index.Entry, plain []byte, err error) ([]byte, error) {
	if err == nil {
		return plain, nil
	}
	data, ok := r.genuinePack(ctx, e.Pack, err)
	if !ok {
		return plain, err
	}
	return r.blobIn(data, e, err)
}

// blobIn opens e from the bytes of a genuine pack, or returns cause.
func (r *Repository) blobIn(data []byte, e index.Entry, cause error) ([]byte, error) {
	if entryEnd(e) > int64(len(data)) {
		return nil, cause
	}
	plain, err := r.OpenBlob(e.Type, e.ID, data[e.Offset:entryEnd(e)])
	if err != nil {
		return nil, cause
	}
	return plain, nil
}

// packFromVersions wraps the BlobFunc of LoadPackBlobs: a blob that fails
// because the pack's current version is damaged or missing is delivered
// from the pack's genuine older version instead, which is downloaded once
// per LoadPackBlobs call.
func (r *Repository) packFromVersions(ctx context.Context, packID crypto.ID, fn BlobFunc) BlobFunc {
	if _, ok := storage.AsVersioner(r.store); !ok {
		return fn
	}
	var (
		once    sync.Once
		genuine []byte
		found   bool
	)
	return func(e index.Entry, plain []byte, err error) error {
		if err == nil || !currentFailed(err) {
			return fn(e, plain, err)
		}
		once.Do(func() { genuine, found = r.genuinePack(ctx, packID, err) })
		if !found {
			return fn(e, plain, err)
		}
		p, perr := r.blobIn(genuine, e, err)
		return fn(e, p, perr)
	}
}
