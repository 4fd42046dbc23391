package prune

import (
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
)

// TestLiveBackupKeepsDedupedData is the race section 10 of FORMAT.md is
// about: a backup loads the index, a prune condemns packs the backup then
// deduplicates against, and the backup's snapshot is written after the
// prune ran. The packs must survive, and the late snapshot must restore.
func TestLiveBackupKeepsDedupedData(t *testing.T) {
	f := newFixture(t)
	revived := repotest.Content(1, 9000) // only in the snapshot about to be forgotten
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/x": revived, "/y": repotest.Content(2, 3000)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/y": repotest.Content(2, 3000)})

	// The backup starts: lease, then index.
	bk := f.Open()
	lease, err := bk.StartLease(f.Ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	if err := bk.LoadIndex(f.Ctx); err != nil {
		t.Fatal(err)
	}

	// Meanwhile the snapshot holding /x is forgotten and pruned.
	f.forget(s1)
	stats := mustPrune(t, f.Open(), Options{})
	if stats.Markers != 1 || stats.MarkersPending != 1 || stats.PacksDeleted != 0 {
		t.Fatalf("prune did not wait for the live backup: %+v", stats)
	}

	// The backup now stores /x, deduplicating against condemned packs
	// (it never saw the marker), and writes its snapshot.
	files := map[string][]byte{"/x": revived, "/z": repotest.Content(3, 2000)}
	tree := f.StoreFiles(bk, files)
	late := f.Commit(bk, repotest.T0.Add(2*time.Hour), files, tree)
	for _, id := range f.chunkIDs(revived) {
		if e, ok := bk.Index().Lookup(id); !ok || !f.packExists(e.Pack) {
			t.Fatalf("test setup: /x was not deduplicated against the old packs")
		}
	}
	// While the lease is live, more prunes still wait.
	if stats := mustPrune(t, f.Open(), Options{}); stats.PacksDeleted != 0 || stats.MarkersPending == 0 {
		t.Fatalf("prune deleted while the backup was live: %+v", stats)
	}
	if err := lease.Done(f.Ctx); err != nil {
		t.Fatal(err)
	}

	// Now the marker is swept; the packs /x needs are rescued.
	stats = mustPrune(t, f.Open(), Options{})
	if stats.PacksRescued == 0 || stats.MarkersSwept == 0 || stats.MarkersPending != 0 {
		t.Errorf("stats after the backup finished: %+v", stats)
	}
	f.verifyAll()
	f.checkOK()
	if _, ok := f.Files[late]; !ok {
		t.Fatal("late snapshot not expected")
	}
	// And nothing is pending any more.
	stats = mustPrune(t, f.Open(), Options{})
	if stats.MarkersPending != 0 || len(f.markers()) != 0 {
		t.Errorf("markers remain: %+v", stats)
	}
	f.verifyAll()
	f.checkOK()
}

func (f *fixture) packExists(pk crypto.ID) bool {
	_, err := f.Store.Stat(f.Ctx, repo.PackName(pk))
	return err == nil
}

// TestBackupThatSawTheMarkerDoesNotBlock checks the other half: a backup
// that started after the marker lists it in its lease, stores the data
// again instead of deduplicating, and does not hold up the sweep.
func TestBackupThatSawTheMarkerDoesNotBlock(t *testing.T) {
	f := newFixture(t)
	revived := repotest.Content(1, 9000)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/x": revived})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/y": repotest.Content(2, 3000)})
	f.forget(s1)

	// A marker that waits: an old, still-live backup holds it up.
	old := f.Open()
	oldLease, err := old.StartLease(f.Ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	if stats := mustPrune(t, f.Open(), Options{}); stats.MarkersPending != 1 {
		t.Fatalf("stats %+v", stats)
	}

	// A new backup sees the marker and stores /x afresh.
	bk := f.Open()
	lease, err := bk.StartLease(f.Ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	if len(lease.SeenDeletions()) != 1 {
		t.Fatalf("new backup saw %d markers", len(lease.SeenDeletions()))
	}
	if err := bk.LoadIndex(f.Ctx); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"/x": revived}
	tree := f.StoreFiles(bk, files)

	if err := oldLease.Done(f.Ctx); err != nil {
		t.Fatal(err)
	}
	// The new backup is still running, but it saw the marker.
	stats := mustPrune(t, f.Open(), Options{})
	if stats.MarkersSwept != 1 || stats.PacksDeleted == 0 || stats.PacksRescued != 0 {
		t.Errorf("sweep blocked or rescued by a backup that saw the marker: %+v", stats)
	}
	f.Commit(bk, repotest.T0.Add(2*time.Hour), files, tree)
	if err := lease.Done(f.Ctx); err != nil {
		t.Fatal(err)
	}
	f.verifyAll()
	f.checkOK()
	// That prune also condemned the new backup's packs, unreferenced
	// until its snapshot; now that it exists they are rescued.
	if stats := mustPrune(t, f.Open(), Options{}); stats.PacksRescued == 0 || len(f.markers()) != 0 {
		t.Errorf("in-flight packs not rescued: %+v", stats)
	}
	f.verifyAll()
	f.checkOK()
}

// TestExpiredLeaseDoesNotBlock checks that a run whose lease is older than
// the lease lifetime (a crashed backup) does not hold up prune forever.
func TestExpiredLeaseDoesNotBlock(t *testing.T) {
	f := newFixture(t)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/x": repotest.Content(1, 6000)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/y": repotest.Content(2, 3000)})
	f.forget(s1)
	crashed := f.Open()
	if _, err := crashed.StartLease(f.Ctx, "backup"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond)
	stats := mustPrune(t, f.Open(), Options{LeaseTTL: 10 * time.Millisecond})
	if stats.MarkersSwept != 1 || stats.PacksDeleted == 0 || stats.LeasesRemoved == 0 {
		t.Errorf("expired lease blocked prune: %+v", stats)
	}
	f.assertGone(repotest.Content(1, 6000))
	f.verifyAll()
}
