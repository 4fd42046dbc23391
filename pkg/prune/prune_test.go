package prune

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/check"
	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

func mustPrune(t *testing.T, r Repo, opts Options) *Stats {
	t.Helper()
	opts.Log = func(msg string) { t.Log(msg) }
	stats, err := Prune(context.Background(), r, opts)
	if err != nil {
		t.Fatalf("prune: %v", err)
	}
	return stats
}

// forget forgets snapshots and stops expecting them.
func (f *fixture) forget(ids ...crypto.ID) {
	f.T.Helper()
	if err := Forget(f.Ctx, f.Repo, ids); err != nil {
		f.T.Fatal(err)
	}
	for _, id := range ids {
		delete(f.Files, id)
	}
}

// checkOK runs a full check (with read-data) with a fresh client.
func (f *fixture) checkOK() {
	f.T.Helper()
	rep, err := check.Check(f.Ctx, f.Open(), check.Options{ReadData: true})
	if err != nil {
		f.T.Fatal(err)
	}
	if !rep.OK() {
		f.T.Fatalf("check fails:\n%s", strings.Join(rep.Errors, "\n"))
	}
}

// verifyAll restores every snapshot the repository lists with a fresh
// client and checks that the list is exactly the expected one.
func (f *fixture) verifyAll() {
	f.T.Helper()
	r := f.Open()
	if err := r.LoadIndex(f.Ctx); err != nil {
		f.T.Fatal(err)
	}
	ids, err := r.ListObjects(f.Ctx, repo.KindSnapshot)
	if err != nil {
		f.T.Fatal(err)
	}
	if len(ids) != len(f.Files) {
		f.T.Fatalf("%d snapshots, want %d", len(ids), len(f.Files))
	}
	for _, id := range ids {
		f.Verify(r, id)
	}
}

// storedBlobs returns the IDs of the blobs physically in the packs, read
// from the pack headers.
func (f *fixture) storedBlobs() map[crypto.ID]bool {
	f.T.Helper()
	r := f.Open()
	out := make(map[crypto.ID]bool)
	err := r.ListPacks(f.Ctx, func(id crypto.ID, _ int64) error {
		entries, _, err := r.ReadPackHeader(f.Ctx, id)
		for _, e := range entries {
			out[e.ID] = true
		}
		return err
	})
	if err != nil {
		f.T.Fatal(err)
	}
	return out
}

// chunkIDs returns the blob IDs of content.
func (f *fixture) chunkIDs(data []byte) []crypto.ID {
	var out []crypto.ID
	for off := 0; off < len(data); off += repotest.ChunkSize {
		out = append(out, f.Repo.Keys().BlobID(data[off:min(off+repotest.ChunkSize, len(data))]))
	}
	return out
}

func (f *fixture) assertGone(data []byte) {
	f.T.Helper()
	stored := f.storedBlobs()
	for _, id := range f.chunkIDs(data) {
		if stored[id] {
			f.T.Errorf("blob %s of forgotten data is still stored", id.Short())
		}
	}
}

func (f *fixture) markers() []crypto.ID {
	f.T.Helper()
	ids, err := f.Open().ListObjects(f.Ctx, repo.KindDeletion)
	if err != nil {
		f.T.Fatal(err)
	}
	return ids
}

func TestPruneFreesForgottenData(t *testing.T) {
	f := newFixture(t)
	unique := repotest.Content(1, 9000)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/old/only": unique, "/shared": repotest.Content(2, 4500)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/shared": repotest.Content(2, 4500), "/new": repotest.Content(3, 3000)})
	f.forget(s1)

	stats := mustPrune(t, f.Open(), Options{})
	if stats.PacksDeleted == 0 || stats.BytesFreed == 0 || stats.Markers != 1 || stats.MarkersSwept != 1 || stats.MarkersPending != 0 {
		t.Errorf("stats %+v", stats)
	}
	f.assertGone(unique)
	f.verifyAll()
	f.checkOK()
	if m := f.markers(); len(m) != 0 {
		t.Errorf("markers left: %v", m)
	}
	if again := mustPrune(t, f.Open(), Options{}); again.PacksCondemned != 0 || again.PacksDeleted != 0 {
		t.Errorf("a second prune still finds work: %+v", again)
	}
}

