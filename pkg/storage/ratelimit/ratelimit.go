package ratelimit

import (
	"context"
	"fmt"
	"io"
	"time"

	"golang.org/x/time/rate"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// minBurst is the smallest burst of a Limiter: reads of a few KiB then go
// through without a wait each, whatever the rate.
const minBurst = 64 << 10

// Limiter caps the bytes per second of one direction. It is safe for
// concurrent use, and meant to be shared: every store and reader given
// the same Limiter shares its rate. A nil *Limiter means no limit.
type Limiter struct {
	bucket *rate.Limiter
	// chunk is the most tokens asked for at once: the bucket's burst,
	// which ReserveN refuses to exceed.
	chunk int
	// now and sleep are the clock; tests replace them with a fake one.
	now   func() time.Time
	sleep func(ctx context.Context, d time.Duration) error
}

// NewLimiter returns a Limiter of bytesPerSec, or nil (no limit) when
// bytesPerSec is 0 or less.
func NewLimiter(bytesPerSec int64) *Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	burst := max(bytesPerSec, minBurst)
	if burst > int64(maxInt) {
		burst = int64(maxInt)
	}
	return &Limiter{
		bucket: rate.NewLimiter(rate.Limit(bytesPerSec), int(burst)),
		chunk:  int(burst),
		now:    time.Now,
		sleep:  storage.Sleep,
	}
}

const maxInt = int(^uint(0) >> 1)

// Rate returns the limit in bytes per second; 0 for a nil Limiter.
func (l *Limiter) Rate() int64 {
	if l == nil {
		return 0
	}
	return int64(l.bucket.Limit())
}

// Burst returns the most bytes that pass without a wait after a pause.
func (l *Limiter) Burst() int {
	if l == nil {
		return 0
	}
	return l.chunk
}

// wait blocks until n bytes may pass, or ctx is done. On cancellation
// the tokens of the current chunk go back to the bucket and wait returns
// ctx.Err().
func (l *Limiter) wait(ctx context.Context, n int) error {
	if l == nil || n <= 0 {
		return ctx.Err()
	}
	for n > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		c := min(n, l.chunk)
		now := l.now()
		r := l.bucket.ReserveN(now, c)
		if !r.OK() { // cannot happen: c is at most the burst
			return fmt.Errorf("ratelimit: %d bytes exceed the burst of %d", c, l.chunk)
		}
		if d := r.DelayFrom(now); d > 0 {
			if err := l.sleep(ctx, d); err != nil {
				r.CancelAt(l.now())
				return err
			}
		}
		n -= c
	}
	return nil
}

var (
	_ storage.Store          = (*Store)(nil)
	_ storage.Wrapper        = (*Store)(nil)
	_ storage.Creator        = (*Store)(nil)
	_ storage.Closer         = (*Store)(nil)
	_ storage.PutConcurrency = (*Store)(nil)
	_ storage.TempCleaner    = (*Store)(nil)
)

// Store throttles the object bodies of the store it wraps. Build it with
// New.
type Store struct {
	storage.Forward
	inner    storage.Store
	up, down *Limiter
}

// New wraps inner so that Put bodies pass through up and Get bodies
// through down; either may be nil (no limit). With both nil New returns
// inner itself: there is nothing to decorate.
func New(inner storage.Store, up, down *Limiter) storage.Store {
	if up == nil && down == nil {
		return inner
	}
	return &Store{Forward: storage.Forward{Inner: inner}, inner: inner, up: up, down: down}
}

// Unwrap returns the store New wrapped.
func (s *Store) Unwrap() storage.Store { return s.inner }

// Put waits until data may be uploaded, then puts it.
func (s *Store) Put(ctx context.Context, name string, data []byte) error {
	if err := s.up.wait(ctx, len(data)); err != nil {
		return fmt.Errorf("put %s: waiting for the upload limit: %w", name, err)
	}
	return s.inner.Put(ctx, name, data)
}

// Get returns a reader that waits for the download limit as it reads.
func (s *Store) Get(ctx context.Context, name string, offset, length int64) (io.ReadCloser, error) {
	rc, err := s.inner.Get(ctx, name, offset, length)
	if err != nil || s.down == nil {
		return rc, err
	}
	return &reader{ctx: ctx, body: rc, lim: s.down}, nil
}

// Stat forwards to the wrapped store.
func (s *Store) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	return s.inner.Stat(ctx, name)
}

// List forwards to the wrapped store.
func (s *Store) List(ctx context.Context, prefix string, fn func(storage.ObjectInfo) error) error {
	return s.inner.List(ctx, prefix, fn)
}

// Delete forwards to the wrapped store.
func (s *Store) Delete(ctx context.Context, name string) error {
	return s.inner.Delete(ctx, name)
}

// reader pays for the bytes it read after reading them. Reads are cut to
// the limiter's burst so that one large Read cannot take more than a
// second's worth at once. It keeps the ctx of its Get, as an HTTP body
// does.
type reader struct {
	ctx  context.Context
	body io.ReadCloser
	lim  *Limiter
}

func (r *reader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if len(p) > r.lim.chunk {
		p = p[:r.lim.chunk]
	}
	n, err := r.body.Read(p)
	if werr := r.lim.wait(r.ctx, n); werr != nil {
		// The n bytes are in p and are the caller's; the error says the
		// read was stopped.
		return n, werr
	}
	return n, err
}

func (r *reader) Close() error { return r.body.Close() }

// Remaining forwards the body's storage.Sized, or -1.
func (r *reader) Remaining() int64 {
	if s, ok := r.body.(storage.Sized); ok {
		return s.Remaining()
	}
	return -1
}
