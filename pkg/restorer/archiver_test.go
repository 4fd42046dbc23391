package restorer

import (
	"context"
	"testing"

	"github.com/cairn-backup/cairn/pkg/archiver"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// TestRestoreArchiverSnapshot restores what the real archiver wrote, with
// one path and with two, and checks the restore drill agrees.
func TestRestoreArchiverSnapshot(t *testing.T) {
	src := buildSource(t, t.TempDir())
	store := newCountingStore(mem.New())
	testRepo(t, store, smallChunks(), 256<<10)
	ctx := context.Background()

	for _, paths := range [][]string{
		{src.root},
		{src.root + "/nested", src.root + "/" + sparseName},
	} {
		r := openRepo(t, store)
		res, err := archiver.Run(ctx, r, archiver.Options{Paths: paths, Host: "test"})
		if err != nil {
			t.Fatal(err)
		}
		if res.Skipped > 0 {
			t.Fatalf("archiver skipped %d entries: %+v", res.Skipped, res.Snapshot.Skipped)
		}
		r = openRepo(t, store)
		target := t.TempDir()
		if _, err := Restore(ctx, r, res.Snapshot, Options{Target: target}); err != nil {
			t.Fatalf("restore %q: %v", paths, err)
		}
		for _, p := range paths {
			compareTrees(t, p, target+p)
		}
		if len(paths) == 1 {
			checkSpecials(t, target+src.root)
		}

		against := target // the snapshot root "/" when there are several paths
		if len(paths) == 1 {
			against = paths[0]
		}
		v, err := Verify(ctx, r, res.Snapshot, VerifyOptions{Against: against})
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Differences) > 0 {
			t.Errorf("verify %q against %s: %q", paths, against, v.Differences)
		}
	}
}
