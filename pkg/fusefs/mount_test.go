package fusefs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

// needFUSE skips the test loudly where FUSE is missing, and fails it in CI,
// where it must run.
func needFUSE(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/dev/fuse"); err == nil {
		return
	}
	if os.Getenv("CI") != "" || os.Getenv("CAIRN_CI") != "" {
		t.Fatal("FUSE (/dev/fuse) is missing, and CI must run the mount tests")
	}
	t.Skip("SKIPPED LOUDLY: /dev/fuse is missing on this machine; the mount test did not run")
}

// mounted serves r at a new mountpoint until the test ends, with a short
// refresh interval, and returns the mountpoint and a function that
// unmounts (by cancelling) and returns Mount's result.
func mounted(t *testing.T, r Repo) (string, func() error) {
	t.Helper()
	needFUSE(t)
	mnt := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Mount(ctx, r, mnt, Options{Refresh: 100 * time.Millisecond, Mounted: func() { close(ready) },
			Warn: func(err error) { t.Logf("warning: %v", err) }})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("mount: %v", err)
	}
	var once sync.Once
	var result error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case result = <-done:
			case <-time.After(30 * time.Second):
				result = errors.New("Mount did not return 30 s after cancel")
			}
		})
		return result
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Error(err)
		}
	})
	return mnt, stop
}

