package repo

import (
	"context"
	"errors"
	"fmt"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// Access to a repository hangs on two kinds of object that a client with
// mere delete rights can hide on a versioned bucket: the config and the key
// files. Then Open fails before RepairObjects can run, so RecoverAccess
// works on the bare store: a key file version is genuine when it matches
// its name, and the config version is the one the master secret that the
// passphrase unwraps from such a key file authenticates. It brings back
// exactly the key file that opens with the passphrase, never another one a
// `key remove` may have meant to revoke.

// AccessRepair is what RecoverAccess restored, or with dryRun would.
type AccessRepair struct {
	// Restored names the objects made current again: the config and one
	// key file at most, with the version each came from.
	Restored []VersionDamage
}

// RecoverAccess is for when Open fails on a store that keeps versions:
// it looks for a genuine key file version that passphrase unlocks and a
// config version that its master secret authenticates, and makes each of
// them current again where its current version is missing or different
// (with dryRun it only reports them). It returns ErrNoVersions for a store
// without versions, and an error wrapping crypto.ErrWrongPassphrase when
// no stored key file version opens with passphrase and a config.
func RecoverAccess(ctx context.Context, store storage.Store, passphrase []byte, dryRun bool) (AccessRepair, error) {
	var rep AccessRepair
	v, ok := storage.AsVersioner(store)
	if !ok {
		return rep, ErrNoVersions
	}
	var keyVersions, configVersions []storage.VersionInfo
	err := v.ListVersions(ctx, "", func(vi storage.VersionInfo) error {
		if vi.DeleteMarker {
			return nil
		}
		switch kind, _, ok := objectKind(vi.Name); {
		case vi.Name == configName:
			configVersions = append(configVersions, vi)
		case ok && kind == KindKey && vi.Size <= maxKeyFileSize:
			keyVersions = append(keyVersions, vi)
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("recover access: list versions: %w", err)
	}
	for _, kv := range keyVersions {
		_, id, _ := objectKind(kv.Name)
		data, got, err := hashVersion(ctx, v, kv.Name, kv.VersionID, maxKeyFileSize, true)
		if err != nil {
			if ctx.Err() != nil {
				return rep, ctx.Err()
			}
			continue
		}
		if got != id {
			continue
		}
		kf, err := crypto.UnmarshalKeyFile(data)
		if err != nil {
			continue
		}
		mk, err := kf.Unlock(passphrase)
		if err != nil {
			continue
		}
		keys := crypto.DeriveKeys(mk)
		// Newest config first: config is written once, so any version
		// that authenticates is the one.
		for _, cv := range configVersions {
			sealed, _, err := hashVersion(ctx, v, configName, cv.VersionID, maxConfigSize, true)
			if err != nil {
				if ctx.Err() != nil {
					return rep, ctx.Err()
				}
				continue
			}
			if _, err := openConfig(keys, sealed); err != nil {
				continue
			}
			if err := restoreIfChanged(ctx, store, v, configName, cv.VersionID, sealed, KindConfig, dryRun, &rep); err != nil {
				return rep, err
			}
			if err := restoreIfChanged(ctx, store, v, kv.Name, kv.VersionID, data, KindKey, dryRun, &rep); err != nil {
				return rep, err
			}
			return rep, nil
		}
	}
	return rep, fmt.Errorf("recover access: %w: no stored version of a key file opens with it and a config", crypto.ErrWrongPassphrase)
}

// KindConfig is the kind RecoverAccess gives the config in its report.
const KindConfig = "config"

// restoreIfChanged makes versionID current unless the current bytes of
// name already are want.
func restoreIfChanged(ctx context.Context, store storage.Store, v storage.Versioner, name, versionID string, want []byte,
	kind string, dryRun bool, rep *AccessRepair) error {
	cur, err := storage.ReadAll(ctx, store, name)
	state := Overwritten
	switch {
	case err == nil && string(cur) == string(want):
		return nil
	case errors.Is(err, storage.ErrNotFound):
		state = Hidden
	case err != nil:
		return fmt.Errorf("recover access: %w", err)
	}
	if !dryRun {
		if err := v.RestoreVersion(ctx, name, versionID); err != nil {
			return fmt.Errorf("recover access: restore %s: %w", name, err)
		}
	}
	rep.Restored = append(rep.Restored, VersionDamage{Name: name, Kind: kind, State: state, Genuine: versionID, Needed: true})
	return nil
}
