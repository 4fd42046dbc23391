package restorer

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

func TestDump(t *testing.T) {
	fx := newFixture(t)
	r := openRepo(t, fx.store)
	ctx := context.Background()
	for _, name := range []string{bigName, repeatedName, sparseName, "one", "empty", badName} {
		var buf bytes.Buffer
		if err := Dump(ctx, r, fx.snap, fx.src.root+"/"+name, &buf); err != nil {
			t.Fatalf("dump %q: %v", name, err)
		}
		if !bytes.Equal(buf.Bytes(), readFile(t, fx.src.root+"/"+name)) {
			t.Errorf("dump %q: %d bytes differ from the source", name, buf.Len())
		}
	}
	// Dump reads only the trees on the path, and the file's own blobs.
	fx.store.reset()
	if err := Dump(ctx, r, fx.snap, fx.src.root+"/one", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if gets := fx.store.reset(); len(gets) > strings.Count(fx.src.root, "/")+2 {
		t.Errorf("dump of a 1-byte file read %d objects", len(gets))
	}

	if err := Dump(ctx, r, fx.snap, fx.src.root+"/nested", &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "dir") {
		t.Errorf("dump of a directory: %v", err)
	}
	if err := Dump(ctx, r, fx.snap, fx.src.root+"/missing", &bytes.Buffer{}); !errors.Is(err, snapshot.ErrPathNotFound) {
		t.Errorf("dump of a missing path: %v", err)
	}
}

func TestVerify(t *testing.T) {
	fx := newFixture(t)
	r := openRepo(t, fx.store)
	ctx := context.Background()
	packs := dataPacks(t, r)

	// Without Against: every data pack is read once; nothing to compare.
	fx.store.reset()
	res, err := Verify(ctx, r, fx.snap, VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gets := fx.store.reset()
	for name := range packs {
		if gets[name] != 1 {
			t.Errorf("data pack %s read %d times, want once", name, gets[name])
		}
	}
	if res.Files != 18 || res.Bytes < sparseSize || len(res.Differences) > 0 || len(res.Damaged) > 0 {
		t.Errorf("result %+v", res)
	}

	// Against the source, and against a restored copy: no differences.
	target := t.TempDir()
	if _, err := Restore(ctx, r, fx.snap, Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	for _, against := range []string{fx.src.root, target + fx.src.root} {
		res, err := Verify(ctx, r, fx.snap, VerifyOptions{Against: against})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Differences) > 0 {
			t.Errorf("against %s: differences %q", against, res.Differences)
		}
	}

	// Change the restored copy and find every change.
	restored := target + fx.src.root
	changeContent(t, restored+"/"+bigName)
	must(t, os.Chmod(restored+"/private", 0o640))
	must(t, os.Remove(restored+"/one"))
	must(t, os.WriteFile(restored+"/nested/new", nil, 0o644))
	res, err = Verify(ctx, r, fx.snap, VerifyOptions{Against: restored})
	if err != nil {
		t.Fatal(err)
	}
	want := []Difference{
		{fx.src.root, "mtime"}, // entries removed and added
		{fx.src.root + "/" + bigName, "content differs"},
		{fx.src.root + "/nested", "mtime"},
		{fx.src.root + "/nested/new", "missing in snapshot"},
		{fx.src.root + "/one", "missing on disk"},
		{fx.src.root + "/private", "mode 0600 != 0640"},
	}
	if len(res.Differences) != len(want) {
		t.Fatalf("differences %q, want %q", res.Differences, want)
	}
	for i, d := range res.Differences {
		if d.Path != want[i].Path || !strings.HasPrefix(d.What, want[i].What) {
			t.Errorf("difference %d: %q, want %q", i, d, want[i])
		}
	}
}

// changeContent flips a byte in the middle of a file and restores its
// mtime, so only a content comparison can notice.
func changeContent(t testing.TB, path string) {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Lstat(path, &st))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	must(t, err)
	b := make([]byte, 1)
	_, err = f.ReadAt(b, st.Size/2)
	must(t, err)
	b[0] ^= 1
	_, err = f.WriteAt(b, st.Size/2)
	must(t, err)
	must(t, f.Close())
	must(t, unix.UtimesNanoAt(unix.AT_FDCWD, path, []unix.Timespec{st.Atim, st.Mtim}, 0))
}

func TestVerifyDamaged(t *testing.T) {
	fx := newFixture(t)
	r := openRepo(t, fx.store)
	ctx := context.Background()
	node, err := snapshot.FindPath(ctx, r, fx.snap.Tree, fx.src.root+"/"+repeatedName)
	must(t, err)
	e, _ := r.Index().Lookup(node.Content[len(node.Content)-1])
	fx.fault.Corrupt(repo.PackName(e.Pack), int64(e.Offset+e.Length)-1)

	res, err := Verify(ctx, r, fx.snap, VerifyOptions{Against: fx.src.root})
	if err == nil || !strings.Contains(err.Error(), repo.PackName(e.Pack)) {
		t.Errorf("verify of a damaged pack: %v", err)
	}
	if !slices.Contains(res.Damaged, fx.src.root+"/"+repeatedName) {
		t.Errorf("damaged %q, want %s in it", res.Damaged, repeatedName)
	}
	if len(res.Differences) > 0 {
		t.Errorf("differences %q", res.Differences)
	}
}

// TestVerifySingleFile checks the path mapping of a snapshot whose only
// path is a file.
func TestVerifySingleFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFile(t, file, bytes.Repeat([]byte("x"), 100_000), 0o644)
	store := newCountingStore(newMemStore())
	testRepo(t, store, smallChunks(), 0)
	snap := backup(t, store, file)
	r := openRepo(t, store)
	res, err := Verify(context.Background(), r, snap, VerifyOptions{Against: file})
	if err != nil || len(res.Differences) > 0 || res.Files != 1 || res.Bytes != 100_000 {
		t.Fatalf("verify: %v, %+v", err, res)
	}
	must(t, os.Chmod(file, 0o600))
	res, err = Verify(context.Background(), r, snap, VerifyOptions{Against: file})
	if err != nil || len(res.Differences) != 1 || res.Differences[0].What != "mode 0644 != 0600" {
		t.Fatalf("verify: %v, %+v", err, res)
	}
}