// TestMountTree mounts a snapshot of a tree with a directory of several
// tree runs, a hard link, a symlink, a fifo and xattrs, and checks what the
// file system shows against the source.
func TestMountTree(t *testing.T) {
	r, _ := testRepo(t)
	src := t.TempDir()
	data := randomFile(t, filepath.Join(src, "sub", "data"), 2, 1<<20)
	many := filepath.Join(src, "many")
	if err := os.Mkdir(many, 0o750); err != nil {
		t.Fatal(err)
	}
	const entries = 9000 // more than one run of 8192
	for i := range entries {
		if err := os.WriteFile(filepath.Join(many, fmt.Sprintf("f%05d", i)), []byte(fmt.Sprint(i)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink("sub/data", filepath.Join(src, "link")))
	must(os.Link(filepath.Join(src, "sub", "data"), filepath.Join(src, "hard")))
	must(unix.Mkfifo(filepath.Join(src, "fifo"), 0o640))
	must(os.Chmod(filepath.Join(src, "sub"), 0o2751))
	xattrs := unix.Setxattr(filepath.Join(src, "sub", "data"), "user.cairn", []byte("kept"), 0) == nil
	if !xattrs {
		t.Log("the temp file system takes no user xattrs: xattrs are not checked")
	}
	snap := backupDir(t, r, src, "nightly")

	mnt, stop := mounted(t, r)
	root := filepath.Join(mnt, "snapshots", "latest") + src
	got, err := os.ReadFile(filepath.Join(root, "sub", "data"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read sub/data: %v (%d bytes, equal %v)", err, len(got), bytes.Equal(got, data))
	}
	for _, p := range []string{"sub", "sub/data", "link", "hard", "fifo", "many", "many/f08999"} {
		var want, have unix.Stat_t
		must(unix.Lstat(filepath.Join(src, p), &want))
		if err := unix.Lstat(filepath.Join(root, p), &have); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if have.Mode != want.Mode || have.Uid != want.Uid || have.Gid != want.Gid || have.Mtim != want.Mtim {
			t.Errorf("%s: mode %o uid %d gid %d mtime %v, want %o %d %d %v", p, have.Mode, have.Uid, have.Gid, have.Mtim, want.Mode, want.Uid, want.Gid, want.Mtim)
		}
		if want.Mode&syscall.S_IFMT != syscall.S_IFDIR && (have.Size != want.Size || have.Nlink != want.Nlink) {
			t.Errorf("%s: size %d nlink %d, want %d %d", p, have.Size, have.Nlink, want.Size, want.Nlink)
		}
	}
	if target, err := os.Readlink(filepath.Join(root, "link")); err != nil || target != "sub/data" {
		t.Errorf("readlink: %q, %v", target, err)
	}
	if xattrs {
		buf := make([]byte, 64)
		n, err := unix.Getxattr(filepath.Join(root, "sub", "data"), "user.cairn", buf)
		if err != nil || string(buf[:n]) != "kept" {
			t.Errorf("getxattr user.cairn: %q, %v", buf[:max(n, 0)], err)
		}
	}
	list, err := os.ReadDir(filepath.Join(root, "many"))
	if err != nil || len(list) != entries {
		t.Fatalf("readdir many: %d entries, %v; want %d", len(list), err, entries)
	}
	for _, i := range []int{0, 4095, 8191, 8192, 8999} {
		got, err := os.ReadFile(filepath.Join(root, "many", fmt.Sprintf("f%05d", i)))
		if err != nil || string(got) != fmt.Sprint(i) {
			t.Errorf("many/f%05d: %q, %v", i, got, err)
		}
	}
	if _, err := os.Lstat(filepath.Join(root, "many", "f09000")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lookup of a missing name after the last run: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(root, "many", "f08191x")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lookup of a missing name between runs: %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "sub", "data"), []byte("x"), 0o644); err == nil {
		t.Error("writing into the mount succeeded")
	}

	// The same snapshot under ids/, hosts/ and tags/.
	for _, p := range []string{"ids/" + shortID(t, r), "hosts/test/latest", "tags/nightly/latest"} {
		if _, err := os.Stat(filepath.Join(mnt, p) + src + "/sub/data"); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}

	// A second backup appears without remounting. It is made in a later
	// second than the first, so that its directory name has no ID suffix
	// (two snapshots of one second are told apart by their IDs).
	for !time.Now().Truncate(time.Second).After(snap.Time.Truncate(time.Second)) {
		time.Sleep(10 * time.Millisecond)
	}
	randomFile(t, filepath.Join(src, "new"), 9, 1000)
	second := backupDir(t, r, src)
	name := second.Time.Local().Format(timeName)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := os.Stat(filepath.Join(mnt, "snapshots", name) + src + "/new")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("second snapshot %s did not appear: %v", name, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if target, _ := os.Readlink(filepath.Join(mnt, "snapshots", "latest")); target != name {
		t.Errorf("snapshots/latest -> %q, want %q", target, name)
	}
	if err := stop(); err != nil {
		t.Fatalf("unmount: %v", err)
	}
	if _, err := os.Stat(filepath.Join(mnt, "snapshots")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after unmount, the mountpoint still shows snapshots/: %v", err)
	}
}

func shortID(t *testing.T, r Repo) string {
	t.Helper()
	ids, err := r.ListObjects(context.Background(), "snapshot")
	if err != nil || len(ids) != 1 {
		t.Fatalf("snapshots: %d, %v", len(ids), err)
	}
	return ids[0].Short()
}

// TestMountExternalUnmount: unmounting from outside (umount, as fusermount
// -u does) makes Mount return nil.
func TestMountExternalUnmount(t *testing.T) {
	r, _ := testRepo(t)
	src := t.TempDir()
	randomFile(t, filepath.Join(src, "f"), 1, 100)
	backupDir(t, r, src)
	mnt, stop := mounted(t, r)
	if err := syscall.Unmount(mnt, 0); err != nil {
		t.Fatalf("umount: %v", err)
	}
	if err := stop(); err != nil {
		t.Fatalf("Mount after an external unmount: %v", err)
	}
}

// TestMountBusyUnmount: Ctrl-C while a file in the mount is open. Mount
// warns and keeps retrying instead of leaving a dead mount, and returns
// once the file is closed.
func TestMountBusyUnmount(t *testing.T) {
	r, _ := testRepo(t)
	src := t.TempDir()
	randomFile(t, filepath.Join(src, "f"), 1, 100)
	backupDir(t, r, src)
	needFUSE(t)
	mnt := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	warned := make(chan error, 10)
	done := make(chan error, 1)
	go func() {
		done <- Mount(ctx, r, mnt, Options{Mounted: func() { close(ready) }, Warn: func(err error) { warned <- err }})
	}()
	<-ready
	f, err := os.Open(filepath.Join(mnt, "snapshots", "latest") + src + "/f")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-warned:
		t.Logf("warned: %v", err)
	case err := <-done:
		f.Close()
		t.Fatalf("Mount returned %v while a file was open: the mount was not busy?", err)
	case <-time.After(10 * time.Second):
		f.Close()
		t.Fatal("no warning about the busy mountpoint")
	}
	if _, err := f.Read(make([]byte, 10)); err != nil {
		t.Errorf("read while the unmount waits: %v", err)
	}
	f.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Mount: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Mount did not return after the file was closed")
	}
	if _, err := os.Stat(filepath.Join(mnt, "snapshots")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after unmount, the mountpoint still shows snapshots/: %v", err)
	}
}

// TestMountStorageOutage: the storage fails while the mount is in use. A
// read fails with EIO and a warning naming the file (never wrong or short
// data), listings keep the last snapshot list, and once the storage is
// back the same file reads correctly without remounting.
func TestMountStorageOutage(t *testing.T) {
	r, store := testRepo(t)
	src := t.TempDir()
	data := randomFile(t, filepath.Join(src, "f"), 5, 1<<20)
	backupDir(t, r, src)
	faulty := fault.New(store)
	fr := openRepo(t, faulty)

	needFUSE(t)
	mnt := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	var mu sync.Mutex
	var warnings []string
	done := make(chan error, 1)
	go func() {
		done <- Mount(ctx, fr, mnt, Options{Refresh: time.Millisecond, Mounted: func() { close(ready) },
			Warn: func(err error) { mu.Lock(); warnings = append(warnings, err.Error()); mu.Unlock() }})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	<-ready
	file := filepath.Join(mnt, "snapshots", "latest") + src + "/f"
	if _, err := os.Stat(file); err != nil {
		t.Fatal(err)
	}

	faulty.FailPrefix(fault.OpGet, "data/", syscall.ECONNRESET)
	faulty.FailPrefix(fault.OpList, "", syscall.ECONNRESET)
	if got, err := os.ReadFile(file); err == nil {
		t.Fatalf("read during the outage succeeded (%d bytes)", len(got))
	} else if !errors.Is(err, syscall.EIO) {
		t.Errorf("read during the outage: %v, want EIO", err)
	}
	time.Sleep(5 * time.Millisecond)
	if list, err := os.ReadDir(filepath.Join(mnt, "snapshots")); err != nil || len(list) != 2 {
		t.Errorf("snapshots/ during the outage: %d entries, %v; want the last listing (2)", len(list), err)
	}
	mu.Lock()
	joined := strings.Join(warnings, "\n")
	mu.Unlock()
	if !strings.Contains(joined, src+"/f") {
		t.Errorf("no warning names the file that failed:\n%s", joined)
	}

	faulty.Clear()
	got, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after the outage: %v (%d bytes, equal %v)", err, len(got), bytes.Equal(got, data))
	}
}

// TestMountPermissions: with --allow-other, another user reads what the
// recorded modes let them read and nothing else; NoDefaultPermissions lets
// them read everything.
func TestMountPermissions(t *testing.T) {
	needFUSE(t)
	if os.Getuid() != 0 {
		t.Skip("SKIPPED LOUDLY: not root, so the test cannot read the mount as another user")
	}
	r, _ := testRepo(t)
	// Directories others can traverse, in the source and so in the
	// snapshot.
	src, err := os.MkdirTemp("/tmp", "cairn-mount-perm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(src) })
	if err := os.Chmod(src, 0o755); err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(src, "public"), []byte("public"), 0o644))
	must(os.WriteFile(filepath.Join(src, "secret"), []byte("secret"), 0o600))
	backupDir(t, r, src)

	asNobody := func(path string) error {
		cmd := exec.Command("cat", path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	for _, noPerms := range []bool{false, true} {
		mnt, err := os.MkdirTemp("/tmp", "cairn-mount-perm-mnt-")
		must(err)
		must(os.Chmod(mnt, 0o755))
		ctx, cancel := context.WithCancel(context.Background())
		ready, done := make(chan struct{}), make(chan error, 1)
		go func() {
			done <- Mount(ctx, r, mnt, Options{AllowOther: true, NoDefaultPermissions: noPerms, Mounted: func() { close(ready) }})
		}()
		select {
		case <-ready:
		case err := <-done:
			cancel()
			t.Fatalf("mount: %v", err)
		}
		root := filepath.Join(mnt, "snapshots", "latest") + src
		if err := asNobody(filepath.Join(root, "public")); err != nil {
			t.Errorf("no-default-permissions %v: nobody cannot read a 0644 file: %v", noPerms, err)
		}
		err = asNobody(filepath.Join(root, "secret"))
		if !noPerms && err == nil {
			t.Error("nobody read a file recorded as root's, mode 0600")
		}
		if noPerms && err != nil {
			t.Errorf("no-default-permissions: nobody cannot read the 0600 file: %v", err)
		}
		cancel()
		must(<-done)
		os.Remove(mnt)
	}
}
