package restorer

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/chunker"
)

// TestRestoreOverwriteModes restores over a restored tree that was changed
// in ways each mode treats differently.
func TestRestoreOverwriteModes(t *testing.T) {
	fx := newFixture(t)
	orig := func(name string) []byte { return readFile(t, filepath.Join(fx.src.root, name)) }
	tests := []struct {
		mode Overwrite
		// want is the content each tampered file must have afterwards:
		// "orig" (restored) or "kept" (left as tampered).
		sneaky, resized, newer string
		skipped                bool
	}{
		{OverwriteIfDiffers, "kept", "orig", "orig", true},
		{OverwriteAlways, "orig", "orig", "orig", false},
		{OverwriteIfChanged, "orig", "orig", "orig", true},
		{OverwriteIfNewer, "kept", "kept", "kept", true},
		{OverwriteNever, "kept", "kept", "kept", true},
	}
	for _, tc := range tests {
		t.Run(tc.mode.String(), func(t *testing.T) {
			target := t.TempDir()
			if _, _, err := fx.restoreTo(t, Options{Target: target}, nil); err != nil {
				t.Fatal(err)
			}
			restored := target + fx.src.root
			// sneaky: same size and mtime, other content.
			sneaky := filepath.Join(restored, "one")
			fi, err := os.Stat(sneaky)
			must(t, err)
			must(t, os.WriteFile(sneaky, []byte{'y'}, 0o644))
			must(t, os.Chtimes(sneaky, fi.ModTime(), fi.ModTime()))
			// resized: other size, mtime now.
			resized := filepath.Join(restored, "random.bin")
			must(t, os.WriteFile(resized, []byte("changed"), 0o644))
			// newer: other content, same size, mtime in the future.
			newer := filepath.Join(restored, "private")
			newerData := bytes.ToUpper(orig("private"))
			must(t, os.WriteFile(newer, newerData, 0o600))
			future := time.Now().Add(time.Hour)
			must(t, os.Chtimes(newer, future, future))
			// missing: always restored.
			must(t, os.Remove(filepath.Join(restored, "nested/hard2")))

			res, warnings, err := fx.restoreTo(t, Options{Target: target, Overwrite: tc.mode}, nil)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("restore: %v, warnings %q", err, warnings)
			}
			check := func(path, want string, origData, keptData []byte) {
				t.Helper()
				got := readFile(t, path)
				exp := origData
				if want == "kept" {
					exp = keptData
				}
				if !bytes.Equal(got, exp) {
					t.Errorf("%s: got %d bytes %.10q, want the %s content", path, len(got), got, want)
				}
			}
			check(sneaky, tc.sneaky, orig("one"), []byte{'y'})
			check(resized, tc.resized, orig("random.bin"), []byte("changed"))
			check(newer, tc.newer, orig("private"), newerData)
			if !bytes.Equal(readFile(t, filepath.Join(restored, "nested/hard2")), orig("hard1")) {
				t.Error("missing hard link not restored")
			}
			if tc.skipped != (res.Skipped > 0) {
				t.Errorf("skipped %d entries", res.Skipped)
			}
			if tc.mode == OverwriteAlways {
				compareTrees(t, fx.src.root, restored)
				checkSpecials(t, restored)
			}
			assertNoTemp(t, target)
		})
	}
}

func TestParseOverwrite(t *testing.T) {
	for _, s := range []string{"", "always", "if-changed", "if-newer", "never"} {
		m, err := ParseOverwrite(s)
		if err != nil || (s != "" && m.String() != s) {
			t.Errorf("ParseOverwrite(%q) = %v, %v", s, m, err)
		}
	}
	if _, err := ParseOverwrite("yes"); err == nil {
		t.Error("ParseOverwrite(yes) accepted")
	}
}

