package retry

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/cairn-backup/cairn/pkg/storage"
)

var (
	_ storage.Store       = (*Store)(nil)
	_ storage.Creator     = (*Store)(nil)
	_ storage.Closer      = (*Store)(nil)
	_ storage.TempCleaner = (*Store)(nil)
	_ storage.Wrapper     = (*Store)(nil)
)

// Store retries the operations of the store it wraps. Build it with New.
//
// It keeps every optional capability of the wrapped store (storage.Forward):
// ConcurrentPuts, Close and the temp-file methods are forwarded as they
// are, and Create is forwarded with retries.
type Store struct {
	storage.Forward
	inner  storage.Store
	policy Policy
}

// New wraps inner so that operations failing with an error that wraps
// storage.ErrTransient are tried again, with exponential backoff and full
// jitter, for up to policy.RetryFor; see Policy for the defaults.
func New(inner storage.Store, policy Policy) *Store {
	return &Store{Forward: storage.Forward{Inner: inner}, inner: inner, policy: policy.withDefaults()}
}

// Create retries the inner store's Create, which is idempotent (creating
// an existing bucket or directory succeeds).
func (s *Store) Create(ctx context.Context) error {
	return s.do(ctx, "create", "", func() error { return s.Forward.Create(ctx) })
}

// Unwrap returns the store New wrapped.
func (s *Store) Unwrap() storage.Store { return s.inner }

// do runs fn until it succeeds, fails with an error that is not worth
// retrying, runs out of its budget (Policy.RetryFor, Policy.MaxAttempts),
// or ctx is done while waiting.
func (s *Store) do(ctx context.Context, op, name string, fn func() error) error {
	start := s.policy.Now()
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !retryable(err) {
			return err
		}
		d := s.policy.delay(attempt, err)
		if why, done := s.policy.exhausted(attempt, start, d); done {
			return fmt.Errorf("%s: %w", why, err)
		}
		if werr := s.policy.wait(ctx, op, name, attempt, err, d); werr != nil {
			return fmt.Errorf("%s %s: %w while waiting to retry after: %v", op, name, werr, err)
		}
	}
}

// Put retries the whole upload; data is kept by the caller, so every
// attempt sends the same bytes. An attempt whose response was lost may
// have stored the object, and then the next attempt fails with
// storage.ErrExists; Put returns that error, saying so, and leaves the
// verdict to the caller, which knows whether the name stands for its
// content (repo's putNew compares the stored size).
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	attempts := 0
	err := s.do(ctx, "put", name, func() error {
		attempts++
		return s.inner.Put(ctx, name, data)
	})
	if attempts > 1 && errors.Is(err, storage.ErrExists) {
		return fmt.Errorf("%w (on attempt %d: an earlier attempt whose answer was lost may have stored it)", err, attempts)
	}
	return err
}

// Get retries opening the object, and the returned reader re-opens it
// where it left off when the download is interrupted (see resumingReader).
func (s *Store) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	var rc io.ReadCloser
	err := s.do(ctx, "get", name, func() error {
		var err error
		rc, err = s.inner.Get(ctx, name, offset, length)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &resumingReader{ctx: ctx, store: s, name: name, offset: offset, length: length, body: rc}, nil
}

// Stat retries the lookup.
func (s *Store) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	var fi storage.ObjectInfo
	err := s.do(ctx, "stat", name, func() error {
		var err error
		fi, err = s.inner.Stat(ctx, name)
		return err
	})
	return fi, err
}

// List retries a listing that fails part-way without reporting an object
// twice: names arrive in ascending order, so a repeated listing skips
// every name up to the last one fn has seen. An error from fn is returned
// as is and never retried, even if it wraps ErrTransient.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	var (
		last    string
		started bool
		fnErr   error
	)
	err := s.do(ctx, "list", prefix, func() error {
		err := s.inner.List(ctx, prefix, func(fi storage.ObjectInfo) error {
			if started && fi.Name <= last {
				return nil
			}
			if err := fn(fi); err != nil {
				fnErr = err
				return err
			}
			last, started = fi.Name, true
			return nil
		})
		if fnErr != nil {
			return nil // stop retrying; fnErr is returned below
		}
		return err
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Delete retries the removal; deleting a missing object succeeds, so a
// retry after a lost response is harmless.
func (s *Store) Delete(ctx context.Context, name string) error {
	return s.do(ctx, "delete", name, func() error { return s.inner.Delete(ctx, name) })
}
