package e2e

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestProgressInATerminal runs a backup in a real terminal (a tmux pane
// 100 columns wide) and reads the screen while it runs: the status line
// shows files and bytes done of the scanned totals with a percentage, fits
// the width, and is gone when the summary is printed.
func TestProgressInATerminal(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("SKIPPED LOUDLY: tmux is not installed; the terminal progress line was not tested")
	}
	bin := cairnBin(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	// Enough random (incompressible) data that the backup takes a few
	// status intervals (200 ms) on any machine.
	rng := rand.NewChaCha8([32]byte{7})
	buf := make([]byte, 1<<20)
	for i := range 3 {
		if err := os.MkdirAll(src, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(src, "big-"+string(rune('a'+i))))
		if err != nil {
			t.Fatal(err)
		}
		for range 200 {
			_, _ = rng.Read(buf)
			if _, err := f.Write(buf); err != nil {
				t.Fatal(err)
			}
		}
		f.Close()
	}
	c := newClient(t, bin, filepath.Join(dir, "repo"), "pass")
	c.ok("init")

	session := "cairn-progress-" + strings.ReplaceAll(filepath.Base(dir), "/", "")
	args := []string{"new-session", "-d", "-s", session, "-x", "100", "-y", "20"}
	for k, v := range c.env {
		args = append(args, "-e", k+"="+v)
	}
	args = append(args, bin+" backup "+src+"; echo EXIT=$?; sleep 600")
	if out, err := exec.Command(tmux, args...).CombinedOutput(); err != nil {
		t.Fatalf("tmux: %v\n%s", err, out)
	}
	defer exec.Command(tmux, "kill-session", "-t", session).Run()

	var status, final string
	deadline := time.Now().Add(3 * time.Minute)
	for time.Now().Before(deadline) && final == "" {
		out, err := exec.Command(tmux, "capture-pane", "-p", "-t", session).Output()
		if err != nil {
			t.Fatalf("capture-pane: %v", err)
		}
		screen := string(out)
		for _, l := range strings.Split(screen, "\n") {
			if strings.Contains(l, "/3 files") && strings.Contains(l, "%)") {
				status = l
			}
		}
		if strings.Contains(screen, "EXIT=") {
			final = screen
		}
		time.Sleep(50 * time.Millisecond)
	}
	if final == "" {
		t.Fatal("the backup did not finish in 3 minutes")
	}
	if !strings.Contains(final, "EXIT=0") || !strings.Contains(final, "Snapshot ") {
		t.Fatalf("backup failed:\n%s", final)
	}
	if status == "" {
		t.Fatalf("no status line with done/total files and a percentage was ever on screen; last screen:\n%s", final)
	}
	t.Logf("status line seen: %q", status)
	if !strings.Contains(status, "MiB/600.0 MiB") || len([]rune(strings.TrimRight(status, " "))) > 100 {
		t.Errorf("status line %q: want bytes done of 600.0 MiB, within 100 columns", status)
	}
	if strings.Contains(final, "/3 files") {
		t.Errorf("the status line was left on screen after the summary:\n%s", final)
	}
}