// TestRestoreLeftovers plays a restore killed with -9: temporary files,
// one partly written, are in the target; the next restore removes them.
func TestRestoreLeftovers(t *testing.T) {
	fx := newFixture(t)
	target := t.TempDir()
	restored := target + fx.src.root
	must(t, os.MkdirAll(filepath.Join(restored, "nested"), 0o700))
	leftovers := []string{
		filepath.Join(target, tempPrefix+"0123456789abcdef-1-x"),
		filepath.Join(restored, tempPrefix+"fedcba9876543210-7-random.bin"),
		filepath.Join(restored, "nested", tempPrefix+"00000000000000ff-3-hard2"),
	}
	for _, p := range leftovers {
		must(t, os.WriteFile(p, []byte("half"), 0o600))
	}
	notOurs := filepath.Join(target, tempPrefix+"not-hex")
	must(t, os.WriteFile(notOurs, nil, 0o600))
	if _, warnings, err := fx.restoreTo(t, Options{Target: target}, nil); err != nil || len(warnings) > 0 {
		t.Fatalf("restore: %v %q", err, warnings)
	}
	for _, p := range leftovers {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("leftover %s not removed", p)
		}
	}
	if _, err := os.Lstat(notOurs); err != nil {
		t.Errorf("a name that is not a restore's was removed: %v", err)
	}
	compareTrees(t, fx.src.root, restored)
}

// TestRestoreInterrupted cancels restores at random points (several
// seeds): what is under a final name is always the snapshot's content,
// no temporary file remains, and running the restore again completes it
// exactly.
func TestRestoreInterrupted(t *testing.T) {
	fx := newFixture(t)
	packs := dataPacks(t, openRepo(t, fx.store))
	for seed := range uint64(6) {
		rng := rand.New(rand.NewPCG(seed, 99))
		target := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		gets := 0
		after := 1 + rng.IntN(len(packs))
		r := openRepo(t, &cancellingStore{countingStore: fx.store, packs: packs, after: after, cancel: cancel, gets: &gets})
		_, err := Restore(ctx, r, fx.snap, Options{Target: target, Connections: 1 + rng.IntN(3), Verify: seed%2 == 1})
		cancel()
		if err == nil {
			t.Fatalf("seed %d: restore cancelled at pack %d of %d finished", seed, after, len(packs))
		}
		assertNoTemp(t, target)
		assertNoWrongFiles(t, fx.src.root, target+fx.src.root)

		res, warnings, err := fx.restoreTo(t, Options{Target: target, Verify: seed%3 == 0}, nil)
		if err != nil || len(warnings) > 0 {
			t.Fatalf("seed %d: second restore: %v %q", seed, err, warnings)
		}
		if res.Files == 0 {
			t.Errorf("seed %d: second restore restored nothing", seed)
		}
		compareTrees(t, fx.src.root, target+fx.src.root)
		checkSpecials(t, target+fx.src.root)
	}
}

// assertNoTemp fails if a restore's temporary file is below dir.
func assertNoTemp(t testing.TB, dir string) {
	t.Helper()
	must(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			t.Errorf("temporary file left: %s", p)
		}
		return err
	}))
}

// assertNoWrongFiles checks that every regular file below got has the
// content of its counterpart below want.
func assertNoWrongFiles(t testing.TB, want, got string) {
	t.Helper()
	must(t, filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(got, p)
		if !bytes.Equal(readFile(t, p), readFile(t, filepath.Join(want, rel))) {
			t.Errorf("%s is under its final name with the wrong content", p)
		}
		return nil
	}))
}

