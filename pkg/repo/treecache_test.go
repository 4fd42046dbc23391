package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cairn-backup/cairn/pkg/crypto"
	"github.com/cairn-backup/cairn/pkg/index"
	"github.com/cairn-backup/cairn/pkg/pack"
	"github.com/cairn-backup/cairn/pkg/storage"
	"github.com/cairn-backup/cairn/pkg/storage/fault"
)

// treeFixture stores n tree blobs (and a few data blobs) in packs of the
// smallest size, so they fill several tree packs, and returns the store,
// the tree blobs by ID, and the data blob IDs.
func treeFixture(t *testing.T, n int) (storage.Store, map[crypto.ID][]byte, []crypto.ID) {
	t.Helper()
	ctx := context.Background()
	opts := testInitOptions()
	opts.PackSize = minPackSize
	store, r := newTestRepo(t, opts)
	rng := rand.New(rand.NewPCG(7, 7))
	s := r.NewSaver(ctx, SaverOptions{})
	trees := make(map[crypto.ID][]byte)
	for i := range n {
		b := make([]byte, 600+rng.IntN(400))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		b = append(b, fmt.Sprint(i)...)
		id, err := s.SaveBlob(ctx, pack.TreeBlob, b)
		if err != nil {
			t.Fatal(err)
		}
		trees[id] = b
	}
	var data []crypto.ID
	for i := range 3 {
		id, err := s.SaveBlob(ctx, pack.DataBlob, bytes.Repeat([]byte{byte(i)}, 3000))
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, id)
	}
	if _, err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	return store, trees, data
}

