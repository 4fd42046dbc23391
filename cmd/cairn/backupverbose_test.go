package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// backup -v lists new and changed files, -vv also unchanged and excluded
// entries; --json gives the same as verbose_status lines.
func TestBackupVerbose(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pass")
	src := filepath.Join(home, "src")
	for name, body := range map[string]string{"keep.txt": "k", "edit.txt": "e", "skip.tmp": "s"} {
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Files younger than the archiver's racy window (about a second) are
	// read again whatever their metadata says; let them age past it.
	time.Sleep(1100 * time.Millisecond)
	ok(t, "init")
	out := ok(t, "backup", "-v", src, "--exclude", "*.tmp")
	for _, want := range []string{"new       " + filepath.Join(src, "keep.txt"), "new       " + filepath.Join(src, "edit.txt")} {
		if !strings.Contains(out, want) {
			t.Errorf("backup -v lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "skip.tmp") {
		t.Errorf("backup -v lists an excluded file:\n%s", out)
	}
	if err := os.WriteFile(filepath.Join(src, "edit.txt"), []byte("edited"), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	out = ok(t, "backup", "-v", src, "--exclude", "*.tmp")
	if !strings.Contains(out, "changed   "+filepath.Join(src, "edit.txt")) || strings.Contains(out, "keep.txt") {
		t.Errorf("backup -v after an edit:\n%s", out)
	}
	out = ok(t, "backup", "-vv", src, "--exclude", "*.tmp")
	for _, want := range []string{"unchanged " + filepath.Join(src, "keep.txt"), "excluded  " + filepath.Join(src, "skip.tmp")} {
		if !strings.Contains(out, want) {
			t.Errorf("backup -vv lacks %q:\n%s", want, out)
		}
	}
	out = ok(t, "backup", "-vv", "--json", src, "--exclude", "*.tmp")
	if !strings.Contains(out, `{"message_type":"verbose_status","action":"unchanged","item":"`+filepath.Join(src, "keep.txt")+`","size":1}`) {
		t.Errorf("backup -vv --json:\n%s", out)
	}
}
