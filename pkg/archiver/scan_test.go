package archiver

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The scan ahead counts what the backup stores: the same regular files and
// bytes, with the same excludes (an excluded directory's content is not
// counted), and symlinks, directories and excluded files left out.
func TestScanMatchesBackup(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a"), randomBytes(1, 3000))
	writeFile(t, filepath.Join(dir, "sub", "b"), randomBytes(2, 70000))
	writeFile(t, filepath.Join(dir, "sub", "deeper", "c"), []byte("c"))
	writeFile(t, filepath.Join(dir, "skip.tmp"), randomBytes(3, 5000))
	writeFile(t, filepath.Join(dir, "cache", "big"), randomBytes(4, 90000))
	if err := os.Symlink("a", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	ex := excludeFunc(func(path string, isDir bool, fi fs.FileInfo) bool {
		return strings.HasSuffix(path, ".tmp") || (isDir && fi.Name() == "cache")
	})
	other := t.TempDir()
	writeFile(t, filepath.Join(other, "d"), randomBytes(5, 1234))

	var last Progress
	res := backup(t, r, Options{Paths: []string{dir, other}, Excluder: ex, Progress: func(p Progress) { last = p }})
	sum := res.Snapshot.Summary
	files := sum.FilesNew + sum.FilesChanged + sum.FilesUnchanged

	var totals scanTotals
	scanPaths(context.Background(), []string{dir, other, filepath.Join(dir, "missing")}, ex, &totals)
	if !totals.done.Load() {
		t.Fatal("scan did not finish")
	}
	if totals.files.Load() != files || totals.files.Load() != 4 {
		t.Errorf("scan counted %d files, the backup stored %d (want 4)", totals.files.Load(), files)
	}
	if want := uint64(3000 + 70000 + 1 + 1234); totals.bytes.Load() != want || last.Bytes != want {
		t.Errorf("scan counted %d bytes, backup finished %d, want %d", totals.bytes.Load(), last.Bytes, want)
	}
	if last.Processed != last.BytesRead || last.BytesNew > last.Processed {
		t.Errorf("final progress %+v: processed must be what was read (no parent) and at least the new bytes", last)
	}

	// A cancelled scan stops and says it is not final.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var cut scanTotals
	scanPaths(ctx, []string{dir}, ex, &cut)
	if cut.done.Load() {
		t.Error("a cancelled scan claims to be complete")
	}
}

// With a parent, unchanged files count as processed without being read.
func TestProgressProcessedCountsUnchanged(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a"), randomBytes(1, 50000))
	time.Sleep(racyWindow + 100*time.Millisecond) // not racily new: trusted from the parent
	backup(t, r, Options{Paths: []string{dir}})
	var last Progress
	backup(t, r, Options{Paths: []string{dir}, Progress: func(p Progress) { last = p }})
	if last.BytesRead != 0 || last.Processed != 50000 {
		t.Errorf("no-change backup: read %d, processed %d; want 0 and 50000", last.BytesRead, last.Processed)
	}
}
