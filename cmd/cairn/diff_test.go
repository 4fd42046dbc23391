package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiffAndFind(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	writeFile(t, src, "gone.txt", "removed later")
	writeFile(t, src, "changed.txt", "before")
	writeFile(t, src, "sub/kept.pdf", "the same in both")
	ok(t, "init", "-q")
	first := lastSnapshot(t, src)

	os.Remove(filepath.Join(src, "gone.txt"))
	writeFile(t, src, "changed.txt", "after, and longer")
	writeFile(t, src, "new.txt", "added")
	second := lastSnapshot(t, src)

	out := ok(t, "diff", first[:8], second)
	for _, want := range []string{
		"+ " + filepath.Join(src, "new.txt") + " (5 B)\n",
		"- " + filepath.Join(src, "gone.txt") + " (13 B)\n",
		"M " + filepath.Join(src, "changed.txt") + " (content", "6 B → 17 B)\n",
		"1 added (5 B), 1 removed (13 B), 1 modified",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("diff lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "kept.pdf") {
		t.Errorf("diff lists an unchanged file:\n%s", out)
	}

	kinds := map[string]string{}
	lines := strings.Split(strings.TrimSpace(ok(t, "diff", first, "latest", "--json")), "\n")
	for _, l := range lines[:len(lines)-1] {
		var c diffChange
		if err := json.Unmarshal([]byte(l), &c); err != nil || c.MessageType != "change" {
			t.Fatalf("diff --json line %q: %v", l, err)
		}
		kinds[c.Path] = c.Kind
	}
	var sum diffSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.MessageType != "summary" ||
		sum.Added != 1 || sum.Removed != 1 || sum.Modified != 1 || sum.New != second {
		t.Errorf("diff --json summary %q: %v", lines[len(lines)-1], err)
	}
	if kinds[filepath.Join(src, "new.txt")] != "added" || kinds[filepath.Join(src, "gone.txt")] != "removed" ||
		kinds[filepath.Join(src, "changed.txt")] != "modified" {
		t.Errorf("diff --json kinds: %v", kinds)
	}
	fails(t, exitError, "snapshot not found", "diff", first, "abcdef12")

	// find: a file in both snapshots, one in the first only.
	pdf := filepath.Join(src, "sub", "kept.pdf")
	out = ok(t, "find", "*.pdf")
	if strings.Count(out, pdf+"\n") != 2 || !strings.Contains(out, first[:8]) || !strings.Contains(out, second[:8]) ||
		!strings.Contains(out, "16 B") || !strings.Contains(out, "2 match(es) in 2 of 2 snapshot(s)") {
		t.Errorf("find '*.pdf':\n%s", out)
	}
	out = ok(t, "find", filepath.Join(src, "gone.*"), "--json")
	var m findMatch
	if err := json.Unmarshal([]byte(out), &m); err != nil || m.SnapshotID != first || m.Size != 13 || m.Type != "file" || m.MTime.IsZero() {
		t.Errorf("find --json: %+v, %v\n%s", m, err, out)
	}
	if out := ok(t, "find", "*.pdf", "--host", "elsewhere"); !strings.Contains(out, "0 match(es) in 0 of 0 snapshot(s)") {
		t.Errorf("find --host elsewhere:\n%s", out)
	}
	fails(t, exitError, "pattern", "find", "[")
}
