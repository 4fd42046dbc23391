package repo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/klauspost/compress/zstd"
)

// Object kinds. Snapshot, index, lease and deletion objects are envelopes
// stored by SaveObject; key files are JSON and are named like them.
const (
	KindSnapshot = "snapshot"
	KindIndex    = "index"
	KindLease    = "lease"
	KindDeletion = "deletion"
	KindKey      = "key"
)

// kindDirs maps kinds to their directories (FORMAT.md section 2).
var kindDirs = map[string]string{
	KindSnapshot:  "snapshots",
	KindIndex:     "index",
	KindLease:     "leases",
	KindDeletion:  "deletions",
	KindKey:       "keys",
	KindForgotten: "forgotten",
}

func kindDir(kind string) (string, error) {
	dir, ok := kindDirs[kind]
	if !ok {
		return "", fmt.Errorf("unknown object kind %q", kind)
	}
	return dir, nil
}

// envelopeKind refuses kinds that SaveObject and LoadObject do not handle.
func envelopeKind(kind string) (string, error) {
	if kind == KindKey {
		return "", fmt.Errorf("key files are not envelopes; use LoadKeyFile")
	}
	return kindDir(kind)
}

// ObjectName returns the object name of an object of kind (snapshot, index,
// lease, deletion or key), <dir>/<hex id>. It panics on an unknown kind,
// which is a programming error.
func ObjectName(kind string, id crypto.ID) string {
	dir, err := kindDir(kind)
	if err != nil {
		panic("repo.ObjectName: " + err.Error())
	}
	return dir + "/" + id.String()
}

// PackName returns the object name of a pack, data/<hh>/<hex id>.
func PackName(id crypto.ID) string {
	s := id.String()
	return "data/" + s[:2] + "/" + s
}

// envelopeAD is the associated data of an envelope of kind (FORMAT.md
// section 4): it stops the server presenting one kind of object as another.
func envelopeAD(kind string) []byte { return []byte("cairn 1 " + kind) }

// sealEnvelope compresses body (when that makes it smaller) and seals it.
func (r *Repository) sealEnvelope(kind string, body []byte) []byte {
	payload := pack.Compress(r.enc, nil, body)
	return r.keys.Seal(nil, payload, envelopeAD(kind))
}

// openEnvelope authenticates, decrypts and decompresses an envelope. name is
// only for messages; dec may be nil (for the config, which is opened before
// there is a repository and its decoder) to use a decoder of its own.
func openEnvelope(keys *crypto.Keys, dec *zstd.Decoder, name, kind string, sealed []byte) ([]byte, error) {
	payload, err := keys.Open(nil, sealed, envelopeAD(kind))
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, crypto.ErrAuth, ErrCorrupt)
	}
	if len(payload) == 0 {
		return nil, fmt.Errorf("%s: empty payload: %w", name, ErrCorrupt)
	}
	switch payload[0] {
	case pack.CompressionNone:
		return payload[1:], nil
	case pack.CompressionZstd:
		if dec == nil {
			dec = newDecoder(1)
			defer dec.Close()
		}
		body, err := dec.DecodeAll(payload[1:], nil)
		if err != nil {
			return nil, fmt.Errorf("%s: zstd: %v: %w", name, err, ErrCorrupt)
		}
		return body, nil
	}
	// Authenticated, so written by a client with the key: a newer format.
	return nil, fmt.Errorf("%s: unknown compression %d (written by a newer cairn?)", name, payload[0])
}

// SaveObject seals body as an envelope of kind (snapshot, index, lease or
// deletion) and stores it under the hash of the stored bytes, which it
// returns. Bodies are zstd-compressed when that makes them smaller.
func (r *Repository) SaveObject(ctx context.Context, kind string, body []byte) (crypto.ID, error) {
	if _, err := envelopeKind(kind); err != nil {
		return crypto.ID{}, err
	}
	sealed := r.sealEnvelope(kind, body)
	id := crypto.Hash(sealed)
	name := ObjectName(kind, id)
	if err := r.putNew(ctx, name, sealed); err != nil {
		return crypto.ID{}, fmt.Errorf("save %s: %w", name, err)
	}
	return id, nil
}

