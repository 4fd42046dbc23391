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

// snapshots --latest N keeps the newest N of each host and set of paths.
func TestSnapshotsLatest(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pass")
	a, b := filepath.Join(home, "a"), filepath.Join(home, "b")
	for _, d := range []string{a, b} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	ok(t, "init")
	for range 3 {
		ok(t, "backup", a, "--host", "one")
	}
	ok(t, "backup", b, "--host", "one")
	ok(t, "backup", a, "--host", "two")
	out := ok(t, "snapshots", "--latest", "1")
	if !strings.Contains(out, "3 snapshot(s)") {
		t.Errorf("--latest 1 of groups (one,a)x3, (one,b), (two,a):\n%s", out)
	}
	if out := ok(t, "snapshots", "--latest", "2"); !strings.Contains(out, "4 snapshot(s)") {
		t.Errorf("--latest 2:\n%s", out)
	}
	if out := ok(t, "snapshots"); !strings.Contains(out, "5 snapshot(s)") {
		t.Errorf("all:\n%s", out)
	}
}

// The examples ship inside the binary, byte for byte the files in config/,
// and each one parses.
func TestConfigExampleShipped(t *testing.T) {
	isolate(t)
	for _, name := range []string{"example", "nightly", "usb", "b2"} {
		out := ok(t, "config", "example", name)
		want, err := os.ReadFile(filepath.Join("..", "..", "config", name+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if out != string(want) {
			t.Errorf("cairn config example %s differs from config/%s.yaml", name, name)
		}
		if _, err := parseConfig([]byte(out), name+".yaml"); err != nil {
			t.Errorf("shipped %s does not parse: %v", name, err)
		}
	}
	fails(t, exitError, "cairn config example --list", "config", "example", "nope")
}
