package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// packFiles lists the pack files of a local repository.
func packFiles(t *testing.T, repoDir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(filepath.Join(repoDir, "data"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestRunChecksBeforePrune: cairn run checks the repository before it
// prunes, and does not prune when the check fails.
func TestRunChecksBeforePrune(t *testing.T) {
	home := isolate(t)
	src := filepath.Join(home, "Documents")
	makeSmallTree(t, src)
	repoDir := filepath.Join(home, "repo")
	cfg := writeFile(t, home, "cairn.yaml", fmt.Sprintf(`repositories:
  local:
    url: %s
    password-command: echo job-pass
jobs:
  pruned:
    repository: local
    paths: [~/Documents]
    prune: true
`, repoDir))
	ok(t, "--config", cfg, "--repo", "local", "init")
	out := ok(t, "--config", cfg, "run", "pruned")
	if c, p := strings.Index(out, "check   ok: before prune"), strings.Index(out, "prune   ok"); c < 0 || p < c {
		t.Fatalf("no check before prune:\n%s", out)
	}

	// A pack goes missing: the check before prune fails, and prune, which
	// would decide from a repository whose index and packs disagree, does
	// not run.
	packs := packFiles(t, repoDir)
	if err := os.Remove(packs[0]); err != nil {
		t.Fatal(err)
	}
	before := packFiles(t, repoDir)
	r := cairn(t, "--config", cfg, "run", "pruned")
	if r.code != exitError || !strings.Contains(r.stdout, "prune   skipped") || !strings.Contains(r.stderr, "prune was not run") {
		t.Fatalf("run on a damaged repository: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	after := packFiles(t, repoDir)
	for _, p := range before {
		if !slices.Contains(after, p) {
			t.Errorf("pack %s was deleted although the check failed", filepath.Base(p))
		}
	}
}
