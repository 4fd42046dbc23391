package fsmeta

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// fixture describes one file-system entry of the test tree.
type fixture struct {
	name   string
	create func(t *testing.T, path string)
	typ    snapshot.NodeType
	mode   uint32
	atime  int64
	mtime  int64
}

const ns = 1_700_000_000_000_000_000 // a base time in nanoseconds

func mustChmod(t *testing.T, path string, mode uint32) {
	t.Helper()
	if err := unix.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func fixtures() []fixture {
	file := func(mode uint32) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			if err := os.WriteFile(path, []byte("hello"), 0o600); err != nil {
				t.Fatal(err)
			}
			mustChmod(t, path, mode)
		}
	}
	dir := func(mode uint32) func(*testing.T, string) {
		return func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o700); err != nil {
				t.Fatal(err)
			}
			mustChmod(t, path, mode)
		}
	}
	return []fixture{
		{"file", file(0o640), snapshot.NodeFile, 0o640, ns + 111_111_111, ns + 222_222_222},
		{"setuid file", file(0o4755), snapshot.NodeFile, 0o4755, ns + 1, ns + 999_999_999},
		{"dir", dir(0o750), snapshot.NodeDir, 0o750, ns + 5, ns - 123_456_789},
		{"setgid dir", dir(0o2775), snapshot.NodeDir, 0o2775, ns, ns + 7},
		{"sticky dir", dir(0o1777), snapshot.NodeDir, 0o1777, ns + 3, ns + 4},
		{"link", func(t *testing.T, path string) {
			if err := os.Symlink("../target with\nnewline \xff", path); err != nil {
				t.Fatal(err)
			}
		}, snapshot.NodeSymlink, 0o777, ns + 10, ns + 20},
		{"long link", func(t *testing.T, path string) {
			if err := os.Symlink(strings.Repeat("d/", 1500)+"end", path); err != nil {
				t.Fatal(err)
			}
		}, snapshot.NodeSymlink, 0o777, ns + 11, ns + 21},
		{"fifo", func(t *testing.T, path string) {
			if err := unix.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
			mustChmod(t, path, 0o620)
		}, snapshot.NodeFifo, 0o620, ns + 30, ns + 40},
	}
}

func setTimes(t *testing.T, path string, atime, mtime int64) {
	t.Helper()
	ts := []unix.Timespec{unix.NsecToTimespec(atime), unix.NsecToTimespec(mtime)}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, path, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		t.Fatal(err)
	}
}

