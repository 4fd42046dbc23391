package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The README's example as written: back up two folders, then verify the
// snapshot against one of them, then both. Each compares only its own part
// of the snapshot; a path in neither is refused with a clear error.
func TestVerifyAgainstSeveralPaths(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pass")
	docs, pics := filepath.Join(home, "Documents"), filepath.Join(home, "Pictures")
	for _, f := range []string{filepath.Join(docs, "a.txt"), filepath.Join(docs, "sub", "b.txt"), filepath.Join(pics, "c.jpg")} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("content of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ok(t, "init")
	ok(t, "backup", docs, pics)
	for _, args := range [][]string{
		{"--against", docs},
		{"--against", pics},
		{"--against", docs, "--against", pics},
		{"--against", filepath.Join(docs, "sub")},
	} {
		out := ok(t, append([]string{"verify", "latest"}, args...)...)
		if !strings.Contains(out, "0 difference(s), 0 damaged") {
			t.Errorf("verify %v:\n%s", args, out)
		}
	}
	// A real difference in one of them is still found, and only there.
	if err := os.WriteFile(filepath.Join(pics, "c.jpg"), []byte("changed!"), 0o644); err != nil {
		t.Fatal(err)
	}
	ok(t, "verify", "latest", "--against", docs)
	r := cairn(t, "verify", "latest", "--against", docs, "--against", pics)
	if r.code != exitError || !strings.Contains(r.stdout, "differs: "+filepath.Join(pics, "c.jpg")) || strings.Contains(r.stdout, "a.txt") {
		t.Errorf("verify after changing c.jpg: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	fails(t, exitError, "not inside any of the snapshot's paths", "verify", "latest", "--against", home)
}
