package archiver

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// treeBlobsBelow returns the tree blobs of dir (an absolute path) and of
// every directory below it in snap.
func treeBlobsBelow(t *testing.T, r Repo, snap *snapshot.Snapshot, dir string) map[crypto.ID]bool {
	t.Helper()
	top := subtreeOf(t, r, snap, dir)
	ids := map[crypto.ID]bool{}
	for _, id := range top {
		ids[id] = true
	}
	must(t, snapshot.Walk(t.Context(), r, top, func(_ []byte, n *snapshot.Node) error {
		for _, id := range n.Subtree {
			ids[id] = true
		}
		return nil
	}))
	return ids
}

// readEverything reads every file and lists every directory below dir, as
// a user (or an indexer) would between two backups, and reports whether
// that changed any access time the backup could have seen.
func readEverything(t *testing.T, dir string) (atimeChanged bool) {
	t.Helper()
	must(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		var before, after syscall.Stat_t
		must(t, syscall.Lstat(path, &before))
		if d.Type().IsRegular() {
			_, err = os.ReadFile(path)
		} else if d.IsDir() {
			_, err = os.ReadDir(path)
		}
		must(t, syscall.Lstat(path, &after))
		if before.Atim != after.Atim {
			atimeChanged = true
		}
		return err
	}))
	return atimeChanged
}

// TestNoChangeBackupStoresNoTrees: reading files between two backups must
// not make the second store any tree blob for the backed-up directory.
// (Its ancestors, such as the temporary directory, may change for reasons
// outside the test, so only the tree below dir is compared.)
func TestNoChangeBackupStoresNoTrees(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	agedTree(t, dir, 8)
	first := backup(t, r, Options{Paths: []string{dir}})
	readEverything(t, dir)
	second := backup(t, r, Options{Paths: []string{dir}})
	old := treeBlobsBelow(t, r, first.Snapshot, dir)
	var added int
	for id := range treeBlobsBelow(t, r, second.Snapshot, dir) {
		if !old[id] {
			added++
		}
	}
	if added != 0 {
		t.Errorf("a backup of unchanged files stored %d new tree blobs", added)
	}
	if s := second.Snapshot.Summary; s.BytesRead != 0 || s.FilesNew+s.FilesChanged != 0 {
		t.Errorf("unchanged files were read again: %+v", s)
	}
}

// TestATimeOnRequest: atime is absent from trees by default and stored as
// lstat gives it with WithATime.
func TestATimeOnRequest(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "sub", "f"), []byte("content"))
	path := filepath.Join(dir, "sub", "f")
	var st syscall.Stat_t
	must(t, syscall.Lstat(path, &st))
	for _, with := range []bool{false, true} {
		res := backup(t, r, Options{Paths: []string{dir}, WithATime: with, Force: true})
		for _, p := range []string{filepath.Join(dir, "sub"), path} {
			n, err := snapshot.FindPath(t.Context(), r, res.Snapshot.Tree, p)
			must(t, err)
			if !with && n.ATime != 0 {
				t.Errorf("%s: atime %d stored without WithATime", p, n.ATime)
			}
			if with && n.ATime == 0 {
				t.Errorf("%s: no atime stored with WithATime", p)
			}
			if with && p == path && n.ATime != st.Atim.Nano() {
				// Read with O_NOATIME (we own the file), so unchanged.
				t.Errorf("%s: atime %d, lstat says %d", p, n.ATime, st.Atim.Nano())
			}
			if n.MTime == 0 || n.CTime == 0 {
				t.Errorf("%s: mtime or ctime missing: %+v", p, n)
			}
		}
	}
}

// TestWithATimeSeesReads is the control for TestNoChangeBackupStoresNoTrees:
// with atime stored, reads that change access times do change the trees,
// which is what storing atime only on request avoids.
func TestWithATimeSeesReads(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	agedTree(t, dir, 4)
	first := backup(t, r, Options{Paths: []string{dir}, WithATime: true})
	changed := readEverything(t, dir) // false on a noatime file system
	second := backup(t, r, Options{Paths: []string{dir}, WithATime: true})
	a, b := subtreeOf(t, r, first.Snapshot, dir), subtreeOf(t, r, second.Snapshot, dir)
	if same := len(a) == len(b) && a[0] == b[0]; same == changed {
		t.Errorf("access times changed: %v; stored tree changed: %v", changed, !same)
	}
}
