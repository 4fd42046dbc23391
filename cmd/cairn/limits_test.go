package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/storage/ratelimit"
)

func isolateLimits(t *testing.T) string {
	t.Helper()
	home := isolate(t)
	for _, k := range []string{"CAIRN_LIMIT_UPLOAD", "CAIRN_LIMIT_DOWNLOAD"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	return home
}

// TestLimitSettings: --limit-upload and --limit-download come from flags,
// environment or the config file, in KiB/s, and every store a command
// opens shares the same two limiters.
func TestLimitSettings(t *testing.T) {
	home := isolateLimits(t)
	cfg := filepath.Join(home, "c.yaml")
	if err := os.WriteFile(cfg, []byte("limit-upload: 300\nlimit-download: 700\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	repoDir := t.TempDir()
	t.Setenv("CAIRN_LIMIT_DOWNLOAD", "900")
	a, _, _ := testApp(t, "--config", cfg, "--repo", repoDir, "--limit-upload", "100")
	s, err := a.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.upload.Rate(); got != 100<<10 {
		t.Errorf("upload %d B/s, want the flag's 100 KiB/s", got)
	}
	if got := s.download.Rate(); got != 900<<10 {
		t.Errorf("download %d B/s, want the environment's 900 KiB/s", got)
	}
	again, err := a.resolveFor("")
	if err != nil {
		t.Fatal(err)
	}
	if again.upload != s.upload || again.download != s.download {
		t.Error("a second repository of one command (copy's source and destination) got limiters of its own")
	}
	store, release, err := openStore(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, ok := store.(*ratelimit.Store); !ok {
		t.Errorf("openStore with limits returned %T, not the rate-limited store", store)
	}

	// From the config file alone.
	a, _, _ = testApp(t, "--config", cfg, "--repo", repoDir)
	os.Unsetenv("CAIRN_LIMIT_DOWNLOAD")
	if s, err = a.resolve(); err != nil {
		t.Fatal(err)
	}
	if s.upload.Rate() != 300<<10 || s.download.Rate() != 700<<10 {
		t.Errorf("config file limits: %d and %d B/s, want 300 and 700 KiB/s", s.upload.Rate(), s.download.Rate())
	}

	// No limit: the store is the backend's own.
	a, _, _ = testApp(t, "--repo", repoDir)
	if s, err = a.resolve(); err != nil {
		t.Fatal(err)
	}
	if s.upload != nil || s.download != nil {
		t.Error("limiters without a limit")
	}
	store, release, err = openStore(t.Context(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, ok := store.(*ratelimit.Store); ok {
		t.Error("openStore without limits wrapped the store")
	}
}

func TestLimitRefusesNegative(t *testing.T) {
	home := isolateLimits(t)
	fails(t, exitError, "limit-upload -5: give a rate in KiB/s", "--repo", t.TempDir(), "--limit-upload", "-5", "snapshots")
	cfg := filepath.Join(home, "c.yaml")
	if err := os.WriteFile(cfg, []byte("limit-download: -1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := cairn(t, "config", "check", cfg)
	if r.code != exitError || !strings.Contains(r.stderr, cfg+":1: limit-download: -1 must not be negative") {
		t.Errorf("config check of a negative limit: exit %d\n%s", r.code, r.stderr)
	}
	s := compileSchema(t)
	for _, text := range []string{"limit-download: -1\n", "limit-upload: fast\n"} {
		if err := schemaErr(t, s, text); err == nil {
			t.Errorf("the schema accepts %q", text)
		}
		if _, err := parseConfig([]byte(text), "broken.yaml"); err == nil {
			t.Errorf("the parser accepts %q", text)
		}
	}
	if err := schemaErr(t, s, "limit-upload: 512\nlimit-download: 0\n"); err != nil {
		t.Errorf("the schema refuses limits: %v", err)
	}
}

// TestThrottledCheckStopsOnInterrupt: check --read-data under
// --limit-download 64 (KiB/s) is still reading its 3 MiB when Ctrl-C comes
// a moment after the read-data stage began, and stops at once with
// check's own message. Without the limit the check would have finished.
func TestThrottledCheckStopsOnInterrupt(t *testing.T) {
	home := isolateLimits(t)
	t.Setenv("CAIRN_REPOSITORY", filepath.Join(home, "repo"))
	t.Setenv("CAIRN_PASSWORD", "pw")
	src := filepath.Join(home, "src")
	makeSmallTree(t, src)
	ok(t, "init", "-q", "--pack-size", "1M")
	ok(t, "backup", "-q", src)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	started := make(chan struct{})
	out := &cancelOn{want: func(s workStatus) bool { return s.Stage == "read data" }, cancel: func() { close(started) }}
	go func() {
		<-started
		time.Sleep(300 * time.Millisecond) // a moment into the read, not a measurement
		cancel()
	}()
	var errb bytes.Buffer
	code := execute(ctx, []string{"--json", "--limit-download", "64", "check", "--read-data"}, strings.NewReader(""), out, &errb)
	if code != exitInterrupted || !strings.Contains(errb.String(), "check interrupted while reading data") {
		t.Fatalf("throttled check, interrupted: exit %d\n%s", code, errb.String())
	}
	if strings.Contains(errb.String(), "3.0 MiB of 3.0 MiB") {
		t.Fatalf("the limit did not hold the read back:\n%s", errb.String())
	}
}
