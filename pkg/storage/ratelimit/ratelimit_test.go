package ratelimit_test

import (
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
	"github.com/cairn-backup/cairn/pkg/storage/ratelimit"
	"github.com/cairn-backup/cairn/pkg/storage/storagetest"
)

// The conformance suite runs at a rate high enough that it never waits
// long, and at one that makes it wait (its objects are up to a few MiB).
func TestConformance(t *testing.T) {
	for name, bps := range map[string]int64{"fast": 1 << 30, "throttled": 64 << 20} {
		t.Run(name, func(t *testing.T) {
			up, down := ratelimit.NewLimiter(bps), ratelimit.NewLimiter(bps)
			storagetest.Run(t, func(*testing.T) storage.Store { return ratelimit.New(mem.New(), up, down) })
		})
	}
}

func TestCapabilitiesAreKept(t *testing.T) {
	lim := ratelimit.NewLimiter(1 << 20)
	storagetest.CheckCapabilities(t, func(inner storage.Store) storage.Store { return ratelimit.New(inner, lim, lim) })
	for name, wrap := range map[string]func(storage.Store) storage.Store{
		"upload only":   func(s storage.Store) storage.Store { return ratelimit.New(s, lim, nil) },
		"download only": func(s storage.Store) storage.Store { return ratelimit.New(s, nil, lim) },
	} {
		t.Run(name, func(t *testing.T) { storagetest.CheckCapabilities(t, wrap) })
	}
}

// A versioned bucket stays visible through the decorator: repair and
// check look for it with storage.AsVersioner.
func TestVersionsStayVisible(t *testing.T) {
	inner := mem.NewVersioned()
	lim := ratelimit.NewLimiter(1 << 20)
	s := ratelimit.New(inner, lim, lim)
	v, ok := storage.AsVersioner(s)
	if !ok {
		t.Fatal("AsVersioner does not find the versioned store beneath the rate limit")
	}
	if v != storage.Versioner(inner) {
		t.Fatalf("AsVersioner found %T, not the wrapped store", v)
	}
}

// Without a limit there is nothing to decorate.
func TestNoLimitIsTheStoreItself(t *testing.T) {
	inner := mem.New()
	if s := ratelimit.New(inner, nil, nil); s != storage.Store(inner) {
		t.Fatalf("New with no limits returned %T", s)
	}
	if l := ratelimit.NewLimiter(0); l != nil {
		t.Fatalf("NewLimiter(0) = %v, want nil (no limit)", l)
	}
	if ratelimit.NewLimiter(-5) != nil {
		t.Fatal("a negative rate is a limit")
	}
}

func TestBurst(t *testing.T) {
	for _, tc := range []struct {
		bps  int64
		want int
	}{
		{1 << 10, 64 << 10},  // slow link: 64 KiB
		{10 << 20, 10 << 20}, // one second's worth
	} {
		if got := ratelimit.NewLimiter(tc.bps).Burst(); got != tc.want {
			t.Errorf("burst at %d B/s = %d, want %d", tc.bps, got, tc.want)
		}
	}
}
