package diff

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// wideEntries is /d00..d(n-1)/sub/f, with /d07/sub/f's content given.
func wideEntries(n int, changed string) []entry {
	var out []entry
	for i := range n {
		data := "same"
		if i == 7 {
			data = changed
		}
		out = append(out, entry{path: fmt.Sprintf("/d%02d/sub/f", i), data: data})
	}
	return out
}

func distinct(ids []crypto.ID) bool {
	seen := make(map[crypto.ID]bool)
	for _, id := range ids {
		if seen[id] {
			return false
		}
		seen[id] = true
	}
	return true
}

// TestDiffPrefetchLoadsOnlyWhatItEnters: with trees loaded ahead, a diff
// of one changed file among twenty directories still loads only the
// trees on the changed path, each once.
func TestDiffPrefetchLoadsOnlyWhatItEnters(t *testing.T) {
	r := newRepo(t)
	a := build(t, r, t0, wideEntries(20, "old")...)
	b := build(t, r, t0.Add(time.Hour), wideEntries(20, "new")...)
	lc := &loadCounter{Repository: r}
	got := collect(t, lc, a, b)
	if len(got) != 1 || got[0] != "M /d07/sub/f (content)" {
		t.Fatalf("changes %v", got)
	}
	// The root, /d07 and /d07/sub, on both sides.
	if len(lc.loaded) != 6 || !distinct(lc.loaded) {
		t.Errorf("%d tree loads (distinct: %v), want 6 distinct", len(lc.loaded), distinct(lc.loaded))
	}
}

// TestFindPrefetchPrunes: a full-path search loads only the directories
// its pattern can reach, prefetching or not.
func TestFindPrefetchPrunes(t *testing.T) {
	r := newRepo(t)
	s := build(t, r, t0, wideEntries(20, "x")...)
	lc := &loadCounter{Repository: r}
	var paths []string
	err := Find(context.Background(), lc, []snapshot.Entry{{Snapshot: s}}, "/d03/*/f", func(m Match) error {
		paths = append(paths, m.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) != 1 || paths[0] != "/d03/sub/f" {
		t.Fatalf("matches %v", paths)
	}
	if len(lc.loaded) != 3 || !distinct(lc.loaded) {
		t.Errorf("%d tree loads, want 3 (/, /d03, /d03/sub)", len(lc.loaded))
	}
}
