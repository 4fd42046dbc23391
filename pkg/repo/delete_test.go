package repo

import (
	"context"
	"errors"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// saveOne stores one data blob with a new Saver and returns its pack.
func saveOne(t *testing.T, r *Repository, data []byte) (crypto.ID, bool) {
	t.Helper()
	ctx := context.Background()
	s := r.NewSaver(ctx, SaverOptions{})
	id, err := s.SaveBlob(ctx, pack.DataBlob, data)
	if err != nil {
		t.Fatal(err)
	}
	stats, err := s.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := r.Index().Lookup(id)
	return e.Pack, stats.BlobsNew == 1
}

func TestDeletePackAndListObjectInfos(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	pk, _ := saveOne(t, r, []byte("some content"))

	infos, err := r.ListObjectInfos(ctx, KindIndex)
	if err != nil || len(infos) != 1 || infos[0].ModTime.IsZero() || infos[0].Size == 0 {
		t.Fatalf("index infos %+v, %v", infos, err)
	}
	if _, err := r.ListObjectInfos(ctx, "nonsense"); err == nil {
		t.Error("an unknown kind was listed")
	}

	ro := openTestRepo(t, createonly.New(store), OpenOptions{})
	if err := ro.DeletePack(ctx, pk); !errors.Is(err, storage.ErrPermission) {
		t.Errorf("delete with create-only access: %v", err)
	}
	if err := r.DeletePack(ctx, pk); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Stat(ctx, PackName(pk)); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("pack still there: %v", err)
	}
	if err := r.DeletePack(ctx, pk); err != nil {
		t.Errorf("deleting a missing pack: %v", err)
	}
}

func TestSetAsideStoresAgain(t *testing.T) {
	_, r := newTestRepo(t, testInitOptions())
	data := []byte("stored twice")
	first, _ := saveOne(t, r, data)
	if _, added := saveOne(t, r, data); added {
		t.Fatal("a stored blob was stored again")
	}
	r.SetAside([]crypto.ID{first})
	second, added := saveOne(t, r, data)
	if !added || second == first {
		t.Errorf("after SetAside the blob was not stored again (added %v, pack %s)", added, second.Short())
	}
}

func TestLoadIndexObject(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	saveOne(t, r, []byte("indexed"))
	ids, err := r.ListObjects(ctx, KindIndex)
	if err != nil || len(ids) != 1 {
		t.Fatal(ids, err)
	}
	r2 := openTestRepo(t, store, OpenOptions{})
	if err := r2.LoadIndexObject(ctx, ids[0]); err != nil || r2.Index().Len() != 1 {
		t.Fatalf("load: %v, %d entries", err, r2.Index().Len())
	}
	if err := r2.LoadIndexObject(ctx, ids[0]); err != nil || r2.Index().Len() != 1 {
		t.Errorf("second load: %v, %d entries", err, r2.Index().Len())
	}
	if err := r2.LoadIndexObject(ctx, crypto.Hash([]byte("gone"))); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("missing index object: %v", err)
	}
}
