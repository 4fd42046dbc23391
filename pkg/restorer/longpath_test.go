package restorer

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/archiver"
	"github.com/cairn-backup/cairn/pkg/fsmeta"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// TestRestoreDeeperThanPathMax backs up with the real archiver a tree
// nested far deeper than PATH_MAX (4096 bytes), with files, symlinks and a
// hard link at every depth, and restores it exactly.
func TestRestoreDeeperThanPathMax(t *testing.T) {
	src := t.TempDir() + "/src"
	must(t, os.Mkdir(src, 0o755))
	buildDeep(t, src, 30)
	store := newCountingStore(mem.New())
	testRepo(t, store, smallChunks(), 256<<10)
	ctx := context.Background()
	res, err := archiver.Run(ctx, openRepo(t, store), archiver.Options{Paths: []string{src}, Host: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Skipped > 0 {
		t.Fatalf("archiver skipped %d entries: %+v", res.Skipped, res.Snapshot.Skipped)
	}
	target := t.TempDir()
	if _, err := Restore(ctx, openRepo(t, store), res.Snapshot, Options{Target: target}); err != nil {
		t.Fatalf("restore: %v", err)
	}
	n := compareDeep(t, src, target+src)
	if n < 30*4 {
		t.Errorf("compared %d entries, want every one of the tree", n)
	}
	// Run again: everything is there and is skipped.
	again, err := Restore(ctx, openRepo(t, store), res.Snapshot, Options{Target: target})
	if err != nil || again.Files != 0 || again.Skipped == 0 {
		t.Fatalf("second restore: %+v, %v", again, err)
	}
	compareDeep(t, src, target+src)
}

// buildDeep creates levels nested directories of 200-byte names below
// root, relative to directory descriptors, since their paths are too long
// for the kernel.
func buildDeep(t *testing.T, root string, levels int) {
	rng := rand.New(rand.NewPCG(4, 5))
	fd, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	must(t, err)
	for i := range levels {
		write := func(name string, data []byte) {
			f, err := unix.Openat(fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o640)
			must(t, err)
			_, err = unix.Write(f, data)
			must(t, err)
			must(t, unix.Close(f))
		}
		write("file", randomBytes(rng, 1000+rng.IntN(300<<10)))
		must(t, unix.Symlinkat("file", fd, "link"))
		must(t, unix.Linkat(fd, "file", fd, "hard", 0))
		name := strings.Repeat(string(rune('a'+i%26)), 200)
		must(t, unix.Mkdirat(fd, name, 0o750))
		next, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
		must(t, err)
		must(t, unix.Close(fd))
		fd = next
	}
	f, err := unix.Openat(fd, "leaf", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o600)
	must(t, err)
	_, err = unix.Write(f, []byte("at the bottom\n"))
	must(t, err)
	must(t, unix.Close(f))
	must(t, unix.Close(fd))
}

// compareDeep is compareTrees for paths of any length: names, types,
// modes, mtimes, content and link targets. It returns the entries seen.
func compareDeep(t *testing.T, want, got string) int {
	t.Helper()
	var names [2][]string
	for i, dir := range []string{want, got} {
		must(t, fsmeta.WithPath(dir, func(p string) error {
			entries, err := os.ReadDir(p)
			for _, e := range entries {
				names[i] = append(names[i], e.Name())
			}
			return err
		}))
	}
	if !slices.Equal(names[0], names[1]) {
		t.Fatalf("%s: entries %q, want %q", got, names[1], names[0])
	}
	n := 0
	for _, name := range names[0] {
		w, g := want+"/"+name, got+"/"+name
		var wst, gst unix.Stat_t
		var wdata, gdata []byte
		for _, c := range []struct {
			path string
			st   *unix.Stat_t
			data *[]byte
		}{{w, &wst, &wdata}, {g, &gst, &gdata}} {
			must(t, fsmeta.WithPath(c.path, func(p string) error {
				if err := unix.Lstat(p, c.st); err != nil {
					return err
				}
				var err error
				switch c.st.Mode & unix.S_IFMT {
				case unix.S_IFREG:
					*c.data, err = os.ReadFile(p)
				case unix.S_IFLNK:
					var s string
					s, err = os.Readlink(p)
					*c.data = []byte(s)
				}
				return err
			}))
		}
		if wst.Mode != gst.Mode || (wst.Mode&unix.S_IFMT != unix.S_IFLNK && wst.Mtim != gst.Mtim) || !bytes.Equal(wdata, gdata) {
			t.Fatalf("%s (%d bytes deep): mode %o mtime %v, %d bytes; want mode %o mtime %v, %d bytes",
				g, len(g), gst.Mode, gst.Mtim, len(gdata), wst.Mode, wst.Mtim, len(wdata))
		}
		n++
		if wst.Mode&unix.S_IFMT == unix.S_IFDIR {
			n += compareDeep(t, w, g)
		}
	}
	return n
}
