package prune

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/repo/repotest"
)

// checkMonotonic checks that the reports of each stage count up from 0 to
// their totals, which do not change within the stage, and returns the
// last report of each stage.
func checkMonotonic(t *testing.T, seen []Progress) map[string]Progress {
	t.Helper()
	last := map[string]Progress{}
	for i, p := range seen {
		prev, ok := last[p.Stage]
		switch {
		case !ok || prev.Packs == prev.TotalPacks && p.Packs == 0:
			// the stage starts (again: a prune sweeps twice)
			if p.Packs != 0 || p.Bytes != 0 {
				t.Fatalf("report %d: stage %s starts at %+v", i, p.Stage, p)
			}
		case p.TotalPacks != prev.TotalPacks || p.TotalBytes != prev.TotalBytes:
			t.Fatalf("report %d: totals changed within %s: %+v after %+v", i, p.Stage, p, prev)
		case p.Packs != prev.Packs+1 || p.Bytes <= prev.Bytes:
			t.Fatalf("report %d: %s went from %+v to %+v", i, p.Stage, prev, p)
		}
		if p.Packs > p.TotalPacks || p.Bytes > p.TotalBytes {
			t.Fatalf("report %d: beyond the totals: %+v", i, p)
		}
		last[p.Stage] = p
	}
	return last
}

// TestProgressReachesTotals: a prune that repacks and deletes reports
// both stages, counting up to totals that agree with its Stats.
func TestProgressReachesTotals(t *testing.T) {
	f := newFixture(t)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 5000), "/b": repotest.Content(2, 9000)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 9000)})
	f.forget(s1)

	var seen []Progress
	stats := mustPrune(t, f.Open(), Options{RepackThreshold: 0.95, Progress: func(p Progress) { seen = append(seen, p) }})
	last := checkMonotonic(t, seen)
	rp, ok := last[StageRepack]
	if !ok || rp.Packs != rp.TotalPacks || rp.Packs != stats.PacksRepacked || rp.Bytes != stats.BytesRepacked {
		t.Errorf("repack ended at %+v (reported: %v); stats %+v", rp, ok, stats)
	}
	sw, ok := last[StageSweep]
	if !ok || sw.Packs != sw.TotalPacks || sw.Packs != stats.PacksDeleted+stats.PacksRescued || sw.Bytes != stats.BytesFreed {
		t.Errorf("sweep ended at %+v (reported: %v); stats %+v", sw, ok, stats)
	}
	f.verifyAll()
}

// TestInterruptedSweepLeavesAConsistentRepository: a prune cancelled in
// the middle of its deletions returns the context's error with what it
// did so far, the repository checks clean, and the next prune finishes.
func TestInterruptedSweepLeavesAConsistentRepository(t *testing.T) {
	f := newFixture(t)
	var olds []map[string][]byte
	for i := range 4 {
		files := map[string][]byte{"/old": repotest.Content(uint64(10+i), 9000)}
		olds = append(olds, files)
		f.forget(f.Backup(f.Repo, repotest.T0.Add(time.Duration(i)*time.Minute), files))
	}
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/kept": repotest.Content(2, 4500)})

	ctx, cancel := context.WithCancel(f.Ctx)
	defer cancel()
	var seen []Progress
	stats, err := Prune(ctx, f.Open(), Options{Connections: 1, Progress: func(p Progress) {
		seen = append(seen, p)
		if p.Stage == StageSweep && p.Packs == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted prune: %v, want context.Canceled", err)
	}
	last := checkMonotonic(t, seen)
	if sw := last[StageSweep]; sw.TotalPacks < 2 || sw.Packs != 1 {
		t.Fatalf("the test needs a sweep of several packs cut after the first: %+v", sw)
	}
	if stats == nil || stats.PacksDeleted != 1 {
		t.Fatalf("stats of the interrupted prune: %+v, want the one pack deleted", stats)
	}
	f.verifyAll()
	f.checkOK()
	again := mustPrune(t, f.Open(), Options{})
	if again.PacksDeleted == 0 || len(f.markers()) != 0 {
		t.Fatalf("the next prune did not finish the work: %+v, markers %v", again, f.markers())
	}
	for _, files := range olds {
		f.assertGone(files["/old"])
	}
	f.checkOK()
}
