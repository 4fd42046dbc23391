package fusefs

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// TestMountViewNames checks the names of the top directories: snapshots of
// the same second, hosts and tags that are not valid file names, and IDs
// whose short forms collide.
func TestMountViewNames(t *testing.T) {
	at := time.Date(2026, 11, 30, 22, 0, 1, 0, time.UTC)
	id := func(b ...byte) crypto.ID {
		var x crypto.ID
		copy(x[:], b)
		return x
	}
	entries := []snapshot.Entry{
		{ID: id(1, 1, 1, 1, 1), Snapshot: &snapshot.Snapshot{Time: at, Host: "laptop", Tags: []string{"a/b", "a/b"}}},
		{ID: id(1, 1, 1, 1, 2), Snapshot: &snapshot.Snapshot{Time: at.Add(500 * time.Millisecond), Host: "", Tags: []string{".."}}},
		{ID: id(2), Snapshot: &snapshot.Snapshot{Time: at.Add(time.Hour), Host: "laptop"}},
	}
	v := buildView(entries)
	first := at.Local().Format(timeName)
	var names []string
	for _, n := range snapEntries(v.all) {
		names = append(names, n.name)
	}
	want := []string{first, first + "-" + entries[1].ID.Short(), at.Add(time.Hour).Local().Format(timeName), "latest"}
	if !slices.Equal(names, want) {
		t.Errorf("snapshots/: %q, want %q", names, want)
	}
	if l := snapEntries(v.all)[3].link; l != want[2] {
		t.Errorf("latest -> %q, want %q", l, want[2])
	}
	if got := sortedKeys(v.hosts); !slices.Equal(got, []string{"_", "laptop"}) {
		t.Errorf("hosts/: %q", got)
	}
	if got := sortedKeys(v.tags); !slices.Equal(got, []string{"_..", "a_b"}) {
		t.Errorf("tags/: %q", got)
	}
	if len(v.tags["a_b"]) != 1 {
		t.Errorf("a tag given twice lists its snapshot %d times", len(v.tags["a_b"]))
	}
	var ids []string
	for _, n := range v.ids {
		ids = append(ids, n.name)
	}
	wantIDs := []string{entries[0].ID.String(), entries[1].ID.String(), entries[2].ID.Short()}
	if entries[0].ID.Short() != entries[1].ID.Short() {
		t.Fatal("test IDs should share their short form")
	}
	if !slices.Equal(ids, wantIDs) {
		t.Errorf("ids/: %q, want %q", ids, wantIDs)
	}
}

// TestMountJunkSnapshot: junk planted under snapshots/ (anyone with write
// access can) hides no snapshot from the mount, and is reported once, not
// at every listing.
func TestMountJunkSnapshot(t *testing.T) {
	_, store := testRepo(t)
	ctx := context.Background()
	r := openRepo(t, store)
	src := t.TempDir()
	randomFile(t, filepath.Join(src, "f"), 1, 100)
	backupDir(t, r, src)
	junk := bytes.Repeat([]byte("junk"), 100)
	var junkID crypto.ID
	junkID[0] = 0xee
	if err := store.Put(ctx, repo.ObjectName(repo.KindSnapshot, junkID), junk); err != nil {
		t.Fatal(err)
	}
	var warnings atomic.Int64
	r, err := repo.Open(ctx, store, testPassphrase, repo.OpenOptions{Warn: func(string, error) { warnings.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	l := newSnapshotList(r, time.Nanosecond)
	for range 3 {
		v, err := l.view(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.all) != 1 {
			t.Fatalf("listing shows %d snapshots, want the 1 real one", len(v.all))
		}
		time.Sleep(time.Millisecond)
	}
	if got := warnings.Load(); got != 1 {
		t.Errorf("junk snapshot reported %d times over 3 listings, want once", got)
	}
}
