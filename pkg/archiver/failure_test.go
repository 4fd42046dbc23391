package archiver

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// failingOpen makes opening or reading chosen files fail as an unreadable
// file would, whoever runs the test (root reads chmod 000 files).
func failingOpen(failOpen, failRead string) openFunc {
	return func(path string, noatime bool) (sourceFile, error) {
		if path == failOpen {
			return nil, &fs.PathError{Op: "open", Path: path, Err: unix.EACCES}
		}
		f, err := openSource(path, noatime)
		if err != nil || path != failRead {
			return f, err
		}
		return &hookFile{sourceFile: f, afterRead: func(n int) error {
			return &fs.PathError{Op: "read", Path: path, Err: unix.EIO}
		}}, nil
	}
}

// hookFile calls afterRead after every successful read; an error it
// returns replaces the read's result.
type hookFile struct {
	sourceFile
	afterRead func(n int) error
	reads     int
}

func (h *hookFile) Read(p []byte) (int, error) {
	n, err := h.sourceFile.Read(p)
	if err == nil {
		h.reads++
		if herr := h.afterRead(h.reads); herr != nil {
			return 0, herr
		}
	}
	return n, err
}

func TestUnreadable(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	noOpen := filepath.Join(dir, "noopen")
	noRead := filepath.Join(dir, "noread")
	writeFile(t, good, []byte("fine"))
	writeFile(t, noOpen, []byte("cannot open"))
	writeFile(t, noRead, randomBytes(1, 3<<20)) // chunked: fails mid-file
	noList := filepath.Join(dir, "nolist")
	writeFile(t, filepath.Join(noList, "hidden"), []byte("not listed"))
	want := map[string]bool{noOpen: true, noRead: true, noList: true}
	failingReadDir := func(path string, noatime bool) ([]string, error) {
		if path == noList {
			return nil, &fs.PathError{Op: "open", Path: path, Err: unix.EACCES}
		}
		return readDirNames(path, noatime)
	}

	if os.Geteuid() != 0 {
		// Without root, real permission errors: a file and a directory.
		locked := filepath.Join(dir, "locked")
		writeFile(t, locked, []byte("secret"))
		must(t, os.Chmod(locked, 0))
		lockedDir := filepath.Join(dir, "lockeddir")
		writeFile(t, filepath.Join(lockedDir, "x"), []byte("x"))
		must(t, os.Chmod(lockedDir, 0))
		t.Cleanup(func() { os.Chmod(lockedDir, 0o755) })
		want[locked], want[lockedDir] = true, true
	}

	var warnings atomic.Int32
	res := backup(t, r, Options{Paths: []string{dir}, open: failingOpen(noOpen, noRead), readDir: failingReadDir,
		Warn: func(string, error) { warnings.Add(1) }})
	sk := skippedPaths(res.Snapshot)
	for p := range want {
		if _, ok := sk[p]; !ok {
			t.Errorf("%s not in Skipped %v", p, res.Snapshot.Skipped)
		}
	}
	if res.Skipped != len(want) || int(warnings.Load()) != len(want) {
		t.Errorf("Skipped %d, warnings %d, want %d", res.Skipped, warnings.Load(), len(want))
	}
	if !strings.Contains(sk[noOpen], "permission denied") {
		t.Errorf("skip reason %q", sk[noOpen])
	}
	got := readBack(t, r, res.Snapshot, dir)
	if _, ok := got["good"]; !ok {
		t.Error("readable file not stored")
	}
	for _, name := range []string{"noopen", "noread", "locked", "nolist/hidden", "lockeddir/x"} {
		if _, ok := got[name]; ok {
			t.Errorf("unreadable %s stored", name)
		}
	}
	// Unreadable directories are stored empty, with their metadata.
	if n := got["nolist"].node; n.Type != snapshot.NodeDir {
		t.Errorf("unlistable directory stored as %+v", n)
	}
}

