package archiver

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// agedTree writes a few files and waits until they are older than
// racyWindow, so that a backup started now may trust them next time.
func agedTree(t *testing.T, dir string, files int) {
	t.Helper()
	for i := range files {
		writeFile(t, filepath.Join(dir, "d"+string(rune('0'+i%4)), "f"+string(rune('a'+i))), randomBytes(uint64(i), 1000+i*7919))
	}
	writeFile(t, filepath.Join(dir, "big"), randomBytes(99, 2<<20))
	time.Sleep(racyWindow + 100*time.Millisecond)
}

func subtreeOf(t *testing.T, r Repo, snap *snapshot.Snapshot, dir string) []crypto.ID {
	t.Helper()
	n, err := snapshot.FindPath(t.Context(), r, snap.Tree, dir)
	must(t, err)
	return n.Subtree
}

func TestIncremental(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	const files = 12
	agedTree(t, dir, files)
	first := backup(t, r, Options{Paths: []string{dir}})
	total := uint64(files + 1)
	if s := first.Snapshot.Summary; s.FilesNew != total || s.FilesUnchanged != 0 {
		t.Fatalf("first backup: %+v", s)
	}

	// No change: nothing read, identical trees, parent recorded.
	second := backup(t, r, Options{Paths: []string{dir}})
	s := second.Snapshot.Summary
	if s.BytesRead != 0 || s.FilesUnchanged != total || s.FilesNew != 0 || s.FilesChanged != 0 {
		t.Errorf("unchanged backup: %+v", s)
	}
	if second.Snapshot.Parent != first.SnapshotID {
		t.Errorf("parent %s, want %s", second.Snapshot.Parent.Short(), first.SnapshotID.Short())
	}
	if a, b := subtreeOf(t, r, first.Snapshot, dir), subtreeOf(t, r, second.Snapshot, dir); !slices.Equal(a, b) {
		t.Errorf("unchanged directory got a new tree: %v vs %v", a, b)
	}

	// Modify one file, add one, delete one.
	modified := filepath.Join(dir, "d1", "fb")
	writeFile(t, modified, []byte("new content"))
	added := filepath.Join(dir, "d2", "added")
	writeFile(t, added, []byte("added"))
	must(t, os.Remove(filepath.Join(dir, "d0", "fa")))
	third := backup(t, r, Options{Paths: []string{dir}})
	s = third.Snapshot.Summary
	if s.FilesChanged != 1 || s.FilesNew != 1 || s.FilesUnchanged != total-2 || s.BytesRead != uint64(len("new content")+len("added")) {
		t.Errorf("backup after changes: %+v", s)
	}
	got := readBack(t, r, third.Snapshot, dir)
	if _, ok := got["d0/fa"]; ok {
		t.Error("deleted file still in the snapshot")
	}
	for _, p := range []string{modified, added} {
		rel, _ := filepath.Rel(dir, p)
		sf, ok := got[rel]
		sum, size := fileSum(t, p)
		if !ok || sf.sum != sum || sf.size != size {
			t.Errorf("%s not stored correctly", rel)
		}
	}

	// Force reads everything again, and a given parent is used as is.
	forced := backup(t, r, Options{Paths: []string{dir}, Force: true})
	if s := forced.Snapshot.Summary; s.FilesUnchanged != 0 || s.FilesNew != total || !forced.Snapshot.Parent.IsZero() {
		t.Errorf("forced backup: %+v, parent %s", s, forced.Snapshot.Parent.Short())
	}
	explicit := backup(t, r, Options{Paths: []string{dir}, Parent: &first.SnapshotID})
	if explicit.Snapshot.Parent != first.SnapshotID || explicit.Snapshot.Summary.FilesUnchanged == 0 {
		t.Errorf("explicit parent: %+v", explicit.Snapshot)
	}

	// Another path set has no parent.
	other := backup(t, r, Options{Paths: []string{filepath.Join(dir, "d1")}})
	if !other.Snapshot.Parent.IsZero() {
		t.Errorf("backup of another path set used parent %s", other.Snapshot.Parent.Short())
	}
}

// TestRacyFileReread checks that a file modified just before the parent
// backup is read again, even though its metadata looks unchanged.
func TestRacyFileReread(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "fresh"), []byte("written a moment ago"))
	backup(t, r, Options{Paths: []string{dir}})
	second := backup(t, r, Options{Paths: []string{dir}})
	if s := second.Snapshot.Summary; s.FilesUnchanged != 0 || s.FilesChanged != 1 {
		t.Errorf("racy file was trusted: %+v", s)
	}
}

// TestDedup checks that a copy of a file adds almost nothing.
func TestDedup(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	data := randomBytes(7, testSize(20<<20))
	writeFile(t, filepath.Join(dir, "orig"), data)
	first := backup(t, r, Options{Paths: []string{dir}})
	if added := first.Snapshot.Summary.BytesAdded; added < uint64(len(data)) {
		t.Fatalf("first backup added %d bytes, want at least %d", added, len(data))
	}
	writeFile(t, filepath.Join(dir, "copy"), data)
	second := backup(t, r, Options{Paths: []string{dir}})
	added := second.Snapshot.Summary.BytesAdded
	if added*100 >= uint64(len(data)) {
		t.Errorf("copy added %d bytes, want < 1%% of %d", added, len(data))
	}
	t.Logf("copy of %d bytes added %d bytes", len(data), added)
}

// TestDryRun checks that a dry run stores nothing and reports what it would.
func TestDryRun(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), randomBytes(1, 100000))
	res := backup(t, r, Options{Paths: []string{dir}, DryRun: true})
	if !res.SnapshotID.IsZero() || res.Snapshot.Summary.BytesAdded < 100000 {
		t.Errorf("dry run: id %s, summary %+v", res.SnapshotID.Short(), res.Snapshot.Summary)
	}
	ids, err := r.ListObjects(t.Context(), "snapshot")
	must(t, err)
	if len(ids) != 0 {
		t.Errorf("dry run wrote %d snapshots", len(ids))
	}
	if _, err := r.LoadBlob(t.Context(), 1, res.Snapshot.Tree[0]); err == nil {
		t.Error("dry run stored a tree")
	}
}

// TestLease checks that a backup ends with a done lease and a dry run
// writes none.
func TestLease(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f"), []byte("f"))
	backup(t, r, Options{Paths: []string{dir}, DryRun: true})
	ids, err := r.ListObjects(t.Context(), "lease")
	must(t, err)
	if len(ids) != 0 {
		t.Fatalf("dry run wrote %d leases", len(ids))
	}
	backup(t, r, Options{Paths: []string{dir}})
	ids, err = r.ListObjects(t.Context(), "lease")
	must(t, err)
	// The run ended by deleting its lease; a done lease would do too.
	for _, id := range ids {
		rec, err := r.LoadLease(t.Context(), id)
		must(t, err)
		if rec.Operation != "backup" || !rec.Done {
			t.Errorf("lease left after the backup: %+v", rec)
		}
	}
}
