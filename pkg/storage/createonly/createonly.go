package createonly

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// Store refuses Delete with storage.ErrPermission and a Put of an existing
// name with storage.ErrExists, whatever the wrapped store would do.
//
// It forwards every optional capability of the wrapped store
// (storage.Forward). Removing stale temporary files is forwarded too: they
// are debris of interrupted Puts, never objects.
type Store struct {
	storage.Store
	storage.Forward
	mu sync.Mutex // makes the Stat-then-Put of Put atomic among its callers
}

// New wraps inner.
func New(inner storage.Store) *Store {
	return &Store{Store: inner, Forward: storage.Forward{Inner: inner}}
}

// Unwrap returns the store New wrapped.
func (s *Store) Unwrap() storage.Store { return s.Store }

// Put creates name, or fails with storage.ErrExists if it is there.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := s.Store.Stat(ctx, name)
	switch {
	case err == nil:
		return fmt.Errorf("createonly: put %s: %w", name, storage.ErrExists)
	case !errors.Is(err, storage.ErrNotFound):
		return err
	}
	return s.Store.Put(ctx, name, data)
}

// Delete always fails with storage.ErrPermission.
func (s *Store) Delete(ctx context.Context, name string) error {
	return fmt.Errorf("createonly: delete %s: %w", name, storage.ErrPermission)
}
