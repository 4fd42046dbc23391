//go:build unix

package prune

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
)

// deadPID returns the PID of a process that has exited.
func deadPID(t *testing.T) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return cmd.Process.Pid
}

// TestKilledRunOnThisHostDoesNotBlock is issue 18's killed prune or backup:
// its lease never ends, and used to hold every marker until it expired. A
// run of this host whose process is gone no longer blocks, while one that
// lives, or one of another host, still does, and prune names it.
func TestKilledRunOnThisHostDoesNotBlock(t *testing.T) {
	dead := deadPID(t)
	for _, tc := range []struct {
		name        string
		host        string // Options.Host
		pid         int    // of the killed run's lease
		wantPending bool
	}{
		{"dead process on this host", "test", dead, false},
		{"live process on this host", "test", os.Getpid(), true},
		{"dead process on another host", "elsewhere", dead, true},
		{"host unknown", "", dead, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/x": repotest.Content(1, 6000)})
			f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/y": repotest.Content(2, 3000)})
			f.forget(s1)
			// What a prune or backup killed with -9 leaves: a lease
			// without "done", written before the marker the next prune
			// writes, by the fixture's host "test".
			started := time.Date(2026, 12, 1, 22, 0, 0, 0, time.UTC)
			body, err := json.Marshal(repo.LeaseRecord{Run: strings.Repeat("ab", 16), Host: "test", PID: tc.pid, Operation: "backup", Started: started})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.Repo.SaveObject(f.Ctx, repo.KindLease, body); err != nil {
				t.Fatal(err)
			}
			var log []string
			stats, err := Prune(f.Ctx, f.Open(), Options{Host: tc.host, Log: func(m string) { log = append(log, m) }})
			if err != nil {
				t.Fatal(err)
			}
			if pending := stats.MarkersPending > 0; pending != tc.wantPending {
				t.Fatalf("pending %v, want %v: %+v\n%s", pending, tc.wantPending, stats, strings.Join(log, "\n"))
			}
			if !tc.wantPending {
				if stats.PacksDeleted == 0 || stats.LeasesRemoved == 0 {
					t.Errorf("the dead run's data or lease stayed: %+v", stats)
				}
				f.assertGone(repotest.Content(1, 6000))
			} else {
				want := fmt.Sprintf("on host test (pid %d, started 2026-12-01T22:00:00Z", tc.pid)
				if !strings.Contains(strings.Join(log, "\n"), want) {
					t.Errorf("prune does not say which run it waits for (%q):\n%s", want, strings.Join(log, "\n"))
				}
			}
			f.verifyAll()
		})
	}
}

func TestProcessAlive(t *testing.T) {
	if !processAlive(os.Getpid()) {
		t.Error("this process counts as dead")
	}
	if pid := deadPID(t); processAlive(pid) {
		t.Errorf("exited process %d counts as alive", pid)
	}
}
