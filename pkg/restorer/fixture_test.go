package restorer

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// TestFixtureV10 restores a repository written by cairn before format 1.1
// (testdata/make-fixture-v1.0.sh made it, with the cairn of commit
// 4f59110): version-1 pack headers and index entries without plaintext
// lengths. Both snapshots must restore exactly as the manifests recorded
// them from the source tree. The fixture is copied first, so nothing this
// test does can change the checked-in files.
func TestFixtureV10(t *testing.T) {
	ctx := context.Background()
	r := repotest.OpenFixtureV10(t, "testdata/fixture-v1.0/repo")
	src, err := os.ReadFile("testdata/fixture-v1.0/source-path")
	if err != nil {
		t.Fatal(err)
	}
	list, err := snapshot.List(ctx, r)
	if err != nil || len(list) != 2 {
		t.Fatalf("snapshots: %d, %v", len(list), err)
	}
	slices.SortFunc(list, func(a, b snapshot.Entry) int { return a.Snapshot.Time.Compare(b.Snapshot.Time) })
	for i, e := range list {
		target := t.TempDir()
		if _, err := Restore(ctx, r, e.Snapshot, Options{Target: target}); err != nil {
			t.Fatalf("restore snapshot %d: %v", i+1, err)
		}
		root := filepath.Join(target, strings.TrimSpace(string(src)))
		compareManifest(t, root, "testdata/fixture-v1.0/snapshot"+strconv.Itoa(i+1)+".tsv")
		a, _ := os.Stat(filepath.Join(root, "home/ann/hardlink-03"))
		b, _ := os.Stat(filepath.Join(root, "home/ann/docs/small-03.txt"))
		if a == nil || b == nil || a.Sys().(*syscall.Stat_t).Ino != b.Sys().(*syscall.Stat_t).Ino {
			t.Errorf("snapshot %d: hardlink-03 is not a hard link of docs/small-03.txt", i+1)
		}
	}
}

// compareManifest checks the tree at root against a manifest of
// make-fixture-v1.0.sh: path, type, mode, size, SHA-256 or link target, and
// mtime in nanoseconds, for every entry and nothing more.
func compareManifest(t *testing.T, root, manifest string) {
	t.Helper()
	f, err := os.Open(manifest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fld := strings.Split(sc.Text(), "\t")
		p := filepath.Join(root, fld[0])
		want[fld[0]] = true
		fi, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", fld[0], err)
			continue
		}
		if got := strconv.FormatUint(uint64(fi.Mode().Perm()), 8); got != fld[2] {
			t.Errorf("%s: mode %s, want %s", fld[0], got, fld[2])
		}
		switch fld[1] {
		case "d":
			if !fi.IsDir() {
				t.Errorf("%s: not a directory", fld[0])
			}
			continue
		case "l":
			if target, err := os.Readlink(p); err != nil || target != fld[4] {
				t.Errorf("%s: link to %q (%v), want %q", fld[0], target, err, fld[4])
			}
		case "f":
			if strconv.FormatInt(fi.Size(), 10) != fld[3] || fileSHA256(t, p) != fld[4] {
				t.Errorf("%s: content differs (size %d, want %s)", fld[0], fi.Size(), fld[3])
			}
		}
		if got := strconv.FormatInt(fi.ModTime().UnixNano(), 10); got != fld[5] {
			t.Errorf("%s: mtime %s, want %s", fld[0], got, fld[5])
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	var extra []string
	_ = filepath.WalkDir(filepath.Join(root, "home"), func(p string, _ os.DirEntry, err error) error {
		if rel, _ := filepath.Rel(root, p); err == nil && !want[rel] {
			extra = append(extra, rel)
		}
		return nil
	})
	if len(extra) > 0 {
		t.Errorf("restored entries the snapshot does not hold: %v", extra)
	}
}

func fileSHA256(t *testing.T, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}
