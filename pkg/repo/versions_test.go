package repo

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/mem"
)

// versionedRepo is a repository on a versioned in-memory store with one
// backup: a data blob in a pack, its index object and a snapshot.
type versionedRepo struct {
	store    *mem.Versioned
	blob     []byte
	blobID   crypto.ID
	pack     string
	packID   crypto.ID
	index    string
	snapshot string
	key      string
}

func newVersionedRepo(t *testing.T) *versionedRepo {
	t.Helper()
	ctx := context.Background()
	store := mem.NewVersioned()
	r, err := Init(ctx, store, testPass, testInitOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	vr := &versionedRepo{store: store, blob: bytes.Repeat([]byte("precious bytes "), 100)}
	vr.blobID, vr.packID, vr.index = saveOneBlob(t, r, vr.blob)
	vr.pack = PackName(vr.packID)
	snap, err := r.SaveObject(ctx, KindSnapshot, []byte(`{"version":1}`))
	if err != nil {
		t.Fatal(err)
	}
	vr.snapshot = ObjectName(KindSnapshot, snap)
	vr.key = names(t, store, "keys/")[0]
	return vr
}

// saveOneBlob stores data in a pack of its own and returns the blob, the
// pack and the name of the index object that covers it.
func saveOneBlob(t *testing.T, r *Repository, data []byte) (crypto.ID, crypto.ID, string) {
	t.Helper()
	ctx := context.Background()
	before := map[crypto.ID]bool{}
	for _, id := range r.Index().Names() {
		before[id] = true
	}
	s := r.NewSaver(ctx, SaverOptions{})
	id, err := s.SaveBlob(ctx, pack.DataBlob, data)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	e, ok := r.Index().Lookup(id)
	if !ok {
		t.Fatal("blob not indexed")
	}
	for _, ix := range r.Index().Names() {
		if !before[ix] {
			return id, e.Pack, ObjectName(KindIndex, ix)
		}
	}
	t.Fatal("no new index object")
	return id, e.Pack, ""
}

// versionWarnings collects what a Repository warns about.
type versionWarnings struct {
	mu    sync.Mutex
	names []string
}

func (w *versionWarnings) warn(name string, err error) {
	w.mu.Lock()
	w.names = append(w.names, name)
	w.mu.Unlock()
}

func (w *versionWarnings) has(name string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range w.names {
		if n == name {
			return true
		}
	}
	return false
}

// A client with put and delete rights but no passphrase overwrites the
// pack, the index object and the key file with junk and deletes the
// snapshot: every reading path gets the genuine versions back, with a
// warning.
func TestReadGenuineVersions(t *testing.T) {
	ctx := context.Background()
	vr := newVersionedRepo(t)
	vr.store.Overwrite(vr.pack, []byte("random junk shorter than the pack"))
	vr.store.Overwrite(vr.index, bytes.Repeat([]byte{0xee}, 500))
	vr.store.Overwrite(vr.key, []byte(`{"version":1}`))
	vr.store.Hide(vr.snapshot)

	var w versionWarnings
	r := openTestRepo(t, vr.store, OpenOptions{Warn: w.warn})
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatalf("LoadIndex with the index object overwritten: %v", err)
	}
	if !w.has(vr.index) {
		t.Errorf("no warning names %s; got %v", vr.index, w.names)
	}
	if got, err := r.LoadBlob(ctx, pack.DataBlob, vr.blobID); err != nil || !bytes.Equal(got, vr.blob) {
		t.Errorf("LoadBlob from the overwritten pack: %.20q, %v", got, err)
	}
	if !w.has(vr.pack) {
		t.Errorf("no warning names %s; got %v", vr.pack, w.names)
	}
	entries, size, err := r.ReadPackHeader(ctx, vr.packID)
	if err != nil || len(entries) != 1 || entries[0].ID != vr.blobID {
		t.Errorf("ReadPackHeader of the overwritten pack: %v, %v", entries, err)
	}
	if size <= int64(len(vr.blob))/10 {
		t.Errorf("ReadPackHeader size %d is the junk's, not the genuine pack's", size)
	}
	e, _ := r.Index().Lookup(vr.blobID)
	for _, whole := range []bool{false, true} {
		var got []byte
		err := r.LoadPackBlobs(ctx, vr.packID, []index.Entry{e}, PackReadOptions{WholePack: whole},
			func(_ index.Entry, plain []byte, err error) error {
				if err != nil {
					return err
				}
				got = bytes.Clone(plain)
				return nil
			})
		if whole && !errors.Is(err, ErrCorrupt) {
			t.Errorf("LoadPackBlobs WholePack: %v; want the current version's hash mismatch reported", err)
		}
		if !whole && err != nil {
			t.Errorf("LoadPackBlobs: %v", err)
		}
		if !bytes.Equal(got, vr.blob) {
			t.Errorf("LoadPackBlobs (whole %v) delivered %.20q", whole, got)
		}
	}
	id, _ := crypto.ParseID(strings.TrimPrefix(vr.snapshot, "snapshots/"))
	if body, err := r.LoadObject(ctx, KindSnapshot, id); err != nil || string(body) != `{"version":1}` {
		t.Errorf("LoadObject of the deleted snapshot: %q, %v", body, err)
	}
}

