package copy

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/cairn-backup/cairn/pkg/repo"
	"github.com/cairn-backup/cairn/pkg/repo/repotest"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// cancelAfter cancels a context once n packs have been read from it.
type cancelAfter struct {
	storage.Store
	n      atomic.Int32
	cancel context.CancelFunc
}

func (s *cancelAfter) Get(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if strings.HasPrefix(name, "data/") && s.n.Add(-1) == 0 {
		s.cancel()
	}
	return s.Store.Get(ctx, name, off, length)
}

// A copy interrupted while reading the source's packs (Ctrl-C) leaves no
// snapshot for the one it was copying; the next run copies everything
// and the copies restore exactly.
func TestCopyInterruptedLeavesNoSnapshotAndResumes(t *testing.T) {
	for _, same := range []bool{true, false} {
		t.Run(map[bool]string{true: "blobs", false: "rechunk"}[same], func(t *testing.T) {
			f := repotest.NewFixture(t)
			a, b := backupTwo(f)
			d := newDest(t, f.Repo, same)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			store := &cancelAfter{Store: f.Store, cancel: cancel}
			store.n.Store(3)
			src, err := repo.Open(ctx, store, []byte(repotest.Passphrase), repo.OpenOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			res, err := Copy(ctx, src, d.repo, Options{Connections: 1})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("interrupted copy: %v, want context.Canceled", err)
			}
			if res == nil || len(res.Copied) != 0 {
				t.Fatalf("interrupted copy reports %+v", res)
			}
			if n := len(snapshots(t, d.open())); n != 0 {
				t.Fatalf("interrupted copy left %d snapshots", n)
			}
			res, err = Copy(context.Background(), f.Open(), d.open(), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Copied) != 2 {
				t.Fatalf("resumed copy: %+v", res)
			}
			dst := d.open()
			if err := dst.LoadIndex(context.Background()); err != nil {
				t.Fatal(err)
			}
			sameTrees(t, f, f.Repo, a, dst, res.Copied[0].Dest)
			sameTrees(t, f, f.Repo, b, dst, res.Copied[1].Dest)
		})
	}
}

// A destination reached with create-only (append-only) credentials takes
// copies: copy never deletes or replaces anything there.
func TestCopyIntoAnAppendOnlyDestination(t *testing.T) {
	ctx := context.Background()
	f := repotest.NewFixture(t)
	backupTwo(f)
	d := newDest(t, f.Repo, true)
	dst, err := repo.Open(ctx, createonly.New(d.store), []byte("other passphrase"), repo.OpenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer dst.Close()
	res, err := Copy(ctx, f.Open(), dst, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Copied) != 2 {
		t.Fatalf("append-only copy: %+v", res)
	}
	if res, err := Copy(ctx, f.Open(), dst, Options{}); err != nil || len(res.Skipped) != 2 {
		t.Fatalf("second append-only copy: %+v, %v", res, err)
	}
}
