package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRepairIndex loses every index object, repairs, and restores: the
// dry run changes nothing, the repair writes one object, and the restored
// tree equals the source.
func TestRepairIndex(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	t.Setenv("CAIRN_CACHE_DIR", filepath.Join(home, "cache"))
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q")
	ok(t, "backup", "-q", src)
	indexDir := filepath.Join(repoDir, "index")
	old, err := os.ReadDir(indexDir)
	if err != nil || len(old) == 0 {
		t.Fatalf("index objects: %v %v", old, err)
	}
	for _, e := range old {
		if err := os.Remove(filepath.Join(indexDir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.RemoveAll(filepath.Join(home, "cache")); err != nil {
		t.Fatal(err)
	}

	out := ok(t, "repair", "index", "--dry-run")
	if !strings.Contains(out, "Dry run:") {
		t.Errorf("dry run summary:\n%s", out)
	}
	if left, _ := os.ReadDir(indexDir); len(left) != 0 {
		t.Fatalf("dry run wrote %d index objects", len(left))
	}

	lines := strings.Split(strings.TrimSpace(ok(t, "repair", "index", "--json")), "\n")
	var sum repairSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.MessageType != "summary" || sum.Blobs == 0 || sum.Written == "" {
		t.Fatalf("repair --json: %q %v", lines[len(lines)-1], err)
	}
	if left, _ := os.ReadDir(indexDir); len(left) != 1 || "index/"+left[0].Name() != sum.Written {
		t.Fatalf("index objects after repair: %v, summary says %s", left, sum.Written)
	}
	target := filepath.Join(home, "out")
	ok(t, "restore", "latest", "--target", target, "-q")
	sameTree(t, src, filepath.Join(target, src))
}
