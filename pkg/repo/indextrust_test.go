package repo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/createonly"
)

// warnings collects OpenOptions.Warn calls.
type warnings struct {
	mu   sync.Mutex
	msgs map[string][]string
}

func (w *warnings) warn(object string, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.msgs == nil {
		w.msgs = make(map[string][]string)
	}
	w.msgs[object] = append(w.msgs[object], err.Error())
}

func (w *warnings) about(object string) []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.msgs[object]
}

// indexNames lists the IDs under index/.
func indexNames(t *testing.T, s storage.Store) []crypto.ID {
	t.Helper()
	var out []crypto.ID
	for _, n := range names(t, s, "index/") {
		id, ok := parseName("index/", n)
		if !ok {
			t.Fatalf("foreign index object %s", n)
		}
		out = append(out, id)
	}
	return out
}

// TestFalseSupersedesAttack plays an attacker with the passphrase and
// create-only access who writes 33 empty index objects, each claiming to
// supersede every real one. Before, restore failed and the owner's next
// backup's compaction deleted the real index. Now every blob stays
// loadable, the claims are reported, and the compaction deletes only
// objects whose entries it carried over.
func TestFalseSupersedesAttack(t *testing.T) {
	ctx := context.Background()
	store, owner := newTestRepo(t, testInitOptions())
	ids, blobs := runs(t, owner, 3)
	real := indexNames(t, store)

	attacker := openTestRepo(t, createonly.New(store), OpenOptions{})
	var fakes []crypto.ID
	for range 33 {
		id, err := attacker.SaveObject(ctx, KindIndex, index.Encode(nil, real))
		if err != nil {
			t.Fatal(err)
		}
		fakes = append(fakes, id)
	}

	var w warnings
	r := openTestRepo(t, store, OpenOptions{Warn: w.warn})
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	checkBlobs(t, r, ids, blobs)
	if got := len(r.UnprovenIndexClaims()); got != 33*len(real) {
		t.Errorf("%d unproven claims, want %d", got, 33*len(real))
	}
	for _, f := range fakes {
		msgs := w.about(ObjectName(KindIndex, f))
		if len(msgs) != len(real) || !strings.Contains(msgs[0], "claims to supersede") {
			t.Fatalf("warnings about %s: %q", f.Short(), msgs)
		}
	}
	if sk := r.Skipped(); len(sk) != 0 {
		t.Errorf("nothing should be skipped: %v", sk)
	}

	// The owner's next backup: 37 objects in use, so it compacts.
	more, moreBlobs := runsFrom(t, r, 3, 1)
	ids, blobs = append(ids, more...), append(blobs, moreBlobs...)
	after := indexNames(t, store)
	if len(after) != 1 {
		t.Fatalf("%d index objects after compaction, want the merged one", len(after))
	}
	r2 := openTestRepo(t, store, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	checkBlobs(t, r2, ids, blobs)
	if n := r2.Index().Len(); n != len(ids) {
		t.Errorf("merged index has %d entries, want %d", n, len(ids))
	}
}

// TestFalseSupersedesAppendOnlyOwner is the attack against an owner whose
// backups may only create: compaction deletes nothing, and a later reader
// still finds every blob.
func TestFalseSupersedesAppendOnlyOwner(t *testing.T) {
	ctx := context.Background()
	store, owner := newTestRepo(t, testInitOptions())
	ids, blobs := runs(t, owner, 2)
	real := indexNames(t, store)
	attacker := openTestRepo(t, createonly.New(store), OpenOptions{})
	for range 33 {
		if _, err := attacker.SaveObject(ctx, KindIndex, index.Encode(nil, real)); err != nil {
			t.Fatal(err)
		}
	}
	client := openTestRepo(t, createonly.New(store), OpenOptions{})
	if err := client.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	more, moreBlobs := runsFrom(t, client, 2, 1)
	ids, blobs = append(ids, more...), append(blobs, moreBlobs...)
	for _, id := range real {
		if !slices.Contains(indexNames(t, store), id) {
			t.Fatalf("real index %s deleted", id.Short())
		}
	}
	r := openTestRepo(t, store, OpenOptions{})
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	checkBlobs(t, r, ids, blobs)
}

// TestMergedIndexSupersedes checks that a real merge is still believed:
// its inputs are superseded, each blob is found once, nothing is reported.
func TestMergedIndexSupersedes(t *testing.T) {
	ctx := context.Background()
	base, _ := newTestRepo(t, testInitOptions())
	var w warnings
	client := openTestRepo(t, createonly.New(base), OpenOptions{Warn: w.warn})
	ids, blobs := runs(t, client, MaxIndexObjects+1)
	r := openTestRepo(t, base, OpenOptions{Warn: w.warn})
	if err := r.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Index().Names()); n != 1 {
		t.Errorf("%d index objects in use, want the merged one", n)
	}
	if n := r.Index().Len(); n != len(ids) {
		t.Errorf("Len %d, want %d: superseded objects still counted", n, len(ids))
	}
	for _, id := range ids {
		if n := len(r.Index().LookupAll(id)); n != 1 {
			t.Fatalf("blob %s found %d times", id.Short(), n)
		}
	}
	if len(r.UnprovenIndexClaims()) != 0 || len(w.msgs) != 0 {
		t.Errorf("unproven %v, warnings %v", r.UnprovenIndexClaims(), w.msgs)
	}
	checkBlobs(t, r, ids, blobs)

	// MergeIndex with one object in use deletes the superseded ones only.
	replaced, err := r.MergeIndex(ctx, nil)
	if err != nil || replaced != MaxIndexObjects+1 {
		t.Errorf("MergeIndex = %d %v, want %d", replaced, err, MaxIndexObjects+1)
	}
	if n := len(indexNames(t, base)); n != 1 {
		t.Errorf("%d index objects left", n)
	}
	checkBlobs(t, openLoaded(t, base), ids, blobs)
}

