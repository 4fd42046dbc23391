package e2e

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/e2e/miniotest"
)

// needFUSE skips loudly where FUSE is missing, and fails in CI, where the
// mount test must run.
func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err == nil {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("CAIRN_CI") != "" {
		t.Fatal("FUSE (/dev/fuse) is missing, and CI must run the mount test")
	}
	t.Skip("SKIPPED LOUDLY: /dev/fuse is missing on this machine; cairn mount was not tested")
}

// TestMountS3 mounts a MinIO repository with the cairn binary, compares the
// mounted snapshot with its source (diff -r, modes, mtimes, link counts,
// symlinks, reads at random offsets), checks that a second backup appears
// without remounting, and unmounts with SIGINT (exit 0, nothing left
// mounted).
func TestMountS3(t *testing.T) {
	needFUSE(t)
	srv := miniotest.Start(t)
	bin := cairnBin(t)
	srv.MakeBucket(t, "mount")
	c := newClient(t, bin, srv.URL("mount", "repo"), "mount-pass").
		with("AWS_ACCESS_KEY_ID", srv.RootUser).with("AWS_SECRET_ACCESS_KEY", srv.RootPassword)
	src := t.TempDir()
	makeTree(t, src, 7, 30)
	c.ok("init")
	c.ok("backup", "--tag", "first", src)

	mnt := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := c.command(ctx, "mount", mnt)
	var stderr miniotest.LockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		// Whatever happened, leave nothing mounted.
		if cmd.ProcessState == nil {
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = syscall.Unmount(mnt, syscall.MNT_DETACH)
			}
		}
	}()
	waitFor(t, exited, &stderr, func() bool {
		_, err := os.Lstat(filepath.Join(mnt, "snapshots", "latest"))
		return err == nil
	}, "the mount to show snapshots/latest")

	root := filepath.Join(mnt, "snapshots", "latest") + src
	if out, err := exec.Command("diff", "-r", src, root).CombinedOutput(); err != nil {
		t.Fatalf("diff -r %s %s: %v\n%s", src, root, err, out)
	}
	compareTrees(t, src, root)
	checkStats(t, src, root)
	randomReads(t, src, root)
	if target, err := os.Readlink(filepath.Join(root, "a", "link-to-c")); err != nil || target != "b/c" {
		t.Errorf("symlink a/link-to-c -> %q, %v; want b/c", target, err)
	}
	for _, p := range []string{"tags/first/latest", "hosts"} {
		if _, err := os.Stat(filepath.Join(mnt, p)); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}

	// A second backup shows up without remounting.
	if err := os.WriteFile(filepath.Join(src, "added-later"), []byte("second backup"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("backup", src)
	waitFor(t, exited, &stderr, func() bool {
		list, _ := os.ReadDir(filepath.Join(mnt, "snapshots"))
		return len(list) == 3 // two snapshots and latest
	}, "the second snapshot to appear under snapshots/")
	got, err := os.ReadFile(filepath.Join(mnt, "snapshots", "latest") + src + "/added-later")
	if err != nil || string(got) != "second backup" {
		t.Fatalf("file of the second backup: %q, %v", got, err)
	}

	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("cairn mount after SIGINT: %v, want exit 0\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("cairn mount did not exit 30 s after SIGINT\n%s", stderr.String())
	}
	if _, err := os.Stat(filepath.Join(mnt, "snapshots")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("after SIGINT the mountpoint still shows snapshots/ (%v): not unmounted", err)
	}
	if strings.Contains(stderr.String(), "warning") {
		t.Errorf("cairn mount warned:\n%s", stderr.String())
	}
}

// waitFor polls cond for up to a minute, failing early if cairn exits.
func waitFor(t *testing.T, exited <-chan error, stderr *miniotest.LockedBuffer, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		select {
		case err := <-exited:
			t.Fatalf("cairn mount exited (%v) while waiting for %s\n%s", err, what, stderr.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited a minute for %s\n%s", what, stderr.String())
		}
	}
}

// checkStats compares what stat reports in the mount with the source:
// sizes, link counts and owners (compareTrees checks modes and mtimes).
func checkStats(t *testing.T, want, got string) {
	t.Helper()
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		var w, g syscall.Stat_t
		if err := syscall.Lstat(p, &w); err != nil {
			return err
		}
		if err := syscall.Lstat(filepath.Join(got, rel), &g); err != nil {
			return err
		}
		if w.Mode&syscall.S_IFMT != syscall.S_IFDIR && (w.Size != g.Size || w.Nlink != g.Nlink) {
			t.Errorf("%s: size %d, %d links; want %d, %d", rel, g.Size, g.Nlink, w.Size, w.Nlink)
		}
		if w.Uid != g.Uid || w.Gid != g.Gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", rel, g.Uid, g.Gid, w.Uid, w.Gid)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// randomReads reads the largest file of the mount at random offsets.
func randomReads(t *testing.T, want, got string) {
	t.Helper()
	var biggest string
	var size int64
	filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() && info.Size() > size {
			biggest, size = p, info.Size()
		}
		return nil
	})
	if size < 1<<20 {
		t.Fatalf("largest source file is %d bytes; the test needs one over 1 MiB", size)
	}
	data, err := os.ReadFile(biggest)
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := filepath.Rel(want, biggest)
	f, err := os.Open(filepath.Join(got, rel))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(uint64(size), 5))
	for range 100 {
		off := rng.Int64N(size)
		buf := make([]byte, 1+rng.IntN(200<<10))
		n, err := f.ReadAt(buf, off)
		end := min(off+int64(len(buf)), size)
		if int64(n) != end-off || (err != nil && end == off+int64(len(buf))) {
			t.Fatalf("%s: read at %d of %d bytes: %d, %v", rel, off, len(buf), n, err)
		}
		if !bytes.Equal(buf[:n], data[off:end]) {
			t.Fatalf("%s: read at %d of %d bytes differs from the source", rel, off, len(buf))
		}
	}
}
