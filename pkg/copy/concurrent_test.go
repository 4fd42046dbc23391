package copy

import (
	"context"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/prune"
	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/snapshot"
)

// A backup into the destination and one into the source are both under
// way (their write sessions open, blobs stored, not committed) for the
// whole copy: every snapshot of the three runs restores, before and after
// a prune of the destination.
func TestCopyWithConcurrentBackupsIntoBothRepositories(t *testing.T) {
	for _, same := range []bool{true, false} {
		t.Run(map[bool]string{true: "blobs", false: "rechunk"}[same], func(t *testing.T) {
			ctx := context.Background()
			f := repotest.NewFixture(t)
			a, b := backupTwo(f)
			d := newDest(t, f.Repo, same)

			// The destination's backup shares shared.bin with the copy.
			dstFiles := files(20)
			dstBackup := beginBackup(t, d.open(), f, dstFiles)
			srcFiles := files(30)
			srcBackup := beginBackup(t, f.Open(), f, srcFiles)

			res, err := Copy(ctx, f.Open(), d.open(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Copied) != 2 {
				t.Fatalf("copied %d snapshots, want 2", len(res.Copied))
			}
			dstID := dstBackup.commit(t)
			srcID := srcBackup.commit(t)
			f.Files[dstID], f.Files[srcID] = dstFiles, srcFiles

			check := func(when string) {
				dst := d.open()
				if err := dst.LoadIndex(ctx); err != nil {
					t.Fatal(err)
				}
				if n := len(snapshots(t, dst)); n != 3 {
					t.Fatalf("%s: destination has %d snapshots, want 3", when, n)
				}
				sameTrees(t, f, f.Repo, a, dst, res.Copied[0].Dest)
				sameTrees(t, f, f.Repo, b, dst, res.Copied[1].Dest)
				f.Verify(dst, dstID)
			}
			check("after the copy")
			for range 2 { // mark, then sweep
				if _, err := prune.Prune(ctx, d.open(), prune.Options{RepackThreshold: 1}); err != nil {
					t.Fatal(err)
				}
			}
			check("after prune")
			src := f.Open()
			if err := src.LoadIndex(ctx); err != nil {
				t.Fatal(err)
			}
			f.Verify(src, srcID)
			// The source's new snapshot is copied by the next run alone.
			res, err = Copy(ctx, src, d.open(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Copied) != 1 || res.Copied[0].Source != srcID {
				t.Fatalf("next copy: %+v; want only %s", res, srcID.Short())
			}
		})
	}
}

// backup is a backup's write session, its blobs stored, not committed.
type backup struct {
	r    *repo.Repository
	sess *repo.WriteSession
	tree []crypto.ID
}

func beginBackup(t *testing.T, r *repo.Repository, f *repotest.Fixture, files map[string][]byte) *backup {
	t.Helper()
	sess, err := r.BeginWrite(context.Background(), "backup", repo.WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &backup{r: r, sess: sess, tree: f.StoreFilesWith(sess.Saver(), files)}
}

func (b *backup) commit(t *testing.T) crypto.ID {
	t.Helper()
	id, err := b.sess.Commit(context.Background(), b.tree, func(ctx context.Context) (crypto.ID, error) {
		return snapshot.Save(ctx, b.r, &snapshot.Snapshot{Time: repotest.T0.Add(2 * time.Hour), Host: "test", Paths: []string{"/"}, Tree: b.tree})
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}