func TestPruneRepacksMostlyUnusedPacks(t *testing.T) {
	f := newFixture(t)
	// Files are written in name order, so the packs are [a1 a2 a3]
	// [a4 b1 b2 b3] [b4 b5 b6] (a4 is short): once the snapshot with /a is
	// forgotten, the second pack is partly used.
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 5000), "/b": repotest.Content(2, 9000)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 9000)})
	f.forget(s1)

	stats := mustPrune(t, f.Open(), Options{RepackThreshold: 0.95})
	if stats.PacksRepacked == 0 || stats.BlobsRepacked == 0 {
		t.Errorf("nothing repacked: %+v", stats)
	}
	f.assertGone(repotest.Content(1, 5000))
	f.verifyAll()
	f.checkOK()

	// With repacking off, packs that still hold live blobs stay.
	g := newFixture(t)
	s1 = g.Backup(g.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 5000), "/b": repotest.Content(2, 9000)})
	g.Backup(g.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 9000)})
	g.forget(s1)
	stats = mustPrune(t, g.Open(), Options{RepackThreshold: -1})
	if stats.PacksRepacked != 0 {
		t.Errorf("repacked with repacking off: %+v", stats)
	}
	g.verifyAll()
	g.checkOK()
}

func TestMaxRepackBytes(t *testing.T) {
	f := newFixture(t)
	// Packs: [a1 a2 a3] [a4 b1 b2 b3] [b4 b5 b6] [c1 c2 c3] [c4 d1 d2 d3] …
	// (a4 and c4 are short). Once the snapshot with /a and /c is
	// forgotten, two packs hold 3 live chunks of 4; the budget allows
	// copying only one pack's worth.
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 5000), "/b": repotest.Content(2, 9000), "/c": repotest.Content(3, 5000), "/d": repotest.Content(4, 9000)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 9000), "/d": repotest.Content(4, 9000)})
	f.forget(s1)
	stats := mustPrune(t, f.Open(), Options{RepackThreshold: 0.95, MaxRepackBytes: 5000})
	if stats.PacksRepacked != 1 || stats.BytesRepacked > 5000 {
		t.Errorf("repack limit not applied: %+v", stats)
	}
	f.verifyAll()
	f.checkOK()
}

func TestDryRunChangesNothing(t *testing.T) {
	f := newFixture(t)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 6000)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 3000)})
	f.forget(s1)
	before := objectNames(t, f.Store)
	stats := mustPrune(t, f.Open(), Options{DryRun: true})
	if stats.PacksCondemned == 0 || stats.BytesCondemned == 0 || stats.PacksDeleted != 0 {
		t.Errorf("dry run stats %+v", stats)
	}
	if after := objectNames(t, f.Store); !slices.Equal(before, after) {
		t.Errorf("dry run changed the repository:\nbefore %v\nafter  %v", before, after)
	}
}

func TestGraceDefersDeletion(t *testing.T) {
	f := newFixture(t)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 6000)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 3000)})
	f.forget(s1)
	stats := mustPrune(t, f.Open(), Options{Grace: time.Hour})
	if stats.Markers != 1 || stats.PacksDeleted != 0 || stats.MarkersPending != 1 {
		t.Errorf("grace not respected: %+v", stats)
	}
	f.verifyAll()
	f.checkOK()
	stats = mustPrune(t, f.Open(), Options{})
	if stats.PacksDeleted == 0 || stats.MarkersSwept != 1 || stats.Markers != 0 {
		t.Errorf("marker not swept after grace: %+v", stats)
	}
	f.assertGone(repotest.Content(1, 6000))
	f.verifyAll()
}

