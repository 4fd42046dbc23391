package storage

import (
	"context"
	"math"
	"time"
)

// The optional capabilities below are separate interfaces, discovered with a
// type assertion, so that Store stays small. Decorators (retry, fault
// injection, create-only access) must not hide them: they embed Forward,
// which implements every one of them by forwarding to the wrapped store. A
// capability added here is added to Forward in the same change, and so
// reaches every decorator at once; the conformance suite checks this with
// storagetest.CheckCapabilities.
//
// Where the wrapped store lacks a capability, Forward answers as a store
// that has nothing to do: Create and Close succeed, ConcurrentPuts returns
// NoPutLimit and the temp-file methods find nothing. Those are exactly the
// meanings of a missing capability, so a caller cannot tell the difference,
// and no combination of capabilities needs a type of its own.

// Closer is implemented by stores that hold resources (connections, temp
// directories). Callers check for it with a type assertion.
type Closer interface {
	Close() error
}

// Creator is implemented by stores that can create their location (a bucket
// or a directory) when it does not exist yet. cairn init uses it. Create of
// a location that exists succeeds.
type Creator interface {
	Create(ctx context.Context) error
}

// PutConcurrency is implemented by stores that gain nothing from more
// concurrent Puts than ConcurrentPuts returns: a local disk writes one
// stream about as fast as eight, while an object store hides its latency
// behind many. Callers that hold each upload in memory (the repository
// holds a pack per upload) run at most that many Puts at once.
// ConcurrentPuts returns at least 1; NoPutLimit means no opinion.
type PutConcurrency interface {
	ConcurrentPuts() int
}

// NoPutLimit is what ConcurrentPuts returns for a store that sets no limit
// of its own (a decorator over such a store): callers keep their own
// connection count.
const NoPutLimit = math.MaxInt32

// TempCleaner is implemented by stores whose interrupted Puts can leave
// temporary files behind (a local directory after kill -9 or a power cut).
// Such files are never visible as objects, but they take space.
//
// StaleTemps counts them and their bytes without changing anything (check
// reports them). RemoveStaleTemps removes those last modified longer than
// olderThan ago and reports what it removed; a younger one may belong to a
// Put still running, in this or another process, and is left alone
// whatever olderThan says (see the store's own minimum).
type TempCleaner interface {
	StaleTemps(ctx context.Context) (n int, bytes int64, err error)
	RemoveStaleTemps(ctx context.Context, olderThan time.Duration) (n int, bytes int64, err error)
}

// Wrapper is implemented by decorators; Unwrap returns the store they wrap.
type Wrapper interface {
	Unwrap() Store
}

// PutLimit returns s's ConcurrentPuts, or NoPutLimit when s does not
// implement PutConcurrency.
func PutLimit(s Store) int {
	if pc, ok := s.(PutConcurrency); ok {
		return pc.ConcurrentPuts()
	}
	return NoPutLimit
}

// Forward implements every optional capability by forwarding it to Inner,
// answering as a store with nothing to do where Inner lacks it. Decorators
// embed it (and may override a method, as the retry decorator does for
// Create); it implements none of Store's own methods, so embedding it next
// to a Store adds no ambiguity.
type Forward struct {
	Inner Store
}

var (
	_ Closer         = Forward{}
	_ Creator        = Forward{}
	_ PutConcurrency = Forward{}
	_ TempCleaner    = Forward{}
)

// Create forwards to Inner's Create, or succeeds if Inner has no location to
// create.
func (f Forward) Create(ctx context.Context) error {
	if c, ok := f.Inner.(Creator); ok {
		return c.Create(ctx)
	}
	return ctx.Err()
}

// Close forwards to Inner's Close, or succeeds if Inner holds nothing.
func (f Forward) Close() error {
	if c, ok := f.Inner.(Closer); ok {
		return c.Close()
	}
	return nil
}

// ConcurrentPuts returns PutLimit(Inner).
func (f Forward) ConcurrentPuts() int { return PutLimit(f.Inner) }

// StaleTemps forwards to Inner, or reports none.
func (f Forward) StaleTemps(ctx context.Context) (int, int64, error) {
	if c, ok := f.Inner.(TempCleaner); ok {
		return c.StaleTemps(ctx)
	}
	return 0, 0, ctx.Err()
}

// RemoveStaleTemps forwards to Inner, or removes none.
func (f Forward) RemoveStaleTemps(ctx context.Context, olderThan time.Duration) (int, int64, error) {
	if c, ok := f.Inner.(TempCleaner); ok {
		return c.RemoveStaleTemps(ctx, olderThan)
	}
	return 0, 0, ctx.Err()
}
