package retry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// fakeClock is a clock that only Sleep moves.
type fakeClock struct {
	now   time.Time
	waits []time.Duration
}

func (c *fakeClock) policy() Policy {
	c.now = time.Unix(1_000_000, 0)
	return Policy{
		Now: func() time.Time { return c.now },
		Sleep: func(ctx context.Context, d time.Duration) error {
			c.waits = append(c.waits, d)
			c.now = c.now.Add(d)
			return ctx.Err()
		},
		Rand: func(n time.Duration) time.Duration { return n },
	}
}

// failingUntil fails Stat with a transient error until the clock passes
// until.
type failingUntil struct {
	*scriptedStore
	clock *fakeClock
	until time.Time
	err   error
	calls int
}

func (f *failingUntil) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	f.calls++
	if f.clock.now.Before(f.until) {
		return storage.ObjectInfo{}, f.err
	}
	return storage.ObjectInfo{Name: name}, nil
}

func TestRetriesForTimeBudget(t *testing.T) {
	var clock fakeClock
	p := clock.policy()
	p.RetryFor = time.Minute
	inner := &failingUntil{scriptedStore: newScripted(), clock: &clock, until: clock.now.Add(time.Hour), err: transient(0)}
	_, err := New(inner, p).Stat(t.Context(), "a")
	if !errors.Is(err, storage.ErrTransient) || !strings.Contains(err.Error(), "retry budget 1m0s") {
		t.Fatalf("Stat failing for an hour: %v, want the transient error after the 1m budget", err)
	}
	// Waits 0.1+0.2+...+6.4 s = 12.7 s, then 10 s each while the total
	// stays within the minute: four of them (52.7 s); the fifth would end
	// at 62.7 s.
	var total time.Duration
	for _, w := range clock.waits {
		total += w
	}
	if total > time.Minute || len(clock.waits) != 11 || inner.calls != 12 {
		t.Errorf("%d attempts, %d waits totalling %v; want 12 attempts, 11 waits, at most 1m", inner.calls, len(clock.waits), total)
	}
}

// TestSurvivesAMinuteOfThrottling is issue 12's case: with the default
// policy, a minute of 503 SlowDown is ridden out.
func TestSurvivesAMinuteOfThrottling(t *testing.T) {
	var clock fakeClock
	p := clock.policy()
	slowDown := fmt.Errorf("%w (SlowDown, HTTP 503)", storage.ErrTransient)
	inner := &failingUntil{scriptedStore: newScripted(), clock: &clock, until: clock.now.Add(time.Minute), err: slowDown}
	var notified int
	p.Notify = func(string, string, int, error, time.Duration) { notified++ }
	if _, err := New(inner, p).Stat(t.Context(), "a"); err != nil {
		t.Fatalf("Stat through a minute of SlowDown: %v", err)
	}
	if notified != inner.calls-1 {
		t.Errorf("%d retries reported for %d attempts", notified, inner.calls)
	}
}

// throttled is a transient error carrying the server's Retry-After.
type throttled struct{ after time.Duration }

func (e throttled) Error() string             { return fmt.Sprintf("503 SlowDown, retry after %v", e.after) }
func (e throttled) Unwrap() error             { return storage.ErrTransient }
func (e throttled) RetryAfter() time.Duration { return e.after }

func TestHonoursRetryAfter(t *testing.T) {
	var clock fakeClock
	p := clock.policy()
	inner := newScripted()
	inner.fail["stat"] = []error{fmt.Errorf("stat: %w", throttled{7 * time.Second}), transient(2)}
	inner.objects["a"] = nil
	if _, err := New(inner, p).Stat(t.Context(), "a"); err != nil {
		t.Fatal(err)
	}
	want := []time.Duration{7 * time.Second, 200 * time.Millisecond}
	if len(clock.waits) != 2 || clock.waits[0] != want[0] || clock.waits[1] != want[1] {
		t.Errorf("waits = %v, want %v (Retry-After, then the backoff)", clock.waits, want)
	}

	// A Retry-After beyond the budget ends the retries at once.
	clock.waits = nil
	inner.fail["stat"] = []error{throttled{time.Hour}}
	_, err := New(inner, p).Stat(t.Context(), "a")
	if !errors.Is(err, storage.ErrTransient) || len(clock.waits) != 0 {
		t.Errorf("Retry-After of an hour: %v after waits %v; want the error without waiting", err, clock.waits)
	}
}