// TestChangedWhileReading checks that a file growing during the backup is
// stored as read and listed in Skipped, and is read again next time.
func TestChangedWhileReading(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "growing")
	orig := randomBytes(5, 2<<20)
	writeFile(t, path, orig)
	grow := func(p string, noatime bool) (sourceFile, error) {
		f, err := openSource(p, noatime)
		if err != nil || p != path {
			return f, err
		}
		return &hookFile{sourceFile: f, afterRead: func(n int) error {
			if n == 1 {
				g, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				must(t, err)
				_, err = g.Write([]byte("appended while reading"))
				must(t, err)
				must(t, g.Close())
			}
			return nil
		}}, nil
	}
	res := backup(t, r, Options{Paths: []string{dir}, open: grow})
	sk := skippedPaths(res.Snapshot)
	if !strings.Contains(sk[path], "changed") {
		t.Fatalf("Skipped = %v, want %s changed", res.Snapshot.Skipped, path)
	}
	sf := readBack(t, r, res.Snapshot, dir)["growing"]
	if sf.node.Size != uint64(sf.size) || sf.size < len(orig) {
		t.Errorf("stored %d bytes with node size %d", sf.size, sf.node.Size)
	}
	again := backup(t, r, Options{Paths: []string{dir}})
	if again.Snapshot.Summary.FilesChanged != 1 || again.Skipped != 0 {
		t.Errorf("next backup: %+v, skipped %v", again.Snapshot.Summary, again.Snapshot.Skipped)
	}
}

func TestCancel(t *testing.T) {
	r, store := newTestRepo(t)
	dir := t.TempDir()
	const files = 24
	for i := range files {
		writeFile(t, filepath.Join(dir, "f"+string(rune('a'+i%26))+string(rune('a'+i/26))), randomBytes(uint64(i), 600<<10))
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var opened atomic.Int32
	cancelling := func(p string, noatime bool) (sourceFile, error) {
		if opened.Add(1) == files/4 {
			cancel()
		}
		return openSource(p, noatime)
	}
	res, err := Run(ctx, r, Options{Paths: []string{dir}, Host: "h", open: cancelling})
	if !errors.Is(err, context.Canceled) || res != nil {
		t.Fatalf("Run = %v, %v; want context.Canceled", res, err)
	}
	ids, err := r.ListObjects(t.Context(), "snapshot")
	must(t, err)
	if len(ids) != 0 {
		t.Errorf("cancelled backup wrote %d snapshots", len(ids))
	}
	_ = store

	// The repository is still usable.
	res = backup(t, r, Options{Paths: []string{dir}})
	if res.Snapshot.Summary.FilesNew != files {
		t.Errorf("backup after cancel: %+v", res.Snapshot.Summary)
	}
}

// TestNoPlaintextStored checks that neither content nor names reach the
// store in the clear.
func TestNoPlaintextStored(t *testing.T) {
	r, store := newTestRepo(t)
	dir := t.TempDir()
	marker := "cairn-plaintext-marker-6d1f0a"
	var content []byte
	for range 5000 {
		content = append(content, marker...)
	}
	writeFile(t, filepath.Join(dir, marker), content)
	writeFile(t, filepath.Join(dir, "small"), []byte(marker))
	must(t, os.Symlink(marker, filepath.Join(dir, "link")))
	backup(t, r, Options{Paths: []string{dir}, Tags: []string{marker}})
	if name := storeContains(t, store, []byte(marker)); name != "" {
		t.Errorf("object %s contains the plaintext marker", name)
	}
}

// TestExcluder checks that excluded entries are left out and that the
// excluder sees directories as such.
func TestExcluder(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "keep"), []byte("k"))
	writeFile(t, filepath.Join(dir, "skip.tmp"), []byte("s"))
	writeFile(t, filepath.Join(dir, "cache", "x"), []byte("x"))
	ex := excludeFunc(func(path string, isDir bool, fi fs.FileInfo) bool {
		return strings.HasSuffix(path, ".tmp") || (isDir && fi.IsDir() && fi.Name() == "cache")
	})
	res := backup(t, r, Options{Paths: []string{dir}, Excluder: ex})
	got := readBack(t, r, res.Snapshot, dir)
	if _, ok := got["keep"]; !ok || len(got) != 1 {
		t.Errorf("entries %v, want only keep", got)
	}
	if res.Skipped != 0 {
		t.Errorf("excluded entries listed as skipped: %v", res.Snapshot.Skipped)
	}
}

type excludeFunc func(path string, isDir bool, fi fs.FileInfo) bool

func (f excludeFunc) Excluded(path string, isDir bool, fi fs.FileInfo) bool {
	return f(path, isDir, fi)
}

// TestProgress checks that progress is reported and ends with the totals.
func TestProgress(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a"), randomBytes(1, 1<<20))
	writeFile(t, filepath.Join(dir, "b"), []byte("b"))
	var last Progress
	calls := 0
	res := backup(t, r, Options{Paths: []string{dir}, Progress: func(p Progress) { last = p; calls++ }})
	if calls == 0 || last.Files != 2 || last.Bytes != 1<<20+1 || last.BytesRead != last.Bytes || last.BytesNew < last.Bytes {
		t.Errorf("%d calls, last %+v", calls, last)
	}
	_ = res
}