func openLoaded(t *testing.T, s storage.Store) *Repository {
	t.Helper()
	r := openTestRepo(t, s, OpenOptions{})
	if err := r.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// byteStore counts the bytes read from each object and can report false
// sizes, as a hostile server would.
type byteStore struct {
	storage.Store
	mu    sync.Mutex
	read  map[string]int64
	sizes map[string]int64 // Stat lies with these
}

func newByteStore(s storage.Store) *byteStore {
	return &byteStore{Store: s, read: make(map[string]int64), sizes: make(map[string]int64)}
}

func (b *byteStore) Stat(ctx context.Context, name string) (storage.ObjectInfo, error) {
	oi, err := b.Store.Stat(ctx, name)
	b.mu.Lock()
	defer b.mu.Unlock()
	if n, ok := b.sizes[name]; ok && err == nil {
		oi.Size = n
	}
	return oi, err
}

func (b *byteStore) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	rc, err := b.Store.Get(ctx, name, off, n)
	if err != nil {
		return nil, err
	}
	return &countingReader{rc, b, name}, nil
}

func (b *byteStore) bytesRead(name string) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.read[name]
}

type countingReader struct {
	io.ReadCloser
	b    *byteStore
	name string
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.b.mu.Lock()
	c.b.read[c.name] += int64(n)
	c.b.mu.Unlock()
	return n, err
}

