package prune

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage"
)

// renewDuringLoad is a store through which a prune lists leases/ and then,
// when it reads the lease of a watched run, finds that the run has renewed
// it in between: before that read, renew writes the run's next lease and
// deletes the listed one, as the run's refresher or its commit does.
type renewDuringLoad struct {
	storage.Store
	lease string // object name of the watched lease
	renew func(ctx context.Context)
	once  sync.Once
}

func (s *renewDuringLoad) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	if name == s.lease && s.markerExists(ctx) {
		s.once.Do(func() { s.renew(ctx) })
	}
	return s.Store.Get(ctx, name, off, n)
}

func (s *renewDuringLoad) markerExists(ctx context.Context) bool {
	found := false
	_ = s.Store.List(ctx, path.Dir(repo.ObjectName(repo.KindDeletion, crypto.ID{}))+"/", func(storage.ObjectInfo) error {
		found = true
		return nil
	})
	return found
}

// TestLeaseRenewedWhileListedStillBlocks is the race behind an e2e failure
// (TestS3BackupsDuringPrune, 1 run in 25 under load): a sweep lists
// leases/, a live backup renews its lease at commit (writes the new one,
// deletes the one listed), and the sweep's read of the listed lease finds
// nothing. The sweep took that to mean "replaced by a newer lease it
// listed", so the run looked absent, its marker did not wait, and the
// backup's new packs, condemned as unreferenced, were deleted under the
// snapshot it then wrote. The sweep must list again and find the run.
func TestLeaseRenewedWhileListedStillBlocks(t *testing.T) {
	f := newFixture(t)
	bk, ws, tree, files := f.liveBackup(t)
	// A first prune condemns the backup's packs (nothing references them
	// yet) and waits for the backup.
	if stats := mustPrune(t, f.Open(), Options{}); stats.Markers != 1 || stats.MarkersPending != 1 {
		t.Fatalf("first prune: %+v", stats)
	}
	leaseName, leaseID := f.currentLease(t, ws.Run())

	// The second prune reads the listed lease just after the backup
	// renewed it.
	store := &renewDuringLoad{Store: f.Store, lease: leaseName, renew: func(ctx context.Context) {
		rec, err := f.Repo.LoadLease(ctx, leaseID)
		if err != nil {
			t.Error(err)
			return
		}
		body, err := json.Marshal(rec)
		if err == nil {
			_, err = f.Repo.SaveObject(ctx, repo.KindLease, body)
		}
		if err == nil {
			err = f.Repo.DeleteObject(ctx, repo.KindLease, leaseID)
		}
		if err != nil {
			t.Error(err)
		}
	}}
	stats := mustPrune(t, f.on(store).Repo, Options{})
	if stats.PacksDeleted != 0 {
		t.Errorf("the sweep deleted %d packs while the backup that needs them was live: %+v", stats.PacksDeleted, stats)
	}
	snapID, err := ws.Commit(f.Ctx, tree, func(ctx context.Context) (crypto.ID, error) {
		return snapshot.Save(ctx, bk, &snapshot.Snapshot{Time: repotest.T0.Add(time.Hour), Host: "test", Paths: []string{"/"}, Tree: tree})
	})
	if err != nil {
		t.Fatalf("the backup's commit failed: %v", err)
	}
	f.Files[snapID] = files
	f.verifyAll()
	f.checkOK()
}

// currentLease returns the object name and ID of run's only lease.
func (f *fixture) currentLease(t *testing.T, run string) (string, crypto.ID) {
	t.Helper()
	ids, err := f.Repo.ListObjects(f.Ctx, repo.KindLease)
	if err != nil {
		t.Fatal(err)
	}
	var found []crypto.ID
	for _, id := range ids {
		rec, err := f.Repo.LoadLease(f.Ctx, id)
		if err == nil && rec.Run == run {
			found = append(found, id)
		}
	}
	if len(found) != 1 {
		t.Fatalf("run %s has %d leases", run, len(found))
	}
	return repo.ObjectName(repo.KindLease, found[0]), found[0]
}

// hidingLease lists a lease but answers every read of it with "not found",
// as a server that hides it would.
type hidingLease struct {
	storage.Store
	lease string
}

func (s hidingLease) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	if name == s.lease {
		return nil, fmt.Errorf("hidden: %w", storage.ErrNotFound)
	}
	return s.Store.Get(ctx, name, off, n)
}

// TestHiddenLeaseStillBlocks: a lease that stays listed but can never be
// read is not taken for a replaced one for ever; after listing again a few
// times the sweep counts it as a young unreadable lease, which blocks the
// marker, so the live backup's packs survive.
func TestHiddenLeaseStillBlocks(t *testing.T) {
	f := newFixture(t)
	bk, ws, tree, files := f.liveBackup(t)
	leaseName, _ := f.currentLease(t, ws.Run())
	stats := mustPrune(t, f.on(hidingLease{Store: f.Store, lease: leaseName}).Repo, Options{})
	if stats.PacksDeleted != 0 || stats.MarkersPending == 0 {
		t.Fatalf("a hidden lease let the sweep go on: %+v", stats)
	}
	snapID, err := ws.Commit(f.Ctx, tree, func(ctx context.Context) (crypto.ID, error) {
		return snapshot.Save(ctx, bk, &snapshot.Snapshot{Time: repotest.T0.Add(time.Hour), Host: "test", Paths: []string{"/"}, Tree: tree})
	})
	if err != nil {
		t.Fatal(err)
	}
	f.Files[snapID] = files
	f.verifyAll()
	f.checkOK()
}

// liveBackup makes a first snapshot, then starts a second backup (through
// its own handle bk) that has stored its files and uploaded at least two
// packs but not committed: the run a sweep must wait for.
func (f *fixture) liveBackup(t *testing.T) (bk *repo.Repository, ws *repo.WriteSession, tree []crypto.ID, files map[string][]byte) {
	t.Helper()
	f.Backup(f.Repo, repotest.T0, map[string][]byte{"/old": repotest.Content(1, 5000)})
	before := len(f.packIDs())
	bk = f.Open()
	ws, err := bk.BeginWrite(f.Ctx, "backup", repo.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files = map[string][]byte{"/new": repotest.Content(2, 9000)}
	tree = f.StoreFilesWith(ws.Saver(), files)
	// Its full packs upload in the background; the last ones wait for
	// Commit's flush.
	for len(f.packIDs()) < before+2 {
		time.Sleep(time.Millisecond)
	}
	return bk, ws, tree, files
}
