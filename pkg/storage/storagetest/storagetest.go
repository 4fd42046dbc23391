package storagetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// Run runs the conformance suite against the stores made by newStore, which
// must return a fresh, empty store each time it is called. Cleanup belongs
// in newStore (t.Cleanup); Run calls Close on stores that implement
// storage.Closer.
func Run(t *testing.T, newStore func(t *testing.T) storage.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s storage.Store, root string)
	}{
		{"PutGetRoundTrip", testRoundTrip},
		{"PutDoesNotRetainData", testPutDoesNotRetain},
		{"PutNeverReplaces", testPutNeverReplaces},
		{"RangedGet", testRangedGet},
		{"Stat", testStat},
		{"Missing", testMissing},
		{"DirectoryIsNotAnObject", testDirectoryIsNotObject},
		{"Delete", testDelete},
		{"ListPrefix", testListPrefix},
		{"ListAll", testListAll},
		{"ListCallbackError", testListCallbackError},
		{"InvalidNames", testInvalidNames},
		{"CancelledContext", testCancelledContext},
		{"ConcurrentPuts", testConcurrentPuts},
		{"RacingCreates", testRacingCreates},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			if c, ok := s.(storage.Closer); ok {
				t.Cleanup(func() {
					if err := c.Close(); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
			}
			tc.fn(t, s, uniqueRoot(t))
		})
	}
}

// uniqueRoot returns a random top-level directory name for one subtest, so
// that subtests sharing a bucket never see each other's objects.
func uniqueRoot(t *testing.T) string {
	t.Helper()
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random root: %v", err)
	}
	return "conf-" + hex.EncodeToString(b[:])
}

// payload returns deterministic pseudo-random bytes, different for each seed.
func payload(seed uint64, n int) []byte {
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func mustPut(t *testing.T, s storage.Store, name string, data []byte) {
	t.Helper()
	if err := s.Put(t.Context(), name, data); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", name, len(data), err)
	}
}

// readRange performs a ranged Get and reads the whole reader. An error from
// Get and an error from reading are both returned, because the contract
// allows a missing object to be reported by either.
func readRange(ctx context.Context, s storage.Store, name string, offset, length int64) ([]byte, error) {
	rc, err := s.Get(ctx, name, offset, length)
	if err != nil {
		return nil, err
	}
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close: %w", cerr)
	}
	return data, err
}

func mustRead(t *testing.T, s storage.Store, name string, offset, length int64) []byte {
	t.Helper()
	data, err := readRange(t.Context(), s, name, offset, length)
	if err != nil {
		t.Fatalf("Get(%q, %d, %d): %v", name, offset, length, err)
	}
	return data
}

func checkContent(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

func wantNotFound(t *testing.T, s storage.Store, name string) {
	t.Helper()
	ctx := t.Context()
	if _, err := readRange(ctx, s, name, 0, -1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Get(%q): got error %v, want one wrapping storage.ErrNotFound", name, err)
	}
	if _, err := s.Stat(ctx, name); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("Stat(%q): got error %v, want one wrapping storage.ErrNotFound", name, err)
	}
}

// listNames lists prefix and returns the names reported, checking that the
// reported sizes are non-negative and modification times are set.
func listNames(t *testing.T, s storage.Store, prefix string) []string {
	t.Helper()
	var names []string
	err := s.List(t.Context(), prefix, func(fi storage.ObjectInfo) error {
		if fi.Size < 0 {
			t.Errorf("List(%q): %q has negative size %d", prefix, fi.Name, fi.Size)
		}
		if fi.ModTime.IsZero() {
			t.Errorf("List(%q): %q has zero ModTime", prefix, fi.Name)
		}
		names = append(names, fi.Name)
		return nil
	})
	if err != nil {
		t.Fatalf("List(%q): %v", prefix, err)
	}
	return names
}