// TestRestoreSparsePages restores a 16 MiB file holding 3 bytes, backed up
// with the default (MiB-sized) chunks: the zero pages of the one blob that
// holds them must be holes, not written zeros.
func TestRestoreSparsePages(t *testing.T) {
	store := newCountingStore(newMemStore())
	testRepo(t, store, chunker.Params{}, 0)
	src := filepath.Join(t.TempDir(), "src")
	must(t, os.Mkdir(src, 0o755))
	f, err := os.Create(filepath.Join(src, "sparse"))
	must(t, err)
	must(t, f.Truncate(16<<20))
	_, err = f.WriteAt([]byte("abc"), 5<<20+100)
	must(t, err)
	must(t, f.Close())
	snap := backup(t, store, src)
	target := t.TempDir()
	if _, err := Restore(context.Background(), openRepo(t, store), snap, Options{Target: target}); err != nil {
		t.Fatal(err)
	}
	restored := target + src + "/sparse"
	var st unix.Stat_t
	must(t, unix.Stat(restored, &st))
	if st.Size != 16<<20 || st.Blocks*512 > 64<<10 {
		t.Errorf("restored sparse file: %d bytes using %d KiB of disk, want 16 MiB using a few KiB", st.Size, st.Blocks/2)
	}
	compareTrees(t, src, target+src)
}

// TestRestoreWriteFailure plays a full disk: with RLIMIT_FSIZE below the
// largest files, writing them fails (EFBIG, as ENOSPC would). They must
// not be left under their final names, nor as temporary files; the rest
// is restored, and a second restore with room finishes exactly.
//
// RLIMIT_FSIZE applies to the whole process, the test framework's own log
// files included, so the test runs in a child process of its own.
func TestRestoreWriteFailure(t *testing.T) {
	if os.Getenv("CAIRN_TEST_FSIZE_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRestoreWriteFailure$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "CAIRN_TEST_FSIZE_CHILD=1")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestRestoreWriteFailure") {
			t.Fatalf("the test in its child process: %v\n%s", err, out)
		}
		return
	}
	fx := newFixture(t)
	target := t.TempDir()
	var old unix.Rlimit
	must(t, unix.Getrlimit(unix.RLIMIT_FSIZE, &old))
	limit := old
	limit.Cur = 1 << 20
	must(t, unix.Setrlimit(unix.RLIMIT_FSIZE, &limit))
	_, warnings, err := fx.restoreTo(t, Options{Target: target}, nil)
	must(t, unix.Setrlimit(unix.RLIMIT_FSIZE, &old))
	if err == nil || len(warnings) == 0 {
		t.Fatalf("restore with a 1 MiB file size limit: %v, warnings %q", err, warnings)
	}
	restored := target + fx.src.root
	for _, name := range []string{bigName, sparseName} {
		if _, err := os.Lstat(filepath.Join(restored, name)); err == nil {
			t.Errorf("%s exists under its final name after its write failed", name)
		}
	}
	if !bytes.Equal(readFile(t, filepath.Join(restored, "random.bin")), readFile(t, filepath.Join(fx.src.root, "random.bin"))) {
		t.Error("a file below the limit was not restored")
	}
	assertNoTemp(t, target)
	assertNoWrongFiles(t, fx.src.root, restored)

	if _, warnings, err := fx.restoreTo(t, Options{Target: target}, nil); err != nil || len(warnings) > 0 {
		t.Fatalf("second restore: %v %q", err, warnings)
	}
	compareTrees(t, fx.src.root, restored)
}

// TestRestoreVerifyInstalls: with Verify, files are read back under their
// temporary names and installed after; the result is exact, unreadable
// modes included.
func TestRestoreVerifyInstalls(t *testing.T) {
	fx := newFixture(t)
	target := t.TempDir()
	must(t, os.Chmod(filepath.Join(fx.src.root, "private"), 0o000))
	t.Cleanup(func() { os.Chmod(filepath.Join(fx.src.root, "private"), 0o600) })
	fx2 := *fx
	fx2.snap = backup(t, fx.store, fx.src.root)
	res, warnings, err := fx2.restoreTo(t, Options{Target: target, Verify: true}, nil)
	if err != nil || len(warnings) > 0 || res.Files == 0 {
		t.Fatalf("restore --verify: %+v, %v, %q", res, err, warnings)
	}
	assertNoTemp(t, target)
	compareTrees(t, fx.src.root, target+fx.src.root)
	checkSpecials(t, target+fx.src.root)
}
