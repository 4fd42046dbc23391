package main

import (
	"encoding/json"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// restoredFiles lists the non-directories below root, relative to it.
func restoredFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

func TestRestoreIncludeExcludePatterns(t *testing.T) {
	home, src := dumpTestRepo(t)
	rel := strings.TrimPrefix(src, "/")
	for _, tc := range []struct {
		name string
		args []string
		want []string // below src
	}{
		{"include pattern", []string{"--include", "*.txt"}, []string{"docs/hello.txt"}},
		{"iinclude", []string{"--iinclude", "*.TXT"}, []string{"docs/hello.txt"}},
		{"include is case sensitive", []string{"--include", "*.TXT"}, nil},
		{"include two", []string{"--include", "*.txt", "--include", "**/deep"}, []string{"docs/deep/random.bin", "docs/hello.txt"}},
		{"exclude", []string{"--exclude", "*.tmp", "--exclude", "node_modules", "--exclude", "docs"}, []string{"link"}},
		{"iexclude", []string{"--iexclude", "*.TMP", "--iexclude", "Node_Modules", "--iexclude", "DOCS"}, []string{"link"}},
		{"include and exclude", []string{"--include", src + "/docs", "--exclude", "deep"}, []string{"docs/empty", "docs/hello.txt", "docs/hello2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := filepath.Join(t.TempDir(), "r")
			var want []string
			for _, w := range tc.want {
				want = append(want, filepath.Join(rel, w))
			}
			// The dry run says what the restore then does, in the same counts.
			dry := restoreJSON(t, append([]string{"restore", "latest", "--target", target, "--dry-run"}, tc.args...))
			sum := restoreJSON(t, append([]string{"restore", "latest", "--target", target}, tc.args...))
			if got := restoredFiles(t, target); !slices.Equal(got, want) {
				t.Errorf("restored %q, want %q", got, want)
			}
			if sum.Files != uint64(len(want)) || dry.Files != sum.Files || dry.Dirs != sum.Dirs || dry.Bytes != sum.Bytes || dry.Special != sum.Special {
				t.Errorf("restore counted %+v, dry run %+v; want %d files in both", sum, dry, len(want))
			}
		})
	}
	fails(t, exitError, "--delete works with --include paths only", "restore", "latest", "--target", filepath.Join(home, "d"), "--include", "*.txt", "--delete", "--yes")
	fails(t, exitError, "restore --include", "restore", "latest", "--target", filepath.Join(home, "d"), "--include", "/a/../b")
	// A plain path keeps its exact meaning: it must exist.
	fails(t, exitError, "not found", "restore", "latest", "--target", filepath.Join(home, "d"), "--include", src+"/missing")
}

// restoreJSON runs a restore with --json and returns its summary.
func restoreJSON(t *testing.T, args []string) restoreSummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(ok(t, append(args, "--json")...)), "\n")
	var sum restoreSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.MessageType != "summary" {
		t.Fatalf("%q: last line %q: %v", args, lines[len(lines)-1], err)
	}
	return sum
}
