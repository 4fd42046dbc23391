package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHiddenAndRolledBackSnapshots: the storage hides the newest snapshot,
// and later serves an older copy of the whole repository; snapshots warns
// and check fails, naming the snapshots, while a forget on another client
// is not reported.
func TestHiddenAndRolledBackSnapshots(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q")
	first := lastSnapshot(t, src)
	old := filepath.Join(home, "old-copy")
	if out, err := exec.Command("cp", "-a", repoDir, old).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	writeFile(t, src, "more.txt", "more")
	second := lastSnapshot(t, src)
	writeFile(t, src, "more2.txt", "more again")
	third := lastSnapshot(t, src)
	if r := cairn(t, "snapshots"); r.code != 0 || strings.Contains(r.stderr, "warning") {
		t.Fatalf("clean listing: exit %d\n%s", r.code, r.stderr)
	}

	// The server hides the newest snapshot.
	hidden := filepath.Join(home, "hidden")
	if err := os.Rename(filepath.Join(repoDir, "snapshots", third), hidden); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, "snapshots")
	if r.code != 0 || !strings.Contains(r.stderr, "missing snapshot "+third[:8]) {
		t.Errorf("hidden newest: exit %d\nstderr:\n%s", r.code, r.stderr)
	}
	r = cairn(t, "check")
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, third[:8]) {
		t.Errorf("check with the newest snapshot hidden: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	if err := os.Rename(hidden, filepath.Join(repoDir, "snapshots", third)); err != nil {
		t.Fatal(err)
	}
	if r := cairn(t, "snapshots"); strings.Contains(r.stderr, "missing") {
		t.Errorf("snapshot back, still reported:\n%s", r.stderr)
	}

	// Another client (its own state) forgets the second snapshot: this
	// client is told nothing.
	mine := os.Getenv("XDG_STATE_HOME")
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "other-state"))
	ok(t, "forget", second)
	t.Setenv("XDG_STATE_HOME", mine)
	if r := cairn(t, "snapshots"); r.code != 0 || strings.Contains(r.stderr, "missing") {
		t.Errorf("a forget on another client was reported: exit %d\n%s", r.code, r.stderr)
	}
	if r := cairn(t, "check"); r.code != 0 {
		t.Errorf("check after another client's forget: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}

	// The whole repository is replaced by the older copy.
	if err := os.RemoveAll(repoDir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(old, repoDir); err != nil {
		t.Fatal(err)
	}
	r = cairn(t, "snapshots")
	if !strings.Contains(r.stderr, "missing snapshot "+third[:8]) || !strings.Contains(r.stdout, first[:8]) {
		t.Errorf("rolled back repository: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	if strings.Contains(r.stderr, "missing snapshot "+second[:8]) {
		t.Errorf("the forgotten snapshot is reported after the rollback (its record went with it, but it was let go):\n%s", r.stderr)
	}
	if r := cairn(t, "check"); r.code == 0 {
		t.Errorf("check of a rolled back repository passed:\n%s", r.stdout)
	}
}

// TestRemovedKeyReappears: a key file removed with key remove and put back
// by the storage no longer opens the repository.
func TestRemovedKeyReappears(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	ok(t, "init", "-q")
	before, _ := os.ReadDir(filepath.Join(repoDir, "keys"))
	bob := writeFile(t, home, "bob.txt", "bobs passphrase")
	ok(t, "key", "add", "--new-password-file", bob)
	after, _ := os.ReadDir(filepath.Join(repoDir, "keys"))
	var bobKey string
	for _, e := range after {
		found := false
		for _, b := range before {
			found = found || b.Name() == e.Name()
		}
		if !found {
			bobKey = e.Name()
		}
	}
	if bobKey == "" {
		t.Fatal("no new key file")
	}
	saved, err := os.ReadFile(filepath.Join(repoDir, "keys", bobKey))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAIRN_PASSWORD", "bobs passphrase")
	ok(t, "snapshots")
	t.Setenv("CAIRN_PASSWORD", "pw")
	ok(t, "key", "remove", bobKey[:8])
	if err := os.WriteFile(filepath.Join(repoDir, "keys", bobKey), saved, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("CAIRN_PASSWORD", "bobs passphrase")
	r := cairn(t, "snapshots")
	if r.code == 0 || !strings.Contains(r.stderr, "removed with cairn key remove") {
		t.Errorf("revoked key reappeared and opened: exit %d\n%s", r.code, r.stderr)
	}
}

// TestJunkForgottenRecord: junk under forgotten/ (written without the
// passphrase) stops nobody: opening and listing warn naming it, and a
// restore works.
func TestJunkForgottenRecord(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q")
	lastSnapshot(t, src)
	if err := os.MkdirAll(filepath.Join(repoDir, "forgotten"), 0o755); err != nil {
		t.Fatal(err)
	}
	junk := plantObject(t, repoDir, "forgotten", []byte("not a record"))
	r := cairn(t, "snapshots")
	if r.code != 0 || !strings.Contains(r.stderr, "forgotten/"+junk) {
		t.Errorf("snapshots with a junk forgotten record: exit %d\n%s", r.code, r.stderr)
	}
	ok(t, "restore", "latest", "--target", filepath.Join(home, "out"))
}
