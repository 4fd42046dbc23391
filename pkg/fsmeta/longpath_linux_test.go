package fsmeta

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestLongPath reads and applies metadata at a path of about 9000 bytes,
// and a failure there names the path itself, not the /proc name.
func TestLongPath(t *testing.T) {
	root := t.TempDir()
	fd, err := unix.Open(root, unix.O_DIRECTORY|unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	path := root
	name := strings.Repeat("d", 250)
	for range 36 {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			t.Fatal(err)
		}
		next, err := unix.Openat(fd, name, unix.O_DIRECTORY|unix.O_RDONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		unix.Close(fd)
		fd, path = next, path+"/"+name
	}
	unix.Close(fd)
	if len(path) < 2*unix.PathMax {
		t.Fatalf("path of %d bytes is too short for this test", len(path))
	}
	n, err := Lstat(path, nil)
	if err != nil || string(n.Name) != name {
		t.Fatalf("Lstat of a %d-byte path: %v, name %q", len(path), err, n.Name)
	}
	n.MTime = 1_234_567_890_123_456_789
	n.Mode = 0o701
	if err := Apply(path, &n, false); err != nil {
		t.Fatal(err)
	}
	if got, err := Lstat(path, nil); err != nil || got.MTime != n.MTime || got.Mode != 0o701 {
		t.Fatalf("after Apply: %+v, %v", got, err)
	}
	_, err = Lstat(path+"/missing", nil)
	var pe *fs.PathError
	if !errors.As(err, &pe) || pe.Path != path+"/missing" || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Lstat of a missing long path: %v", err)
	}
}
