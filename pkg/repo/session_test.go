package repo_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/prune"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// fakeClock is a client clock a test moves forward, as a laptop that was
// suspended sees it on waking.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC()} }

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// client opens the fixture's repository through store (the fixture's own
// store when nil) with its index loaded.
func client(t *testing.T, f *repotest.Fixture, store storage.Store) *repo.Repository {
	t.Helper()
	if store == nil {
		store = f.Store
	}
	r, err := repo.Open(f.Ctx, store, []byte(repotest.Passphrase), repo.OpenOptions{Host: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	if err := r.LoadIndex(f.Ctx); err != nil {
		t.Fatal(err)
	}
	return r
}

// verifyAll restores every snapshot in the repository with a fresh client
// and compares each file with what was backed up.
func verifySnapshots(t *testing.T, f *repotest.Fixture) []crypto.ID {
	t.Helper()
	r := client(t, f, nil)
	ids, err := r.ListObjects(f.Ctx, repo.KindSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if _, ok := f.Files[id]; !ok {
			t.Errorf("snapshot %s was not written by this test", id.Short())
			continue
		}
		f.Verify(r, id)
	}
	return ids
}

func countObjects(t *testing.T, s storage.Store, prefix string) int {
	t.Helper()
	n := 0
	if err := s.List(context.Background(), prefix, func(storage.ObjectInfo) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	return n
}

// pausedBackup starts a backup that deduplicates against snapshot old's
// data and adds a file of its own, and then "sleeps" for an hour (its
// clock jumps) while another machine forgets old and prunes with a lease
// lifetime so short that the sleeping run looks dead, as a stopped process
// whose lease objects are old does. grace > 0 keeps the prune from
// sweeping, so the data is condemned but still there.
func pausedBackup(t *testing.T, appendOnly bool, grace time.Duration) (f *repotest.Fixture, commit func() (crypto.ID, error), keep crypto.ID, st *prune.Stats) {
	f = repotest.NewFixture(t)
	oldFiles := map[string][]byte{"/a/old": repotest.Content(1, 20000)}
	old := f.Backup(f.Repo, repotest.T0, oldFiles)
	keep = f.Backup(f.Repo, repotest.T0.Add(time.Minute), map[string][]byte{"/k/keep": repotest.Content(2, 9000)})

	var store storage.Store = f.Store
	if appendOnly {
		store = createonly.New(f.Store)
	}
	b := client(t, f, store)
	clock := newFakeClock()
	repo.SetLeaseTiming(b, clock.now, 0, 0)
	sess, err := b.BeginWrite(f.Ctx, "backup", repo.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"/a/old": oldFiles["/a/old"], "/b/new": repotest.Content(3, 15000)}
	tree := f.StoreFilesWith(sess.Saver(), files)

	clock.advance(time.Hour)
	if err := prune.Forget(f.Ctx, f.Open(), []crypto.ID{old}); err != nil {
		t.Fatal(err)
	}
	st, err = prune.Prune(f.Ctx, f.Open(), prune.Options{LeaseTTL: time.Nanosecond, Grace: grace, RepackThreshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st.PacksCondemned == 0 {
		t.Fatal("the prune condemned nothing: the test does not test anything")
	}
	commit = func() (crypto.ID, error) {
		return sess.Commit(f.Ctx, tree, func(ctx context.Context) (crypto.ID, error) {
			return f.Commit(b, repotest.T0.Add(2*time.Minute), files, tree), nil
		})
	}
	return f, commit, keep, st
}

// A backup paused past the lease lifetime, whose data a prune condemned
// but did not yet delete, stores that data again and commits; the sweep
// that follows deletes the condemned packs and every snapshot restores.
func TestPausedBackupStoresCondemnedDataAgain(t *testing.T) {
	for _, appendOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "append-only"}[appendOnly], func(t *testing.T) {
			f, commit, keep, _ := pausedBackup(t, appendOnly, time.Hour)
			id, err := commit()
			if err != nil {
				t.Fatalf("commit: %v", err)
			}
			st, err := prune.Prune(f.Ctx, f.Open(), prune.Options{LeaseTTL: time.Nanosecond, RepackThreshold: -1})
			if err != nil {
				t.Fatal(err)
			}
			if st.PacksDeleted == 0 {
				t.Fatal("the sweep deleted no pack: the test does not test anything")
			}
			ids := verifySnapshots(t, f)
			if len(ids) != 2 || !containsID(ids, id) || !containsID(ids, keep) {
				t.Errorf("snapshots %v, want the kept one and the new one", ids)
			}
		})
	}
}

// A backup paused past the lease lifetime whose data a prune swept fails
// with ErrLease and writes no snapshot.
func TestPausedBackupFailsWhenItsDataIsGone(t *testing.T) {
	for _, appendOnly := range []bool{false, true} {
		t.Run(map[bool]string{false: "full", true: "append-only"}[appendOnly], func(t *testing.T) {
			f, commit, keep, st := pausedBackup(t, appendOnly, 0)
			if st.PacksDeleted == 0 {
				t.Fatal("the prune deleted no pack: the test does not test anything")
			}
			_, err := commit()
			if !errors.Is(err, repo.ErrLease) || !strings.Contains(err.Error(), "run the backup again") {
				t.Fatalf("commit: %v, want ErrLease saying to run the backup again", err)
			}
			ids := verifySnapshots(t, f)
			if len(ids) != 1 || ids[0] != keep {
				t.Errorf("snapshots %v, want only the kept one", ids)
			}
			if live, _, err := client(t, f, nil).LeaseCounts(f.Ctx); err != nil || live != 0 {
				t.Errorf("live leases after the failed commit: %d %v", live, err)
			}
		})
	}
}

// A backup that is never paused ignores a marker its live lease protects:
// the prune's mark phase condemns this run's packs (no snapshot references
// them yet), its sweep waits, and the snapshot then rescues them.
func TestLiveBackupCommitsDespiteNewMarker(t *testing.T) {
	f := repotest.NewFixture(t)
	b := client(t, f, nil)
	sess, err := b.BeginWrite(f.Ctx, "backup", repo.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"/n/new": repotest.Content(4, 15000)}
	tree := f.StoreFilesWith(sess.Saver(), files)
	st, err := prune.Prune(f.Ctx, f.Open(), prune.Options{RepackThreshold: -1})
	if err != nil {
		t.Fatal(err)
	}
	if st.PacksCondemned == 0 || st.MarkersPending == 0 {
		t.Fatalf("prune %+v: expected it to condemn this run's packs and wait", st)
	}
	packs := countObjects(t, f.Store, "data/")
	id, err := sess.Commit(f.Ctx, tree, func(ctx context.Context) (crypto.ID, error) {
		return f.Commit(b, repotest.T0, files, tree), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Only the open packs were flushed: nothing was stored twice.
	if got := countObjects(t, f.Store, "data/"); got > packs+2 {
		t.Errorf("%d packs after commit, %d before: data stored again needlessly", got, packs)
	}
	if _, err := prune.Prune(f.Ctx, f.Open(), prune.Options{RepackThreshold: -1}); err != nil {
		t.Fatal(err)
	}
	if ids := verifySnapshots(t, f); len(ids) != 1 || ids[0] != id {
		t.Errorf("snapshots %v", ids)
	}
}

func containsID(ids []crypto.ID, id crypto.ID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
