package e2e

import (
	"bytes"
	"context"
	"errors"
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

// TestLocalInterruptedRestoreResumes sends SIGINT (or, for some seeds,
// SIGKILL) to cairn restore after a random short delay: no file may be
// under its final name with content other than the snapshot's, after
// SIGINT no temporary file may remain and the message must be restore's
// own, and running the same command again must finish the restore exactly
// and leave no temporary file.
func TestLocalInterruptedRestoreResumes(t *testing.T) {
	bin := cairnBin(t)
	c := newClient(t, bin, filepath.Join(t.TempDir(), "repo"), "pw")
	c.ok("init")
	src := t.TempDir()
	makeTree(t, src, 7, 120)
	big := make([]byte, 96<<20)
	rand.NewChaCha8([32]byte{9}).Read(big)
	if err := os.WriteFile(filepath.Join(src, "a", "big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	c.ok("backup", src)

	interrupted := 0
	for seed := range uint64(6) {
		sig := syscall.SIGINT
		if seed%3 == 2 {
			sig = syscall.SIGKILL
		}
		rng := rand.New(rand.NewPCG(seed, 1))
		target := t.TempDir()
		args := []string{"restore", "latest", "--target", target}
		cmd := c.command(context.Background(), args...)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+rng.IntN(400)) * time.Millisecond)
		_ = cmd.Process.Signal(sig)
		err := cmd.Wait()
		diedOfSignal := sig == syscall.SIGKILL
		var ee *exec.ExitError
		switch {
		case err == nil:
		case sig == syscall.SIGKILL && errors.As(err, &ee):
			interrupted++
		case errors.As(err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled():
			// The signal came before the process had installed its
			// handler (a loaded machine starts it slowly): it died as
			// from SIGKILL, and the same checks apply.
			interrupted++
			diedOfSignal = true
		case errors.As(err, &ee) && ee.ExitCode() == 130:
			interrupted++
			msg := stderr.String()
			if !strings.Contains(msg, "restore interrupted") || !strings.Contains(msg, "Run the same command again") || strings.Contains(msg, "backup") {
				t.Errorf("seed %d: interrupt message is not restore's own:\n%s", seed, msg)
			}
		default:
			t.Fatalf("seed %d: interrupted restore: %v\n%s", seed, err, stderr.String())
		}
		checkNoWrongFiles(t, src, filepath.Join(target, src), diedOfSignal)

		c.ok(args...)
		compareTrees(t, src, filepath.Join(target, src))
		noTemp(t, target)
	}
	if interrupted == 0 {
		t.Fatalf("every restore finished before the signal arrived: make the tree of this test larger")
	}
}

// checkNoWrongFiles fails if a regular file below got is a restore's
// temporary file (unless tempOK), or has content other than its
// counterpart below want.
func checkNoWrongFiles(t *testing.T, want, got string, tempOK bool) {
	t.Helper()
	if _, err := os.Lstat(got); errors.Is(err, fs.ErrNotExist) {
		return // interrupted before anything below got was created
	}
	err := filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrPermission) {
			return nil // a directory whose mode was not restored yet
		}
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".cairn-restore-") {
			if !tempOK {
				t.Errorf("temporary file left: %s", p)
			}
			return nil
		}
		rel, _ := filepath.Rel(got, p)
		a, err := os.ReadFile(filepath.Join(want, rel))
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s is under its final name with the wrong content (%d bytes, want %d)", p, len(b), len(a))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// noTemp fails if a restore's temporary file is anywhere below dir.
func noTemp(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".cairn-restore-") {
			t.Errorf("temporary file left after the rerun: %s", p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
