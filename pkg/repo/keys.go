package repo

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
)

// KeyInfo describes one key file.
type KeyInfo struct {
	ID             crypto.ID
	Created        time.Time
	Host, Username string
	// Current is true for the key file that opened this repository.
	Current bool
}

// ListKeys lists the key files, oldest first. A damaged key file is passed
// over with a warning naming it (OpenOptions.Warn, Skipped).
func (r *Repository) ListKeys(ctx context.Context) ([]KeyInfo, error) {
	ids, err := r.ListObjects(ctx, KindKey)
	if err != nil {
		return nil, err
	}
	current := r.currentKey()
	infos := make([]KeyInfo, 0, len(ids))
	for _, id := range ids {
		kf, err := r.LoadKeyFile(ctx, id)
		if IsDamage(err) {
			r.skip(ObjectName(KindKey, id), err)
			continue
		}
		if err != nil {
			return nil, err
		}
		infos = append(infos, KeyInfo{ID: id, Created: kf.Created, Host: kf.Host, Username: kf.Username, Current: id == current})
	}
	slices.SortStableFunc(infos, func(a, b KeyInfo) int { return a.Created.Compare(b.Created) })
	return infos, nil
}

// LoadKeyFile loads keys/<id>, checked against its name.
func (r *Repository) LoadKeyFile(ctx context.Context, id crypto.ID) (*crypto.KeyFile, error) {
	return loadKeyFile(ctx, r.store, id)
}

// AddKey adds a key file that wraps the master secret under passphrase and
// returns its ID. A zero kdf means crypto.DefaultKDF.
func (r *Repository) AddKey(ctx context.Context, passphrase []byte, kdf crypto.KDFParams) (crypto.ID, error) {
	return r.writeKeyFile(ctx, r.master, passphrase, kdf)
}

func (r *Repository) writeKeyFile(ctx context.Context, mk crypto.MasterKey, passphrase []byte, kdf crypto.KDFParams) (crypto.ID, error) {
	if kdf.Time == 0 && kdf.MemoryKiB == 0 {
		kdf = crypto.DefaultKDF()
	}
	kf, err := crypto.NewKeyFile(mk, passphrase, kdf, r.opts.Host, r.opts.Username, r.now())
	if err != nil {
		return crypto.ID{}, err
	}
	data, err := kf.Marshal()
	if err != nil {
		return crypto.ID{}, err
	}
	id := crypto.Hash(data)
	name := ObjectName(KindKey, id)
	if err := r.putNew(ctx, name, data); err != nil {
		return crypto.ID{}, fmt.Errorf("write %s: %w", name, err)
	}
	return id, nil
}

// KeyID returns the ID of the key file that opened the repository (or, after
// ChangePassphrase, replaced it), for remembering it (pkg/state).
func (r *Repository) KeyID() crypto.ID { return r.currentKey() }

// currentKey is the key file that opened the repository (or replaced it).
func (r *Repository) currentKey() crypto.ID {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.keyID
}

// RemoveKey removes keys/<id>. It refuses the last key file with ErrLastKey.
// Removing the current key is allowed; this Repository stays usable.
func (r *Repository) RemoveKey(ctx context.Context, id crypto.ID) error {
	ids, err := r.ListObjects(ctx, KindKey)
	if err != nil {
		return err
	}
	if !slices.Contains(ids, id) {
		return fmt.Errorf("remove key %s: no such key file", id.Short())
	}
	if len(ids) <= 1 {
		return ErrLastKey
	}
	// Recorded first, so that the key file is refused if the storage ever
	// puts it back (FORMAT.md section 13).
	if _, err := r.RecordForgotten(ctx, nil, []crypto.ID{id}); err != nil {
		return fmt.Errorf("remove key %s: %w", id.Short(), err)
	}
	return r.DeleteObject(ctx, KindKey, id)
}

// ChangePassphrase adds a key file for passphrase and then removes the
// current one, returning the new key's ID. If the removal fails, the new
// key exists and the error says so.
func (r *Repository) ChangePassphrase(ctx context.Context, passphrase []byte, kdf crypto.KDFParams) (crypto.ID, error) {
	newID, err := r.AddKey(ctx, passphrase, kdf)
	if err != nil {
		return crypto.ID{}, err
	}
	old := r.currentKey()
	if err := r.RemoveKey(ctx, old); err != nil {
		return newID, fmt.Errorf("new key %s added, but removing the old key %s failed (remove it with cairn key remove): %w", newID.Short(), old.Short(), err)
	}
	r.mu.Lock()
	r.keyID = newID
	r.mu.Unlock()
	return newID, nil
}