// TestLoadIndexSkipsBadObjects plants objects under index/ that fail their
// hash, authentication, decoding or size, and one truncated real index:
// LoadIndex skips each with a warning naming it, finds the other blobs,
// and reads no more of an object than the store said it holds.
func TestLoadIndexSkipsBadObjects(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 1))
	random := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	big := random(64 << 20)
	cases := []struct {
		name  string
		plant func(t *testing.T, store storage.Store, r *Repository) (object string, statSize int64)
		limit int64 // most bytes of the object LoadIndex may read
	}{
		{"4 bytes, wrong name", func(t *testing.T, s storage.Store, _ *Repository) (string, int64) {
			n := ObjectName(KindIndex, crypto.ID{1, 2, 3})
			rawPut(t, s, n, []byte("junk"))
			return n, -1
		}, 4},
		{"4 bytes, right name", func(t *testing.T, s storage.Store, _ *Repository) (string, int64) {
			n := ObjectName(KindIndex, crypto.Hash([]byte("junk")))
			rawPut(t, s, n, []byte("junk"))
			return n, -1
		}, 4},
		{"authenticated garbage", func(t *testing.T, _ storage.Store, r *Repository) (string, int64) {
			id, err := r.SaveObject(ctx, KindIndex, []byte("CAIRNIX1 but nothing after"))
			if err != nil {
				t.Fatal(err)
			}
			return ObjectName(KindIndex, id), -1
		}, 1 << 10},
		{"truncated", func(t *testing.T, s storage.Store, r *Repository) (string, int64) {
			id, err := r.SaveObject(ctx, KindIndex, index.Encode([]index.Entry{{ID: crypto.ID{9}, Type: 1, Pack: crypto.ID{8}, Length: 10}}, nil))
			if err != nil {
				t.Fatal(err)
			}
			n := ObjectName(KindIndex, id)
			sealed := rawGet(t, s, n)
			if err := s.Delete(ctx, n); err != nil {
				t.Fatal(err)
			}
			rawPut(t, s, n, sealed[:len(sealed)/2])
			return n, -1
		}, 1 << 10},
		{"64 MiB of random bytes", func(t *testing.T, s storage.Store, _ *Repository) (string, int64) {
			n := ObjectName(KindIndex, crypto.ID{4})
			rawPut(t, s, n, big)
			return n, -1
		}, 64 << 20},
		{"64 MiB listed as 1 KiB", func(t *testing.T, s storage.Store, _ *Repository) (string, int64) {
			n := ObjectName(KindIndex, crypto.ID{5})
			rawPut(t, s, n, big)
			return n, 1 << 10
		}, 1<<10 + 1},
		{"listed above the limit", func(t *testing.T, s storage.Store, _ *Repository) (string, int64) {
			n := ObjectName(KindIndex, crypto.ID{6})
			rawPut(t, s, n, big)
			return n, maxIndexObjectSize + 1
		}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store, owner := newTestRepo(t, testInitOptions())
			ids, blobs := runs(t, owner, 2)
			object, statSize := tc.plant(t, store, owner)
			bs := newByteStore(store)
			if statSize >= 0 {
				bs.sizes[object] = statSize
			}
			var w warnings
			r := openTestRepo(t, bs, OpenOptions{Warn: w.warn})
			for range 2 { // the second load neither reads nor warns again
				if err := r.LoadIndex(ctx); err != nil {
					t.Fatalf("LoadIndex stopped at %s: %v", object, err)
				}
			}
			sk := r.Skipped()
			if len(sk) != 1 || sk[0].Name != object || !errors.Is(sk[0].Err, ErrCorrupt) || !strings.Contains(sk[0].Err.Error(), object) {
				t.Fatalf("Skipped = %v, want %s", sk, object)
			}
			if msgs := w.about(object); len(msgs) != 1 {
				t.Errorf("warnings about %s: %q", object, msgs)
			}
			if got := bs.bytesRead(object); got > tc.limit {
				t.Errorf("read %d bytes of %s, want at most %d", got, object, tc.limit)
			}
			checkBlobs(t, r, ids, blobs)
		})
	}
}

// shortStore delivers only half of one object: a storage failure, which
// must stop LoadIndex rather than be taken for damage and skipped.
type shortStore struct {
	storage.Store
	name string
}

func (s shortStore) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	rc, err := s.Store.Get(ctx, name, off, n)
	if err != nil || name != s.name {
		return rc, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(b[:len(b)/2])), nil
}

