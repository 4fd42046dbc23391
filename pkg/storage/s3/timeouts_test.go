package s3_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/retry"
	"github.com/cairn-backup/cairn/pkg/storage/s3"
)

// shortTimeouts is a transport whose response-header timeout is
// milliseconds, so that a stalled server is given up on quickly.
func shortTimeouts(cfg *s3.Config) {
	cfg.Transport = &http.Transport{ResponseHeaderTimeout: 20 * time.Millisecond}
}

func noWait(ctx context.Context, _ time.Duration) error { return ctx.Err() }

// TestHeaderTimeoutIsTransient: requests that never get response headers
// fail with a transient error (not the caller's deadline), and the retry
// decorator gets through them.
func TestHeaderTimeoutIsTransient(t *testing.T) {
	f := &fakeS3{objects: map[string][]byte{"/bucket/keys/k1": []byte("key file")}}
	plain := newFakeStoreWith(t, f, shortTimeouts)
	ctx := t.Context()

	f.locked(func() { f.stallHeaders = 1 })
	_, err := plain.Stat(ctx, "keys/k1")
	if !errors.Is(err, storage.ErrTransient) || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stat with no response headers: %v, want transient and not DeadlineExceeded", err)
	}

	f.locked(func() { f.stallHeaders = 3 })
	var retries int
	s := retry.New(plain, retry.Policy{Sleep: noWait, Notify: func(string, string, int, error, time.Duration) { retries++ }})
	fi, err := s.Stat(ctx, "keys/k1")
	if err != nil || fi.Size != int64(len("key file")) {
		t.Fatalf("retried Stat through 3 header timeouts: %+v, %v", fi, err)
	}
	if retries != 3 {
		t.Errorf("%d retries reported, want 3", retries)
	}
	got, err := storage.ReadAll(ctx, s, "keys/k1")
	if err != nil || string(got) != "key file" {
		t.Errorf("Get after the stalls: %q, %v", got, err)
	}
}

// TestStalledBodyIsResumed: a GET whose body stops half-way and stays
// silent is closed after StallTimeout and resumed where it stopped.
func TestStalledBodyIsResumed(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096)
	f := &fakeS3{objects: map[string][]byte{"/bucket/data/aa/aa01": data}}
	s := retry.New(newFakeStoreWith(t, f, shortTimeouts),
		retry.Policy{Sleep: noWait, StallTimeout: 20 * time.Millisecond})
	f.locked(func() { f.stallBodies = 2 })
	got, err := storage.ReadAll(t.Context(), s, "data/aa/aa01")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("ReadAll through two stalled bodies: %d bytes, %v; want %d", len(got), err, len(data))
	}
}

// TestRetryAfterReachesTheRetryDecorator: B2 sends 503 SlowDown with a
// Retry-After header; the error carries it and the decorator waits that
// long instead of its own shorter backoff.
func TestRetryAfterReachesTheRetryDecorator(t *testing.T) {
	f := &fakeS3{objects: map[string][]byte{"/bucket/index/i1": []byte("index")}}
	plain := newFakeStoreWith(t, f, func(*s3.Config) {})
	ctx := t.Context()
	f.locked(func() { f.throttle = 1 })
	_, err := plain.Stat(ctx, "index/i1")
	if !errors.Is(err, storage.ErrTransient) || storage.RetryAfter(err) != 3*time.Second {
		t.Fatalf("Stat answered SlowDown with Retry-After 3: %v, RetryAfter %v", err, storage.RetryAfter(err))
	}
	var waits []time.Duration
	s := retry.New(plain, retry.Policy{Sleep: func(ctx context.Context, d time.Duration) error {
		waits = append(waits, d)
		return ctx.Err()
	}})
	f.locked(func() { f.throttle = 2 })
	if _, err := s.Stat(ctx, "index/i1"); err != nil {
		t.Fatalf("retried Stat: %v", err)
	}
	if len(waits) != 2 || waits[0] != 3*time.Second || waits[1] != 3*time.Second {
		t.Errorf("waits = %v, want the server's 3s twice", waits)
	}
}

// TestStalledBodyFailsTransient: below any decorator, a body that stops
// is cut after Config.StallTimeout with a transient error, so listings and
// error bodies (which no reader above can watch) cannot hang either.
func TestStalledBodyFailsTransient(t *testing.T) {
	data := bytes.Repeat([]byte("x"), 1<<16)
	f := &fakeS3{objects: map[string][]byte{"/bucket/data/aa/aa01": data}}
	plain := newFakeStoreWith(t, f, func(cfg *s3.Config) { cfg.StallTimeout = 20 * time.Millisecond })
	f.locked(func() { f.stallBodies = 1 })
	rc, err := plain.Get(t.Context(), "data/aa/aa01", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	got, err := io.ReadAll(rc)
	if !errors.Is(err, storage.ErrTransient) || !strings.Contains(err.Error(), "no data") {
		t.Errorf("reading a stalled body: %d bytes, %v; want a transient stall error", len(got), err)
	}
	if len(got) != len(data)/2 {
		t.Errorf("read %d bytes before the stall, want %d", len(got), len(data)/2)
	}
}