func TestAppendOnlyCredentials(t *testing.T) {
	f := newFixture(t)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 6000)})
	f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 3000)})
	f.forget(s1)

	fs := fault.New(f.Store)
	fs.FailPrefix(fault.OpDelete, "", storage.ErrPermission)
	g := f.on(fs)
	_, err := Prune(f.Ctx, g.Open(), Options{})
	if !errors.Is(err, ErrNeedsDelete) || !errors.Is(err, storage.ErrPermission) || !strings.Contains(err.Error(), "prune needs credentials that may delete") {
		t.Fatalf("prune with append-only credentials: %v", err)
	}
	if err := Forget(f.Ctx, g.Open(), []crypto.ID{s1}); err == nil || !errors.Is(err, storage.ErrPermission) {
		t.Errorf("forget with append-only credentials: %v", err)
	}
	// The marker it wrote is finished by a prune with full credentials.
	mustPrune(t, f.Open(), Options{})
	f.assertGone(repotest.Content(1, 6000))
	f.verifyAll()
	f.checkOK()
}

func TestForget(t *testing.T) {
	f := newFixture(t)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 100)})
	s2 := f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/a": repotest.Content(1, 100)})
	f.forget(s1, s1) // twice: a missing snapshot is not an error
	ids, err := f.Repo.ListObjects(f.Ctx, repo.KindSnapshot)
	if err != nil || !slices.Equal(ids, []crypto.ID{s2}) {
		t.Fatalf("snapshots after forget: %v, %v", ids, err)
	}
}

func TestOrphanPacksAreRemoved(t *testing.T) {
	f := newFixture(t)
	f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 3000)})
	// A backup that crashed after uploading packs, before its index.
	indexes, _ := f.Repo.ListObjects(f.Ctx, repo.KindIndex)
	crashed := f.Open()
	f.StoreFiles(crashed, map[string][]byte{"/lost": repotest.Content(7, 6000)})
	after, _ := f.Repo.ListObjects(f.Ctx, repo.KindIndex)
	for _, id := range after {
		if !slices.Contains(indexes, id) {
			if err := f.Repo.DeleteObject(f.Ctx, repo.KindIndex, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	stats := mustPrune(t, f.Open(), Options{})
	if stats.PacksDeleted == 0 {
		t.Errorf("orphan packs not removed: %+v", stats)
	}
	f.assertGone(repotest.Content(7, 6000))
	f.verifyAll()
	f.checkOK()
}

func TestDamagedRepositoryStopsPrune(t *testing.T) {
	f := newFixture(t)
	s1 := f.Backup(f.Repo, repotest.T0, map[string][]byte{"/a": repotest.Content(1, 3000)})
	s2 := f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/b": repotest.Content(2, 3000)})
	f.forget(s1)
	victim := f.PacksOf(f.Repo, s2, "/b")[0]
	if err := f.Store.Delete(f.Ctx, repo.PackName(victim)); err != nil {
		t.Fatal(err)
	}
	before := len(objectNames(t, f.Store))
	_, err := Prune(f.Ctx, f.Open(), Options{})
	if err == nil || !strings.Contains(err.Error(), "cairn check") {
		t.Fatalf("prune on a damaged repository: %v", err)
	}
	// Nothing deleted; only our lease (a done one) may have been added.
	if after := len(objectNames(t, f.Store)); after > before+1 {
		t.Errorf("prune wrote %d objects on a damaged repository", after-before)
	}
}

func TestLeasesOfFinishedRunsAreRemoved(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		// Runs with append-only credentials leave their done leases.
		r := f.on(createonly.New(f.Store)).Repo
		l, err := r.StartLease(f.Ctx, "backup")
		if err != nil {
			t.Fatal(err)
		}
		f.Backup(r, repotest.T0.Add(time.Duration(i)*time.Hour), map[string][]byte{"/a": repotest.Content(uint64(i), 100)})
		if err := l.Done(f.Ctx); err != nil {
			t.Fatal(err)
		}
	}
	stats := mustPrune(t, f.Open(), Options{})
	if stats.LeasesRemoved != 6 { // each run's first and done lease
		t.Errorf("removed %d leases, want 6", stats.LeasesRemoved)
	}
	leases, _ := f.Repo.ListObjects(f.Ctx, repo.KindLease)
	if len(leases) != 0 { // the prune deleted its own too
		t.Errorf("%d leases left", len(leases))
	}
}
