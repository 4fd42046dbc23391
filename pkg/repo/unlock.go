package repo

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
	"golang.org/x/sync/errgroup"
)

// unlockConcurrency bounds the key files tried at once: each Argon2id run
// takes its configured memory (64 MiB by default) and a core or two.
const unlockConcurrency = 2

type unlocked struct {
	keyID  crypto.ID
	master crypto.MasterKey
	keys   *crypto.Keys
	cfg    Config
}

// unlock tries every key file with passphrase. A key file counts only when
// the master secret it unwraps also opens the config, so a stray key file
// (from an interrupted init, or another repository) is skipped rather than
// mistaken for the right one.
func unlock(ctx context.Context, store storage.Store, passphrase []byte, sealedConfig []byte) (*unlocked, error) {
	var names []crypto.ID
	err := store.List(ctx, "keys/", func(oi storage.ObjectInfo) error {
		if id, ok := parseName("keys/", oi.Name); ok {
			names = append(names, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list keys/: %w", err)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("the repository has a config but no key files in keys/: it cannot be unlocked")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu        sync.Mutex
		found     *unlocked
		damaged   []error // key files that failed their checks
		configErr error   // a key opened, but the config did not
	)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(unlockConcurrency)
	for _, id := range names {
		g.Go(func() error {
			if gctx.Err() != nil {
				return nil // found already, or cancelled (checked below)
			}
			kf, err := loadKeyFile(gctx, store, id)
			if err != nil {
				if gctx.Err() != nil {
					return nil
				}
				mu.Lock()
				damaged = append(damaged, err)
				mu.Unlock()
				return nil
			}
			mk, err := kf.Unlock(passphrase)
			if errors.Is(err, crypto.ErrWrongPassphrase) {
				return nil
			}
			if err != nil {
				mu.Lock()
				damaged = append(damaged, fmt.Errorf("%s: %w", ObjectName(KindKey, id), err))
				mu.Unlock()
				return nil
			}
			keys := crypto.DeriveKeys(mk)
			cfg, err := openConfig(keys, sealedConfig)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				configErr = err
				return nil
			}
			if found == nil {
				found = &unlocked{keyID: id, master: mk, keys: keys, cfg: cfg}
				cancel()
			}
			return nil
		})
	}
	_ = g.Wait() // the goroutines report through found, damaged and configErr
	if found != nil {
		return found, nil
	}
	if err := context.Cause(ctx); err != nil && ctx.Err() != nil {
		// cancel() is only called on success, so this is the caller's ctx.
		return nil, fmt.Errorf("open repository: %w", err)
	}
	if configErr != nil {
		// The passphrase was right for some key file, so the config is
		// what failed.
		return nil, configErr
	}
	err = fmt.Errorf("%w: none of the %d key files opens with it", crypto.ErrWrongPassphrase, len(names))
	if len(damaged) > 0 {
		err = fmt.Errorf("%w; also: %w", err, errors.Join(damaged...))
	}
	return nil, err
}

// loadKeyFile reads and decodes keys/<id>, checking it against its name.
func loadKeyFile(ctx context.Context, store storage.Store, id crypto.ID) (*crypto.KeyFile, error) {
	name := ObjectName(KindKey, id)
	data, err := readLimited(ctx, store, name, maxKeyFileSize)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", name, err)
	}
	if err := checkHash(name, id, data); err != nil {
		return nil, err
	}
	kf, err := crypto.UnmarshalKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", name, err, ErrCorrupt)
	}
	return kf, nil
}
