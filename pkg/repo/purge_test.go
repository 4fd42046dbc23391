package repo

import (
	"bytes"
	"context"
	"testing"

	"github.com/cairn-backup/cairn/pkg/storage"
)

// TestPurgeDeletedPacks: on a versioned bucket, the old versions of a pack
// that was deleted and that no index references are purged; a pack hidden
// while the index still references it (an append-only client's doing)
// keeps its versions, which repair needs.
func TestPurgeDeletedPacks(t *testing.T) {
	ctx := context.Background()
	vr := newVersionedRepo(t)
	r := openTestRepo(t, vr.store, OpenOptions{})
	if !r.Versioned(ctx) {
		t.Fatal("a versioned mem store is not reported as versioned")
	}
	// A second, unreferenced pack: stored, its index object then dropped.
	_, otherPack, otherIndex := saveOneBlob(t, r, bytes.Repeat([]byte("no longer needed "), 50))
	if err := vr.store.Delete(ctx, otherIndex); err != nil {
		t.Fatal(err)
	}
	if err := vr.store.Delete(ctx, PackName(otherPack)); err != nil {
		t.Fatal(err)
	}
	// The referenced pack, hidden behind a delete marker.
	vr.store.Hide(vr.pack)

	r2 := openTestRepo(t, vr.store, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	st, err := r2.PurgeDeletedPacks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Versions == 0 || st.Locked != 0 {
		t.Fatalf("purge: %+v", st)
	}
	count := func(name string) int {
		n := 0
		_ = vr.store.ListVersions(ctx, name, func(storage.VersionInfo) error { n++; return nil })
		return n
	}
	if n := count(PackName(otherPack)); n != 0 {
		t.Errorf("the deleted, unreferenced pack keeps %d versions", n)
	}
	if n := count(vr.pack); n < 2 {
		t.Errorf("the hidden pack the index references has %d versions left; its genuine one must stay", n)
	}
}
