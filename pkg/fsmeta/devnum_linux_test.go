package fsmeta

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// TestDevNumbersMatchLinux: the tree's device numbers (FORMAT.md section
// 9, tags 16, 21 and 22) use the kernel's dev_t encoding as x/sys knows it.
func TestDevNumbersMatchLinux(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for range 1000 {
		major, minor := r.Uint32(), r.Uint32()
		if got, want := snapshot.MakeDev(major, minor), unix.Mkdev(major, minor); got != want {
			t.Fatalf("MakeDev(%d, %d) = %#x, unix.Mkdev %#x", major, minor, got, want)
		}
		dev := r.Uint64()
		if snapshot.DevMajor(dev) != unix.Major(dev) || snapshot.DevMinor(dev) != unix.Minor(dev) {
			t.Fatalf("%#x: %d:%d, unix says %d:%d", dev, snapshot.DevMajor(dev), snapshot.DevMinor(dev), unix.Major(dev), unix.Minor(dev))
		}
	}
}

// TestApplyLeavesUnstoredATime: an entry without atime (the default) keeps
// the access time the file has; mtime is still set.
func TestApplyLeavesUnstoredATime(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	const atime, mtime = 1_600_000_000_000_000_000, 1_500_000_000_000_000_000
	if err := unix.UtimesNano(path, []unix.Timespec{unix.NsecToTimespec(atime), unix.NsecToTimespec(atime)}); err != nil {
		t.Fatal(err)
	}
	n := snapshot.Node{Name: []byte("f"), Type: snapshot.NodeFile, Mode: 0o640, MTime: mtime}
	if err := Apply(path, &n, false); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	if st.Atim.Nano() != atime || st.Mtim.Nano() != mtime {
		t.Errorf("atime %d mtime %d, want %d %d", st.Atim.Nano(), st.Mtim.Nano(), int64(atime), int64(mtime))
	}
}