// recreate makes a fresh, metadata-less copy of n at path, as a restorer
// would before calling Apply.
func recreate(t *testing.T, path string, n *snapshot.Node) {
	t.Helper()
	var err error
	switch n.Type {
	case snapshot.NodeFile:
		err = os.WriteFile(path, []byte("hello"), 0o600)
	case snapshot.NodeDir:
		err = os.Mkdir(path, 0o700)
	case snapshot.NodeSymlink:
		err = os.Symlink(string(n.LinkTarget), path)
	default:
		err = Mknod(path, n)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestLstatAndApply(t *testing.T) {
	src, dst := t.TempDir(), t.TempDir()
	names := NewNames()
	asRoot := os.Geteuid() == 0
	for _, fx := range fixtures() {
		t.Run(fx.name, func(t *testing.T) {
			path := filepath.Join(src, fx.name)
			fx.create(t, path)
			setTimes(t, path, fx.atime, fx.mtime)

			n, err := Lstat(path, names)
			if err != nil {
				t.Fatal(err)
			}
			if string(n.Name) != fx.name || n.Type != fx.typ || n.Mode != fx.mode {
				t.Fatalf("Lstat = name %q type %v mode %#o, want %q %v %#o", n.Name, n.Type, n.Mode, fx.name, fx.typ, fx.mode)
			}
			if n.ATime != fx.atime || n.MTime != fx.mtime || n.CTime == 0 {
				t.Errorf("times a=%d m=%d c=%d, want a=%d m=%d", n.ATime, n.MTime, n.CTime, fx.atime, fx.mtime)
			}
			if n.UID != uint32(os.Geteuid()) || n.Inode == 0 || n.Device == 0 || n.Links == 0 {
				t.Errorf("ids: %+v", n)
			}
			if asRoot && (n.User != "root" || n.Group != "root") {
				t.Errorf("user/group = %q/%q, want root/root", n.User, n.Group)
			}
			if err := n.Validate(); err != nil {
				t.Errorf("Lstat gave an invalid node: %v", err)
			}
			switch fx.typ {
			case snapshot.NodeFile:
				if n.Size != 5 {
					t.Errorf("size %d", n.Size)
				}
			case snapshot.NodeSymlink:
				target, _ := os.Readlink(path)
				if string(n.LinkTarget) != target {
					t.Errorf("target %q, want %q", n.LinkTarget, target)
				}
			default:
				if n.Size != 0 {
					t.Errorf("size %d stored for a %v", n.Size, n.Type)
				}
			}

			restored := filepath.Join(dst, fx.name)
			recreate(t, restored, &n)
			if err := Apply(restored, &n, asRoot); err != nil {
				t.Fatal(err)
			}
			got, err := Lstat(restored, names)
			if err != nil {
				t.Fatal(err)
			}
			if got.Type != n.Type || got.Mode != n.Mode || got.MTime != n.MTime || got.ATime != n.ATime ||
				got.UID != n.UID || got.GID != n.GID || !bytes.Equal(got.LinkTarget, n.LinkTarget) || got.Size != n.Size {
				t.Errorf("restored %+v\nwant       %+v", got, n)
			}
		})
	}
}

func TestXattrs(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "src"), filepath.Join(dir, "dst")
	for _, p := range []string{src, dst} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want := []snapshot.Xattr{
		{Name: "user.big", Value: bytes.Repeat([]byte("x"), 3000)},
		{Name: "user.binary", Value: []byte{0, 1, 0xff}},
		{Name: "user.empty", Value: nil},
	}
	for _, x := range want {
		if err := unix.Lsetxattr(src, x.Name, x.Value, 0); err != nil {
			if errors.Is(err, unix.ENOTSUP) || errors.Is(err, unix.EOPNOTSUPP) {
				t.Skipf("file system of %s has no user xattrs: %v", dir, err)
			}
			t.Fatal(err)
		}
	}
	got, err := ReadXattrs(src)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ReadXattrs = %d attributes %v, want %v", len(got), xattrNames(got), xattrNames(want))
	}
	n, err := Lstat(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.Xattrs = got
	if err := Apply(dst, &n, false); err != nil {
		t.Fatal(err)
	}
	restored, err := ReadXattrs(dst)
	if err != nil || !reflect.DeepEqual(restored, want) {
		t.Fatalf("restored xattrs %q, %v", restored, err)
	}
	if after, _ := Lstat(dst, nil); after.MTime != n.MTime {
		t.Errorf("setting xattrs after times changed mtime")
	}

	// Xattrs are best effort: a failure is reported, the rest applied.
	n.Xattrs = []snapshot.Xattr{{Name: "nonsense.namespace", Value: []byte("v")}, {Name: "user.ok", Value: []byte("v")}}
	n.Mode = 0o604
	err = Apply(dst, &n, false)
	if err == nil || !strings.Contains(err.Error(), "nonsense.namespace") {
		t.Fatalf("Apply with a bad xattr: %v", err)
	}
	after, _ := Lstat(dst, nil)
	if after.Mode != 0o604 || after.MTime != n.MTime {
		t.Errorf("mode %#o, mtime %d after a failed xattr", after.Mode, after.MTime)
	}
	if v, err := ReadXattrs(dst); err != nil || len(v) != 4 {
		t.Errorf("xattrs after partial failure: %q, %v", v, err)
	}
}

func TestApplyOwnership(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing ownership needs root")
	}
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	n := snapshot.Node{Name: []byte("f"), Type: snapshot.NodeFile, Mode: 0o6755, UID: 65534, GID: 65533, MTime: ns}
	if err := Apply(path, &n, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := Lstat(path, nil); got.UID != 0 {
		t.Fatalf("asRoot=false changed the owner to %d", got.UID)
	}
	if err := Apply(path, &n, true); err != nil {
		t.Fatal(err)
	}
	got, err := Lstat(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	// chown clears setuid/setgid; Apply must chmod after it.
	if got.UID != 65534 || got.GID != 65533 || got.Mode != 0o6755 {
		t.Fatalf("owner %d:%d mode %#o, want 65534:65533 %#o", got.UID, got.GID, got.Mode, 0o6755)
	}

	link := filepath.Join(t.TempDir(), "l")
	if err := os.Symlink("f", link); err != nil {
		t.Fatal(err)
	}
	ln := snapshot.Node{Name: []byte("l"), Type: snapshot.NodeSymlink, UID: 65534, GID: 65534, LinkTarget: []byte("f"), MTime: ns}
	if err := Apply(link, &ln, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := Lstat(link, nil); got.UID != 65534 || got.MTime != ns {
		t.Errorf("symlink owner %d mtime %d", got.UID, got.MTime)
	}
}

func TestMknodDevice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "null")
	n := snapshot.Node{Name: []byte("null"), Type: snapshot.NodeCharDev, Mode: 0o666, Rdev: unix.Mkdev(1, 3)}
	err := Mknod(path, &n)
	if os.Geteuid() != 0 {
		if err == nil || !strings.Contains(err.Error(), "root") {
			t.Fatalf("unprivileged Mknod error = %v, want one that mentions root", err)
		}
		return
	}
	if errors.Is(err, unix.EPERM) {
		t.Skipf("root without CAP_MKNOD: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	got, err := Lstat(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.Type != snapshot.NodeCharDev || got.Rdev != n.Rdev {
		t.Fatalf("device %v rdev %#x, want chardev %#x", got.Type, got.Rdev, n.Rdev)
	}
	if err := Mknod(filepath.Join(t.TempDir(), "x"), &snapshot.Node{Type: snapshot.NodeFile}); err == nil {
		t.Error("Mknod made a regular file")
	}
}

func TestLstatSkipsSockets(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Skipf("cannot make a socket: %v", err)
	}
	defer l.Close()
	if _, err := Lstat(path, nil); !errors.Is(err, ErrSkip) {
		t.Fatalf("Lstat(socket) error = %v, want ErrSkip", err)
	}
	if _, err := Lstat(filepath.Join(t.TempDir(), "missing"), nil); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Lstat(missing) error = %v, want os.ErrNotExist", err)
	}
}

func TestNamesCache(t *testing.T) {
	names := NewNames()
	if got := names.User(0); got != "root" {
		t.Skipf("uid 0 is %q here", got)
	}
	if names.Group(0) != "root" {
		t.Error("gid 0 is not root")
	}
	if got := names.User(4_000_000_000); got != "" {
		t.Errorf("unknown uid named %q", got)
	}
	if _, ok := names.users[4_000_000_000]; !ok {
		t.Error("miss not cached")
	}
}

func xattrNames(xs []snapshot.Xattr) []string {
	var names []string
	for _, x := range xs {
		names = append(names, x.Name)
	}
	return names
}
