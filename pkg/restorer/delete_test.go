package restorer

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// smallSet is a small source tree and its snapshot, for the dry-run and
// delete tests.
type smallSet struct {
	src   string
	fault *fault.Store
	snap  *snapshot.Snapshot
}

func newSmallSet(t *testing.T) *smallSet {
	t.Helper()
	s := &smallSet{src: filepath.Join(t.TempDir(), "src")}
	rng := rand.New(rand.NewPCG(5, 6))
	writeFile(t, filepath.Join(s.src, "keep.txt"), []byte("unchanged"), 0o644)
	writeFile(t, filepath.Join(s.src, "edit.txt"), []byte("original text"), 0o644)
	writeFile(t, filepath.Join(s.src, "gone.txt"), []byte("will be removed"), 0o600)
	writeFile(t, filepath.Join(s.src, "sub", "big.bin"), randomBytes(rng, 600<<10), 0o644)
	writeFile(t, filepath.Join(s.src, "sub", "deep", "x"), []byte("x"), 0o644)
	must(t, os.Symlink("keep.txt", filepath.Join(s.src, "link")))
	must(t, os.Chmod(filepath.Join(s.src, "sub", "deep"), 0o555)) // read-only once restored
	t.Cleanup(func() { os.Chmod(filepath.Join(s.src, "sub", "deep"), 0o755) })
	s.fault = fault.New(mem.New())
	testRepo(t, s.fault, smallChunks(), 64<<10)
	s.snap = backup(t, s.fault, s.src)
	return s
}

// restore restores the set, collecting warnings and planned actions.
func (s *smallSet) restore(t *testing.T, opts Options) (*Result, map[string]Action, []string, error) {
	t.Helper()
	r := openRepo(t, s.fault)
	var mu sync.Mutex
	actions := map[string]Action{}
	var warnings []string
	opts.Warn = func(path string, err error) {
		mu.Lock()
		warnings = append(warnings, path+": "+err.Error())
		mu.Unlock()
	}
	opts.Planned = func(p Planned) {
		if _, dup := actions[p.Path]; dup {
			t.Errorf("%s planned twice", p.Path)
		}
		actions[p.Path] = p.Action
	}
	res, err := restore(context.Background(), r, s.snap, opts, nil)
	return res, actions, warnings, err
}

// treeState describes every entry below root: type, mode, size, mtime,
// content hash or link target.
func treeState(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		desc := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			desc += " -> " + target
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			desc += fmt.Sprintf(" %x", sha256.Sum256(data))
		}
		m[p] = desc
		return nil
	})
	if os.IsNotExist(err) {
		return nil
	}
	must(t, err)
	return m
}

// tamper changes a restored copy of the set: one file edited, one
// removed, extras added (a file, a tree with a read-only directory, a
// symlink to a directory outside the target).
func tamper(t *testing.T, restored, outside string) {
	t.Helper()
	must(t, os.WriteFile(filepath.Join(restored, "edit.txt"), []byte("edited, other size"), 0o644))
	must(t, os.Remove(filepath.Join(restored, "gone.txt")))
	writeFile(t, filepath.Join(restored, "extra.txt"), []byte("extra"), 0o644)
	writeFile(t, filepath.Join(restored, "extradir", "ro", "f"), []byte("f"), 0o644)
	must(t, os.Chmod(filepath.Join(restored, "extradir", "ro"), 0o555))
	must(t, os.Symlink(outside, filepath.Join(restored, "sub", "escape")))
	// An extra in a directory the snapshot has read-only.
	deep := filepath.Join(restored, "sub", "deep")
	must(t, os.Chmod(deep, 0o755))
	writeFile(t, filepath.Join(deep, "extra"), []byte("e"), 0o644)
	must(t, os.Chmod(deep, 0o555))
}

