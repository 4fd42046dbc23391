package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal: the terminal side for cairn's stdin,
// and the other side to type on.
func openPTY(t *testing.T) (term, typist *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open /dev/ptmx: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatalf("unlockpt: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatalf("ptsname: %v", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open pts: %v", err)
	}
	t.Cleanup(func() { pts.Close() })
	return pts, ptm
}

// TestRestoreDeleteConfirm: on a terminal, --delete asks; only "y" or
// "yes" goes ahead, anything else restores and deletes nothing.
func TestRestoreDeleteConfirm(t *testing.T) {
	for _, tc := range []struct {
		answer string
		ok     bool
	}{{"y\n", true}, {"YES\n", true}, {"n\n", false}, {"\n", false}} {
		term, typist := openPTY(t)
		if _, err := typist.WriteString(tc.answer); err != nil {
			t.Fatal(err)
		}
		var errb bytes.Buffer
		a := newApp(term, &bytes.Buffer{}, &errb)
		err := a.confirmDelete(restoreOptions{delete: true}, "1a2b3c4d", "/srv/t")
		if (err == nil) != tc.ok {
			t.Errorf("answer %q: %v", tc.answer, err)
		}
		if !strings.Contains(errb.String(), "delete every entry there that the snapshot does not hold? [y/N]") {
			t.Errorf("prompt %q", errb.String())
		}
	}

	// The whole command, answered "n": nothing restored or deleted.
	home := newCLIRepo(t)
	src := filepath.Join(home, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644)
	ok(t, "backup", src)
	target := filepath.Join(home, "t")
	ok(t, "restore", "latest", "--target", target)
	extra := filepath.Join(target+src, "extra")
	os.WriteFile(extra, []byte("x"), 0o644)
	os.Remove(filepath.Join(target+src, "a"))
	term, typist := openPTY(t)
	typist.WriteString("n\n")
	var out, errb bytes.Buffer
	if code := execute(t.Context(), []string{"restore", "latest", "--target", target, "--delete"}, term, &out, &errb); code != exitError || !strings.Contains(errb.String(), "not confirmed") {
		t.Fatalf("declined --delete: exit %d, %q", code, errb.String())
	}
	if _, err := os.Lstat(extra); err != nil {
		t.Errorf("declined --delete deleted: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(target+src, "a")); !os.IsNotExist(err) {
		t.Errorf("declined --delete restored: %v", err)
	}
}
