package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/storage/local"
)

// A run of this host killed with its lease live is listed by unlock, and
// released by unlock --dead; a run whose process exists is not.
func TestUnlockDead(t *testing.T) {
	home := isolate(t)
	repoDir := filepath.Join(home, "repo")
	t.Setenv("CAIRN_REPOSITORY", repoDir)
	t.Setenv("CAIRN_PASSWORD", "pw")
	ok(t, "init", "-q")

	// A process that has exited: its PID no longer exists.
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatalf("run true: %v", err)
	}
	deadPID := gone.Process.Pid
	if processExists(deadPID) {
		t.Fatalf("pid %d of an exited process still exists", deadPID)
	}
	if !processExists(os.Getpid()) {
		t.Fatal("this process does not exist")
	}

	store, err := local.New(repoDir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	r, err := repo.Open(ctx, store, []byte("pw"), repo.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	host, user := identity()
	for i, pid := range []int{deadPID, os.Getpid()} {
		body, _ := json.Marshal(repo.LeaseRecord{Run: strings.Repeat(string(rune('a'+i)), 32), Host: host, Username: user,
			PID: pid, Operation: "backup", Started: time.Now().UTC()})
		if _, err := r.SaveObject(ctx, repo.KindLease, body); err != nil {
			t.Fatal(err)
		}
	}

	if out := ok(t, "unlock"); !strings.Contains(out, "no lock") || strings.Count(out, "live: ") != 2 {
		t.Errorf("unlock:\n%s", out)
	}
	out := ok(t, "unlock", "--dead")
	if !strings.Contains(out, "released backup run aaaaaaaa") || strings.Contains(out, "bbbbbbbb") {
		t.Errorf("unlock --dead:\n%s", out)
	}
	if out := ok(t, "unlock"); strings.Count(out, "live: ") != 1 || !strings.Contains(out, "bbbbbbbb") {
		t.Errorf("unlock after --dead:\n%s", out)
	}
	if out := ok(t, "unlock", "--dead"); !strings.Contains(out, "no run of this host") {
		t.Errorf("second unlock --dead:\n%s", out)
	}
}
