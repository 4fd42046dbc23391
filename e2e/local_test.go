package e2e

import (
	"bytes"
	"context"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLocalKilledBackups kills backups with SIGKILL at random moments
// (several seeds); each time the next backup must complete and restore
// exactly, and check must pass.
func TestLocalKilledBackups(t *testing.T) {
	bin := cairnBin(t)
	c := newClient(t, bin, filepath.Join(t.TempDir(), "repo"), "pw")
	c.ok("init")
	src := t.TempDir()
	makeTree(t, src, 20, 120)
	for seed := uint64(1); seed <= 4; seed++ {
		makeTree(t, filepath.Join(src, "seed", string(rune('a'+seed))), 100+seed, 30)
		r := rand.New(rand.NewPCG(seed, 1))
		delay := time.Duration(50+r.IntN(1500)) * time.Millisecond
		cmd := c.command(context.Background(), "backup", src)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		t.Logf("seed %d: killed after %v", seed, delay)
		c.ok("backup", src)
		c.ok("check")
		target := t.TempDir()
		c.ok("restore", "latest", "--target", target)
		compareTrees(t, src, filepath.Join(target, src))
	}
}

// TestLocalInterruptedBackupLeavesNoSnapshot: SIGINT stops a backup cleanly
// with exit 130 and no partial snapshot.
func TestLocalInterruptedBackupLeavesNoSnapshot(t *testing.T) {
	bin := cairnBin(t)
	c := newClient(t, bin, filepath.Join(t.TempDir(), "repo"), "pw")
	c.ok("init")
	src := t.TempDir()
	big := make([]byte, 256<<20)
	rand.NewChaCha8([32]byte{3}).Read(big)
	if err := os.WriteFile(filepath.Join(src, "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := c.command(context.Background(), "backup", src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code == 0 {
		t.Skip("backup finished before the interrupt arrived; machine too fast for this test")
	}
	if code != 130 {
		t.Fatalf("interrupted backup: exit %d, want 130\n%s", code, stderr.String())
	}
	if got := len(snapshotsJSON(t, c)); got != 0 {
		t.Fatalf("interrupted backup left %d snapshots", got)
	}
	c.ok("backup", src)
	c.ok("check")
}

// TestLocalMarkerNeverStoredInClear backs up a file whose name and content
// carry a marker and checks that the marker appears nowhere in the
// repository's bytes.
func TestLocalMarkerNeverStoredInClear(t *testing.T) {
	bin := cairnBin(t)
	repo := filepath.Join(t.TempDir(), "repo")
	c := newClient(t, bin, repo, "pw")
	c.ok("init")
	src := t.TempDir()
	const marker = "CAIRN-CLEARTEXT-MARKER-7f3a"
	if err := os.WriteFile(filepath.Join(src, marker+".txt"), bytes.Repeat([]byte(marker+"\n"), 5000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(marker, filepath.Join(src, "link")); err != nil {
		t.Fatal(err)
	}
	c.ok("backup", "--tag", "t1", src)
	err := filepath.WalkDir(repo, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(marker)) || strings.Contains(p, marker) {
			t.Errorf("marker found in clear in %s", p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLocalUnreadableFile: an unreadable file gives exit 3 (snapshot made,
// some files not read), names the file, and the rest restores exactly.
// Runs cairn as an unprivileged user when the test runs as root, since root
// reads everything.
func TestLocalUnreadableFile(t *testing.T) {
	bin := cairnBin(t)
	base, err := os.MkdirTemp("", "cairn-e2e-unreadable")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o777); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, bin, filepath.Join(base, "repo"), "pw")
	home := filepath.Join(base, "home")
	c = c.with("HOME", home).with("XDG_CACHE_HOME", filepath.Join(home, ".cache")).with("XDG_CONFIG_HOME", filepath.Join(home, ".config"))
	src := filepath.Join(base, "src")
	makeTree(t, src, 30, 10)
	secret := filepath.Join(src, "a", "secret")
	if err := os.WriteFile(secret, []byte("no"), 0o000); err != nil {
		t.Fatal(err)
	}
	run := c.run
	if os.Geteuid() == 0 {
		for _, d := range []string{src, home} {
			_ = os.MkdirAll(d, 0o755)
			_ = filepath.Walk(d, func(p string, fi os.FileInfo, err error) error {
				if err == nil && p != secret {
					_ = os.Lchown(p, 65534, 65534)
				}
				return nil
			})
		}
		run = func(args ...string) result {
			t.Helper()
			cmd := c.command(context.Background(), args...)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			r := result{stdout: out.String(), stderr: errb.String()}
			if ee, ok := err.(*exec.ExitError); ok {
				r.code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			return r
		}
	}
	if r := run("init"); r.code != 0 {
		t.Fatalf("init: %d %s", r.code, r.stderr)
	}
	r := run("backup", src)
	if r.code != 3 || !strings.Contains(r.stderr, "secret") {
		t.Fatalf("backup with an unreadable file: exit %d, want 3 naming the file\n%s", r.code, r.stderr)
	}
	// The snapshot lacks the secret file; take it out of the source too,
	// keeping its directory's mtime, so the trees can be compared.
	dirInfo, err := os.Stat(filepath.Dir(secret))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(secret); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Dir(secret), dirInfo.ModTime(), dirInfo.ModTime()); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(base, "restore")
	if r := run("restore", "latest", "--target", target); r.code != 0 {
		t.Fatalf("restore: %d %s", r.code, r.stderr)
	}
	// compareTrees checks content, modes and times, not ownership: an
	// unprivileged restore owns what it writes.
	compareTrees(t, src, filepath.Join(target, src))
}