func TestRestoreDryRun(t *testing.T) {
	s := newSmallSet(t)
	target := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "victim"), []byte("not yours"), 0o644)

	// Into a target that does not exist: everything new, nothing created.
	missing := filepath.Join(target, "not-yet")
	res, actions, warnings, err := s.restore(t, Options{Target: missing, DryRun: true, Delete: true})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("dry run: %v %q", err, warnings)
	}
	if _, err := os.Lstat(missing); !os.IsNotExist(err) {
		t.Fatalf("dry run created the target: %v", err)
	}
	for p, a := range actions {
		if a != ActionNew {
			t.Errorf("%s: %s, want new in an empty target", p, a)
		}
	}
	// src/keep.txt edit.txt gone.txt link sub/big.bin sub/deep/x, and the
	// directories from the root down.
	if res.Files != 6 || res.Bytes != uint64(9+13+15+600<<10+1) {
		t.Errorf("empty target: result %+v", res)
	}

	if _, _, w, err := s.restore(t, Options{Target: target}); err != nil || len(w) > 0 {
		t.Fatalf("restore: %v %q", err, w)
	}
	restored := target + s.src
	tamper(t, restored, outside)
	before, outsideBefore := treeState(t, target), treeState(t, outside)

	res, actions, warnings, err = s.restore(t, Options{Target: target, DryRun: true, Delete: true})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("dry run: %v %q", err, warnings)
	}
	if after := treeState(t, target); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("dry run changed the target:\nbefore %v\nafter  %v", before, after)
	}
	if fmt.Sprint(treeState(t, outside)) != fmt.Sprint(outsideBefore) {
		t.Error("dry run changed the directory outside")
	}
	want := map[string]Action{
		"keep.txt": ActionSkip, "edit.txt": ActionReplace, "gone.txt": ActionNew, "link": ActionSkip,
		"sub": ActionUpdate, "sub/big.bin": ActionSkip, "sub/deep": ActionUpdate, "sub/deep/x": ActionSkip,
		"extra.txt": ActionDelete, "extradir": ActionDelete, "sub/escape": ActionDelete, "sub/deep/extra": ActionDelete,
	}
	for rel, a := range want {
		if got := actions[restored+"/"+rel]; got != a {
			t.Errorf("%s: planned %s, want %s", rel, got, a)
		}
	}
	if a, ok := actions[restored+"/extradir/ro"]; ok {
		t.Errorf("extradir/ro planned (%s): only the top of a deleted tree is listed", a)
	}
	if res.Files != 2 || res.Skipped != 4 || res.Bytes != uint64(13+15) {
		t.Errorf("result %+v; want 2 files (13+15 bytes) written, 4 skipped", res)
	}
	// Without --delete, no deletions are planned.
	_, actions, _, _ = s.restore(t, Options{Target: target, DryRun: true})
	for p, a := range actions {
		if a == ActionDelete {
			t.Errorf("%s planned for deletion without Delete", p)
		}
	}
}

func TestRestoreDelete(t *testing.T) {
	s := newSmallSet(t)
	target := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "victim"), []byte("not yours"), 0o644)
	writeFile(t, filepath.Join(target, "beside.txt"), []byte("next to the restored tree"), 0o644)
	if _, _, w, err := s.restore(t, Options{Target: target}); err != nil || len(w) > 0 {
		t.Fatalf("restore: %v %q", err, w)
	}
	restored := target + s.src
	tamper(t, restored, outside)
	// Directory times must come out as the snapshot's even though
	// deleting changes them.
	time.Sleep(10 * time.Millisecond)

	res, actions, warnings, err := s.restore(t, Options{Target: target, Delete: true})
	if err != nil || len(warnings) > 0 {
		t.Fatalf("restore --delete: %v %q", err, warnings)
	}
	compareTrees(t, s.src, restored)
	if got := readFile(t, filepath.Join(outside, "victim")); string(got) != "not yours" {
		t.Fatal("deleted outside the target")
	}
	// target/beside.txt is not in the snapshot, and the root is restored
	// in full: it goes too.
	if _, err := os.Lstat(filepath.Join(target, "beside.txt")); !os.IsNotExist(err) {
		t.Errorf("beside.txt: %v", err)
	}
	for _, rel := range []string{"extra.txt", "extradir", "sub/escape", "sub/deep/extra"} {
		if actions[restored+"/"+rel] != ActionDelete {
			t.Errorf("%s: deletion not reported (%v)", rel, actions)
		}
	}
	if res.Errors != 0 {
		t.Errorf("result %+v", res)
	}
}