// A deleted lease stays deleted: lease upkeep deletes them on purpose.
func TestDeletedLeaseStaysDeleted(t *testing.T) {
	ctx := context.Background()
	vr := newVersionedRepo(t)
	r := openTestRepo(t, vr.store, OpenOptions{})
	lease, err := r.SaveObject(ctx, KindLease, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.DeleteObject(ctx, KindLease, lease); err != nil {
		t.Fatal(err)
	}
	if _, err := r.LoadObject(ctx, KindLease, lease); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("LoadObject of a deleted lease: %v, want ErrNotFound", err)
	}
	vr.store.Overwrite(ObjectName(KindLease, lease), []byte("junk"))
	if body, err := r.LoadObject(ctx, KindLease, lease); err != nil || string(body) != `{}` {
		t.Errorf("LoadObject of an overwritten lease: %q, %v", body, err)
	}
}

// Without a genuine version (it was deleted for good), the damage is
// reported as before.
func TestReadGenuineVersionGone(t *testing.T) {
	ctx := context.Background()
	vr := newVersionedRepo(t)
	vr.store.Overwrite(vr.pack, []byte("junk"))
	var first string
	if err := vr.store.ListVersions(ctx, vr.pack, func(v storage.VersionInfo) error {
		if !v.IsLatest {
			first = v.VersionID
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := vr.store.DeleteVersion(ctx, vr.pack, first); err != nil {
		t.Fatal(err)
	}
	r := openTestRepo(t, vr.store, OpenOptions{})
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	_, err := r.LoadBlob(ctx, pack.DataBlob, vr.blobID)
	wantCorrupt(t, "pack without a genuine version", err, vr.pack)
}

func problemNames(rep VersionReport) map[string]VersionDamage {
	out := map[string]VersionDamage{}
	for _, d := range rep.Problems() {
		out[d.Name] = d
	}
	return out
}

func TestScanAndRepairVersions(t *testing.T) {
	ctx := context.Background()
	vr := newVersionedRepo(t)
	r := openTestRepo(t, vr.store, OpenOptions{})
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	// A second backup whose index object and pack are both deleted: the
	// pack is needed because the hidden index object is.
	blob2 := []byte("the second backup's data")
	blob2ID, pack2ID, index2 := saveOneBlob(t, r, blob2)
	lease, err := r.SaveObject(ctx, KindLease, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	leaseName := ObjectName(KindLease, lease)
	forgotten, err := r.SaveObject(ctx, KindSnapshot, []byte(`{"forgotten":true}`))
	if err != nil {
		t.Fatal(err)
	}
	forgottenName := ObjectName(KindSnapshot, forgotten)
	if err := r.DeleteObject(ctx, KindSnapshot, forgotten); err != nil {
		t.Fatal(err)
	}

	vr.store.Overwrite(vr.pack, []byte("junk"))
	vr.store.Overwrite(vr.index, []byte("junk"))
	vr.store.Overwrite(vr.key, []byte("junk"))
	vr.store.Overwrite(leaseName, []byte("junk"))
	vr.store.Hide(vr.snapshot)
	vr.store.Hide(index2)
	vr.store.Hide(PackName(pack2ID))

	removed := func(name string) bool { return name == forgottenName }
	scan := openTestRepo(t, vr.store, OpenOptions{})
	rep, err := scan.ScanVersions(ctx, VersionScanOptions{Removed: removed})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Versioning {
		t.Error("Versioning = false")
	}
	got := problemNames(rep)
	want := map[string]VersionState{
		vr.pack: Overwritten, vr.index: Overwritten, vr.key: Overwritten, leaseName: Overwritten,
		vr.snapshot: Hidden, index2: Hidden, PackName(pack2ID): Hidden,
	}
	for name, state := range want {
		d, ok := got[name]
		if !ok {
			t.Errorf("%s not reported", name)
			continue
		}
		if d.State != state || d.Genuine == "" {
			t.Errorf("%s reported as %v", name, d)
		}
	}
	for name, d := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("unexpected problem %v", d)
		}
	}
	if d := got[leaseName]; d.Needed {
		t.Errorf("the lease is reported as needed: %v", d)
	}

	// A dry run changes nothing.
	var listed []string
	if _, err := scan.RepairObjects(ctx, VersionScanOptions{Removed: removed}, true, func(d VersionDamage) {
		listed = append(listed, d.Name)
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(want) {
		t.Errorf("dry run listed %v, want %d objects", listed, len(want))
	}
	if _, err := vr.store.Stat(ctx, vr.snapshot); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("dry run restored the snapshot: %v", err)
	}
	// Packs come back before the index objects that need them.
	if listed[0] != vr.pack && listed[0] != PackName(pack2ID) {
		t.Errorf("repair order %v starts with %s", listed, listed[0])
	}

	if _, err := scan.RepairObjects(ctx, VersionScanOptions{Removed: removed}, false, nil); err != nil {
		t.Fatal(err)
	}
	for name := range want {
		id, _ := crypto.ParseID(name[strings.LastIndexByte(name, '/')+1:])
		if data, err := storage.ReadAll(ctx, vr.store, name); err != nil || crypto.Hash(data) != id {
			t.Errorf("%s after repair: %v", name, err)
		}
	}
	if _, err := vr.store.Stat(ctx, forgottenName); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("repair brought back the forgotten snapshot: %v", err)
	}
	after := openTestRepo(t, vr.store, OpenOptions{})
	rep, err = after.ScanVersions(ctx, VersionScanOptions{Removed: removed})
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Problems(); len(p) != 0 {
		t.Errorf("problems after repair: %v", p)
	}
	for _, b := range []struct {
		id   crypto.ID
		data []byte
	}{{vr.blobID, vr.blob}, {blob2ID, blob2}} {
		if got, err := after.LoadBlob(ctx, pack.DataBlob, b.id); err != nil || !bytes.Equal(got, b.data) {
			t.Errorf("LoadBlob %s after repair: %v", b.id.Short(), err)
		}
	}
}

// What the owner's own commands delete on a versioned bucket (leases,
// superseded index objects, pruned packs) is not damage.
func TestScanVersionsOwnerDeletions(t *testing.T) {
	ctx := context.Background()
	vr := newVersionedRepo(t)
	r := openTestRepo(t, vr.store, OpenOptions{})
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	saveOneBlob(t, r, []byte("second"))
	if merged, err := r.CompactIndex(ctx, 1); err != nil || !merged {
		t.Fatalf("CompactIndex: %v, %v", merged, err)
	}
	lease, _ := r.SaveObject(ctx, KindLease, []byte(`{}`))
	if err := r.DeleteObject(ctx, KindLease, lease); err != nil {
		t.Fatal(err)
	}
	orphan := PackName(crypto.Hash([]byte("orphan")))
	rawPut(t, vr.store, orphan, []byte("orphan"))
	if err := vr.store.Delete(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	rep, err := openTestRepo(t, vr.store, OpenOptions{}).ScanVersions(ctx, VersionScanOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if p := rep.Problems(); len(p) != 0 {
		t.Errorf("problems: %v", p)
	}
	if len(rep.Damage) < 3 {
		t.Errorf("hidden objects not listed: %v", rep.Damage)
	}
}

func TestScanVersionsNeedsVersioner(t *testing.T) {
	_, r := newTestRepo(t, testInitOptions())
	if _, err := r.ScanVersions(context.Background(), VersionScanOptions{}); !errors.Is(err, ErrNoVersions) {
		t.Errorf("ScanVersions on a store without versions: %v", err)
	}
}
