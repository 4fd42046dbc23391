package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

// runs saves one blob per Saver run and returns the blobs' IDs.
func runs(t *testing.T, r *Repository, n int) ([]crypto.ID, [][]byte) {
	return runsFrom(t, r, 0, n)
}

func runsFrom(t *testing.T, r *Repository, first, n int) ([]crypto.ID, [][]byte) {
	t.Helper()
	ctx := context.Background()
	var ids []crypto.ID
	var blobs [][]byte
	for i := first; i < first+n; i++ {
		s := r.NewSaver(ctx, SaverOptions{})
		b := []byte(fmt.Sprintf("run %d", i))
		id, err := s.SaveBlob(ctx, pack.DataBlob, b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		ids, blobs = append(ids, id), append(blobs, b)
	}
	return ids, blobs
}

func checkBlobs(t *testing.T, r *Repository, ids []crypto.ID, blobs [][]byte) {
	t.Helper()
	for i, id := range ids {
		if got, err := r.LoadBlob(context.Background(), pack.DataBlob, id); err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d: %q %v", i, got, err)
		}
	}
}

func TestCompactIndex(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	ids, blobs := runs(t, r, MaxIndexObjects)
	if n := len(names(t, store, "index/")); n != MaxIndexObjects {
		t.Fatalf("%d index objects before the limit", n)
	}
	more, moreBlobs := runsFrom(t, r, MaxIndexObjects, 1)
	ids, blobs = append(ids, more...), append(blobs, moreBlobs...)
	if got := names(t, store, "index/"); len(got) != 1 {
		t.Fatalf("index objects after merging: %d", len(got))
	}
	r2 := openTestRepo(t, store, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.Index().Len() != len(ids) {
		t.Errorf("merged index has %d entries, want %d", r2.Index().Len(), len(ids))
	}
	checkBlobs(t, r2, ids, blobs)
}

func TestCompactIndexAppendOnly(t *testing.T) {
	ctx := context.Background()
	base, _ := newTestRepo(t, testInitOptions())
	fs := fault.New(base)
	fs.FailPrefix(fault.OpDelete, "", storage.ErrPermission)
	r := openTestRepo(t, fs, OpenOptions{})
	ids, blobs := runs(t, r, MaxIndexObjects+1)
	if n := len(names(t, base, "index/")); n != MaxIndexObjects+2 {
		t.Fatalf("%d index objects; want the %d superseded ones kept and the merged one", n, MaxIndexObjects+1)
	}
	r2 := openTestRepo(t, base, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r2.Index().Names()) != 1 || len(r2.Index().Superseded()) != MaxIndexObjects+1 {
		t.Errorf("in use %d, superseded %d", len(r2.Index().Names()), len(r2.Index().Superseded()))
	}
	checkBlobs(t, r2, ids, blobs)
	// Not merged again: one index in use.
	if merged, err := r2.CompactIndex(ctx, MaxIndexObjects); merged || err != nil {
		t.Errorf("CompactIndex: %v %v", merged, err)
	}
}

// vanishingStore reports objects under gone as missing on Get, as if
// deleted between listing and loading.
type vanishingStore struct {
	storage.Store
	gone string
}

func (v vanishingStore) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	if name == v.gone {
		return nil, fmt.Errorf("get %s: %w", name, storage.ErrNotFound)
	}
	return v.Store.Get(ctx, name, off, n)
}

func TestLoadIndexVanishedObject(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	ids, blobs := runs(t, r, 1)
	old := r.Index().Names()[0]

	// Missing and not superseded: an error naming it.
	r2 := openTestRepo(t, vanishingStore{store, ObjectName(KindIndex, old)}, OpenOptions{})
	err := r2.LoadIndex(ctx)
	if !errors.Is(err, storage.ErrNotFound) || !strings.Contains(err.Error(), old.String()) {
		t.Errorf("vanished index: %v", err)
	}

	// Missing but superseded by a merged index: fine.
	if _, err := r.saveIndex(ctx, index.Merge(r.Index().Views(), r.Index().Names(), nil)); err != nil {
		t.Fatal(err)
	}
	r3 := openTestRepo(t, vanishingStore{store, ObjectName(KindIndex, old)}, OpenOptions{})
	if err := r3.LoadIndex(ctx); err != nil {
		t.Fatalf("superseded index vanished: %v", err)
	}
	checkBlobs(t, r3, ids, blobs)
}

func TestLoadIndexTwice(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	ids, blobs := runs(t, r, 3)
	r2 := openTestRepo(t, newCountingStore(store), OpenOptions{})
	for range 2 {
		if err := r2.LoadIndex(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if n := r2.store.(*countingStore).count("index"); n != 3 {
		t.Errorf("%d index downloads for 3 objects loaded twice", n)
	}
	checkBlobs(t, r2, ids, blobs)
}