func TestLoadIndexShortReadIsNotDamage(t *testing.T) {
	store, owner := newTestRepo(t, testInitOptions())
	runs(t, owner, 1)
	name := ObjectName(KindIndex, indexNames(t, store)[0])
	r := openTestRepo(t, shortStore{store, name}, OpenOptions{})
	err := r.LoadIndex(context.Background())
	if err == nil || errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), name) || len(r.Skipped()) != 0 {
		t.Errorf("short read: %v, skipped %v; want a storage error naming %s", err, r.Skipped(), name)
	}
}

// TestMergeIndex is prune's sweep: the merged object leaves out the
// dropped packs, the objects it replaced are deleted and forgotten, and an
// index object written by another client after the load stays.
func TestMergeIndex(t *testing.T) {
	ctx := context.Background()
	store, owner := newTestRepo(t, testInitOptions())
	ids, blobs := runs(t, owner, 4)
	r := openLoaded(t, store)
	dropped, ok := r.Index().Lookup(ids[0])
	if !ok {
		t.Fatal("blob 0 not indexed")
	}
	// Another client's backup, after r loaded the index.
	loaded := r.Index().Names()
	later, laterBlobs := runsFrom(t, openTestRepo(t, store, OpenOptions{}), 4, 1)
	var laterIndex crypto.ID
	for _, id := range indexNames(t, store) {
		if !slices.Contains(loaded, id) {
			laterIndex = id
		}
	}

	replaced, err := r.MergeIndex(ctx, func(p crypto.ID) bool { return p == dropped.Pack })
	if err != nil || replaced != 4 {
		t.Fatalf("MergeIndex = %d %v, want 4 replaced", replaced, err)
	}
	if _, ok := r.Index().Lookup(ids[0]); ok {
		t.Error("the dropped pack's blob is still in the in-process index")
	}
	left := indexNames(t, store)
	if len(left) != 2 {
		t.Fatalf("%d index objects left, want the merged one and the later one", len(left))
	}
	if !slices.Contains(left, laterIndex) {
		t.Errorf("MergeIndex deleted %s, which it had not loaded", laterIndex.Short())
	}
	fresh := openLoaded(t, store)
	checkBlobs(t, fresh, append(ids[1:], later...), append(blobs[1:], laterBlobs...))
	if _, ok := fresh.Index().Lookup(ids[0]); ok {
		t.Error("the dropped pack's blob is still indexed")
	}
	if len(fresh.UnprovenIndexClaims()) != 0 {
		t.Errorf("unproven claims after a completed merge: %v", fresh.UnprovenIndexClaims())
	}
}

// TestMergeIndexInterrupted leaves the inputs of a merge that dropped a
// pack (a prune killed before deleting them): readers use both, report
// the claim, and the next MergeIndex cleans up.
func TestMergeIndexInterrupted(t *testing.T) {
	ctx := context.Background()
	store, owner := newTestRepo(t, testInitOptions())
	ids, blobs := runs(t, owner, 3)
	r := openLoaded(t, store)
	dropped, _ := r.Index().Lookup(ids[0])
	names, views := r.Index().InUse()
	if _, err := r.SaveObject(ctx, KindIndex, index.Merge(views, names, func(p crypto.ID) bool { return p == dropped.Pack })); err != nil {
		t.Fatal(err)
	}
	var w warnings
	r2 := openTestRepo(t, store, OpenOptions{Warn: w.warn})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	checkBlobs(t, r2, ids, blobs)
	if n := len(r2.UnprovenIndexClaims()); n != 1 {
		t.Errorf("%d unproven claims, want the one input holding the dropped pack", n)
	}
	if _, err := r2.MergeIndex(ctx, func(p crypto.ID) bool { return p == dropped.Pack }); err != nil {
		t.Fatal(err)
	}
	r3 := openLoaded(t, store)
	checkBlobs(t, r3, ids[1:], blobs[1:])
	if len(indexNames(t, store)) != 1 || len(r3.UnprovenIndexClaims()) != 0 {
		t.Errorf("after the next merge: %d objects, unproven %v", len(indexNames(t, store)), r3.UnprovenIndexClaims())
	}
}
