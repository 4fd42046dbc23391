package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// fakeClock is a clock whose sleeps advance it at once, recording how long
// the limiter made its callers wait: throughput is measured in simulated
// seconds, never against the wall clock.
type fakeClock struct {
	mu     sync.Mutex
	t      time.Time
	slept  time.Duration
	sleeps int
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	c.slept += d
	c.sleeps++
	return nil
}

func fakeLimiter(bps int64) (*Limiter, *fakeClock) {
	l := NewLimiter(bps)
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	l.now, l.sleep = c.now, c.sleep
	return l, c
}

// near reports whether got is want to within a millisecond of simulated
// time (the bucket's float arithmetic rounds).
func near(got, want time.Duration) bool {
	d := got - want
	return d > -time.Millisecond && d < time.Millisecond
}

const kib = 1 << 10

func TestUploadRate(t *testing.T) {
	ctx := t.Context()
	const bps = 100 * kib
	up, clock := fakeLimiter(bps)
	inner := mem.New()
	// Two stores over one limiter, as two connections or the source and
	// destination of a copy: they share the rate.
	a, b := New(inner, up, nil), New(inner, up, nil)
	data := make([]byte, 512*kib)
	if err := a.Put(ctx, "a", data); err != nil {
		t.Fatal(err)
	}
	if err := b.Put(ctx, "b", data); err != nil {
		t.Fatal(err)
	}
	// The bucket starts full (one burst); the rest waits at 100 KiB/s.
	want := time.Duration(float64(2*len(data)-up.Burst()) / bps * float64(time.Second))
	if !near(clock.slept, want) {
		t.Fatalf("1 MiB at 100 KiB/s waited %v of simulated time, want %v", clock.slept, want)
	}
	if clock.sleeps < 2 {
		t.Fatalf("%d waits, want one per burst-sized chunk beyond the first", clock.sleeps)
	}
	// Reads are not throttled by the upload limit.
	before := clock.slept
	if _, err := storage.ReadAll(ctx, a, "a"); err != nil {
		t.Fatal(err)
	}
	if clock.slept != before {
		t.Fatalf("a download waited %v on the upload limit", clock.slept-before)
	}
}

func TestDownloadRate(t *testing.T) {
	ctx := t.Context()
	const bps = 50 * kib
	down, clock := fakeLimiter(bps)
	inner := mem.New()
	data := bytes.Repeat([]byte("cairn"), 100*kib) // 500 KiB
	if err := inner.Put(ctx, "obj", data); err != nil {
		t.Fatal(err)
	}
	s := New(inner, nil, down)
	got, err := storage.ReadAll(ctx, s, "obj")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read through the limit: %d bytes, %v", len(got), err)
	}
	want := time.Duration(float64(len(data)-down.Burst()) / bps * float64(time.Second))
	if !near(clock.slept, want) {
		t.Fatalf("500 KiB at 50 KiB/s waited %v of simulated time, want %v", clock.slept, want)
	}
	// A ranged read pays for what it returns, not for the object.
	before := clock.slept
	rc, err := s.Get(ctx, "obj", 1000, 100*kib)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, rc)
	rc.Close()
	if err != nil || n != 100*kib {
		t.Fatalf("ranged read: %d bytes, %v", n, err)
	}
	if want := 2 * time.Second; !near(clock.slept-before, want) {
		t.Fatalf("100 KiB ranged read at 50 KiB/s waited %v, want %v", clock.slept-before, want)
	}
	// Nothing is paid for by Put.
	before = clock.slept
	if err := s.Put(ctx, "other", data); err != nil || clock.slept != before {
		t.Fatalf("put waited %v on the download limit (%v)", clock.slept-before, err)
	}
}

// blockingSleep signals when a wait begins and then sleeps for real, so a
// test can cancel while a caller is really throttled.
func blockingSleep(l *Limiter) <-chan struct{} {
	waiting := make(chan struct{}, 1)
	l.sleep = func(ctx context.Context, d time.Duration) error {
		select {
		case waiting <- struct{}{}:
		default:
		}
		return storage.Sleep(ctx, d)
	}
	return waiting
}

func TestCancelWhileThrottledRead(t *testing.T) {
	inner := mem.New()
	data := make([]byte, 256*kib)
	if err := inner.Put(t.Context(), "obj", data); err != nil {
		t.Fatal(err)
	}
	down := NewLimiter(1 * kib) // 64 KiB burst, then over three minutes
	waiting := blockingSleep(down)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rc, err := New(inner, nil, down).Get(ctx, "obj", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	errc := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, rc)
		errc <- err
	}()
	<-waiting
	tokens := down.bucket.Tokens()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled throttled read: %v, want context.Canceled", err)
	}
	if after := down.bucket.Tokens(); after <= tokens {
		t.Errorf("the cancelled read kept its reservation: %.0f tokens before, %.0f after", tokens, after)
	}
	if _, err := rc.Read(make([]byte, 10)); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
}

func TestCancelWhileThrottledPut(t *testing.T) {
	inner := mem.New()
	up := NewLimiter(1 * kib)
	waiting := blockingSleep(up)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- New(inner, up, nil).Put(ctx, "obj", make([]byte, 256*kib)) }()
	<-waiting
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled throttled put: %v, want context.Canceled", err)
	}
	if _, err := inner.Stat(t.Context(), "obj"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("a put cancelled while waiting stored the object: %v", err)
	}
}

// A deadline that the wait would pass is not an early failure of its own
// kind: the caller sees context.DeadlineExceeded, as from any other wait.
func TestDeadlineWhileThrottled(t *testing.T) {
	up := NewLimiter(1 * kib)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	err := New(mem.New(), up, nil).Put(ctx, "obj", make([]byte, 256*kib))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("put past its deadline: %v, want context.DeadlineExceeded", err)
	}
}
