//go:build linux

package archiver

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

const deepLevels = 50

// sparseSize is the size of the sparse test file.
func sparseSize() int { return testSize(40 << 20) }

// makeTree creates a tree with every kind of entry the format stores, and
// a socket, which it does not. It returns whether xattrs are supported.
func makeTree(t *testing.T, dir string) (xattrs bool) {
	t.Helper()
	writeFile(t, filepath.Join(dir, "plain.txt"), []byte("hello, cairn\n"))
	writeFile(t, filepath.Join(dir, "empty"), nil)
	writeFile(t, filepath.Join(dir, "random.bin"), randomBytes(1, 3<<20+12345))
	writeFile(t, filepath.Join(dir, "sub", "inner.txt"), randomBytes(2, 70000))
	must(t, os.Mkdir(filepath.Join(dir, "emptydir"), 0o700))
	must(t, os.Symlink("plain.txt", filepath.Join(dir, "link")))
	must(t, os.Symlink("/nonexistent/target\xff", filepath.Join(dir, "dangling")))
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo"), 0o640))
	writeFile(t, filepath.Join(dir, "hard1"), randomBytes(3, 900000))
	must(t, os.Link(filepath.Join(dir, "hard1"), filepath.Join(dir, "hard2")))

	writeFile(t, filepath.Join(dir, "setuid"), []byte("#!/bin/sh\n"))
	must(t, os.Chmod(filepath.Join(dir, "setuid"), 0o4755))
	must(t, os.Mkdir(filepath.Join(dir, "setgid"), 0o755))
	must(t, os.Chmod(filepath.Join(dir, "setgid"), 0o2775))
	must(t, os.Mkdir(filepath.Join(dir, "sticky"), 0o755))
	must(t, os.Chmod(filepath.Join(dir, "sticky"), 0o1777))

	writeFile(t, filepath.Join(dir, "non-utf8-\xff\xfe"), []byte("latin-1 name"))
	writeFile(t, filepath.Join(dir, "new\nline"), []byte("newline in name"))

	writeFile(t, filepath.Join(dir, "xattr"), []byte("with xattr"))
	err := unix.Lsetxattr(filepath.Join(dir, "xattr"), "user.cairn", []byte("value\x00bytes"), 0)
	xattrs = err == nil
	if err != nil && !errors.Is(err, unix.ENOTSUP) {
		t.Fatalf("setxattr: %v", err)
	}

	f, err := os.Create(filepath.Join(dir, "sparse"))
	must(t, err)
	must(t, f.Truncate(int64(sparseSize())))
	_, err = f.WriteAt([]byte("data in the middle of holes"), int64(sparseSize()/2))
	must(t, err)
	must(t, f.Close())

	deep := dir
	for i := range deepLevels {
		deep = filepath.Join(deep, "d"+string(rune('a'+i%26)))
	}
	writeFile(t, filepath.Join(deep, "bottom.txt"), []byte("deep down"))

	if os.Geteuid() == 0 {
		// Best effort: containers may deny mknod.
		_ = unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o644, int(unix.Mkdev(1, 3)))
	}
	return xattrs
}

// TestRoundTrip backs up a tree with every entry type and checks every
// node's metadata and content against the source.
func TestRoundTrip(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	xattrs := makeTree(t, dir)
	sock := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Logf("no socket in the tree: %v", err)
		sock = ""
	} else {
		defer l.Close()
	}

	var warned []string
	res := backup(t, r, Options{Paths: []string{dir}, Tags: []string{"t1"}, Warn: func(path string, err error) {
		warned = append(warned, path)
	}})
	snap := res.Snapshot

	if sock != "" {
		if res.Skipped != 1 || snap.Skipped[0].Path != sock || !slices.Contains(warned, sock) {
			t.Errorf("socket: Skipped %v, warned %v; want only %s", snap.Skipped, warned, sock)
		}
	} else if res.Skipped != 0 {
		t.Errorf("Skipped = %v, want none", snap.Skipped)
	}
	if !slices.Equal(snap.Paths, []string{dir}) || !slices.Equal(snap.Tags, []string{"t1"}) || snap.Host != "testhost" {
		t.Errorf("snapshot paths %v tags %v host %q", snap.Paths, snap.Tags, snap.Host)
	}
	if res.SnapshotID.IsZero() {
		t.Error("no snapshot ID")
	}

	got := readBack(t, r, snap, dir)
	var want []string
	err = filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		must(t, err)
		if path == dir || path == sock {
			return nil
		}
		rel, _ := filepath.Rel(dir, path)
		want = append(want, rel)
		sf, ok := got[rel]
		if !ok {
			t.Errorf("%q missing from the snapshot", rel)
			return nil
		}
		checkNode(t, path, &sf)
		return nil
	})
	must(t, err)
	if len(got) != len(want) {
		t.Errorf("snapshot has %d entries below %s, the source %d", len(got), dir, len(want))
	}
	if xattrs {
		x := got["xattr"].node.Xattrs
		if len(x) != 1 || x[0].Name != "user.cairn" || !bytes.Equal(x[0].Value, []byte("value\x00bytes")) {
			t.Errorf("xattrs = %v", x)
		}
	}
	if sp := got["sparse"]; !sp.node.Sparse {
		var st unix.Stat_t
		must(t, unix.Stat(filepath.Join(dir, "sparse"), &st))
		if st.Blocks*512 < st.Size {
			t.Errorf("sparse file not marked sparse")
		}
	}
	if h1, h2 := got["hard1"].node, got["hard2"].node; h1.Inode != h2.Inode || h1.Links != 2 || !slices.Equal(h1.Content, h2.Content) {
		t.Errorf("hard links: %+v %+v", h1, h2)
	}

	// Intermediate directories carry their real metadata.
	parentDir := filepath.Dir(dir)
	n, err := snapshot.FindPath(t.Context(), r, snap.Tree, parentDir)
	must(t, err)
	want0, err := fsmeta.Lstat(parentDir, nil)
	must(t, err)
	if n.Type != snapshot.NodeDir || n.Mode != want0.Mode || n.UID != want0.UID || n.Inode != want0.Inode {
		t.Errorf("intermediate %s: %+v, want %+v", parentDir, n, want0)
	}
	s := snap.Summary
	if s.FilesNew == 0 || s.FilesChanged != 0 || s.FilesUnchanged != 0 || s.BytesRead < uint64(sparseSize()) || s.Dirs < deepLevels || s.BytesAdded == 0 || s.BytesStored == 0 {
		t.Errorf("summary %+v", s)
	}
}

