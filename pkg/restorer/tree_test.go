package restorer

import (
	"bytes"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/fsmeta"
)

// Names in the source tree that tests refer to.
const (
	sparseName   = "sparse.img"
	sparseSize   = 64 << 20
	badName      = "bad\xff\xfename"
	xattrName    = "user.cairn.test"
	repeatedName = "repeated.bin"
	bigName      = "big.bin"
)

// source is a test tree on disk.
type source struct {
	root   string
	xattrs bool // the file system took the test xattr
	device bool // a char device was created (root only)
}

// buildSource creates a tree with every kind of entry and metadata a
// restore must get right.
func buildSource(t testing.TB, dir string) *source {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	s := &source{root: filepath.Join(dir, "src")}
	p := func(name string) string { return filepath.Join(s.root, name) }

	writeFile(t, p("random.bin"), randomBytes(rng, 300<<10), 0o644)
	writeFile(t, p(bigName), randomBytes(rng, 3<<20), 0o644)
	writeFile(t, p("compress.txt"), bytes.Repeat([]byte("all work and no play makes jack a dull boy\n"), 1<<20/43), 0o644)
	writeFile(t, p("empty"), nil, 0o644)
	writeFile(t, p("one"), []byte{'x'}, 0o644)
	block := randomBytes(rng, 256<<10)
	writeFile(t, p(repeatedName), bytes.Repeat(block, 4), 0o644)
	writeFile(t, p("nested/a/b/c/deep.txt"), []byte("deep\n"), 0o644)
	must(t, os.Mkdir(p("nested-x"), 0o750)) // sorts between nested and nested/…
	writeFile(t, p("private"), []byte("secret\n"), 0o600)
	writeFile(t, p("script.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	writeFile(t, p("setuid"), []byte("suid\n"), 0o4755)
	writeFile(t, p(badName), []byte("not utf-8\n"), 0o644)
	writeFile(t, p("setgid/inside"), []byte("in setgid\n"), 0o644)
	writeFile(t, p("sticky/inside"), []byte("in sticky\n"), 0o644)
	writeFile(t, p("readonly/ro-file"), []byte("read only\n"), 0o444)
	writeFile(t, p("hard1"), randomBytes(rng, 100<<10), 0o640)
	must(t, os.Link(p("hard1"), p("nested/hard2")))
	must(t, os.Symlink("/nonexistent/absolute/target", p("link-abs")))
	must(t, os.Symlink("random.bin", p("link-rel")))
	must(t, unix.Mkfifo(p("fifo"), 0o620))
	if os.Geteuid() == 0 {
		s.device = unix.Mknod(p("null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))) == nil
		must(t, os.Lchown(p("private"), 1234, 5678))
		must(t, os.Lchown(p("link-rel"), 4321, 8765))
	}
	writeFile(t, p("xattr"), []byte("has an xattr\n"), 0o644)
	err := unix.Lsetxattr(p("xattr"), xattrName, []byte("value\x00\xff"), 0)
	s.xattrs = err == nil
	if err != nil && !isNotSupported(err) {
		t.Fatal(err)
	}

	// A 64 MiB file with three data regions and holes between them.
	f, err := os.Create(p(sparseName))
	must(t, err)
	must(t, f.Truncate(sparseSize))
	for _, off := range []int64{0, 20 << 20, sparseSize - 4096} {
		_, err := f.WriteAt(randomBytes(rng, 4096), off)
		must(t, err)
	}
	must(t, f.Close())

	must(t, os.Chmod(p("setgid"), 0o2755))
	must(t, os.Chmod(p("sticky"), 0o1777))
	must(t, os.Chmod(p("readonly"), 0o555))
	setTimes(t, s.root)
	return s
}

// setTimes gives every entry a distinct mtime with nanoseconds, contents
// before their directory.
func setTimes(t testing.TB, root string) {
	t.Helper()
	var paths []string
	must(t, filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		paths = append(paths, path)
		return err
	}))
	base := int64(1_600_000_000_123_456_789)
	for i := len(paths) - 1; i >= 0; i-- {
		mt := base + int64(i)*1_000_000_007
		ts := []unix.Timespec{unix.NsecToTimespec(mt - 5), unix.NsecToTimespec(mt)}
		must(t, unix.UtimesNanoAt(unix.AT_FDCWD, paths[i], ts, unix.AT_SYMLINK_NOFOLLOW))
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// compareTrees checks that got is an exact copy of want: the same entries
// with the same type, mode, mtime, size, content, symlink target, device,
// xattrs and (as root) owner.
func compareTrees(t testing.TB, want, got string) {
	t.Helper()
	seen := make(map[string]bool)
	must(t, filepath.WalkDir(want, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(path, want)
		seen[rel] = true
		compareEntry(t, rel, path, got+rel)
		return nil
	}))
	must(t, filepath.WalkDir(got, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if rel := strings.TrimPrefix(path, got); !seen[rel] {
			t.Errorf("%q: restored but not in the source", rel)
		}
		return nil
	}))
}

func compareEntry(t testing.TB, rel, want, got string) {
	t.Helper()
	w, err := fsmeta.Lstat(want, nil)
	must(t, err)
	g, err := fsmeta.Lstat(got, nil)
	if err != nil {
		t.Errorf("%q: %v", rel, err)
		return
	}
	if diffs := metaDifferences(&w, &g, os.Geteuid() == 0); len(diffs) > 0 {
		t.Errorf("%q: %s", rel, strings.Join(diffs, "; "))
	}
	wx, err := fsmeta.ReadXattrs(want)
	must(t, err)
	gx, err := fsmeta.ReadXattrs(got)
	must(t, err)
	if diffs := xattrDifferences(wx, gx); len(diffs) > 0 {
		t.Errorf("%q: %s", rel, strings.Join(diffs, "; "))
	}
	if w.Type == 1 && !bytes.Equal(readFile(t, want), readFile(t, got)) {
		t.Errorf("%q: content differs", rel)
	}
}

// checkSpecials checks what compareTrees cannot see: hard-link identity
// and sparseness.
func checkSpecials(t testing.TB, restoredSrc string) {
	t.Helper()
	var a, b, sp unix.Stat_t
	must(t, unix.Lstat(filepath.Join(restoredSrc, "hard1"), &a))
	must(t, unix.Lstat(filepath.Join(restoredSrc, "nested/hard2"), &b))
	if a.Ino != b.Ino || a.Nlink != 2 {
		t.Errorf("hard links: inodes %d and %d, links %d; want one inode with 2 links", a.Ino, b.Ino, a.Nlink)
	}
	must(t, unix.Lstat(filepath.Join(restoredSrc, sparseName), &sp))
	if used := sp.Blocks * 512; used > 4<<20 {
		t.Errorf("sparse file uses %d bytes on disk for %d bytes of size; holes were filled", used, sp.Size)
	}
}
