package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// probe is a store with every optional capability, recording the calls that
// reach it. Its Store methods are those of the embedded nil interface:
// CheckCapabilities never calls them.
type probe struct {
	storage.Store
	creates, closes int
	staleCalls      int
	removeAge       time.Duration
}

const (
	probePuts        = 3
	probeStale       = 2
	probeStaleBytes  = 20
	probeRemoved     = 1
	probeRemovedSize = 10
)

func (p *probe) Create(context.Context) error { p.creates++; return nil }
func (p *probe) Close() error                 { p.closes++; return nil }
func (p *probe) ConcurrentPuts() int          { return probePuts }
func (p *probe) StaleTemps(context.Context) (int, int64, error) {
	p.staleCalls++
	return probeStale, probeStaleBytes, nil
}
func (p *probe) RemoveStaleTemps(_ context.Context, olderThan time.Duration) (int, int64, error) {
	p.removeAge = olderThan
	return probeRemoved, probeRemovedSize, nil
}

// plain is a store with no optional capability.
type plain struct{ storage.Store }

// CheckCapabilities checks that the decorator made by wrap keeps every
// optional capability of the store it wraps (see storage.Forward): over a
// store that has them all, each is implemented and reaches the wrapped
// store with its arguments and results intact; over a store that has none,
// the decorator answers as such a store would (Create and Close succeed,
// ConcurrentPuts is storage.NoPutLimit, no temporary files). A decorator
// that implements storage.Wrapper must unwrap to the store it was given.
//
// wrap must not call the wrapped store's Store methods: the stores it is
// given here have none that work.
func CheckCapabilities(t *testing.T, wrap func(storage.Store) storage.Store) {
	t.Helper()
	ctx := t.Context()
	t.Run("Forwarded", func(t *testing.T) {
		inner := &probe{}
		s := wrap(inner)
		if w, ok := s.(storage.Wrapper); ok && w.Unwrap() != storage.Store(inner) {
			t.Errorf("Unwrap returned %T, not the wrapped store", w.Unwrap())
		}
		if c, ok := s.(storage.Creator); !ok {
			t.Errorf("%T hides storage.Creator", s)
		} else if err := c.Create(ctx); err != nil || inner.creates != 1 {
			t.Errorf("Create: %v, %d calls reached the wrapped store; want nil, 1", err, inner.creates)
		}
		if c, ok := s.(storage.Closer); !ok {
			t.Errorf("%T hides storage.Closer", s)
		} else if err := c.Close(); err != nil || inner.closes != 1 {
			t.Errorf("Close: %v, %d calls reached the wrapped store; want nil, 1", err, inner.closes)
		}
		if _, ok := s.(storage.PutConcurrency); !ok {
			t.Errorf("%T hides storage.PutConcurrency", s)
		} else if n := storage.PutLimit(s); n != probePuts {
			t.Errorf("ConcurrentPuts = %d, want the wrapped store's %d", n, probePuts)
		}
		tc, ok := s.(storage.TempCleaner)
		if !ok {
			t.Fatalf("%T hides storage.TempCleaner", s)
		}
		if n, b, err := tc.StaleTemps(ctx); err != nil || n != probeStale || b != probeStaleBytes || inner.staleCalls != 1 {
			t.Errorf("StaleTemps = %d, %d, %v; want %d, %d, nil from the wrapped store", n, b, err, probeStale, probeStaleBytes)
		}
		const age = 90 * time.Minute
		if n, b, err := tc.RemoveStaleTemps(ctx, age); err != nil || n != probeRemoved || b != probeRemovedSize || inner.removeAge != age {
			t.Errorf("RemoveStaleTemps(%v) = %d, %d, %v, wrapped store saw %v; want %d, %d, nil, %v",
				age, n, b, err, inner.removeAge, probeRemoved, probeRemovedSize, age)
		}
	})
	t.Run("AbsentStayAbsent", func(t *testing.T) {
		inner := plain{}
		s := wrap(inner)
		if c, ok := s.(storage.Creator); ok {
			if err := c.Create(ctx); err != nil {
				t.Errorf("Create over a store with no location to create: %v, want nil", err)
			}
		}
		if c, ok := s.(storage.Closer); ok {
			if err := c.Close(); err != nil {
				t.Errorf("Close over a store that holds nothing: %v, want nil", err)
			}
		}
		if n := storage.PutLimit(s); n != storage.NoPutLimit {
			t.Errorf("ConcurrentPuts over a store without a limit = %d, want storage.NoPutLimit", n)
		}
		if tc, ok := s.(storage.TempCleaner); ok {
			if n, b, err := tc.StaleTemps(ctx); n != 0 || b != 0 || err != nil {
				t.Errorf("StaleTemps over a store without temporary files = %d, %d, %v", n, b, err)
			}
			if n, b, err := tc.RemoveStaleTemps(ctx, time.Hour); n != 0 || b != 0 || err != nil {
				t.Errorf("RemoveStaleTemps over a store without temporary files = %d, %d, %v", n, b, err)
			}
		}
	})
}