// LoadObject loads the envelope of kind named id: it checks the stored
// bytes against the name, then authenticates and decrypts them. Errors name
// the object and wrap ErrCorrupt (damaged, modified, or larger than its
// kind's limit, see kindLimit) or storage.ErrNotFound.
func (r *Repository) LoadObject(ctx context.Context, kind string, id crypto.ID) ([]byte, error) {
	if _, err := envelopeKind(kind); err != nil {
		return nil, err
	}
	name := ObjectName(kind, id)
	sealed, err := readLimited(ctx, r.store, name, kindLimit(kind))
	sealed, err = r.objectFromVersions(ctx, name, id, sealed, err)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	return r.openObject(kind, id, sealed)
}

// openObject checks and opens the stored bytes of an envelope.
func (r *Repository) openObject(kind string, id crypto.ID, sealed []byte) ([]byte, error) {
	name := ObjectName(kind, id)
	if err := checkHash(name, id, sealed); err != nil {
		return nil, err
	}
	return openEnvelope(r.keys, r.dec, name, kind, sealed)
}

// checkHash verifies stored bytes against the ID in their name.
func checkHash(name string, id crypto.ID, data []byte) error {
	if got := crypto.Hash(data); got != id {
		return fmt.Errorf("%s: content does not match its name (its hash is %s): %w", name, got.Short(), ErrCorrupt)
	}
	return nil
}

// ListObjects lists the IDs of the objects of kind, in ascending order.
// Names that are not 64 hex digits (foreign files) are skipped. The first
// call for a kind in OpenOptions.ListEarly returns the listing Open made
// while it derived the key (or lists again if that one failed).
func (r *Repository) ListObjects(ctx context.Context, kind string) ([]crypto.ID, error) {
	if l := r.takeEarly(kind); l != nil {
		select {
		case <-l.done:
			if l.err == nil {
				return l.ids, nil
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return listObjects(ctx, r.store, kind)
}

func listObjects(ctx context.Context, store storage.Store, kind string) ([]crypto.ID, error) {
	dir, err := kindDir(kind)
	if err != nil {
		return nil, err
	}
	var ids []crypto.ID
	err = store.List(ctx, dir+"/", func(oi storage.ObjectInfo) error {
		if id, ok := parseName(dir+"/", oi.Name); ok {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s/: %w", dir, err)
	}
	return ids, nil
}

// parseName returns the ID of an object named prefix<hex>.
func parseName(prefix, name string) (crypto.ID, bool) {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return crypto.ID{}, false
	}
	id, err := crypto.ParseID(rest)
	return id, err == nil
}

// DeleteObject deletes the object of kind named id. Deleting a missing
// object is not an error.
func (r *Repository) DeleteObject(ctx context.Context, kind string, id crypto.ID) error {
	if _, err := kindDir(kind); err != nil {
		return err
	}
	name := ObjectName(kind, id)
	if err := r.store.Delete(ctx, name); err != nil {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// ErrAmbiguous means an ID prefix matches more than one object.
var ErrAmbiguous = errors.New("ambiguous ID prefix")

// FindObject resolves a hex prefix (at least 4 digits, or the full ID) to
// the one object of kind it names. No match wraps storage.ErrNotFound; more
// than one wraps ErrAmbiguous.
func (r *Repository) FindObject(ctx context.Context, kind, prefix string) (crypto.ID, error) {
	prefix = strings.ToLower(prefix)
	if id, err := crypto.ParseID(prefix); err == nil {
		return id, nil
	}
	dir, err := kindDir(kind)
	if err != nil {
		return crypto.ID{}, err
	}
	if len(prefix) < 4 || len(prefix) > 64 {
		return crypto.ID{}, fmt.Errorf("%s ID %q: give at least 4 hex digits", kind, prefix)
	}
	if _, err := hex.DecodeString(prefix[:len(prefix)&^1]); err != nil {
		return crypto.ID{}, fmt.Errorf("%s ID %q: not hex", kind, prefix)
	}
	var matches []crypto.ID
	err = r.store.List(ctx, dir+"/"+prefix, func(oi storage.ObjectInfo) error {
		if id, ok := parseName(dir+"/", oi.Name); ok {
			matches = append(matches, id)
		}
		return nil
	})
	if err != nil {
		return crypto.ID{}, fmt.Errorf("list %s/: %w", dir, err)
	}
	switch len(matches) {
	case 0:
		return crypto.ID{}, fmt.Errorf("no %s with ID %s: %w", kind, prefix, storage.ErrNotFound)
	case 1:
		return matches[0], nil
	}
	return crypto.ID{}, fmt.Errorf("%s ID %s matches %d objects (%s, %s, …): %w", kind, prefix, len(matches), matches[0].Short(), matches[1].Short(), ErrAmbiguous)
}
