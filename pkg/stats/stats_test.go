package stats

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/prune"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/snapshot"
	"github.com/cairn-backup/cairn/pkg/storage/local"
)

// sealed is the stored size of an incompressible blob of n bytes: the
// compression byte, nonce and tag added.
func sealed(n int) uint64 { return uint64(n + 1 + 40) }

// constructed makes two snapshots. b first: shared.bin (3 blobs of 1500
// bytes), b1 (1 blob) and b2 (b1's content again). Then a: shared.bin
// again and a1 (2 blobs), whose blobs and trees land in packs of their
// own, since a's backup stores nothing else.
func constructed(t *testing.T) (f *repotest.Fixture, a, b crypto.ID) {
	f = repotest.NewFixture(t)
	shared := repotest.Content(9, 3*repotest.ChunkSize)
	b1 := repotest.Content(2, repotest.ChunkSize)
	b = f.Backup(f.Repo, repotest.T0, map[string][]byte{"/x/shared": shared, "/x/b1": b1, "/x/b2": b1})
	a = f.Backup(f.Repo, repotest.T0.Add(time.Hour), map[string][]byte{"/x/shared": shared, "/x/a1": repotest.Content(1, 2*repotest.ChunkSize)})
	return f, a, b
}

func compute(t *testing.T, r *repo.Repository, refs ...crypto.ID) (*Result, []snapshot.Entry) {
	t.Helper()
	ctx := context.Background()
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	all, err := snapshot.List(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	var sel []int
	for _, id := range refs {
		for i, e := range all {
			if e.ID == id {
				sel = append(sel, i)
			}
		}
	}
	res, err := Compute(ctx, r, all, sel)
	if err != nil {
		t.Fatal(err)
	}
	return res, all
}

// treeBytes is the plaintext and stored size of the tree blobs of
// snapshot id (root and /x, its only directories).
func treeBytes(t *testing.T, r *repo.Repository, id crypto.ID) (plain, stored uint64) {
	t.Helper()
	ctx := context.Background()
	e, err := snapshot.Find(ctx, r, id.String(), snapshot.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	x, err := snapshot.FindPath(ctx, r, e.Snapshot.Tree, "/x")
	if err != nil {
		t.Fatal(err)
	}
	for _, tid := range append(append([]crypto.ID{}, e.Snapshot.Tree...), x.Subtree...) {
		data, err := r.LoadBlob(ctx, pack.TreeBlob, tid)
		if err != nil {
			t.Fatal(err)
		}
		ie, _ := r.Index().Lookup(tid)
		plain += uint64(len(data))
		stored += uint64(ie.Length)
	}
	return plain, stored
}

func TestStatsOfAConstructedRepository(t *testing.T) {
	f, a, b := constructed(t)
	r := f.Open()
	res, all := compute(t, r)
	aTree, aTreeStored := treeBytes(t, r, a)
	bTree, bTreeStored := treeBytes(t, r, b)
	const c = repotest.ChunkSize

	packs := 0
	if err := r.ListPacks(context.Background(), func(crypto.ID, int64) error { packs++; return nil }); err != nil {
		t.Fatal(err)
	}
	want := Totals{
		Snapshots:   2,
		Files:       5,                           // a: 2, b: 3
		RestoreSize: (3*c + 2*c) + (3*c + c + c), // each file counted in each snapshot
		Blobs:       6 + 4,                       // shared 3, b1 1, a1 2; two trees each
		DataBlobs:   6,
		TreeBlobs:   4,
		UniqueSize:  6*c + aTree + bTree,
		StoredSize:  6*sealed(c) + aTreeStored + bTreeStored,
		Packs:       packs, // every pack holds a referenced blob
	}
	if res.Totals != want {
		t.Errorf("totals\n got %+v\nwant %+v", res.Totals, want)
	}
	if all[0].ID != b || all[1].ID != a {
		t.Fatal("snapshots out of order")
	}
	sb, sa := res.Snapshots[0], res.Snapshots[1]
	if sa.Files != 2 || sa.RestoreSize != 5*c || sb.Files != 3 || sb.RestoreSize != 5*c {
		t.Errorf("per snapshot files and sizes: a %+v, b %+v", sa, sb)
	}
	if sa.OnlyBlobs != 2+2 || sa.OnlySize != 2*c+aTree || sa.OnlyStored != 2*sealed(c)+aTreeStored {
		t.Errorf("a holds alone %d blobs, %d bytes, %d stored; want 4, %d, %d", sa.OnlyBlobs, sa.OnlySize, sa.OnlyStored, 2*c+aTree, 2*sealed(c)+aTreeStored)
	}
	if sb.OnlyBlobs != 1+2 || sb.OnlySize != c+bTree {
		t.Errorf("b holds alone %d blobs, %d bytes; want 3, %d", sb.OnlyBlobs, sb.OnlySize, c+bTree)
	}
	if sa.Freed <= sa.OnlyStored {
		t.Errorf("a frees %d, no more than its blobs' %d: its packs' headers are missing", sa.Freed, sa.OnlyStored)
	}

	// Forget a and prune: exactly what stats said is freed.
	ctx := context.Background()
	if err := prune.Forget(ctx, r, []crypto.ID{a}); err != nil {
		t.Fatal(err)
	}
	var freed int64
	for range 2 {
		st, err := prune.Prune(ctx, f.Open(), prune.Options{})
		if err != nil {
			t.Fatal(err)
		}
		freed += st.BytesFreed
	}
	if uint64(freed) != sa.Freed {
		t.Errorf("prune freed %d bytes after forgetting a; stats said %d", freed, sa.Freed)
	}
	r = f.Open()
	after, _ := compute(t, r)
	if after.Blobs != want.Blobs-sa.OnlyBlobs || after.StoredSize != want.StoredSize-sa.OnlyStored {
		t.Errorf("after forgetting a: %+v", after.Totals)
	}
	f.Verify(r, b)
}

// Selecting one snapshot counts what it references, and still judges
// uniqueness against every snapshot.
func TestStatsOfOneSnapshot(t *testing.T) {
	f, _, b := constructed(t)
	r := f.Open()
	res, _ := compute(t, r, b)
	bTree, _ := treeBytes(t, r, b)
	const c = repotest.ChunkSize
	if res.Totals.Snapshots != 1 || res.Files != 3 || res.Blobs != 4+2 || res.DataBlobs != 4 || res.UniqueSize != 4*c+bTree {
		t.Errorf("stats of b: %+v", res.Totals)
	}
	if len(res.Snapshots) != 1 || res.Snapshots[0].ID != b || res.Snapshots[0].OnlyBlobs != 3 {
		t.Errorf("per snapshot: %+v", res.Snapshots)
	}
}

// Without recorded lengths (format 1.0) the blobs are measured.
func TestStatsMeasuresBlobsWithoutRecordedLengths(t *testing.T) {
	ctx := context.Background()
	r := openFixtureV10(t)
	res, all := compute(t, r)
	var want uint64
	seen := map[crypto.ID]bool{}
	for _, e := range all {
		err := snapshot.Walk(ctx, r, e.Snapshot.Tree, func(_ []byte, n *snapshot.Node) error {
			for _, b := range n.Content {
				if !seen[b] {
					seen[b] = true
					data, err := r.LoadBlob(ctx, pack.DataBlob, b)
					if err != nil {
						return err
					}
					want += uint64(len(data))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	dataBlobs := len(seen)
	var treesPlain uint64
	if err := r.Index().Each(func(e index.Entry) error {
		if e.PlainLen != 0 {
			t.Fatalf("the 1.0 fixture records a length for %s", e.ID.Short())
		}
		if e.Type == pack.TreeBlob && !seen[e.ID] {
			seen[e.ID] = true
			data, err := r.LoadBlob(ctx, pack.TreeBlob, e.ID)
			if err != nil {
				return err
			}
			treesPlain += uint64(len(data))
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if res.DataBlobs != dataBlobs || res.UniqueSize != want+treesPlain {
		t.Errorf("1.0 repository: %d data blobs, %d bytes; want %d, %d", res.DataBlobs, res.UniqueSize, dataBlobs, want+treesPlain)
	}
}

// openFixtureV10 opens a copy of the restorer's repository written before
// format 1.1.
func openFixtureV10(t *testing.T) *repo.Repository {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "repo")
	if err := os.CopyFS(dir, os.DirFS("../restorer/testdata/fixture-v1.0/repo")); err != nil {
		t.Fatal(err)
	}
	store, err := local.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := repo.Open(context.Background(), store, []byte("fixture"), repo.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