// openWithIndex opens store with opts and loads the index.
func openWithIndex(t *testing.T, store storage.Store, opts OpenOptions) *Repository {
	t.Helper()
	r := openTestRepo(t, store, opts)
	if err := r.LoadIndex(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

// treePacks returns the distinct packs holding the tree blobs.
func treePacks(t *testing.T, r *Repository, trees map[crypto.ID][]byte) map[crypto.ID]bool {
	t.Helper()
	packs := make(map[crypto.ID]bool)
	for id := range trees {
		e, ok := r.Index().Lookup(id)
		if !ok {
			t.Fatalf("tree %s not indexed", id.Short())
		}
		packs[e.Pack] = true
	}
	return packs
}

// loadTrees loads every tree blob and checks its plaintext.
func loadTrees(t *testing.T, r *Repository, trees map[crypto.ID][]byte) {
	t.Helper()
	for id, want := range trees {
		got, err := r.LoadBlob(context.Background(), pack.TreeBlob, id)
		if err != nil {
			t.Fatalf("tree %s: %v", id.Short(), err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("tree %s: wrong plaintext", id.Short())
		}
	}
}

// cachedPacks lists the files of the pack cache directory (no temporary
// files may be left) and their total size.
func cachedPacks(t *testing.T, dir string) (map[string]bool, int64) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := make(map[string]bool)
	var total int64
	for _, e := range ents {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := crypto.ParseID(e.Name()); err != nil {
			t.Errorf("unexpected file %s in the pack cache", e.Name())
		}
		files[e.Name()] = true
		total += info.Size()
	}
	return files, total
}

// TestTreeCacheColdWarm: a cold cache downloads each tree pack once, not
// each tree blob; a warm cache (a new process) downloads none; data blobs
// are never cached; without a cache every tree blob is a ranged Get.
func TestTreeCacheColdWarm(t *testing.T) {
	base, trees, data := treeFixture(t, 60)
	cacheDir := t.TempDir()

	cold := newCountingStore(base)
	r := openWithIndex(t, cold, OpenOptions{CacheDir: cacheDir})
	packs := treePacks(t, r, trees)
	if len(packs) < 5 {
		t.Fatalf("fixture has %d tree packs, want several", len(packs))
	}
	loadTrees(t, r, trees)
	loadTrees(t, r, trees)
	if n := cold.count("data"); n != len(packs) {
		t.Errorf("cold cache: %d pack Gets for %d tree blobs in %d packs, want one per pack", n, len(trees), len(packs))
	}
	for _, id := range data {
		if _, err := r.LoadBlob(context.Background(), pack.DataBlob, id); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := cachedPacks(t, packCacheDir(cacheDir, r.Config().ID))
	if len(files) != len(packs) {
		t.Errorf("%d files cached, want the %d tree packs only", len(files), len(packs))
	}
	for p := range packs {
		if !files[p.String()] {
			t.Errorf("tree pack %s not cached", p.Short())
		}
	}
	r.Close()

	warm := newCountingStore(base)
	r2 := openWithIndex(t, warm, OpenOptions{CacheDir: cacheDir})
	loadTrees(t, r2, trees)
	if n := warm.count("data"); n != 0 {
		t.Errorf("warm cache: %d pack Gets, want 0", n)
	}

	none := newCountingStore(base)
	r3 := openWithIndex(t, none, OpenOptions{})
	loadTrees(t, r3, trees)
	if n := none.count("data"); n != len(trees) {
		t.Errorf("no cache: %d pack Gets, want one per tree blob (%d)", n, len(trees))
	}
}

// TestTreeCacheRejectsBadFiles: a cached file with a flipped byte, and one
// holding another pack's bytes under its name, are detected, removed and
// downloaded again; the blobs come out right.
func TestTreeCacheRejectsBadFiles(t *testing.T) {
	base, trees, _ := treeFixture(t, 30)
	cacheDir := t.TempDir()
	r := openWithIndex(t, base, OpenOptions{CacheDir: cacheDir})
	loadTrees(t, r, trees)
	dir := packCacheDir(cacheDir, r.Config().ID)
	var ids []crypto.ID
	for p := range treePacks(t, r, trees) {
		ids = append(ids, p)
	}
	r.Close()

	damaged, foreign, donor := ids[0], ids[1], ids[2]
	b, err := os.ReadFile(filepath.Join(dir, damaged.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, damaged.String()), flipped(b, len(b)/2), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err = os.ReadFile(filepath.Join(dir, donor.String()))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, foreign.String()), b, 0o600); err != nil {
		t.Fatal(err)
	}

	store := newCountingStore(base)
	var warned []string
	var mu sync.Mutex
	r2 := openWithIndex(t, store, OpenOptions{CacheDir: cacheDir, Warn: func(object string, err error) {
		mu.Lock()
		warned = append(warned, object)
		mu.Unlock()
	}})
	loadTrees(t, r2, trees)
	if n := store.count("data"); n != 2 {
		t.Errorf("%d pack Gets, want 2 (the damaged and the foreign file downloaded again)", n)
	}
	if len(warned) != 2 {
		t.Errorf("warnings %v, want one per bad file", warned)
	}
	for _, id := range []crypto.ID{damaged, foreign} {
		got, err := os.ReadFile(filepath.Join(dir, id.String()))
		if err != nil || crypto.Hash(got) != id {
			t.Errorf("cache file %s not replaced by the genuine pack (%v)", id.Short(), err)
		}
	}
}

// TestTreeCacheEviction: with a bound of a few packs, the directory never
// exceeds it, and the pack just used stays.
func TestTreeCacheEviction(t *testing.T) {
	base, trees, _ := treeFixture(t, 60)
	cacheDir := t.TempDir()
	probe := openWithIndex(t, base, OpenOptions{})
	packs := treePacks(t, probe, trees)
	var largest int64
	for p := range packs {
		info, err := base.Stat(context.Background(), PackName(p))
		if err != nil {
			t.Fatal(err)
		}
		largest = max(largest, info.Size)
	}
	bound := 4 * largest
	r := openWithIndex(t, base, OpenOptions{CacheDir: cacheDir, CacheMaxSize: bound})
	dir := packCacheDir(cacheDir, r.Config().ID)
	for id, want := range trees {
		got, err := r.LoadBlob(context.Background(), pack.TreeBlob, id)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("tree %s: %v", id.Short(), err)
		}
		files, total := cachedPacks(t, dir)
		if total > bound {
			t.Fatalf("cache holds %d bytes, bound %d", total, bound)
		}
		e, _ := r.Index().Lookup(id)
		if !files[e.Pack.String()] {
			t.Fatalf("pack %s just used was evicted", e.Pack.Short())
		}
	}
	if files, _ := cachedPacks(t, dir); len(files) >= len(packs) {
		t.Errorf("%d of %d packs cached under a bound of 4: nothing evicted", len(files), len(packs))
	}
}

// TestTreeCacheConcurrentShareDownload: many goroutines asking for the
// blobs of a cold pack at once cause one download.
func TestTreeCacheConcurrentShareDownload(t *testing.T) {
	base, trees, _ := treeFixture(t, 40)
	store := newCountingStore(base)
	r := openWithIndex(t, store, OpenOptions{CacheDir: t.TempDir()})
	packs := treePacks(t, r, trees)
	var wg sync.WaitGroup
	errs := make(chan error, len(trees)*4)
	for range 4 {
		for id, want := range trees {
			wg.Add(1)
			go func() {
				defer wg.Done()
				got, err := r.LoadBlob(context.Background(), pack.TreeBlob, id)
				if err == nil && !bytes.Equal(got, want) {
					err = errors.New("wrong plaintext")
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := store.count("data"); n != len(packs) {
		t.Errorf("%d pack Gets from concurrent loads, want %d (one per pack)", n, len(packs))
	}
}

// TestTreeCacheBoundsJunk: a tree pack replaced by a large junk object is
// read no further than the whole-pack bound, is not cached, and its blobs
// fail as damage; a pack above the bound is read by range and not cached.
func TestTreeCacheBoundsJunk(t *testing.T) {
	base, trees, _ := treeFixture(t, 20)
	probe := openWithIndex(t, base, OpenOptions{})
	var victim crypto.ID
	var victimBlob crypto.ID
	for id := range trees {
		e, _ := probe.Index().Lookup(id)
		victim, victimBlob = e.Pack, id
		break
	}
	junk := bytes.Repeat([]byte("junk"), 4<<20) // 16 MiB
	rawPut(t, base, PackName(victim), junk)

	bs := newByteStore(base)
	cacheDir := t.TempDir()
	const bound = 256 << 10 // whole-pack reads of at most 128 KiB
	r := openWithIndex(t, bs, OpenOptions{CacheDir: cacheDir, CacheMaxSize: bound})
	_, err := r.LoadBlob(context.Background(), pack.TreeBlob, victimBlob)
	if !errors.Is(err, ErrCorrupt) {
		t.Errorf("blob of a junk pack: %v, want damage", err)
	}
	if n := bs.bytesRead(PackName(victim)); n > bound/2+1+64<<10 {
		t.Errorf("read %d bytes of a 16 MiB junk pack, want at most the bound", n)
	}
	if files, _ := cachedPacks(t, packCacheDir(cacheDir, r.Config().ID)); files[victim.String()] {
		t.Error("junk pack was cached")
	}

	// A cache too small for any pack: everything by range, still correct.
	delete(trees, victimBlob)
	for id := range trees {
		if e, _ := r.Index().Lookup(id); e.Pack == victim {
			delete(trees, id)
		}
	}
	tiny := newCountingStore(base)
	cacheDir2 := t.TempDir()
	r2 := openWithIndex(t, tiny, OpenOptions{CacheDir: cacheDir2, CacheMaxSize: 2 << 10})
	loadTrees(t, r2, trees)
	if n := tiny.count("data"); n < len(trees) {
		t.Errorf("%d pack Gets for %d blobs in packs above the bound, want whole-pack tries and ranged reads", n, len(trees))
	}
	if files, _ := cachedPacks(t, packCacheDir(cacheDir2, r2.Config().ID)); len(files) != 0 {
		t.Errorf("%d packs above the bound cached", len(files))
	}
}

// TestTreeCacheStorageFailureIsNotDamage: when the store cannot deliver a
// pack, the error says so and does not claim damage; nothing is cached.
func TestTreeCacheStorageFailureIsNotDamage(t *testing.T) {
	base, trees, _ := treeFixture(t, 10)
	fs := fault.New(base)
	cacheDir := t.TempDir()
	r := openWithIndex(t, fs, OpenOptions{CacheDir: cacheDir})
	fs.FailPrefix(fault.OpGet, "data/", errors.New("connection reset"))
	for id := range trees {
		_, err := r.LoadBlob(context.Background(), pack.TreeBlob, id)
		if err == nil || errors.Is(err, ErrCorrupt) {
			t.Fatalf("unreachable pack: %v, want a storage error that is not damage", err)
		}
	}
	if files, _ := cachedPacks(t, packCacheDir(cacheDir, r.Config().ID)); len(files) != 0 {
		t.Errorf("%d files cached from failed reads", len(files))
	}
}

// TestTreeCacheDamagedPack: a tree pack damaged in the repository is not
// cached; its damaged blob fails as damage, its other blobs load by range.
func TestTreeCacheDamagedPack(t *testing.T) {
	base, trees, _ := treeFixture(t, 20)
	probe := openWithIndex(t, base, OpenOptions{})
	var victim, hit crypto.ID
	var hitEntry index.Entry
	for id := range trees {
		e, _ := probe.Index().Lookup(id)
		victim, hit, hitEntry = e.Pack, id, e
		break
	}
	b := rawGet(t, base, PackName(victim))
	rawPut(t, base, PackName(victim), flipped(b, int(hitEntry.Offset)+int(hitEntry.Length)/2))

	cacheDir := t.TempDir()
	r := openWithIndex(t, base, OpenOptions{CacheDir: cacheDir})
	for id, want := range trees {
		e, _ := r.Index().Lookup(id)
		if e.Pack != victim {
			continue
		}
		got, err := r.LoadBlob(context.Background(), pack.TreeBlob, id)
		switch {
		case id == hit && !errors.Is(err, ErrCorrupt):
			t.Errorf("damaged blob: %v, want damage", err)
		case id != hit && (err != nil || !bytes.Equal(got, want)):
			t.Errorf("intact blob %s of a damaged pack: %v", id.Short(), err)
		}
	}
	if files, _ := cachedPacks(t, packCacheDir(cacheDir, r.Config().ID)); files[victim.String()] {
		t.Error("a pack that does not match its name was cached")
	}
}

// TestTreeCacheFileChangedInUse: a cache file changed on disk after this
// process verified it is not believed: the blob comes from the store.
func TestTreeCacheFileChangedInUse(t *testing.T) {
	base, trees, _ := treeFixture(t, 20)
	cacheDir := t.TempDir()
	store := newCountingStore(base)
	r := openWithIndex(t, store, OpenOptions{CacheDir: cacheDir})
	var first crypto.ID
	for id := range trees {
		first = id
		break
	}
	if _, err := r.LoadBlob(context.Background(), pack.TreeBlob, first); err != nil {
		t.Fatal(err)
	}
	e, _ := r.Index().Lookup(first)
	path := filepath.Join(packCacheDir(cacheDir, r.Config().ID), e.Pack.String())
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xaa}, int(e.Offset+e.Length)), 0); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := r.LoadBlob(context.Background(), pack.TreeBlob, first)
	if err != nil || !bytes.Equal(got, trees[first]) {
		t.Fatalf("blob from a changed cache file: %v", err)
	}
	if n := store.count("data"); n != 2 {
		t.Errorf("%d pack Gets, want 2 (the download, then the blob by range)", n)
	}
}

// TestLoadPackBlobsCopyAndMaxSize: WholePack with Copy hands over exactly
// the pack's bytes; MaxSize below the pack's size stops the read with
// ErrPackTooLarge, which is not damage, after at most MaxSize+1 bytes, and
// an entry beyond MaxSize is refused before any request.
func TestLoadPackBlobsCopyAndMaxSize(t *testing.T) {
	ctx := context.Background()
	_, r := newTestRepo(t, testInitOptions())
	pid, es, plain := packFixture(t, r, 5)
	stored := rawGet(t, r.store, PackName(pid))

	var copied bytes.Buffer
	var ok int
	err := r.LoadPackBlobs(ctx, pid, es, PackReadOptions{WholePack: true, Copy: &copied}, func(e index.Entry, p []byte, err error) error {
		if err == nil && bytes.Equal(p, plain[e.ID]) {
			ok++
		}
		return nil
	})
	if err != nil || ok != len(es) || !bytes.Equal(copied.Bytes(), stored) {
		t.Fatalf("copy: %v, %d blobs, copy equal %v", err, ok, bytes.Equal(copied.Bytes(), stored))
	}

	bs := newByteStore(r.store)
	r.store = bs
	limit := int64(len(stored)) - 10
	err = r.LoadPackBlobs(ctx, pid, nil, PackReadOptions{WholePack: true, MaxSize: limit}, func(index.Entry, []byte, error) error { return nil })
	if !errors.Is(err, ErrPackTooLarge) || errors.Is(err, ErrCorrupt) {
		t.Errorf("pack above MaxSize: %v, want ErrPackTooLarge and no damage", err)
	}
	if n := bs.bytesRead(PackName(pid)); n > limit+1 {
		t.Errorf("read %d bytes with MaxSize %d", n, limit)
	}
	before := bs.bytesRead(PackName(pid))
	last := es[len(es)-1]
	err = r.LoadPackBlobs(ctx, pid, []index.Entry{last}, PackReadOptions{WholePack: true, MaxSize: int64(last.Offset)}, func(index.Entry, []byte, error) error { return nil })
	if !errors.Is(err, ErrPackTooLarge) || bs.bytesRead(PackName(pid)) != before {
		t.Errorf("entry beyond MaxSize: %v, want ErrPackTooLarge without reading", err)
	}
}

// stallingStore holds the first pack Get until its context ends.
type stallingStore struct {
	storage.Store
	once    sync.Once
	started chan struct{}
}

func (b *stallingStore) Get(ctx context.Context, name string, off, n int64) (io.ReadCloser, error) {
	first := false
	if strings.HasPrefix(name, "data/") {
		b.once.Do(func() { first = true })
	}
	if first {
		close(b.started)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return b.Store.Get(ctx, name, off, n)
}

// TestTreeCacheCancelledDownloadIsNotShared: when the caller whose
// context runs a shared download is cancelled, it gets its cancellation
// and a caller still waiting downloads and caches the pack itself.
func TestTreeCacheCancelledDownloadIsNotShared(t *testing.T) {
	base, trees, _ := treeFixture(t, 10)
	bs := &stallingStore{Store: base, started: make(chan struct{})}
	cacheDir := t.TempDir()
	r := openWithIndex(t, bs, OpenOptions{CacheDir: cacheDir})
	var id crypto.ID
	for id = range trees {
		break
	}
	ctxA, cancelA := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, err := r.LoadBlob(ctxA, pack.TreeBlob, id)
		errA <- err
	}()
	<-bs.started
	resB := make(chan error, 1)
	go func() {
		got, err := r.LoadBlob(context.Background(), pack.TreeBlob, id)
		if err == nil && !bytes.Equal(got, trees[id]) {
			err = errors.New("wrong plaintext")
		}
		resB <- err
	}()
	cancelA()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v, want context.Canceled", err)
	}
	if err := <-resB; err != nil {
		t.Errorf("waiting caller: %v", err)
	}
	// It downloaded the pack itself rather than give up on the cache.
	e, _ := r.Index().Lookup(id)
	if files, _ := cachedPacks(t, packCacheDir(cacheDir, r.Config().ID)); !files[e.Pack.String()] {
		t.Error("the pack was not cached after the cancelled download")
	}
}
