package repo

import (
	"slices"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

// Open reads the remembered key file with the config (one round trip) and
// does not read it again; a remembered key that is not this repository's
// (another repository's, or removed) costs one failed read and changes
// nothing; a damaged copy of the remembered key is read again the careful
// way and reported as damage, not taken.
func TestOpenPrefetchesTheRememberedKey(t *testing.T) {
	store, r := newTestRepo(t, testInitOptions())
	key := r.KeyID()

	c := newCountingStore(store)
	r2 := openTestRepo(t, c, OpenOptions{PreferKeys: []crypto.ID{key}})
	if r2.KeyID() != key {
		t.Fatalf("opened with key %s, want %s", r2.KeyID().Short(), key.Short())
	}
	if n := c.count("keys"); n != 1 {
		t.Errorf("read key files %d times, want 1 (prefetched, not read again)", n)
	}

	c = newCountingStore(store)
	other := crypto.Hash([]byte("another repository's key file"))
	if r3 := openTestRepo(t, c, OpenOptions{PreferKeys: []crypto.ID{other, key}}); r3.KeyID() != key {
		t.Fatalf("opened with key %s, want %s", r3.KeyID().Short(), key.Short())
	}
	if n := c.count("keys"); n != 2 {
		t.Errorf("read key files %d times, want 2 (the stranger, then the listed one)", n)
	}

	// A second key file, damaged, remembered: Open falls back to the
	// intact one and reports nothing worse than the damage.
	second, err := r.AddKey(t.Context(), []byte("second"), crypto.TestKDF())
	if err != nil {
		t.Fatal(err)
	}
	name := ObjectName(KindKey, second)
	data, err := readLimited(t.Context(), store, name, maxKeyFileSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(t.Context(), name); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(t.Context(), name, flipped(data, len(data)/2)); err != nil {
		t.Fatal(err)
	}
	c = newCountingStore(store)
	if r4 := openTestRepo(t, c, OpenOptions{PreferKeys: []crypto.ID{second}}); r4.KeyID() != key {
		t.Fatalf("opened with key %s, want the intact %s", r4.KeyID().Short(), key.Short())
	}
	if n := c.count("keys"); n != 3 {
		t.Errorf("read key files %d times, want 3 (damaged prefetch, its careful read, the intact one)", n)
	}
}

// OpenOptions.ListEarly: Open starts the listings itself, the first
// ListObjects of each kind takes its listing without asking the storage,
// the next one lists again (and sees what appeared since), and a failed
// early listing is not an answer: ListObjects lists again.
func TestOpenListsEarly(t *testing.T) {
	ctx := t.Context()
	store, r := newTestRepo(t, testInitOptions())
	first, err := r.SaveObject(ctx, KindSnapshot, []byte("a snapshot"))
	if err != nil {
		t.Fatal(err)
	}

	f := fault.New(store)
	f.FailPrefix(fault.OpList, "index/", storage.ErrTransient)
	c := newCountingStore(f)
	r2 := openTestRepo(t, c, OpenOptions{ListEarly: []string{KindSnapshot, KindIndex}})

	ids, err := r2.ListObjects(ctx, KindSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 1 || ids[0] != first {
		t.Fatalf("early listing %v, want [%s]", ids, first.Short())
	}
	if n := c.listed("snapshots"); n != 1 {
		t.Errorf("snapshots/ listed %d times after the first ListObjects, want 1 (Open's)", n)
	}

	second, err := r.SaveObject(ctx, KindSnapshot, []byte("another snapshot"))
	if err != nil {
		t.Fatal(err)
	}
	ids, err = r2.ListObjects(ctx, KindSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || !slices.Contains(ids, second) {
		t.Fatalf("second listing %v, want both snapshots", ids)
	}
	if n := c.listed("snapshots"); n != 2 {
		t.Errorf("snapshots/ listed %d times, want 2", n)
	}

	// The early index/ listing failed; ListObjects lists again.
	f.Clear()
	if _, err := r2.ListObjects(ctx, KindIndex); err != nil {
		t.Fatalf("after a failed early listing: %v", err)
	}
	if n := c.listed("index"); n != 2 {
		t.Errorf("index/ listed %d times, want 2 (the failed early one, then again)", n)
	}
}

// A backup takes the lease protocol's first look at the deletion markers
// from Open's early listing, which can be old: the process may have been
// paused between Open and its lease. A marker a prune wrote meanwhile is
// still seen, recorded in the lease and its packs condemned, because the
// protocol lists the markers again once the lease is stored.
func TestEarlyMarkerListingPausedBeforeLease(t *testing.T) {
	ctx := t.Context()
	store, r := newTestRepo(t, testInitOptions())
	c := newCountingStore(store)
	r2 := openTestRepo(t, c, OpenOptions{ListEarly: []string{KindDeletion}})
	<-r2.early[KindDeletion].done // the listing is done, the "pause" begins

	condemned := crypto.ID{0xde, 0xad}
	marker, err := r.SaveDeletion(ctx, Deletion{Created: r.now(), Packs: []crypto.ID{condemned}})
	if err != nil {
		t.Fatal(err)
	}

	l, err := r2.StartLease(ctx, "backup")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Done(ctx)
	if got := l.SeenDeletions(); len(got) != 1 || got[0] != marker {
		t.Errorf("lease saw markers %v, want [%s]", got, marker.Short())
	}
	if !r2.Index().IsCondemned(condemned) {
		t.Error("the pack of the marker written during the pause is not condemned")
	}
	// Open's listing (without the marker), then the protocol's two rounds.
	if n := c.listed("deletions"); n != 3 {
		t.Errorf("deletions/ listed %d times, want 3 (early, and twice by the lease)", n)
	}
}
