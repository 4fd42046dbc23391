package storagetest

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// listFixture returns names chosen so that byte order differs from a naive
// directory-by-directory walk: '-' (0x2d) and '.' (0x2e) sort before '/'
// (0x2f), which sorts before the digits. So "data-x" < "data/..." < "data0".
func listFixture() []string {
	return []string{
		"data/00/00aa",
		"data/ab/abcdef",
		"data/ab/abff",
		"data/ab/ab-1",
		"data/ac/ac01",
		"data-x",
		"data.y",
		"data0",
		"data2/x",
		"index/1",
		"keys/k",
		"config",
	}
}

func putListFixture(t *testing.T, s storage.Store, root string) []string {
	t.Helper()
	var names []string
	for i, n := range listFixture() {
		name := root + "/" + n
		mustPut(t, s, name, payload(uint64(i), i*10))
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// withPrefix returns the names in sorted that start with prefix.
func withPrefix(sorted []string, prefix string) []string {
	var out []string
	for _, n := range sorted {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

func testListPrefix(t *testing.T, s storage.Store, root string) {
	all := putListFixture(t, s, root)
	prefixes := []string{
		"/",
		"/data/",
		"/data",
		"/data2/",
		"/data/ab",
		"/data/ab/",
		"/data/ab/abc",
		"/data/ab/abcdef",
		"/data/a",
		"/data-",
		"/data.",
		"/config",
		"/index/",
		"/nothing/",
		"/nothing",
		"/data/zz/",
	}
	for _, p := range prefixes {
		prefix := root + p
		got := listNames(t, s, prefix)
		want := withPrefix(all, prefix)
		if !slices.Equal(got, want) {
			t.Errorf("List(%q)\n got %q\nwant %q", prefix, got, want)
		}
	}

	// Sizes reported by List match what was written.
	sizes := make(map[string]int64)
	err := s.List(t.Context(), root+"/", func(fi storage.ObjectInfo) error {
		sizes[fi.Name] = fi.Size
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	for i, n := range listFixture() {
		if got, want := sizes[root+"/"+n], int64(i*10); got != want {
			t.Errorf("List size of %q = %d, want %d", n, got, want)
		}
	}
}

func testListAll(t *testing.T, s storage.Store, root string) {
	mine := putListFixture(t, s, root)
	got := listNames(t, s, "")
	if !slices.IsSorted(got) {
		t.Errorf("List(\"\") is not in ascending order: %q", got)
	}
	// The store may hold objects of other runs sharing the bucket; ours
	// must all be there, and nothing else under our root.
	if ours := withPrefix(got, root+"/"); !slices.Equal(ours, mine) {
		t.Errorf("List(\"\") reported under %s:\n got %q\nwant %q", root, ours, mine)
	}
}

func testListCallbackError(t *testing.T, s storage.Store, root string) {
	putListFixture(t, s, root)
	stop := errors.New("stop listing")
	calls := 0
	err := s.List(t.Context(), root+"/", func(storage.ObjectInfo) error {
		calls++
		if calls == 2 {
			return stop
		}
		return nil
	})
	if err != stop { //nolint:errorlint // the contract says "returned as is"
		t.Errorf("List returned %v, want the callback's error unchanged", err)
	}
	if calls != 2 {
		t.Errorf("callback called %d times, want 2 (listing must stop at the first error)", calls)
	}
}
