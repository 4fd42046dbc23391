package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// plantObject writes data as the object dir/<sha256(data)> of the local
// repository at repoDir, as anyone with write access to the storage could,
// and returns its ID.
func plantObject(t *testing.T, repoDir, dir string, data []byte) string {
	t.Helper()
	sum := sha256.Sum256(data)
	id := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(repoDir, dir, id), data, 0o644); err != nil {
		t.Fatal(err)
	}
	return id
}

// TestJunkSnapshotObjects: junk under snapshots/ (a 4-byte object planted
// without the passphrase, a 512 MiB sparse one, and a valid envelope of
// another kind) stops nobody: snapshots lists the good ones and warns
// naming each, a backup chooses a good parent, check fails naming them,
// and forget removes them by ID.
func TestJunkSnapshotObjects(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q")
	good := lastSnapshot(t, src)

	tiny := plantObject(t, repoDir, "snapshots", []byte("junk"))
	// A valid envelope of the wrong kind: an index object's bytes, under
	// snapshots/ (its name still matches its hash).
	indexes, err := os.ReadDir(filepath.Join(repoDir, "index"))
	if err != nil || len(indexes) == 0 {
		t.Fatalf("no index objects: %v", err)
	}
	indexBytes, err := os.ReadFile(filepath.Join(repoDir, "index", indexes[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	wrongKind := plantObject(t, repoDir, "snapshots", indexBytes)
	// 512 MiB, sparse: refused on its size, so never read.
	huge := strings.Repeat("ab", 32)
	f, err := os.Create(filepath.Join(repoDir, "snapshots", huge))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(512 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	junk := []string{tiny, wrongKind, huge}

	r := cairn(t, "snapshots", "--json")
	var snaps []map[string]any
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &snaps) != nil || len(snaps) != 1 || snaps[0]["id"] != good {
		t.Fatalf("snapshots: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	for _, id := range junk {
		if !strings.Contains(r.stderr, "warning: skipped snapshots/"+id) {
			t.Errorf("snapshots does not warn about %s:\n%s", id, r.stderr)
		}
	}
	if !strings.Contains(r.stderr, "more than the") {
		t.Errorf("no size-limit warning for the 512 MiB object:\n%s", r.stderr)
	}

	writeFile(t, src, "new.txt", "new")
	next := lastSnapshot(t, src)
	var snap map[string]any
	if err := json.Unmarshal([]byte(ok(t, "cat", "snapshot", next)), &snap); err != nil || snap["parent"] != good {
		t.Errorf("backup chose parent %v, want %s (err %v)", snap["parent"], good, err)
	}
	ok(t, "restore", "latest", "--target", filepath.Join(home, "out"))
	sameTree(t, src, filepath.Join(home, "out", src))

	r = cairn(t, "forget", "--keep-last", "1", "--dry-run")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: skipped snapshots/"+tiny) || !strings.Contains(r.stdout, good[:8]) {
		t.Errorf("forget --keep-last: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}

	// Prune must not act on a listing that passed over snapshots.
	r = cairn(t, "prune")
	if r.code == 0 || !strings.Contains(r.stderr, "nothing was deleted") {
		t.Errorf("prune with junk snapshots: exit %d\n%s", r.code, r.stderr)
	}

	r = cairn(t, "check")
	if r.code == 0 {
		t.Fatalf("check passed with junk snapshot objects:\n%s", r.stdout)
	}
	for _, id := range junk {
		if !strings.Contains(r.stdout+r.stderr, id) {
			t.Errorf("check does not name %s:\nstdout:\n%s\nstderr:\n%s", id, r.stdout, r.stderr)
		}
	}

	// With a filter, an unreadable snapshot cannot be shown to match it.
	fails(t, exitError, "snapshots/"+tiny, "forget", "--host", "nosuchhost", tiny[:8])
	ok(t, "forget", tiny[:8], wrongKind, huge)
	if ids := snapshotIDs(t); !slices.Equal(ids, []string{good, next}) {
		t.Errorf("after forget: %v", ids)
	}
	if r := cairn(t, "snapshots"); strings.Contains(r.stderr, "warning") {
		t.Errorf("still warns after forget:\n%s", r.stderr)
	}
	if out := ok(t, "check"); !strings.Contains(out, "no errors") {
		t.Errorf("check after forget:\n%s", out)
	}
	ok(t, "prune")
}
