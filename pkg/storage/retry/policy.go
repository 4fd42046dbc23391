package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// Defaults for the zero fields of a Policy.
const (
	// DefaultRetryFor is how long an operation keeps being retried:
	// long enough to ride out a provider's throttling storm or a
	// restarting server (B2 and Wasabi answer 503 for minutes), short
	// enough that a dead endpoint is reported while the user waits.
	DefaultRetryFor = 5 * time.Minute
	DefaultBase     = 100 * time.Millisecond
	DefaultMax      = 10 * time.Second
	// DefaultStallTimeout matches the S3 transport's response-header
	// timeout: a body that delivers nothing for this long is as dead as
	// a request that gets no answer.
	DefaultStallTimeout = time.Minute
)

// Policy says how long and how patiently to retry. The zero Policy is
// usable and means the defaults above.
type Policy struct {
	// RetryFor is the time budget of one operation: once this long has
	// passed since its first attempt, or the next wait would end after
	// it, the last error is returned. A Get reader has the same budget
	// for each run of failures without progress in between.
	RetryFor time.Duration
	// MaxAttempts, when positive, also caps the tries of one operation,
	// the first included, and the re-opens of a Get reader over its
	// life (MaxAttempts-1). Zero means no cap other than RetryFor.
	MaxAttempts int
	// Base is the backoff ceiling before the first retry; it doubles for
	// every further retry up to Max. A server's Retry-After (see
	// storage.RetryAfter) lengthens a wait, never shortens it.
	Base time.Duration
	Max  time.Duration

	// StallTimeout is how long one Read of a Get's body may wait for its
	// first byte before the reader gives up on that connection, closes
	// it and resumes the download on a new one, like any other transient
	// failure (and within the same budget). Nothing below cairn times out
	// a body that stops mid-way: HTTP only times the response headers.
	StallTimeout time.Duration

	// Sleep waits for d or until ctx is done, whichever comes first, and
	// returns ctx.Err() in the second case. Nil means a real timer. Tests
	// set it to record the waits instead of taking them.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock the budget is measured with. Nil means time.Now.
	// Tests advance a fake clock in Sleep.
	Now func() time.Time
	// Rand returns a uniformly random duration in [0, n). Nil means
	// math/rand/v2. Tests set it to make the jitter predictable.
	Rand func(n time.Duration) time.Duration
	// Notify, when set, is called before every wait with the operation
	// ("put", "get", "read", ...), the object name or list prefix, the
	// attempt that failed (1 for the first), its error and the wait, so
	// the caller can report the retry (cairn -v) and count it.
	Notify func(op, name string, attempt int, err error, wait time.Duration)
}

// withDefaults fills in the zero fields.
func (p Policy) withDefaults() Policy {
	if p.RetryFor <= 0 {
		p.RetryFor = DefaultRetryFor
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Base <= 0 {
		p.Base = DefaultBase
	}
	if p.Max <= 0 {
		p.Max = DefaultMax
	}
	if p.Max < p.Base {
		p.Max = p.Base
	}
	if p.StallTimeout <= 0 {
		p.StallTimeout = DefaultStallTimeout
	}
	if p.Sleep == nil {
		p.Sleep = storage.Sleep
	}
	if p.Rand == nil {
		p.Rand = func(n time.Duration) time.Duration { return rand.N(n) }
	}
	return p
}

// backoff returns the wait before retry number retry (0 for the first
// retry): "full jitter", a uniform random duration between zero and an
// exponentially growing ceiling. Compared with a fixed exponential delay
// it spreads out clients that failed together (all workers hitting the
// same SlowDown) instead of sending them back in lockstep.
func (p Policy) backoff(retry int) time.Duration {
	ceiling := p.Base
	for i := 0; i < retry && ceiling < p.Max; i++ {
		ceiling *= 2
	}
	return p.Rand(min(ceiling, p.Max))
}

// exhausted reports whether no further attempt may follow the failed
// attempt number attempt of a run of failures that started at start, given
// the wait d before it. It returns why, for the error message.
func (p Policy) exhausted(attempt int, start time.Time, d time.Duration) (string, bool) {
	if p.MaxAttempts > 0 && attempt >= p.MaxAttempts {
		return fmt.Sprintf("giving up after %d attempts", attempt), true
	}
	if elapsed := p.Now().Sub(start); elapsed+d > p.RetryFor {
		return fmt.Sprintf("giving up after %d attempts in %v (retry budget %v)",
			attempt, elapsed.Round(time.Millisecond), p.RetryFor), true
	}
	return "", false
}

// delay is the wait before the retry that follows failed attempt number
// attempt: the jittered backoff, or the server's Retry-After if longer.
func (p Policy) delay(attempt int, err error) time.Duration {
	return max(p.backoff(attempt-1), storage.RetryAfter(err))
}

// wait tells Notify about a failed attempt and sleeps d before the next one.
func (p Policy) wait(ctx context.Context, op, name string, attempt int, err error, d time.Duration) error {
	if p.Notify != nil {
		p.Notify(op, name, attempt, err, d)
	}
	return p.Sleep(ctx, d)
}

// permanent reports errors that no retry can cure. They win over
// ErrTransient should a backend wrap both.
func permanent(err error) bool {
	return errors.Is(err, storage.ErrNotFound) ||
		errors.Is(err, storage.ErrPermission) ||
		errors.Is(err, storage.ErrInvalidName) ||
		errors.Is(err, storage.ErrExists) ||
		errors.Is(err, storage.ErrNoRepository) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded)
}

// retryable reports whether err is worth another attempt.
func retryable(err error) bool {
	return !permanent(err) && errors.Is(err, storage.ErrTransient)
}

// retryableRead is retryable for errors that interrupt a download: a
// connection dropping mid-body shows up as io.ErrUnexpectedEOF or a reset
// from backends that do not classify read errors themselves.
func retryableRead(err error) bool {
	return !permanent(err) && (errors.Is(err, storage.ErrTransient) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE))
}