// checkNode compares a snapshot node with the file at path.
func checkNode(t *testing.T, path string, sf *storedFile) {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	n := &sf.node
	wantType := map[uint32]snapshot.NodeType{
		unix.S_IFREG: snapshot.NodeFile, unix.S_IFDIR: snapshot.NodeDir, unix.S_IFLNK: snapshot.NodeSymlink,
		unix.S_IFIFO: snapshot.NodeFifo, unix.S_IFCHR: snapshot.NodeCharDev,
	}[st.Mode&unix.S_IFMT]
	if n.Type != wantType {
		t.Errorf("%q: type %v, want %v", path, n.Type, wantType)
	}
	if n.Mode != st.Mode&0o7777 || n.UID != st.Uid || n.GID != st.Gid || n.Inode != st.Ino ||
		n.Links != uint64(st.Nlink) || n.MTime != st.Mtim.Nano() || n.CTime != st.Ctim.Nano() {
		t.Errorf("%q: node %+v does not match lstat %+v", path, n, st)
	}
	if !bytes.Equal(n.Name, []byte(filepath.Base(path))) {
		t.Errorf("%q: name %q", path, n.Name)
	}
	switch n.Type {
	case snapshot.NodeFile:
		sum, size := fileSum(t, path)
		if sf.sum != sum || sf.size != size || n.Size != uint64(size) {
			t.Errorf("%q: content %d bytes (node size %d), want %d bytes; equal hash %v", path, sf.size, n.Size, size, sf.sum == sum)
		}
	case snapshot.NodeSymlink:
		target, err := os.Readlink(path)
		must(t, err)
		if string(n.LinkTarget) != target {
			t.Errorf("%q: target %q, want %q", path, n.LinkTarget, target)
		}
	case snapshot.NodeCharDev:
		if n.Rdev != uint64(st.Rdev) {
			t.Errorf("%q: rdev %d, want %d", path, n.Rdev, st.Rdev)
		}
	}
	if n.Type != snapshot.NodeFile && len(n.Content) != 0 {
		t.Errorf("%q: %v has content", path, n.Type)
	}
}

// TestSeveralPaths checks that paths sharing directories are merged and
// that a path inside another adds nothing.
func TestSeveralPaths(t *testing.T) {
	r, _ := newTestRepo(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "a", "x", "1"), []byte("1"))
	writeFile(t, filepath.Join(dir, "a", "y", "2"), []byte("2"))
	writeFile(t, filepath.Join(dir, "b", "3"), []byte("3"))
	writeFile(t, filepath.Join(dir, "c"), []byte("single file"))
	paths := []string{filepath.Join(dir, "b"), filepath.Join(dir, "a", "x"), filepath.Join(dir, "a", "y"),
		filepath.Join(dir, "b", "3"), filepath.Join(dir, "c")}
	res := backup(t, r, Options{Paths: paths})
	got := readBack(t, r, res.Snapshot, dir)
	var names []string
	for name := range got {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"a", "a/x", "a/x/1", "a/y", "a/y/2", "b", "b/3", "c"}
	if !slices.Equal(names, want) {
		t.Errorf("entries %q, want %q", names, want)
	}
	if len(res.Snapshot.Paths) != len(paths) {
		t.Errorf("snapshot paths %v", res.Snapshot.Paths)
	}

	_, err := Run(t.Context(), r, Options{Paths: []string{filepath.Join(dir, "missing")}, Host: "h"})
	if err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("missing path: err %v", err)
	}
}
