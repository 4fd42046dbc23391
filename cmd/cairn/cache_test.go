package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCacheCommand: ls latest gives the same listing with a cold cache, a
// warm one and none; cairn cache shows the cached tree packs; --cleanup
// removes only caches unused for --max-age, clean --all every one, and the
// next command rebuilds what it needs.
func TestCacheCommand(t *testing.T) {
	home := isolate(t)
	t.Setenv("CAIRN_CACHE_MAX_SIZE", "")
	os.Unsetenv("CAIRN_CACHE_MAX_SIZE")
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pass")
	src := filepath.Join(home, "src")
	for i := range 20 {
		dir := filepath.Join(src, fmt.Sprintf("d%02d", i), "sub")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(fmt.Sprint("file ", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ok(t, "init")
	ok(t, "backup", "--no-cache", src)
	cacheBase := filepath.Join(home, ".cache", "cairn")

	noCache := ok(t, "ls", "latest", "--no-cache")
	if !strings.Contains(noCache, "/d19/sub/f.txt") {
		t.Fatalf("ls latest --no-cache:\n%s", noCache)
	}
	if _, err := os.Stat(cacheBase); err == nil {
		t.Fatal("--no-cache created a cache")
	}
	if cold := ok(t, "ls", "latest"); cold != noCache {
		t.Errorf("ls with a cold cache differs from --no-cache:\n%s", cold)
	}
	if warm := ok(t, "ls", "latest"); warm != noCache {
		t.Errorf("ls with a warm cache differs from --no-cache:\n%s", warm)
	}
	packs, _ := filepath.Glob(filepath.Join(cacheBase, "*", "packs", "*"))
	if len(packs) == 0 {
		t.Fatal("no tree pack cached by ls")
	}

	out := ok(t, "cache")
	if !strings.Contains(out, cacheBase) || !strings.Contains(out, fmt.Sprintf("%d files", len(packs))) {
		t.Errorf("cairn cache:\n%s", out)
	}
	fails(t, exitError, "--cleanup", "cache", "--all")
	fails(t, exitError, "cache-max-size", "ls", "latest", "--cache-max-size", "1k")

	ok(t, "cache", "--cleanup")
	if after, _ := filepath.Glob(filepath.Join(cacheBase, "*", "packs", "*")); len(after) != len(packs) {
		t.Errorf("--cleanup removed a cache used just now")
	}
	// A cache unused for 40 days goes.
	dirs, _ := filepath.Glob(filepath.Join(cacheBase, "*"))
	old := time.Now().Add(-40 * 24 * time.Hour)
	for _, d := range dirs {
		os.Chtimes(d, old, old)
	}
	if out := ok(t, "cache", "--cleanup"); !strings.Contains(out, "1 of 1") {
		t.Errorf("cache --cleanup of a 40-day-old cache:\n%s", out)
	}
	if after, _ := filepath.Glob(filepath.Join(cacheBase, "*")); len(after) != 0 {
		t.Errorf("old cache not removed: %v", after)
	}

	if again := ok(t, "ls", "latest", "--cache-max-size", "2MiB"); again != noCache {
		t.Errorf("ls after cleanup differs:\n%s", again)
	}
	ok(t, "cache", "clean", "--all")
	if out := ok(t, "cache"); !strings.Contains(out, "no repository caches") {
		t.Errorf("cache after clean --all:\n%s", out)
	}
}
