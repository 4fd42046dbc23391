package storagetest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
)

func testInvalidNames(t *testing.T, s storage.Store, root string) {
	ctx := t.Context()
	bad := []string{
		"",
		"Upper",
		root + "/Data/x",
		root + "/../escape",
		"..",
		".",
		root + "/./x",
		"/" + root + "/leading-slash",
		root + "/trailing-slash/",
		root + "//double-slash",
		root + "/has space",
		root + "/tab\tchar",
		root + "/back\\slash",
		root + "/colon:x",
		root + "/caf\u00e9",
		root + "/nul\x00",
		strings.Repeat("a", 201),
	}
	for _, name := range bad {
		if err := s.Put(ctx, name, []byte("x")); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Put(%q): got %v, want storage.ErrInvalidName", name, err)
		}
		if _, err := readRange(ctx, s, name, 0, -1); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Get(%q): got %v, want storage.ErrInvalidName", name, err)
		}
		if _, err := s.Stat(ctx, name); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Stat(%q): got %v, want storage.ErrInvalidName", name, err)
		}
		if err := s.Delete(ctx, name); !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("Delete(%q): got %v, want storage.ErrInvalidName", name, err)
		}
	}
	badPrefixes := []string{"Data/", "/" + root, root + "//", root + "/../", "has space/"}
	for _, prefix := range badPrefixes {
		err := s.List(ctx, prefix, func(storage.ObjectInfo) error { return nil })
		if !errors.Is(err, storage.ErrInvalidName) {
			t.Errorf("List(%q): got %v, want storage.ErrInvalidName", prefix, err)
		}
	}
	// The longest valid name works.
	long := root + "/" + strings.Repeat("a", 200-len(root)-1)
	mustPut(t, s, long, []byte("long"))
	checkContent(t, "200-byte name", mustRead(t, s, long, 0, -1), []byte("long"))
	if got := listNames(t, s, root+"/"); len(got) != 1 || got[0] != long {
		t.Errorf("List after invalid puts = %q, want only the valid long name", got)
	}
}

func testCancelledContext(t *testing.T, s storage.Store, root string) {
	name := root + "/data/exists"
	mustPut(t, s, name, []byte("content"))

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := s.Put(ctx, root+"/data/new", []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := readRange(ctx, s, name, 0, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with cancelled context: got %v, want context.Canceled", err)
	}
	if _, err := s.Stat(ctx, name); !errors.Is(err, context.Canceled) {
		t.Errorf("Stat with cancelled context: got %v, want context.Canceled", err)
	}
	called := false
	err := s.List(ctx, root+"/", func(storage.ObjectInfo) error {
		called = true
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("List with cancelled context: got %v, want context.Canceled", err)
	}
	if called {
		t.Errorf("List with cancelled context called its callback")
	}
	if err := s.Delete(ctx, name); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete with cancelled context: got %v, want context.Canceled", err)
	}

	// Cancelling while a listing is under way stops it.
	ctx2, cancel2 := context.WithCancel(t.Context())
	defer cancel2()
	for _, n := range []string{"a", "b", "c", "d"} {
		mustPut(t, s, root+"/list/"+n, []byte(n))
	}
	calls := 0
	err = s.List(ctx2, root+"/list/", func(storage.ObjectInfo) error {
		calls++
		cancel2()
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("List cancelled by its callback: got %v, want context.Canceled", err)
	}
	if calls != 1 {
		t.Errorf("List went on for %d callbacks after cancellation, want 1", calls)
	}
}
