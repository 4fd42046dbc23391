package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// A job with copy-to ends with its snapshot in both repositories (the
// copy restores the same files), and running it again copies only the new
// snapshot. A job with stdin-command stores the command's output, and a
// failing command fails the job without a snapshot.
func TestRunCopyToAndStdinCommand(t *testing.T) {
	home := isolate(t)
	src := filepath.Join(home, "Documents")
	makeSmallTree(t, src)
	mainDir, usbDir := filepath.Join(home, "main"), filepath.Join(home, "usb")
	cfg := writeFile(t, home, "cairn.yaml", fmt.Sprintf(`repositories:
  main:
    url: %s
    password-command: echo main-pass
  usb:
    url: %s
    password-command: echo usb-pass
jobs:
  nightly:
    repository: main
    paths: [~/Documents]
    copy-to: [usb]
  dump:
    repository: main
    stdin-command: "printf 'dump line %%s\n' 1 2 3"
    stdin-filename: db.sql
  broken:
    repository: main
    stdin-command: "echo partial; exit 7"
`, mainDir, usbDir))
	ok(t, "--config", cfg, "--repo", "main", "init")
	ok(t, "--config", cfg, "--repo", "usb", "init")
	out := ok(t, "--config", cfg, "run", "nightly")
	if !strings.Contains(out, "copied to usb") {
		t.Fatalf("run nightly did not report the copy:\n%s", out)
	}
	listing := ok(t, "--config", cfg, "--repo", "usb", "ls", "latest")
	if !strings.Contains(listing, src) {
		t.Fatalf("usb's latest snapshot lacks %s:\n%s", src, listing)
	}
	target := filepath.Join(home, "from-usb")
	ok(t, "--config", cfg, "--repo", "usb", "restore", "latest", "--target", target)
	sameTree(t, src, filepath.Join(target, src))
	ok(t, "--config", cfg, "run", "nightly")
	snaps := ok(t, "--config", cfg, "--repo", "usb", "snapshots")
	if !strings.Contains(snaps, "2 snapshot(s)") {
		t.Errorf("usb after two runs:\n%s", snaps)
	}

	ok(t, "--config", cfg, "run", "dump")
	if got := ok(t, "--config", cfg, "--repo", "main", "dump", "latest", "/db.sql"); got != "dump line 1\ndump line 2\ndump line 3\n" {
		t.Errorf("dumped stdin-command output %q", got)
	}
	before := ok(t, "--config", cfg, "--repo", "main", "snapshots")
	r := cairn(t, "--config", cfg, "run", "broken")
	if r.code == 0 || !strings.Contains(r.stderr+r.stdout, "7") {
		t.Errorf("a failing stdin-command: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if after := ok(t, "--config", cfg, "--repo", "main", "snapshots"); after != before {
		t.Errorf("a failing stdin-command saved a snapshot:\n%s", after)
	}
}
