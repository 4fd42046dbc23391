package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

// testBlobs returns n blobs of varied size and compressibility, with every
// fifth one a repeat of an earlier one, and the number of distinct blobs.
func testBlobs(seed uint64, n int) ([][]byte, int) {
	rng := rand.New(rand.NewPCG(seed, 1))
	blobs := make([][]byte, n)
	distinct := 0
	for i := range blobs {
		if i%5 == 4 {
			blobs[i] = blobs[rng.IntN(i)]
			continue
		}
		b := make([]byte, 1+rng.IntN(20<<10))
		if i%2 == 0 {
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
		} else {
			copy(b, strings.Repeat(fmt.Sprintf("blob %d ", i), len(b)))
		}
		b[0] = byte(i) // distinct even when short
		b = append(b, byte(i>>8), byte(i>>16))
		blobs[i] = b
		distinct++
	}
	return blobs, distinct
}

func smallPackOptions() InitOptions {
	opts := testInitOptions()
	opts.PackSize = 64 << 10
	return opts
}

func TestSaverRoundTrip(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, smallPackOptions())
	blobs, distinct := testBlobs(1, 400)

	s := r.NewSaver(ctx, SaverOptions{Connections: 3})
	ids := make([]crypto.ID, len(blobs))
	types := make([]pack.BlobType, len(blobs))
	var wg sync.WaitGroup
	errs := make(chan error, len(blobs))
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(blobs); i += 8 {
				types[i] = pack.DataBlob
				if i%7 == 3 && i%5 != 4 {
					types[i] = pack.TreeBlob
				}
				id, err := s.SaveBlob(ctx, types[i], blobs[i])
				if err != nil {
					errs <- err
					return
				}
				ids[i] = id
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	stats, err := s.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Repeats reuse the type of the original only by chance, so count
	// distinct (type, id) pairs.
	unique := map[blobKey]bool{}
	var bytesNew int64
	for i, id := range ids {
		if !unique[blobKey{types[i], id}] {
			unique[blobKey{types[i], id}] = true
			bytesNew += int64(len(blobs[i]))
		}
	}
	if stats.Blobs != len(blobs) || stats.BlobsNew != len(unique) || stats.BytesNew != bytesNew || stats.Packs < 5 || stats.BytesStored == 0 {
		t.Errorf("stats %+v; want %d blobs, %d new (%d distinct contents), %d bytes", stats, len(blobs), len(unique), distinct, bytesNew)
	}
	if _, err := s.SaveBlob(ctx, pack.DataBlob, []byte("late")); err == nil {
		t.Error("SaveBlob after Flush succeeded")
	}
	if got := names(t, store, "index/"); len(got) != 1 {
		t.Errorf("index objects after one flush: %v", got)
	}
	if n := len(names(t, store, "data/")); int64(n) != stats.Packs {
		t.Errorf("%d packs stored, stats say %d", n, stats.Packs)
	}

	// Every pack holds one type of blob, and its header matches the index.
	err = r.ListPacks(ctx, func(id crypto.ID, size int64) error {
		entries, gotSize, err := r.ReadPackHeader(ctx, id)
		if err != nil {
			return err
		}
		if gotSize != size {
			t.Errorf("pack %s: size %d, listed %d", id.Short(), gotSize, size)
		}
		for _, e := range entries {
			if e.Type != entries[0].Type {
				t.Errorf("pack %s mixes blob types", id.Short())
			}
			found := false
			for _, loc := range r.Index().LookupAll(e.ID) {
				found = found || (loc.Pack == id && loc.Offset == e.Offset && loc.Length == e.Length && loc.Type == e.Type)
			}
			if !found {
				t.Errorf("pack %s header entry %+v is not in the index", id.Short(), e)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// A fresh client with nothing but the store reads every blob back.
	r2 := openTestRepo(t, store, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if r2.Index().Len() != len(unique) {
		t.Errorf("index has %d entries, want %d", r2.Index().Len(), len(unique))
	}
	for i, id := range ids {
		got, err := r2.LoadBlob(ctx, types[i], id)
		if err != nil {
			t.Fatalf("blob %d: %v", i, err)
		}
		if !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d differs", i)
		}
	}
	if _, err := r2.LoadBlob(ctx, pack.DataBlob, crypto.ID{9}); !errors.Is(err, ErrBlobNotFound) {
		t.Errorf("unknown blob: %v", err)
	}

	// Saving the same blobs again stores nothing.
	s2 := r2.NewSaver(ctx, SaverOptions{})
	for i := range blobs {
		added, err := s2.SaveBlobID(ctx, types[i], ids[i], blobs[i])
		if err != nil || added {
			t.Fatalf("re-save %d: added %v, %v", i, added, err)
		}
	}
	stats, err = s2.Flush(ctx)
	if err != nil || stats.BlobsNew != 0 || stats.Packs != 0 {
		t.Errorf("second run: %+v %v", stats, err)
	}
	if got := names(t, store, "index/"); len(got) != 1 {
		t.Errorf("a run that added nothing wrote an index: %v", got)
	}
}

func TestSaverDedupSameRun(t *testing.T) {
	ctx := context.Background()
	store, r := newTestRepo(t, testInitOptions())
	s := r.NewSaver(ctx, SaverOptions{})
	data := bytes.Repeat([]byte("same"), 1000)
	var wg sync.WaitGroup
	var mu sync.Mutex
	added := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.SaveBlobID(ctx, pack.DataBlob, r.Keys().BlobID(data), data)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				added++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// The same content as a tree blob is a different blob.
	if ok, err := s.SaveBlobID(ctx, pack.TreeBlob, r.Keys().BlobID(data), data); err != nil || !ok {
		t.Errorf("tree blob with data blob's content: %v %v", ok, err)
	}
	stats, err := s.Flush(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if added != 1 || stats.BlobsNew != 2 || stats.Packs != 2 {
		t.Errorf("added %d times, stats %+v", added, stats)
	}
	if n := len(names(t, store, "data/")); n != 2 {
		t.Errorf("%d packs", n)
	}
	for _, bt := range []pack.BlobType{pack.DataBlob, pack.TreeBlob} {
		if got, err := r.LoadBlob(ctx, bt, r.Keys().BlobID(data)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s blob: %v", bt, err)
		}
	}
}

func TestIndexCache(t *testing.T) {
	ctx := context.Background()
	base, r := newTestRepo(t, smallPackOptions())
	blobs, _ := testBlobs(2, 50)
	s := r.NewSaver(ctx, SaverOptions{})
	var ids []crypto.ID
	for _, b := range blobs {
		id, err := s.SaveBlob(ctx, pack.DataBlob, b)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	cacheDir := t.TempDir()
	store := newCountingStore(base)
	r1 := openTestRepo(t, store, OpenOptions{CacheDir: cacheDir})
	if err := r1.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := store.count("index"); n != 1 {
		t.Errorf("first open: %d index downloads, want 1", n)
	}
	r1.Close()

	store2 := newCountingStore(base)
	r2 := openTestRepo(t, store2, OpenOptions{CacheDir: cacheDir})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := store2.count("index"); n != 0 {
		t.Errorf("second open: %d index downloads, want 0", n)
	}
	for i, id := range ids {
		if got, err := r2.LoadBlob(ctx, pack.DataBlob, id); err != nil || !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d via cached index: %v", i, err)
		}
	}

	// An index written by this client goes into the cache too.
	s2 := r2.NewSaver(ctx, SaverOptions{})
	if _, err := s2.SaveBlob(ctx, pack.DataBlob, []byte("one more")); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r2.Close()
	store3 := newCountingStore(base)
	r3 := openTestRepo(t, store3, OpenOptions{CacheDir: cacheDir})
	if err := r3.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := store3.count("index"); n != 0 {
		t.Errorf("after own flush: %d index downloads, want 0", n)
	}
}

func TestIntermediateIndex(t *testing.T) {
	ctx := context.Background()
	opts := testInitOptions()
	opts.PackSize = minPackSize
	store, r := newTestRepo(t, opts)
	s := r.NewSaver(ctx, SaverOptions{Connections: 2, IndexEvery: 2})
	rng := rand.New(rand.NewPCG(3, 3))
	var ids []crypto.ID
	var blobs [][]byte
	for range 6 { // each blob fills a pack
		b := make([]byte, minPackSize+100)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		id, err := s.SaveBlob(ctx, pack.DataBlob, b)
		if err != nil {
			t.Fatal(err)
		}
		ids, blobs = append(ids, id), append(blobs, b)
	}
	// Without Flush (as if the process were killed now), the uploaded
	// packs become indexed: the first on its own, then in groups of two,
	// so only the last pack waits for Flush.
	deadline := time.Now().Add(10 * time.Second)
	for len(names(t, store, "index/")) < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("index objects: %v", names(t, store, "index/"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	r2 := openTestRepo(t, store, OpenOptions{})
	if err := r2.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	indexed := 0
	for i, id := range ids {
		got, err := r2.LoadBlob(ctx, pack.DataBlob, id)
		if err == nil && !bytes.Equal(got, blobs[i]) {
			t.Fatalf("blob %d: wrong content", i)
		}
		if err == nil {
			indexed++
		}
	}
	if indexed != 5 {
		t.Fatalf("%d of 6 blobs indexed before Flush, want 5", indexed)
	}
	// The next run reuses them: only one pack's worth is stored again.
	s2 := r2.NewSaver(ctx, SaverOptions{})
	stored := 0
	for i, b := range blobs {
		added, err := s2.SaveBlobID(ctx, pack.DataBlob, ids[i], b)
		if err != nil {
			t.Fatal(err)
		}
		if added {
			stored++
		}
	}
	if stored != 1 {
		t.Errorf("the next run stored %d blobs again, want 1", stored)
	}
	if _, err := s2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Three intermediate ones, the second run's first-pack index, and
	// Flush's for the last pack.
	if got := names(t, store, "index/"); len(got) != 5 {
		t.Errorf("index objects after Flush: %v, want 5", got)
	}
}

// TestIndexAfterFirstPackAndByTime: a backup killed after its first pack
// leaves it indexed, and one that uploads slowly indexes by time; a small
// backup still ends with a single index object (the first is folded in).
func TestIndexAfterFirstPackAndByTime(t *testing.T) {
	ctx := context.Background()
	opts := testInitOptions()
	opts.PackSize = minPackSize
	store, r := newTestRepo(t, opts)
	var mu sync.Mutex
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	s := r.NewSaver(ctx, SaverOptions{Connections: 1, IndexEvery: 100, IndexInterval: time.Minute})
	rng := rand.New(rand.NewPCG(4, 4))
	save := func() {
		b := make([]byte, minPackSize+100)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if _, err := s.SaveBlob(ctx, pack.DataBlob, b); err != nil {
			t.Fatal(err)
		}
	}
	waitIndexes := func(n int) {
		deadline := time.Now().Add(10 * time.Second)
		for len(names(t, store, "index/")) < n {
			if time.Now().After(deadline) {
				t.Fatalf("index objects: %v, want %d", names(t, store, "index/"), n)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	save()
	waitIndexes(1) // the first pack, on its own
	save()
	save()
	time.Sleep(50 * time.Millisecond)
	if got := names(t, store, "index/"); len(got) != 1 {
		t.Fatalf("index objects before the interval: %v", got)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	save()
	waitIndexes(2) // by time
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}

	// A small backup: one pack and a flush leave one index object.
	store2, r2 := newTestRepo(t, opts)
	s2 := r2.NewSaver(ctx, SaverOptions{})
	if _, err := s2.SaveBlob(ctx, pack.DataBlob, make([]byte, minPackSize+100)); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.SaveBlob(ctx, pack.TreeBlob, []byte("tree")); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := names(t, store2, "index/"); len(got) != 1 {
		t.Fatalf("small backup left index objects %v, want one", got)
	}
	r3 := openTestRepo(t, store2, OpenOptions{})
	if err := r3.LoadIndex(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r3.Index().Len(); n != 2 {
		t.Fatalf("folded index holds %d entries, want 2", n)
	}
}

func TestSaverUploadFailure(t *testing.T) {
	ctx := context.Background()
	base, _ := newTestRepo(t, smallPackOptions())
	fs := fault.New(base)
	r := openTestRepo(t, fs, OpenOptions{})
	fs.FailPrefix(fault.OpPut, "data/", fault.ErrInjected)
	s := r.NewSaver(ctx, SaverOptions{Connections: 2})
	blobs, _ := testBlobs(4, 100)
	var saveErr error
	for _, b := range blobs {
		if _, err := s.SaveBlob(ctx, pack.DataBlob, b); err != nil {
			saveErr = err
			break
		}
	}
	_, err := s.Flush(ctx)
	if !errors.Is(err, fault.ErrInjected) || !strings.Contains(err.Error(), "upload pack data/") {
		t.Errorf("Flush: %v", err)
	}
	if saveErr != nil && !errors.Is(saveErr, fault.ErrInjected) {
		t.Errorf("SaveBlob after a failed upload: %v", saveErr)
	}
	if got := names(t, base, "index/"); len(got) != 0 {
		t.Errorf("index written for a failed run: %v", got)
	}
}

// blockingStore holds every pack upload until release is closed.
type blockingStore struct {
	storage.Store
	release chan struct{}
}

func (b *blockingStore) Put(ctx context.Context, name string, data []byte) error {
	if strings.HasPrefix(name, "data/") {
		select {
		case <-b.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return b.Store.Put(ctx, name, data)
}

// oneAtATime is a store that asks for one concurrent Put.
type oneAtATime struct{ *blockingStore }

func (oneAtATime) ConcurrentPuts() int { return 1 }

func TestSaverBoundedMemory(t *testing.T) {
	// Either way one upload runs, so Connections+1 = 2 packs fit in
	// memory; each blob fills one.
	t.Run("connections", func(t *testing.T) {
		testSaverBoundedMemory(t, 1, func(b *blockingStore) storage.Store { return b })
	})
	t.Run("store's concurrent puts", func(t *testing.T) {
		testSaverBoundedMemory(t, 4, func(b *blockingStore) storage.Store { return oneAtATime{b} })
	})
}

func testSaverBoundedMemory(t *testing.T, connections int, wrap func(*blockingStore) storage.Store) {
	ctx := context.Background()
	opts := testInitOptions()
	opts.PackSize = minPackSize
	base, _ := newTestRepo(t, opts)
	store := &blockingStore{Store: base, release: make(chan struct{})}
	r := openTestRepo(t, wrap(store), OpenOptions{})
	s := r.NewSaver(ctx, SaverOptions{Connections: connections})
	rng := rand.New(rand.NewPCG(5, 5))
	blob := func(int) []byte {
		b := make([]byte, minPackSize)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		return b
	}
	for i := range 2 {
		if _, err := s.SaveBlob(ctx, pack.DataBlob, blob(i)); err != nil {
			t.Fatal(err)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.SaveBlob(cctx, pack.DataBlob, blob(2)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third pack while two are in memory: %v", err)
	}
	close(store.release)
	// The cancelled blob was promised to no one else, but the run is
	// marked failed so that nothing references it by mistake.
	if _, err := s.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush after a cancelled SaveBlob: %v", err)
	}
	if n := len(names(t, base, "data/")); n != 2 {
		t.Errorf("%d packs uploaded, want 2", n)
	}
}

// TestSaverOpenTreePackHoldsNoSlot checks that an open tree pack, which
// may take the whole backup to fill, does not take the memory slot a data
// pack needs while another uploads.
func TestSaverOpenTreePackHoldsNoSlot(t *testing.T) {
	ctx := context.Background()
	opts := testInitOptions()
	opts.PackSize = minPackSize
	base, _ := newTestRepo(t, opts)
	store := &blockingStore{Store: base, release: make(chan struct{})}
	r := openTestRepo(t, store, OpenOptions{})
	s := r.NewSaver(ctx, SaverOptions{Connections: 1})
	rng := rand.New(rand.NewPCG(6, 6))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		return b
	}
	if _, err := s.SaveBlob(ctx, pack.TreeBlob, blob(100)); err != nil {
		t.Fatal(err)
	}
	// The first data pack fills and blocks in its upload; the second
	// must still get the other slot.
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for i := range 2 {
		if _, err := s.SaveBlob(cctx, pack.DataBlob, blob(minPackSize)); err != nil {
			t.Fatalf("data pack %d with a tree pack open: %v", i, err)
		}
	}
	close(store.release)
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(names(t, base, "data/")); n != 3 {
		t.Errorf("%d packs uploaded, want 3", n)
	}
}

func TestSaverWithoutCompression(t *testing.T) {
	// Random data is stored raw; check the sealed size.
	ctx := context.Background()
	_, r := newTestRepo(t, testInitOptions())
	s := r.NewSaver(ctx, SaverOptions{})
	b := make([]byte, 1000)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	if _, err := s.SaveBlob(ctx, pack.DataBlob, b); err != nil {
		t.Fatal(err)
	}
	st, err := s.Flush(ctx)
	if err != nil || st.BytesStored != int64(len(b)+1+crypto.Overhead) {
		t.Errorf("stats %+v, %v", st, err)
	}
}