// TestRestoreDeleteInclude: with an include path, only its subtree is made
// equal; the directories leading to it keep their other entries.
func TestRestoreDeleteInclude(t *testing.T) {
	s := newSmallSet(t)
	target := t.TempDir()
	if _, _, _, err := s.restore(t, Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	restored := target + s.src
	writeFile(t, filepath.Join(restored, "sibling"), []byte("s"), 0o644)
	writeFile(t, filepath.Join(restored, "sub", "extra"), []byte("e"), 0o644)
	if _, _, w, err := s.restore(t, Options{Target: target, Delete: true, Include: []string{s.src + "/sub"}}); err != nil || len(w) > 0 {
		t.Fatalf("%v %q", err, w)
	}
	if _, err := os.Lstat(filepath.Join(restored, "sibling")); err != nil {
		t.Errorf("entry beside the include path deleted: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(restored, "sub", "extra")); !os.IsNotExist(err) {
		t.Errorf("extra in the included directory kept: %v", err)
	}
}

// TestRestoreDeleteNotAfterFailure: a restore that failed deletes nothing,
// whether a path could not be restored or the storage failed.
func TestRestoreDeleteNotAfterFailure(t *testing.T) {
	s := newSmallSet(t)
	for _, tc := range []struct {
		name   string
		break_ func(t *testing.T, restored string)
	}{
		{"directory in the way", func(t *testing.T, restored string) {
			must(t, os.Remove(filepath.Join(restored, "keep.txt")))
			must(t, os.Mkdir(filepath.Join(restored, "keep.txt"), 0o755))
		}},
		{"pack missing", func(t *testing.T, restored string) {
			must(t, os.Remove(filepath.Join(restored, "sub", "big.bin")))
			r := openRepo(t, s.fault)
			n, err := snapshot.FindPath(context.Background(), r, s.snap.Tree, s.src+"/sub/big.bin")
			must(t, err)
			e, _ := r.Index().Lookup(n.Content[0])
			s.fault.FailPrefix(fault.OpGet, repo.PackName(e.Pack), storage.ErrNotFound)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer s.fault.Clear()
			target := t.TempDir()
			if _, _, _, err := s.restore(t, Options{Target: target}); err != nil {
				t.Fatal(err)
			}
			restored := target + s.src
			writeFile(t, filepath.Join(restored, "extra.txt"), []byte("extra"), 0o644)
			tc.break_(t, restored)
			_, actions, warnings, err := s.restore(t, Options{Target: target, Delete: true})
			if err == nil {
				t.Fatal("restore did not fail")
			}
			if _, err := os.Lstat(filepath.Join(restored, "extra.txt")); err != nil {
				t.Errorf("extra deleted after a failed restore: %v", err)
			}
			if len(actions) != 0 {
				t.Errorf("deletions reported: %v", actions)
			}
			if tc.name == "directory in the way" && !strings.Contains(strings.Join(warnings, "\n"), "nothing was deleted") {
				t.Errorf("warnings %q do not say nothing was deleted", warnings)
			}
		})
	}
}

// TestRestoreDeleteSymlinkSwap: a directory replaced by a symlink to
// outside the target after it was restored (a race with another process)
// is not followed by the delete pass; nor is a symlink where the snapshot
// has a directory when --overwrite never keeps it.
func TestRestoreDeleteSymlinkSwap(t *testing.T) {
	s := newSmallSet(t)
	ctx := context.Background()
	target := t.TempDir()
	outside := t.TempDir()
	writeFile(t, filepath.Join(outside, "victim"), []byte("not yours"), 0o644)
	if _, _, _, err := s.restore(t, Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(target+s.src, "sub")
	must(t, os.Chmod(filepath.Join(sub, "deep"), 0o755))
	must(t, os.RemoveAll(sub))
	must(t, os.Symlink(outside, sub))

	// The delete pass alone, as if the swap happened after the restore.
	r := openRepo(t, s.fault)
	var warned []string
	opts := Options{Target: target, Delete: true, Connections: 1, Warn: func(p string, err error) { warned = append(warned, p+": "+err.Error()) }}
	includes, err := resolveIncludes(ctx, r, s.snap, nil)
	must(t, err)
	rs := newRestorer(ctx, r, opts)
	defer rs.trees.close()
	must(t, rs.deleteExtras(ctx, includes))
	if got := readFile(t, filepath.Join(outside, "victim")); string(got) != "not yours" {
		t.Fatal("the delete pass followed a symlink out of the target")
	}
	if rs.errs.count() == 0 {
		t.Errorf("no error for the symlinked directory (warnings %q)", warned)
	}
	// Only below the include path too.
	includes, err = resolveIncludes(ctx, r, s.snap, []string{s.src + "/sub"})
	must(t, err)
	must(t, rs.deleteExtras(ctx, includes))
	if _, err := os.Lstat(filepath.Join(outside, "victim")); err != nil {
		t.Fatal("the delete pass followed a symlinked include path")
	}

	// A whole restore with --overwrite never keeps the symlink, fails on
	// it, and deletes nothing.
	if _, _, _, err := s.restore(t, Options{Target: target, Delete: true, Overwrite: OverwriteNever}); err == nil {
		t.Error("restore over a symlinked directory with --overwrite never did not fail")
	}
	if _, err := os.Lstat(filepath.Join(outside, "victim")); err != nil {
		t.Fatal("deleted through the symlink")
	}
	// By default the symlink is replaced by the directory, and what it
	// pointed to is left alone.
	if _, _, w, err := s.restore(t, Options{Target: target, Delete: true}); err != nil || len(w) > 0 {
		t.Fatalf("restore: %v %q", err, w)
	}
	compareTrees(t, s.src, target+s.src)
	if _, err := os.Lstat(filepath.Join(outside, "victim")); err != nil {
		t.Fatal("deleted through the replaced symlink")
	}
}
